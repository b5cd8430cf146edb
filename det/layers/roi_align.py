"""RoIAlign as an ``nn.Module`` (torchvision's kernel, detectron2's argument order).

``roi_align`` is torchvision's functional op, re-exported under detectron2's module path.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.ops import roi_align

__all__ = ["ROIAlign", "roi_align"]


class ROIAlign(nn.Module):
    """Bilinear RoI pooling (He et al., Mask R-CNN) over a batch of feature maps.

    Args:
        output_size: (height, width) of each pooled output, or one int for a square.
        spatial_scale: feature-map pixels per input-image pixel (1 / stride).
        sampling_ratio: sampling points per output bin along each axis; 0 means adaptive
            (ceil(roi_size / output_size)).
        aligned: if True, shift box coordinates by -0.5 pixel so that a pixel's center is at
            its integer coordinate + 0.5 (Detectron2's convention, needed for exact mask
            crops). False reproduces the original, slightly misaligned Mask R-CNN op.
    """

    def __init__(
        self,
        output_size: int | tuple[int, int],
        spatial_scale: float,
        sampling_ratio: int,
        aligned: bool = True,
    ) -> None:
        super().__init__()
        if isinstance(output_size, int):
            output_size = (output_size, output_size)
        self.output_size = tuple(output_size)
        self.spatial_scale = spatial_scale
        self.sampling_ratio = sampling_ratio
        self.aligned = aligned

    def forward(self, input: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        """Pool one output per RoI.

        Args:
            input (Tensor[N, C, H, W]): feature maps.
            rois (Tensor[R, 5]): (batch index, x0, y0, x1, y1) in input-image pixels.

        Returns:
            Tensor[R, C, output_h, output_w].
        """
        if rois.dim() != 2 or rois.size(1) != 5:
            raise ValueError(
                f"ROIAlign expects rois of shape [R, 5] (batch_idx, x0, y0, x1, y1), "
                f"got {tuple(rois.shape)}"
            )
        if input.is_quantized:
            input = input.dequantize()
        return roi_align(
            input,
            rois.to(dtype=input.dtype),
            self.output_size,
            self.spatial_scale,
            self.sampling_ratio,
            self.aligned,
        )

    def extra_repr(self) -> str:
        return (
            f"output_size={self.output_size}, spatial_scale={self.spatial_scale}, "
            f"sampling_ratio={self.sampling_ratio}, aligned={self.aligned}"
        )
