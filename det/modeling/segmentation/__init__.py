"""Encoder-decoder semantic-segmentation heads (mmseg's decode heads): UperNet, the FCN
auxiliary head and RegionProxy, with their pixel loss."""

from .conv_module import ConvModule
from .decode_head import DecodeHead
from .fcn_head import FCNHead
from .losses import sem_seg_cross_entropy
from .regproxy_head import RegionProxyHead
from .regproxy_ops import neighbour_affinity, region_proxy_logits
from .upernet_head import UPerHead

__all__ = [
    "ConvModule",
    "DecodeHead",
    "FCNHead",
    "RegionProxyHead",
    "UPerHead",
    "neighbour_affinity",
    "region_proxy_logits",
    "sem_seg_cross_entropy",
]
