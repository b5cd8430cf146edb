"""``--aug-test``: multi-scale + flip evaluation of any single-scale segmentation card, as mmseg's
``tools/test.py --aug-test`` does for the seeds' configs (ViT-Adapter, CAE, RegionProxy, ...).

mmseg sets the test pipeline's ``img_ratios`` to 0.5 ... 1.75 and ``flip=True``; each copy is
resized keep-ratio to ``ratio x img_scale`` (then to a multiple of 32 where the config's pipeline
has ``ResizeToMultiple``), segmented with the config's own ``slide`` / ``whole`` mode, and the
softmax scores are averaged. Here the card's ``model.inference`` becomes the ``base`` of a
:class:`~det.modeling.mask2former.MultiScaleFlipInference` with the card's test scale and size
divisor, and the test mapper stops resizing (the multi-scale inference resizes the original).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from det.config import LazyCall as L
from det.config import locate
from det.utils.errors import UserError

__all__ = ["MMSEG_AUG_TEST_RATIOS", "apply_aug_test"]

MMSEG_AUG_TEST_RATIOS = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)
"""mmseg's ``--aug-test`` ratios."""


def _target_name(node: Any) -> str:
    target = node.get("_target_") if hasattr(node, "get") else None
    if target is None:
        return ""
    obj = locate(target) if isinstance(target, str) else target
    return getattr(obj, "__qualname__", str(obj))


def apply_aug_test(cfg: Any, ratios: Sequence[float] = MMSEG_AUG_TEST_RATIOS) -> Any:
    """Turn a single-scale mmseg-recipe segmentation config into its ms + flip evaluation.

    Args:
        cfg: a loaded LazyConfig whose ``model.inference`` is a sliding-window or whole-image
            inference and whose ``dataloader.test.mapper.augmentations`` is
            ``build_mmseg_semseg_test_augmentation`` (every UperNet / RegionProxy / ViT-Adapter
            card).
        ratios: the scale ratios (default mmseg's 0.5 ... 1.75).

    Returns:
        ``cfg``, changed in place.

    Raises:
        UserError: the config has no such inference or test resize (a detection config, or a
            card that is multi-scale already).
    """
    inference = cfg.model.get("inference") if hasattr(cfg, "model") else None
    kind = _target_name(inference) if inference is not None else ""
    if kind == "MultiScaleFlipInference":
        raise UserError(
            "--aug-test: model.inference is already MultiScaleFlipInference (a multi-scale "
            "card); use the single-scale card with --aug-test"
        )
    if kind not in ("SlidingWindowInference", "WholeImageInference"):
        raise UserError(
            "--aug-test needs a semantic-segmentation config whose model.inference is "
            f"SlidingWindowInference or WholeImageInference; this one has {kind or 'none'}"
        )
    augs = cfg.dataloader.test.mapper.get("augmentations")
    if _target_name(augs) != "build_mmseg_semseg_test_augmentation":
        raise UserError(
            "--aug-test needs dataloader.test.mapper.augmentations = "
            "build_mmseg_semseg_test_augmentation(...) (the mmseg test resize, whose scale it "
            f"multiplies); this config has {_target_name(augs) or type(augs).__name__}"
        )
    crop = int(augs.crop_size)
    scale = augs.get("scale") or (4 * crop, crop)
    divisor = int(augs.get("size_divisor", 32))
    from det.modeling.mask2former import MultiScaleFlipInference

    cfg.model.inference = L(MultiScaleFlipInference)(
        base=inference,
        scale=list(scale),
        ratios=[float(r) for r in ratios],
        flip=True,
        size_divisor=divisor if divisor > 1 else 0,
    )
    cfg.dataloader.test.mapper.augmentations = []
    return cfg
