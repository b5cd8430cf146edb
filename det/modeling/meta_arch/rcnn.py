"""Generalized R-CNN: backbone -> proposal generator -> RoI heads (Mask R-CNN, Cascade R-CNN).

EVA-02's changes to detectron2's meta-architecture, kept here:

* Under mixed precision only the backbone runs in autocast: its features are cast to float32
  and the RPN and RoI heads run with autocast disabled, so all losses are float32.
* Images are padded as the backbone's ``padding_constraints`` ask (ViTDet: a fixed square);
  an image larger than that square is padded to a square of its own size, with a warning.
* Maskness rescoring applies to the given-boxes path as well (it lives in the RoI heads'
  ``forward_with_given_boxes``).

Unlike the fork, inference also works with ``StandardROIHeads`` (the fork passes a keyword
only ``CascadeROIHeads`` accepts).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from det.layers import move_device_like
from det.modeling.backbone import Backbone
from det.modeling.postprocessing import detector_postprocess
from det.structures import ImageList, Instances
from det.utils.events import get_event_storage

__all__ = ["GeneralizedRCNN"]

logger = logging.getLogger(__name__)


class GeneralizedRCNN(nn.Module):
    """A two-stage detector: per-image dicts in, losses (training) or detections out.

    Input (one dict per image, DESIGN.md's contract): ``image`` (uint8 Tensor[C, H, W] in
    ``input_format``), optional ``height`` / ``width`` (output size; default the input size),
    ``instances`` (training: ``gt_boxes``, ``gt_classes``, ``gt_masks``) and ``proposals``
    (only without a proposal generator).

    Args:
        backbone: maps the normalized, padded batch to named feature maps.
        proposal_generator: e.g. ``RPN``; None to read ``proposals`` from the inputs.
        roi_heads: ``StandardROIHeads`` / ``CascadeROIHeads``.
        pixel_mean, pixel_std: per-channel normalization, in the order of ``input_format``.
        input_format: channel order of ``image`` ("RGB" for EVA-02, "BGR" for detectron2's
            Caffe2 models); used to show training images.
        vis_period: every this many iterations, put an image of ground-truth boxes and the
            top proposals into the event storage (0: never).
    """

    def __init__(
        self,
        *,
        backbone: Backbone,
        proposal_generator: nn.Module | None,
        roi_heads: nn.Module,
        pixel_mean: Sequence[float],
        pixel_std: Sequence[float],
        input_format: str | None = None,
        vis_period: int = 0,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.proposal_generator = proposal_generator
        self.roi_heads = roi_heads
        self.input_format = input_format
        self.vis_period = vis_period
        if vis_period > 0 and input_format is None:
            raise ValueError("GeneralizedRCNN: vis_period > 0 needs input_format to show images")
        if len(pixel_mean) != len(pixel_std):
            raise ValueError(
                f"GeneralizedRCNN: pixel_mean {list(pixel_mean)} and pixel_std "
                f"{list(pixel_std)} must have the same length"
            )
        # Non-persistent: checkpoints of detectron2 / EVA-02 do not contain them.
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1), False)

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    def _move_to_current_device(self, x: torch.Tensor) -> torch.Tensor:
        return move_device_like(x, self.pixel_mean)

    def forward(
        self, batched_inputs: list[dict[str, Any]]
    ) -> dict[str, torch.Tensor] | list[dict[str, Instances]]:
        """Training: dict of scalar losses; inference: see :meth:`inference`.

        Args:
            batched_inputs: one dict per image (see the class docstring).
        """
        if not self.training:
            return self.inference(batched_inputs)
        images = self.preprocess_image(batched_inputs)
        gt_instances = None
        if "instances" in batched_inputs[0]:
            gt_instances = [x["instances"].to(self.device) for x in batched_inputs]
        features = self.backbone(images.tensor)
        # EVA-02: only the backbone runs under autocast; the heads and losses are float32.
        features = {name: f.float() for name, f in features.items()}
        with torch.autocast(device_type=images.tensor.device.type, enabled=False):
            proposals, proposal_losses = self._proposals(
                images, features, gt_instances, batched_inputs
            )
            _, detector_losses = self.roi_heads(images, features, proposals, gt_instances)
        if self.vis_period > 0:
            storage = get_event_storage()
            if storage.iter % self.vis_period == 0:
                self.visualize_training(batched_inputs, proposals)
        losses = {}
        losses.update(detector_losses)
        losses.update(proposal_losses)
        return losses

    def _proposals(
        self,
        images: ImageList,
        features: dict[str, torch.Tensor],
        gt_instances: list[Instances] | None,
        batched_inputs: list[dict[str, Any]] | None = None,
    ) -> tuple[list[Instances], dict[str, torch.Tensor]]:
        if self.proposal_generator is not None:
            return self.proposal_generator(images, features, gt_instances)
        inputs = batched_inputs or []
        if not inputs or "proposals" not in inputs[0]:
            raise ValueError(
                "GeneralizedRCNN: proposal_generator is None, so every input dict needs "
                "'proposals' (Instances with proposal_boxes)"
            )
        return [x["proposals"].to(self.device) for x in inputs], {}

    def inference(
        self,
        batched_inputs: list[dict[str, Any]],
        detected_instances: list[Instances] | None = None,
        do_postprocess: bool = True,
    ) -> list[dict[str, Instances]] | list[Instances]:
        """Detect objects (no autocast: float32, as EVA-02 evaluates).

        Args:
            batched_inputs: one dict per image.
            detected_instances: per image, known ``pred_boxes`` / ``pred_classes``: only the
                mask head (and maskness rescoring) runs on them.
            do_postprocess: rescale to each input's ``height`` x ``width`` and paste masks.

        Returns:
            With postprocessing: per image ``{"instances": Instances}`` with ``pred_boxes``,
            ``scores``, ``pred_classes`` and ``pred_masks`` (bool Tensor[D, H, W]) in the
            output size. Without: the raw per-image Instances in the padded input frame.
        """
        if self.training:
            raise RuntimeError("GeneralizedRCNN.inference needs model.eval()")
        images = self.preprocess_image(batched_inputs)
        features = self.backbone(images.tensor)
        if detected_instances is None:
            proposals, _ = self._proposals(images, features, None, batched_inputs)
            results, _ = self.roi_heads(images, features, proposals, None)
        else:
            detected = [x.to(self.device) for x in detected_instances]
            results = self.roi_heads.forward_with_given_boxes(features, detected)
        if do_postprocess:
            return GeneralizedRCNN._postprocess(results, batched_inputs, images.image_sizes)
        return results

    def preprocess_image(self, batched_inputs: list[dict[str, Any]]) -> ImageList:
        """Normalize and pad the images into an ImageList (padding value 0 after
        normalization, at the bottom and right)."""
        images = [self._move_to_current_device(x["image"]) for x in batched_inputs]
        images = [(x - self.pixel_mean) / self.pixel_std for x in images]
        constraints = dict(self.backbone.padding_constraints)
        square = constraints.get("square_size", 0)
        max_size = max(max(x.shape[-2:]) for x in images)
        if square > 0 and square < max_size:
            # EVA-02 pads to the largest side then; a ViT with global RoPE tables for
            # `square` tokens will refuse that input, so say why here.
            logger.warning(
                f"Image side {max_size} exceeds the backbone's square padding {square}; padding "
                f"to {max_size}x{max_size} instead. Resize test images to at most {square}."
            )
            constraints["square_size"] = int(max_size)
        return ImageList.from_tensors(
            images, self.backbone.size_divisibility, padding_constraints=constraints
        )

    @staticmethod
    def _postprocess(
        instances: list[Instances],
        batched_inputs: list[dict[str, Any]],
        image_sizes: list[tuple[int, int]],
    ) -> list[dict[str, Instances]]:
        """Rescale each image's detections to its requested output size."""
        processed = []
        for results, inputs, image_size in zip(instances, batched_inputs, image_sizes):
            height = inputs.get("height", image_size[0])
            width = inputs.get("width", image_size[1])
            processed.append({"instances": detector_postprocess(results, height, width)})
        return processed

    def visualize_training(
        self, batched_inputs: list[dict[str, Any]], proposals: list[Instances]
    ) -> None:
        """Put one image (ground truth left, the 20 top proposals right) into the storage."""
        from torchvision.utils import draw_bounding_boxes

        storage = get_event_storage()
        inputs, props = batched_inputs[0], proposals[0]
        img = inputs["image"].detach().cpu()
        if self.input_format == "BGR":
            img = img.flip(0)
        img = img.to(torch.uint8)
        gt = inputs["instances"].gt_boxes.tensor.detach().cpu() if "instances" in inputs else None
        left = draw_bounding_boxes(img, gt, colors="green") if gt is not None and len(gt) else img
        top = props.proposal_boxes.tensor[:20].detach().cpu().float()
        right = draw_bounding_boxes(img, top, colors="red") if len(top) else img
        storage.put_image(
            "Left: GT bounding boxes;  Right: Predicted proposals", torch.cat([left, right], 2)
        )
