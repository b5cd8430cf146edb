"""Non-overlapping window partition (with zero padding) and its inverse, as in ViTDet."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["window_partition", "window_unpartition"]


def window_partition(x: torch.Tensor, window_size: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Cut a feature map into non-overlapping square windows.

    H and W are first padded at the bottom/right with zeros up to multiples of ``window_size``;
    the padded tokens take part in attention unmasked, as in ViTDet and EVA-02.

    Args:
        x (Tensor[B, H, W, C]): tokens.
        window_size: window side ws.

    Returns:
        windows (Tensor[B * nH * nW, ws, ws, C]): windows in row-major order per image.
        (Hp, Wp): the padded size, needed by :func:`window_unpartition`.
    """
    b, h, w, c = x.shape
    pad_h = (window_size - h % window_size) % window_size
    pad_w = (window_size - w % window_size) % window_size
    if pad_h > 0 or pad_w > 0:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    hp, wp = h + pad_h, w + pad_w
    x = x.view(b, hp // window_size, window_size, wp // window_size, window_size, c)
    windows = x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window_size, window_size, c)
    return windows, (hp, wp)


def window_unpartition(
    windows: torch.Tensor, window_size: int, pad_hw: tuple[int, int], hw: tuple[int, int]
) -> torch.Tensor:
    """Stitch windows back into a feature map and crop the padding.

    Args:
        windows (Tensor[B * nH * nW, ws, ws, C]): output of :func:`window_partition`.
        window_size: window side ws.
        pad_hw: padded size (Hp, Wp) returned by :func:`window_partition`.
        hw: original size (H, W).

    Returns:
        Tensor[B, H, W, C].
    """
    hp, wp = pad_hw
    h, w = hw
    n_h, n_w = hp // window_size, wp // window_size
    b = windows.shape[0] // (n_h * n_w)
    x = windows.view(b, n_h, n_w, window_size, window_size, -1)
    x = x.permute(0, 1, 3, 2, 4, 5).reshape(b, hp, wp, -1)
    if hp > h or wp > w:
        x = x[:, :h, :w, :].contiguous()
    return x
