"""Key names of mmseg's ``VisionTransformer`` (mmseg 0.17, RegionProxy's backbone) in timm's
layout, which det's :class:`~det.modeling.backbone.TimmViT` keeps.

mmseg builds each block from mmcv bricks: ``ln1`` / ``ln2`` norms, an ``nn.MultiheadAttention``
under ``attn.attn`` (``in_proj_weight`` stacks q, k, v in timm's ``qkv`` order) and an ``FFN``
whose first linear sits in a nested ``Sequential`` (``ffn.layers.0.0``). The final norm is the
top-level ``ln1``. mmseg's ``tools/model_converters/vit2mmseg.py`` writes pre-training files
in this layout, and the released RegionProxy segmentors hold it under ``backbone.``.
Renaming is one to one, so values are untouched.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

__all__ = ["is_mmseg_vit_state_dict", "mmseg_vit_key_to_timm", "mmseg_vit_to_timm"]

_RULES = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"^layers\.(\d+)\.ln1\.", r"blocks.\1.norm1."),
        (r"^layers\.(\d+)\.ln2\.", r"blocks.\1.norm2."),
        (r"^layers\.(\d+)\.attn\.attn\.in_proj_(weight|bias)$", r"blocks.\1.attn.qkv.\2"),
        (r"^layers\.(\d+)\.attn\.attn\.out_proj\.", r"blocks.\1.attn.proj."),
        (r"^layers\.(\d+)\.ffn\.layers\.0\.0\.", r"blocks.\1.mlp.fc1."),
        (r"^layers\.(\d+)\.ffn\.layers\.1\.", r"blocks.\1.mlp.fc2."),
        (r"^ln1\.", "norm."),
        (r"^patch_embed\.projection\.", "patch_embed.proj."),
    )
)


def is_mmseg_vit_state_dict(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """Whether un-prefixed keys are mmseg ``VisionTransformer`` names (``layers.0.ln1...``)."""
    return "layers.0.ln1.weight" in state_dict and "layers.0.attn.attn.in_proj_weight" in state_dict


def mmseg_vit_key_to_timm(key: str) -> str:
    """``layers.3.ffn.layers.0.0.weight`` -> ``blocks.3.mlp.fc1.weight``; other keys unchanged
    (tokens, ``pos_embed``, a hybrid's ``patch_embed.backbone.*`` are named alike)."""
    for pattern, replacement in _RULES:
        if pattern.search(key):
            return pattern.sub(replacement, key)
    return key


def mmseg_vit_to_timm(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename every key of an mmseg-layout ViT state dict to timm's layout (same tensors)."""
    renamed = {mmseg_vit_key_to_timm(key): value for key, value in state_dict.items()}
    if len(renamed) != len(state_dict):
        raise ValueError(
            "mmseg ViT state dict holds both layouts of some tensors (e.g. 'ln1.weight' and "
            "'norm.weight'); it cannot be renamed one to one"
        )
    return renamed
