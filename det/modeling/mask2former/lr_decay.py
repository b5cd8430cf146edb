"""Layer-wise lr decay of EVA's Mask2Former recipes (ViT-Adapter's layer-decay constructor)."""

from __future__ import annotations

from det.modeling.backbone import get_vit_lr_decay_rate

__all__ = ["get_mask2former_lr_decay_rate"]

# Predictor parameters that EVA / ViT-Adapter put in layer 0 with the patch embedding, so they
# train at the smallest lr (decay ** (num_layers + 1)); everything else in the head gets the
# full lr.
_PREDICTOR_LAYER_0 = ("query_feat", "query_embed", "level_embed", "class_embed", "mask_embed")


def get_mask2former_lr_decay_rate(
    name: str, lr_decay_rate: float = 1.0, num_layers: int = 12
) -> float:
    """LR multiplier of one parameter of a Mask2Former model on a plain ViT, EVA's rule.

    As :func:`det.modeling.backbone.get_vit_lr_decay_rate` (embeddings layer 0, block ``i``
    layer ``i + 1``, everything else ``num_layers + 1``; multiplier
    ``lr_decay_rate ** (num_layers + 1 - layer_id)``), except that the transformer decoder's
    queries, level embedding, class head and mask MLP are in layer 0: EVA-01's segmentation
    configs (mmseg ``LayerDecayOptimizerConstructor`` of ViT-Adapter) assign
    ``decode_head.{query_feat,query_embed,level_embed,cls_embed,mask_embed}`` the patch
    embedding's layer id, and the published numbers were trained that way.

    Args:
        name: full parameter name, e.g. ``sem_seg_head.predictor.class_embed.weight``.
        lr_decay_rate: decay per block.
        num_layers: number of ViT blocks.

    Returns:
        The factor that multiplies the base LR.
    """
    parts = name.split(".")
    if parts[:2] == ["sem_seg_head", "predictor"] and len(parts) > 2:
        if parts[2] in _PREDICTOR_LAYER_0:
            return lr_decay_rate ** (num_layers + 1)
    return get_vit_lr_decay_rate(name, lr_decay_rate=lr_decay_rate, num_layers=num_layers)
