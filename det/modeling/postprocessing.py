"""Map model outputs from the network's input resolution back to the original image size."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from det.structures import Instances, ROIMasks

__all__ = ["detector_postprocess", "sem_seg_postprocess"]


def detector_postprocess(
    results: Instances, output_height: int, output_width: int, mask_threshold: float = 0.5
) -> Instances:
    """Rescale detections to the requested output size (usually the original image size).

    Boxes are scaled by ``output / results.image_size``, clipped to the output image and boxes
    left empty are dropped. ``pred_masks`` given as per-box masks (Tensor[R, 1, M, M] or
    ROIMasks) are pasted into the output image and binarized; keypoints are scaled.

    Args:
        results: detections at the network's input resolution, with ``pred_boxes`` (or
            ``proposal_boxes``) and optionally ``pred_masks`` / ``pred_keypoints``. Its boxes
            are modified in place.
        output_height: height of the output image.
        output_width: width of the output image.
        mask_threshold: probability at which a pasted mask pixel is foreground.

    Returns:
        Instances of image size (output_height, output_width); ``pred_masks`` becomes
        Tensor[R', H, W] (bool).
    """
    if isinstance(output_width, torch.Tensor):
        # Traced sizes stay tensors so the graph is not specialized to one size.
        output_width_tmp = output_width.float()
        output_height_tmp = output_height.float()
        new_size = torch.stack([output_height, output_width])
    else:
        new_size = (output_height, output_width)
        output_width_tmp = output_width
        output_height_tmp = output_height

    scale_x = output_width_tmp / results.image_size[1]
    scale_y = output_height_tmp / results.image_size[0]
    results = Instances(new_size, **results.get_fields())

    if results.has("pred_boxes"):
        output_boxes = results.pred_boxes
    elif results.has("proposal_boxes"):
        output_boxes = results.proposal_boxes
    else:
        raise ValueError("detector_postprocess: predictions must contain boxes")
    output_boxes.scale(scale_x, scale_y)
    output_boxes.clip(results.image_size)
    results = results[output_boxes.nonempty()]

    if results.has("pred_masks"):
        if isinstance(results.pred_masks, ROIMasks):
            roi_masks = results.pred_masks
        else:
            roi_masks = ROIMasks(results.pred_masks[:, 0, :, :])
        results.pred_masks = roi_masks.to_bitmasks(
            results.pred_boxes.tensor, output_height, output_width, mask_threshold
        ).tensor

    if results.has("pred_keypoints"):
        results.pred_keypoints[:, :, 0] *= scale_x
        results.pred_keypoints[:, :, 1] *= scale_y
    return results


def sem_seg_postprocess(
    result: torch.Tensor, img_size: tuple[int, int], output_height: int, output_width: int
) -> torch.Tensor:
    """Crop the padding off a semantic segmentation prediction and resize it.

    Args:
        result (Tensor[C, H_pad, W_pad]): per-class scores on the padded network input.
        img_size: (h, w) of the image inside the padded input.
        output_height, output_width: size to resize to (bilinear, align_corners=False).

    Returns:
        Tensor[C, output_height, output_width].
    """
    result = result[:, : img_size[0], : img_size[1]].expand(1, -1, -1, -1)
    return F.interpolate(
        result, size=(output_height, output_width), mode="bilinear", align_corners=False
    )[0]
