"""Stochastic depth (Huang et al., 2016), re-exported from timm so numerics match timm models."""

from timm.layers import DropPath

__all__ = ["DropPath"]
