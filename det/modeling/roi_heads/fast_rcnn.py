"""Fast R-CNN box predictor: class scores and box deltas per RoI, its losses and inference.

Glossary: N images; R RoIs (proposals) over the batch, R_i in image i; K foreground classes
(class index K is background); B = 4 box-delta dimensions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from det.layers import ShapeSpec, cat, nonzero_tuple
from det.modeling.box_regression import Box2BoxTransform, _dense_box_regression_loss
from det.structures import Boxes, Instances
from det.utils.events import get_event_storage

from .box_nms import BoxNMS, HardNMS

__all__ = [
    "FastRCNNOutputLayers",
    "fast_rcnn_inference",
    "fast_rcnn_inference_single_image",
    "get_fed_loss_classes",
]


def get_fed_loss_classes(
    gt_classes: torch.Tensor, num_fed_loss_classes: int, num_classes: int, weight: torch.Tensor
) -> torch.Tensor:
    """Classes that enter the federated loss of one batch (Zhou et al., "Probabilistic two-stage
    detection", 2021): every ground-truth class, plus classes drawn without replacement with
    probability proportional to ``weight`` until ``num_fed_loss_classes`` are reached.

    Args:
        gt_classes (Tensor[R]): class index of each RoI in 0..K (K = background).
        num_fed_loss_classes: target number of classes (50 in EVA-02's LVIS configs).
        num_classes: K.
        weight (Tensor[K]): sampling weight of each class.

    Returns:
        Tensor[M] int64: the unique ground-truth classes (possibly including K) followed by the
        sampled ones; M = max(len(unique), num_fed_loss_classes).
    """
    unique = gt_classes.unique()
    prob = unique.new_ones(num_classes + 1).float()
    prob[-1] = 0
    if len(unique) < num_fed_loss_classes:
        prob[:num_classes] = weight.float().clone()
        prob[unique] = 0
        sampled = torch.multinomial(prob, num_fed_loss_classes - len(unique), replacement=False)
        unique = torch.cat([unique, sampled])
    return unique


def _cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    # F.cross_entropy of an empty batch is NaN; zero keeps the graph connected instead.
    if target.numel() == 0:
        return logits.sum() * 0.0
    return F.cross_entropy(logits, target, reduction="mean")


def _log_classification_stats(logits: torch.Tensor, gt_classes: torch.Tensor) -> None:
    num_instances = gt_classes.numel()
    if num_instances == 0:
        return
    pred_classes = logits.argmax(dim=1)
    bg_class = logits.shape[1] - 1
    fg = (gt_classes >= 0) & (gt_classes < bg_class)
    num_fg = int(fg.sum())
    storage = get_event_storage()
    storage.put_scalar(
        "fast_rcnn/cls_accuracy", (pred_classes == gt_classes).sum().item() / num_instances
    )
    if num_fg > 0:
        fg_pred, fg_gt = pred_classes[fg], gt_classes[fg]
        storage.put_scalar("fast_rcnn/fg_cls_accuracy", (fg_pred == fg_gt).sum().item() / num_fg)
        storage.put_scalar("fast_rcnn/false_negative", (fg_pred == bg_class).sum().item() / num_fg)


class FastRCNNOutputLayers(nn.Module):
    """Two linear layers on the box-head features: class logits and box deltas.

    ``cls_score`` always has K + 1 outputs (background last), also with sigmoid CE, so the
    state-dict shapes match detectron2 / EVA-02 checkpoints. ``bbox_pred`` has B outputs
    (class-agnostic, all EVA-02 heads) or K * B.

    Args:
        input_shape: shape of the box-head output (channels, optionally height x width).
        box2box_transform: encodes / decodes box deltas (per-stage weights in Cascade R-CNN).
        num_classes: K.
        test_score_thresh: candidates need a score strictly above this at inference.
        test_nms_thresh: IoU of the class-wise hard NMS at inference.
        test_topk_per_image: keep at most this many detections per image (hard NMS only).
        cls_agnostic_bbox_reg: one box regression for all classes.
        smooth_l1_beta: smooth-L1 transition point; 0 is plain L1.
        box_reg_loss_type: "smooth_l1", "giou", "diou" or "ciou".
        loss_weight: multiplier of both losses, or ``{"loss_cls": w, "loss_box_reg": w}``.
        use_fed_loss: federated loss (LVIS); requires ``use_sigmoid_ce``.
        use_sigmoid_ce: per-class binary cross-entropy instead of softmax cross-entropy; also
            makes inference scores sigmoids.
        get_fed_loss_cls_weights: Tensor[K] class weights of the federated loss, or a callable
            returning them, called once at construction (detectron2's configs pass
            ``det.data.detection_utils.get_fed_loss_cls_weights`` bound to the training
            datasets, e.g. ``L(get_fed_loss_cls_weights)(_partial_=True, dataset_names=...,
            freq_weight_power=0.5)``); required when ``use_fed_loss``. The weights are passed
            in so that modeling never reads dataset metadata.
        fed_loss_num_classes: classes per batch in the federated loss.
    """

    def __init__(
        self,
        input_shape: ShapeSpec | int,
        *,
        box2box_transform: Box2BoxTransform,
        num_classes: int,
        test_score_thresh: float = 0.0,
        test_nms_thresh: float = 0.5,
        test_topk_per_image: int = 100,
        cls_agnostic_bbox_reg: bool = False,
        smooth_l1_beta: float = 0.0,
        box_reg_loss_type: str = "smooth_l1",
        loss_weight: float | dict[str, float] = 1.0,
        use_fed_loss: bool = False,
        use_sigmoid_ce: bool = False,
        get_fed_loss_cls_weights: torch.Tensor | Callable[[], torch.Tensor] | None = None,
        fed_loss_num_classes: int = 50,
    ) -> None:
        super().__init__()
        if isinstance(input_shape, int):
            input_shape = ShapeSpec(channels=input_shape)
        input_size = input_shape.channels * (input_shape.width or 1) * (input_shape.height or 1)
        self.num_classes = num_classes
        self.cls_score = nn.Linear(input_size, num_classes + 1)
        num_bbox_reg_classes = 1 if cls_agnostic_bbox_reg else num_classes
        box_dim = len(box2box_transform.weights)
        self.bbox_pred = nn.Linear(input_size, num_bbox_reg_classes * box_dim)
        nn.init.normal_(self.cls_score.weight, std=0.01)
        nn.init.normal_(self.bbox_pred.weight, std=0.001)
        for layer in (self.cls_score, self.bbox_pred):
            nn.init.constant_(layer.bias, 0)

        self.box2box_transform = box2box_transform
        self.smooth_l1_beta = smooth_l1_beta
        self.test_score_thresh = test_score_thresh
        self.test_nms_thresh = test_nms_thresh
        self.test_topk_per_image = test_topk_per_image
        self.box_reg_loss_type = box_reg_loss_type
        if isinstance(loss_weight, (int, float)):
            loss_weight = {"loss_cls": loss_weight, "loss_box_reg": loss_weight}
        self.loss_weight = dict(loss_weight)
        self.use_fed_loss = use_fed_loss
        self.use_sigmoid_ce = use_sigmoid_ce
        self.fed_loss_num_classes = fed_loss_num_classes
        if use_fed_loss:
            if not use_sigmoid_ce:
                raise ValueError(
                    "FastRCNNOutputLayers: use_fed_loss=True needs use_sigmoid_ce=True"
                )
            if get_fed_loss_cls_weights is None:
                raise ValueError(
                    "FastRCNNOutputLayers: use_fed_loss=True needs get_fed_loss_cls_weights"
                )
            weights = (
                get_fed_loss_cls_weights()
                if callable(get_fed_loss_cls_weights)
                else get_fed_loss_cls_weights
            )
            weights = torch.as_tensor(weights, dtype=torch.float32)
            if len(weights) != num_classes:
                raise ValueError(
                    f"FastRCNNOutputLayers: get_fed_loss_cls_weights gave {len(weights)} class "
                    f"weights but num_classes={num_classes}; the federated-loss dataset must have "
                    "the classes the model predicts"
                )
            # Persistent: EVA-02 / detectron2 LVIS checkpoints carry it.
            self.register_buffer("fed_loss_cls_weights", weights)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Predict class logits and box deltas.

        Args:
            x (Tensor[R, C] or Tensor[R, C, H, W]): box-head features (flattened if 4-D).

        Returns:
            (scores, proposal_deltas): Tensor[R, K + 1] logits and Tensor[R, B] (class-agnostic)
            or Tensor[R, K * B] deltas.
        """
        if x.dim() > 2:
            x = torch.flatten(x, start_dim=1)
        return self.cls_score(x), self.bbox_pred(x)

    def losses(
        self, predictions: tuple[torch.Tensor, torch.Tensor], proposals: list[Instances]
    ) -> dict[str, torch.Tensor]:
        """Classification and box-regression losses of sampled proposals.

        Args:
            predictions: output of :meth:`forward`.
            proposals: per image, the sampled proposals with ``proposal_boxes``, ``gt_classes``
                (0..K, K = background) and, for images with objects, ``gt_boxes``.

        Returns:
            ``{"loss_cls": Tensor[], "loss_box_reg": Tensor[]}``.
        """
        scores, proposal_deltas = predictions
        device = proposal_deltas.device
        if proposals:
            gt_classes = cat([p.gt_classes for p in proposals], dim=0)
            proposal_boxes = cat([p.proposal_boxes.tensor for p in proposals], dim=0)
            # Images without objects have no gt_boxes; their RoIs are all background anyway.
            gt_boxes = cat(
                [(p.gt_boxes if p.has("gt_boxes") else p.proposal_boxes).tensor for p in proposals],
                dim=0,
            )
        else:
            gt_classes = torch.empty(0, dtype=torch.int64, device=device)
            proposal_boxes = gt_boxes = torch.empty((0, 4), device=device)
        _log_classification_stats(scores, gt_classes)
        if self.use_sigmoid_ce:
            loss_cls = self.sigmoid_cross_entropy_loss(scores, gt_classes)
        else:
            loss_cls = _cross_entropy(scores, gt_classes)
        losses = {
            "loss_cls": loss_cls,
            "loss_box_reg": self.box_reg_loss(
                proposal_boxes, gt_boxes, proposal_deltas, gt_classes
            ),
        }
        return {k: v * self.loss_weight.get(k, 1.0) for k, v in losses.items()}

    def sigmoid_cross_entropy_loss(
        self, pred_class_logits: torch.Tensor, gt_classes: torch.Tensor
    ) -> torch.Tensor:
        """Binary cross-entropy over the K foreground columns, summed and divided by R.

        With the federated loss only the columns of :func:`get_fed_loss_classes` count.

        Args:
            pred_class_logits (Tensor[R, K + 1]): logits (the background column is ignored).
            gt_classes (Tensor[R]): 0..K.
        """
        if pred_class_logits.numel() == 0:
            return pred_class_logits.new_zeros([1])[0]
        num_rois = pred_class_logits.shape[0]
        num_classes = pred_class_logits.shape[1] - 1
        target = pred_class_logits.new_zeros(num_rois, num_classes + 1)
        target[range(num_rois), gt_classes] = 1
        target = target[:, :num_classes]
        cls_loss = F.binary_cross_entropy_with_logits(
            pred_class_logits[:, :-1], target, reduction="none"
        )
        if self.use_fed_loss:
            fed_classes = get_fed_loss_classes(
                gt_classes, self.fed_loss_num_classes, num_classes, self.fed_loss_cls_weights
            )
            mask = fed_classes.new_zeros(num_classes + 1)
            mask[fed_classes] = 1
            weight = mask[:num_classes].view(1, num_classes).expand(num_rois, num_classes).float()
        else:
            weight = 1
        return torch.sum(cls_loss * weight) / num_rois

    def box_reg_loss(
        self,
        proposal_boxes: torch.Tensor,
        gt_boxes: torch.Tensor,
        pred_deltas: torch.Tensor,
        gt_classes: torch.Tensor,
    ) -> torch.Tensor:
        """Box-regression loss of the foreground RoIs, normalized by the number of RoIs.

        Args:
            proposal_boxes (Tensor[R, 4]), gt_boxes (Tensor[R, 4]): XYXY absolute pixels.
            pred_deltas (Tensor[R, B] or Tensor[R, K * B]).
            gt_classes (Tensor[R]): 0..K; only classes < K contribute.
        """
        box_dim = proposal_boxes.shape[1]
        fg_inds = nonzero_tuple((gt_classes >= 0) & (gt_classes < self.num_classes))[0]
        if pred_deltas.shape[1] == box_dim:
            fg_pred_deltas = pred_deltas[fg_inds]
        else:
            fg_pred_deltas = pred_deltas.view(-1, self.num_classes, box_dim)[
                fg_inds, gt_classes[fg_inds]
            ]
        loss = _dense_box_regression_loss(
            [proposal_boxes[fg_inds]],
            self.box2box_transform,
            [fg_pred_deltas.unsqueeze(0)],
            [gt_boxes[fg_inds]],
            ...,
            self.box_reg_loss_type,
            self.smooth_l1_beta,
        )
        # Normalizing by all RoIs (not only foreground) is Fast R-CNN's convention.
        return loss / max(gt_classes.numel(), 1.0)

    def predict_boxes(
        self, predictions: tuple[torch.Tensor, torch.Tensor], proposals: list[Instances]
    ) -> tuple[torch.Tensor, ...]:
        """Decoded boxes per image: Tensor[R_i, B] (class-agnostic) or Tensor[R_i, K * B]."""
        if not proposals:
            return ()
        _, proposal_deltas = predictions
        num_per_image = [len(p) for p in proposals]
        proposal_boxes = cat([p.proposal_boxes.tensor for p in proposals], dim=0)
        boxes = self.box2box_transform.apply_deltas(proposal_deltas, proposal_boxes)
        return boxes.split(num_per_image)

    def predict_probs(
        self, predictions: tuple[torch.Tensor, torch.Tensor], proposals: list[Instances]
    ) -> tuple[torch.Tensor, ...]:
        """Class probabilities per image: Tensor[R_i, K + 1] (softmax, or sigmoid with
        ``use_sigmoid_ce``)."""
        scores, _ = predictions
        num_per_image = [len(p) for p in proposals]
        probs = scores.sigmoid() if self.use_sigmoid_ce else F.softmax(scores, dim=-1)
        return probs.split(num_per_image, dim=0)

    def inference(
        self, predictions: tuple[torch.Tensor, torch.Tensor], proposals: list[Instances]
    ) -> tuple[list[Instances], list[torch.Tensor]]:
        """Detections per image with this predictor's test settings (hard NMS); see
        :func:`fast_rcnn_inference`.

        Args:
            predictions: output of :meth:`forward`.
            proposals: per image, ``proposal_boxes`` and ``image_size``.
        """
        return fast_rcnn_inference(
            self.predict_boxes(predictions, proposals),
            self.predict_probs(predictions, proposals),
            [x.image_size for x in proposals],
            self.test_score_thresh,
            self.test_nms_thresh,
            self.test_topk_per_image,
        )


def fast_rcnn_inference(
    boxes: Sequence[torch.Tensor],
    scores: Sequence[torch.Tensor],
    image_shapes: Sequence[tuple[int, int]],
    score_thresh: float,
    nms_thresh: float,
    topk_per_image: int,
    nms: BoxNMS | None = None,
) -> tuple[list[Instances], list[torch.Tensor]]:
    """Score filtering and NMS for a batch of images (detectron2's function, plus ``nms``).

    Args:
        boxes: per image, Tensor[R_i, K * 4] or Tensor[R_i, 4] (class-agnostic) predicted
            boxes, XYXY absolute pixels.
        scores: per image, Tensor[R_i, K + 1] class probabilities (background last).
        image_shapes: per image, (height, width) the boxes are clipped to.
        score_thresh: candidates need a score strictly above this.
        nms_thresh: IoU threshold of the default hard NMS.
        topk_per_image: at most this many detections per image with the default hard NMS
            (negative: all).
        nms: another selection strategy (e.g. :class:`SoftNMS`); ``nms_thresh`` and
            ``topk_per_image`` are then unused.

    Returns:
        (instances, kept_indices): per image, Instances with ``pred_boxes``, ``scores`` and
        ``pred_classes``, and Tensor[D_i] with the index of the RoI each detection came from.
    """
    nms = HardNMS(nms_thresh, topk_per_image) if nms is None else nms
    results = [
        fast_rcnn_inference_single_image(b, s, shape, score_thresh, nms_thresh, topk_per_image, nms)
        for b, s, shape in zip(boxes, scores, image_shapes)
    ]
    return [r[0] for r in results], [r[1] for r in results]


def fast_rcnn_inference_single_image(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    image_shape: tuple[int, int],
    score_thresh: float,
    nms_thresh: float,
    topk_per_image: int,
    nms: BoxNMS | None = None,
) -> tuple[Instances, torch.Tensor]:
    """:func:`fast_rcnn_inference` for one image.

    Steps: drop RoIs with a non-finite box or score; drop the background column; clip boxes;
    every (RoI, class) pair with score > ``score_thresh`` becomes a candidate (class-agnostic
    boxes are shared by the classes of a RoI); ``nms`` selects among the candidates.

    Returns:
        (Instances, Tensor[D] RoI index of each detection).
    """
    nms = HardNMS(nms_thresh, topk_per_image) if nms is None else nms
    valid = torch.isfinite(boxes).all(dim=1) & torch.isfinite(scores).all(dim=1)
    if not valid.all():
        boxes, scores = boxes[valid], scores[valid]
    scores = scores[:, :-1]
    num_bbox_reg_classes = boxes.shape[1] // 4
    clipped = Boxes(boxes.reshape(-1, 4))
    clipped.clip(image_shape)
    boxes = clipped.tensor.view(-1, num_bbox_reg_classes, 4)

    filter_mask = scores > score_thresh
    filter_inds = filter_mask.nonzero()
    if num_bbox_reg_classes == 1:
        boxes = boxes[filter_inds[:, 0], 0]
    else:
        boxes = boxes[filter_mask]
    scores = scores[filter_mask]

    keep, kept_scores = nms(boxes, scores, filter_inds[:, 1])
    filter_inds = filter_inds[keep]
    result = Instances(image_shape)
    result.pred_boxes = Boxes(boxes[keep])
    result.scores = kept_scores
    result.pred_classes = filter_inds[:, 1]
    return result, filter_inds[:, 0]
