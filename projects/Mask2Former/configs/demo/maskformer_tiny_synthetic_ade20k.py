"""Demo: a tiny Mask2Former on a synthetic ADE20K-layout dataset, trained and evaluated on CPU
in a few minutes::

    python tools/lazyconfig_train_net.py \\
        --config-file projects/Mask2Former/configs/demo/maskformer_tiny_synthetic_ade20k.py

The pipeline of the EVA recipe at 1/7 of the resolution: mmseg-style augmentation with a 128
crop, a 2-block EVA-02 ViT, the deformable pixel decoder, the masked-attention decoder,
point-sampled Hungarian losses and sliding-window inference, with every width and depth cut.
The photometric distortion is left out: classes differ by color here, and the jitter doubles the
iterations a tiny model needs.
The data (shapes whose color and form depend on the class, 6 ADE20K classes) is written on first
use under ``$DETECTRON2_DATASETS/synthetic``.
"""

import det.data.transforms as T
from det.config import LazyCall as L
from det.config import get_config

from ..common.maskformer_eva02 import lr_multiplier, model, optimizer, train

dataloader = get_config("common/data/ade20k_semseg.py").dataloader
dataloader.train.dataset.names = "synthetic_ade20k_sem_seg_train"
dataloader.test.dataset.names = "synthetic_ade20k_sem_seg_val"
dataloader.train.mapper.augmentations = [
    L(T.ResizeRatioRange)(scale=(512, 128), ratio_range=(0.5, 2.0)),
    L(T.RandomCrop_CategoryAreaConstraint)(
        crop_type="absolute",
        crop_size=(128, 128),
        single_category_max_area=0.75,
        ignored_category=255,
    ),
    L(T.RandomFlip)(horizontal=True),
]
dataloader.test.mapper.augmentations.crop_size = 128
dataloader.train.total_batch_size = 4
dataloader.train.num_workers = 0
dataloader.test.num_workers = 0

_net = model.backbone.net
_net.img_size = 128
_net.embed_dim = 64
_net.depth = 2
_net.num_heads = 2
_net.window_size = 0
_net.window_block_indexes = []
_net.drop_path_rate = 0.0
model.backbone.out_channels = 64

_decoder = model.sem_seg_head.pixel_decoder
_decoder.conv_dim = 64
_decoder.mask_dim = 64
_decoder.transformer_nheads = 4
_decoder.transformer_dim_feedforward = 128
_decoder.transformer_enc_layers = 2
_predictor = model.sem_seg_head.predictor
_predictor.hidden_dim = 64
_predictor.nheads = 4
_predictor.dim_feedforward = 128
_predictor.num_queries = 16
_predictor.dec_layers = 3
model.criterion.num_points = 1024
model.inference.stride = (96, 96)  # 128 x 128 windows (the ViT size)

optimizer.lr = 1e-3
optimizer.params.lr_factor_func = None  # no pretrained backbone to protect

train.max_iter = 300
train.eval_period = 300
train.checkpointer.period = 300
train.log_period = 20
train.device = "cpu"
train.seed = 0
train.output_dir = "./output/mask2former_demo"
lr_multiplier.warmup_length = 20 / 300
