"""Test-time detection selection: the one place that turns per-RoI class scores and boxes into
the final detections of an image.

It decides, in this order: the score threshold (the box predictor's ``test_score_thresh``, or
``override_score_thresh``), how candidates are suppressed (the predictor's hard NMS with
``test_nms_thresh`` and its top-k ``test_topk_per_image``, or EVA-02's soft-NMS without a cap),
and whether detections are rescored by the confidence of their masks (maskness).

:class:`DetectionSelector` holds these choices; :class:`StandardROIHeads` and
``CascadeROIHeads`` take one (``test_selection=``) or build one from the flat keyword options of
EVA-02's README (``model.roi_heads.use_soft_nms=True model.roi_heads.method=linear ...``), which
are declared only here. The mechanisms stay one concept a file: ``box_nms.py`` (hard / soft NMS)
and ``maskness.py`` (the maskness formula).

Glossary: N images; R_i RoIs of image i; K foreground classes (index K = background); B = 4.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import torch

from det.structures import Instances
from det.utils.errors import UserError

from .box_nms import BoxNMS, HardNMS, SoftNMS
from .fast_rcnn import fast_rcnn_inference
from .maskness import MasknessRescoring

__all__ = ["DetectionSelector", "UnknownTestOptionError", "build_test_selection"]


class UnknownTestOptionError(UserError, TypeError):
    """An RoI head got a keyword argument that is neither its own nor a test-time option."""


class _TestSettings(Protocol):
    """What the selector reads from a box predictor (``FastRCNNOutputLayers``)."""

    test_score_thresh: float
    test_nms_thresh: float
    test_topk_per_image: int


class DetectionSelector:
    """Score threshold, candidate suppression and maskness rescoring at test time.

    Every argument is also a keyword argument of the RoI heads (a config key
    ``model.roi_heads.<name>``); the defaults reproduce detectron2 (hard NMS, predictor's
    threshold, no maskness).

    Args:
        use_soft_nms: select with soft-NMS (mmcv 1.7.1 semantics, no top-k cap; the evaluators
            cap detections per image) instead of the predictor's class-wise hard NMS + top-k.
        method: soft-NMS decay, ``"naive"``, ``"linear"`` or ``"gaussian"``.
        iou_threshold: soft-NMS IoU from which ``naive`` / ``linear`` decay a score (``>=``).
        sigma: soft-NMS Gaussian decay ``exp(-IoU^2 / sigma)``.
        min_score: soft-NMS drops candidates whose decayed score falls below this (mmcv: 1e-3).
        class_wise: soft-NMS within each class (else across classes, EVA-02's default).
        override_score_thresh: replaces the predictor's ``test_score_thresh`` (None: keep it).
        maskness_thresh: rescore detections by the mean mask probability above this threshold
            (None: off; needs a mask head).
        maskness_separate_scores: keep ``scores`` and store the rescored values as
            ``mask_scores`` (False: EVA-02's behaviour, rescoring ``scores``).
    """

    def __init__(
        self,
        *,
        use_soft_nms: bool = False,
        method: str = "linear",
        iou_threshold: float = 0.3,
        sigma: float = 0.5,
        min_score: float = 1e-3,
        class_wise: bool = False,
        override_score_thresh: float | None = None,
        maskness_thresh: float | None = None,
        maskness_separate_scores: bool = False,
    ) -> None:
        # SoftNMS validates method and sigma even when soft-NMS is off, so a misspelt
        # model.roi_heads.method fails at build time rather than being silently ignored.
        soft_nms = SoftNMS(
            method=method,
            iou_threshold=iou_threshold,
            sigma=sigma,
            min_score=min_score,
            class_wise=class_wise,
        )
        self.soft_nms: SoftNMS | None = soft_nms if use_soft_nms else None
        self.override_score_thresh = (
            None if override_score_thresh is None else float(override_score_thresh)
        )
        self.maskness: MasknessRescoring | None = (
            None
            if maskness_thresh is None
            else MasknessRescoring(maskness_thresh, maskness_separate_scores)
        )

    @property
    def maskness_thresh(self) -> float | None:
        """The maskness threshold (None when maskness rescoring is off)."""
        return None if self.maskness is None else self.maskness.threshold

    @property
    def needs_masks(self) -> bool:
        """Whether :meth:`rescore` reads ``pred_masks`` (maskness rescoring is on)."""
        return self.maskness is not None

    def score_thresh(self, predictor: _TestSettings) -> float:
        """Candidates need a class score strictly above this value."""
        if self.override_score_thresh is None:
            return predictor.test_score_thresh
        return self.override_score_thresh

    def box_nms(self, predictor: _TestSettings) -> BoxNMS:
        """The suppression strategy: soft-NMS if enabled, else the predictor's hard NMS."""
        if self.soft_nms is not None:
            return self.soft_nms
        return HardNMS(predictor.test_nms_thresh, predictor.test_topk_per_image)

    def select(
        self,
        predictor: _TestSettings,
        boxes: Sequence[torch.Tensor],
        scores: Sequence[torch.Tensor],
        image_sizes: Sequence[tuple[int, int]],
    ) -> list[Instances]:
        """Detections of each image.

        Args:
            predictor: the box predictor whose test settings apply (a cascade's last stage).
            boxes: per image, Tensor[R_i, B] (class-agnostic) or Tensor[R_i, K * B] boxes,
                XYXY absolute pixels.
            scores: per image, Tensor[R_i, K + 1] class probabilities (background last).
            image_sizes: per image, (height, width) the boxes are clipped to.

        Returns:
            Per image, Instances with ``pred_boxes``, ``scores`` and ``pred_classes``.
        """
        instances, _ = fast_rcnn_inference(
            boxes,
            scores,
            image_sizes,
            self.score_thresh(predictor),
            predictor.test_nms_thresh,
            predictor.test_topk_per_image,
            nms=self.box_nms(predictor),
        )
        return instances

    def rescore(self, instances: list[Instances]) -> list[Instances]:
        """Apply maskness rescoring (if enabled) to detections that have ``pred_masks``
        (Tensor[D, 1, M, M] probabilities); returns ``instances``, modified in place."""
        if self.maskness is None:
            return instances
        return self.maskness(instances)

    def __repr__(self) -> str:
        return (
            f"DetectionSelector(soft_nms={self.soft_nms!r}, "
            f"override_score_thresh={self.override_score_thresh}, maskness={self.maskness!r})"
        )


_OPTION_NAMES = tuple(inspect.signature(DetectionSelector).parameters)


def build_test_selection(
    owner: str, test_selection: DetectionSelector | None, options: Mapping[str, Any]
) -> DetectionSelector:
    """The selector an RoI head uses: ``test_selection`` itself, or one built from the flat
    keyword options the head received (``model.roi_heads.use_soft_nms=True`` ...).

    Args:
        owner: the head's class name, for error messages.
        test_selection: a ready-built selector, or None.
        options: the head's remaining keyword arguments.

    Raises:
        UnknownTestOptionError: a keyword is not an option of :class:`DetectionSelector`, or
            options are given together with ``test_selection``.
    """
    unknown = [k for k in options if k not in _OPTION_NAMES]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(key, _OPTION_NAMES, n=3, cutoff=0.6)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UnknownTestOptionError(
            f"{owner} got an unexpected keyword argument '{key}' (config key "
            f"model.roi_heads.{key}); it is neither an argument of {owner} nor a test-time "
            f"option ({', '.join(_OPTION_NAMES)}).{hint}"
        )
    if test_selection is None:
        return DetectionSelector(**options)
    if options:
        raise UnknownTestOptionError(
            f"{owner}: test-time options {sorted(options)} given together with test_selection; "
            "set them on the DetectionSelector (model.roi_heads.test_selection.<option>) or "
            "drop test_selection"
        )
    return test_selection
