"""A small typed record describing a feature map (channels, spatial size, stride)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ShapeSpec"]


@dataclass
class ShapeSpec:
    """Shape of one feature map, passed between modules instead of loose ints.

    Every field is optional: a producer fills in what it knows (a backbone usually gives
    ``channels`` and ``stride``, a head may also give ``height``/``width``).

    Attributes:
        channels: number of channels C.
        height: spatial height H in feature-map pixels.
        width: spatial width W in feature-map pixels.
        stride: input-image pixels per feature-map pixel.
    """

    channels: int | None = None
    height: int | None = None
    width: int | None = None
    stride: int | None = None
