"""``ImageList``: a batch of differently-sized images padded into one tensor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["ImageList"]


class ImageList:
    """Images of different sizes padded to one Tensor[N, ..., H_max, W_max].

    Attributes:
        tensor (Tensor[N, ..., H, W]): the padded batch.
        image_sizes (list[tuple[int, int]]): (h, w) of each image before padding; image i
            occupies ``tensor[i, ..., :h, :w]``.
    """

    def __init__(self, tensor: torch.Tensor, image_sizes: list[tuple[int, int]]) -> None:
        """
        Args:
            tensor (Tensor[N, ..., H, W]): padded images.
            image_sizes: (h, w) of each unpadded image; its length must be N.
        """
        if len(image_sizes) != tensor.shape[0]:
            raise ValueError(
                f"ImageList: {len(image_sizes)} image sizes for a batch of {tensor.shape[0]}"
            )
        self.tensor = tensor
        self.image_sizes = image_sizes

    def __len__(self) -> int:
        return len(self.image_sizes)

    def __getitem__(self, idx: int) -> torch.Tensor:
        """Return image ``idx`` without its padding: Tensor[..., h, w]."""
        h, w = self.image_sizes[idx]
        return self.tensor[idx, ..., :h, :w]

    def to(self, *args: Any, **kwargs: Any) -> ImageList:
        """Return an ImageList with ``tensor.to(*args, **kwargs)`` and the same sizes."""
        return ImageList(self.tensor.to(*args, **kwargs), self.image_sizes)

    @property
    def device(self) -> torch.device:
        return self.tensor.device

    @staticmethod
    def from_tensors(
        tensors: Sequence[torch.Tensor],
        size_divisibility: int = 0,
        pad_value: float = 0.0,
        padding_constraints: dict[str, int] | None = None,
    ) -> ImageList:
        """Pad images at the bottom and right into one batch tensor.

        Args:
            tensors: non-empty list of Tensor[..., H_i, W_i] with equal leading dims (e.g.
                Tensor[C, H_i, W_i]).
            size_divisibility: if > 1, the padded H and W are rounded up to multiples of it
                (backbones with stride 32 need 32).
            pad_value: value written into the padding.
            padding_constraints: overrides from the backbone (``Backbone.padding_constraints``):
                ``"square_size"`` > 0 pads every batch to square_size x square_size (ViTDet's
                fixed 1024 input); ``"size_divisibility"`` replaces the argument above.

        Returns:
            ImageList with ``tensor`` of shape [N, ..., H_pad, W_pad].
        """
        if len(tensors) == 0:
            raise ValueError("ImageList.from_tensors needs at least one tensor")
        if not isinstance(tensors, (tuple, list)):
            raise TypeError(
                f"ImageList.from_tensors expects a list of tensors, got {type(tensors).__name__}"
            )
        for i, t in enumerate(tensors):
            if not isinstance(t, torch.Tensor):
                raise TypeError(f"ImageList.from_tensors: item {i} is {type(t).__name__}")
            if t.shape[:-2] != tensors[0].shape[:-2]:
                raise ValueError(
                    f"ImageList.from_tensors: item {i} has leading shape {tuple(t.shape[:-2])}, "
                    f"item 0 has {tuple(tensors[0].shape[:-2])}"
                )
        image_sizes = [(int(t.shape[-2]), int(t.shape[-1])) for t in tensors]
        max_h = max(s[0] for s in image_sizes)
        max_w = max(s[1] for s in image_sizes)

        if padding_constraints is not None:
            square_size = padding_constraints.get("square_size", 0)
            if square_size > 0:
                if max_h > square_size or max_w > square_size:
                    raise ValueError(
                        f"ImageList.from_tensors: image of size {max_h}x{max_w} does not fit "
                        f"the padding constraint square_size={square_size}"
                    )
                max_h = max_w = square_size
            if "size_divisibility" in padding_constraints:
                size_divisibility = padding_constraints["size_divisibility"]
        if size_divisibility > 1:
            stride = size_divisibility
            max_h = (max_h + stride - 1) // stride * stride
            max_w = (max_w + stride - 1) // stride * stride

        if len(tensors) == 1:
            h, w = image_sizes[0]
            # F.pad avoids an extra full-size allocation + copy for the common batch of one.
            padded = F.pad(tensors[0], [0, max_w - w, 0, max_h - h], value=pad_value)
            batched = padded.unsqueeze(0)
        else:
            shape = (len(tensors), *tensors[0].shape[:-2], max_h, max_w)
            batched = tensors[0].new_full(shape, pad_value)
            for img, pad_img in zip(tensors, batched):
                pad_img[..., : img.shape[-2], : img.shape[-1]].copy_(img)
        return ImageList(batched.contiguous(), image_sizes)
