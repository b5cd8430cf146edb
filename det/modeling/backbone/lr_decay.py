"""Layer-wise learning-rate decay for plain-ViT backbones (ViTDet / EVA-02 rule)."""

from __future__ import annotations

__all__ = ["get_vit_lr_decay_rate"]


def get_vit_lr_decay_rate(name: str, lr_decay_rate: float = 1.0, num_layers: int = 12) -> float:
    """LR multiplier of one parameter, decaying from the top block down to the embeddings.

    Layer ids: ``pos_embed`` / ``patch_embed`` are 0, block ``i`` is ``i + 1``, everything else
    (the rest of the backbone, e.g. the feature pyramid, residual conv blocks, and all heads)
    is ``num_layers + 1``. The multiplier is ``lr_decay_rate ** (num_layers + 1 - layer_id)``.
    Only names starting with ``backbone`` decay. Configs use it as
    ``optimizer.params.lr_factor_func = partial(get_vit_lr_decay_rate, num_layers=12,
    lr_decay_rate=0.7)``.

    Args:
        name: full parameter name, e.g. ``backbone.net.blocks.3.attn.q_bias``.
        lr_decay_rate: decay per block (0.7 for EVA-02 B, 0.8 for L; 1.0 disables).
        num_layers: number of ViT blocks.

    Returns:
        The factor that multiplies the base LR.
    """
    layer_id = num_layers + 1
    if name.startswith("backbone"):
        if ".pos_embed" in name or ".patch_embed" in name:
            layer_id = 0
        elif ".blocks." in name and ".residual." not in name:
            layer_id = int(name[name.find(".blocks.") :].split(".")[2]) + 1
    return lr_decay_rate ** (num_layers + 1 - layer_id)
