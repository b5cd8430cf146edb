"""Maps a detection dataset dict to the model input dict (detectron2's ``DatasetMapper``)."""

from __future__ import annotations

import copy
import logging

import numpy as np
import torch

from . import detection_utils as utils
from . import transforms as T

__all__ = ["DatasetMapper"]

logger = logging.getLogger(__name__)


class DatasetMapper:
    """Reads the image, applies augmentations and builds the training targets.

    Output (the model-input contract of DESIGN.md): the input dict's fields plus
    ``image`` (uint8 Tensor[C, H, W] in ``image_format``), ``height`` / ``width`` (the original
    size, kept for rescaling predictions) and, in training, ``instances`` (Instances with
    ``gt_boxes``, ``gt_classes`` and, with ``use_instance_mask``, ``gt_masks``). Crowd
    annotations are dropped and instances left empty by the augmentations are removed. A
    ``sem_seg_file_name`` adds ``sem_seg`` (Long Tensor[H, W]) in training and is kept as a path
    at test time for the evaluator.

    Args:
        is_train: build training targets (otherwise annotations are dropped).
        augmentations: applied in order to the image and all annotations.
        image_format: "RGB" or "BGR" (the model's ``input_format``).
        use_instance_mask: keep ``segmentation`` and produce ``gt_masks``.
        instance_mask_format: "polygon" (PolygonMasks) or "bitmask" (BitMasks).
        recompute_boxes: replace the boxes by the tight boxes of the transformed masks (LSJ
            crops cut objects, so the transformed box would be too loose).
    """

    def __init__(
        self,
        is_train: bool,
        *,
        augmentations: list[T.Augmentation | T.Transform],
        image_format: str,
        use_instance_mask: bool = False,
        instance_mask_format: str = "polygon",
        recompute_boxes: bool = False,
    ):
        if recompute_boxes and not use_instance_mask:
            raise ValueError("DatasetMapper: recompute_boxes=True needs use_instance_mask=True")
        if instance_mask_format not in ("polygon", "bitmask"):
            raise ValueError(
                f"DatasetMapper: instance_mask_format must be 'polygon' or 'bitmask', got "
                f"{instance_mask_format!r}"
            )
        self.is_train = is_train
        self.augmentations = T.AugmentationList(augmentations)
        self.image_format = image_format
        self.use_instance_mask = use_instance_mask
        self.instance_mask_format = instance_mask_format
        self.recompute_boxes = recompute_boxes
        mode = "training" if is_train else "inference"
        logger.info("[DatasetMapper] Augmentations used in %s: %s", mode, self.augmentations)

    def _transform_annotations(
        self, dataset_dict: dict, transforms: T.TransformList, image_shape: tuple[int, int]
    ) -> None:
        annos = []
        for anno in dataset_dict.pop("annotations"):
            if anno.get("iscrowd", 0) != 0:
                continue
            if not self.use_instance_mask:
                anno.pop("segmentation", None)
            annos.append(utils.transform_instance_annotations(anno, transforms, image_shape))
        instances = utils.annotations_to_instances(
            annos, image_shape, mask_format=self.instance_mask_format
        )
        if self.recompute_boxes and instances.has("gt_masks"):
            instances.gt_boxes = instances.gt_masks.get_bounding_boxes()
        dataset_dict["instances"] = utils.filter_empty_instances(instances)

    def __call__(self, dataset_dict: dict) -> dict:
        """Maps one dataset dict (not modified) to a model input dict."""
        dataset_dict = copy.deepcopy(dataset_dict)
        image = utils.read_image(dataset_dict["file_name"], format=self.image_format)
        utils.check_image_size(dataset_dict, image)

        sem_seg = None
        if self.is_train and "sem_seg_file_name" in dataset_dict:
            sem_seg = utils.read_sem_seg(dataset_dict, image.shape[:2])
        aug_input = T.AugInput(image, sem_seg=sem_seg)
        transforms = self.augmentations(aug_input)
        image, sem_seg = aug_input.image, aug_input.sem_seg
        image_shape = image.shape[:2]

        dataset_dict["image"] = torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)))
        if sem_seg is not None:
            dataset_dict["sem_seg"] = torch.as_tensor(sem_seg.astype(np.int64))

        if not self.is_train:
            dataset_dict.pop("annotations", None)
            return dataset_dict
        if "annotations" in dataset_dict:
            self._transform_annotations(dataset_dict, transforms, image_shape)
        return dataset_dict
