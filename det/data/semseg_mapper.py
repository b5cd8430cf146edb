"""Training mapper for Mask2Former-style semantic segmentation (per-class mask targets)."""

from __future__ import annotations

import copy
import logging

import numpy as np
import torch
import torch.nn.functional as F

from det.structures import Instances

from . import detection_utils as utils
from . import transforms as T

__all__ = ["MaskFormerSemanticDatasetMapper"]

logger = logging.getLogger(__name__)


class MaskFormerSemanticDatasetMapper:
    """Reads an image and its label map, augments both, and builds mask-classification targets.

    Output: the record's fields plus ``image`` (uint8 Tensor[3, H, W] in ``image_format``),
    ``height`` / ``width`` (original size), ``sem_seg`` (Long Tensor[H, W], ``ignore_label`` =
    ignored) and ``instances`` with ``gt_classes`` (Tensor[M] int64, the sorted distinct
    non-ignored labels) and ``gt_masks`` (bool Tensor[M, H, W], ``sem_seg == gt_classes[i]``;
    shape [0, H, W] when every pixel is ignored).

    With ``size_divisibility > 0`` the image is padded at the bottom/right to the next multiple
    (128, as Mask2Former's mapper does; the value is seen before normalization) and ``sem_seg``
    with ``ignore_label``, so padded pixels belong to no class. Mask2Former pads to exactly
    ``size_divisibility``, i.e. the crop size; the two agree for images no larger than it.
    mmseg/EVA pad after normalization instead (value 0 = the pixel mean): set
    ``size_divisibility=-1`` and let the model pad its normalized batch to get that.

    Args:
        is_train: must be True; use ``DatasetMapper(is_train=False, ...)`` for inference.
        augmentations: applied to the image and the label map.
        image_format: "RGB" or "BGR".
        ignore_label: label value that is ignored (255).
        size_divisibility: pad to a multiple of this (<= 0: no padding).
        num_classes: K; when given, labels outside [0, K) other than ``ignore_label`` raise.
    """

    def __init__(
        self,
        is_train: bool = True,
        *,
        augmentations: list[T.Augmentation | T.Transform],
        image_format: str,
        ignore_label: int = 255,
        size_divisibility: int = -1,
        num_classes: int | None = None,
    ):
        if not is_train:
            raise ValueError(
                "MaskFormerSemanticDatasetMapper is for training; use "
                "DatasetMapper(is_train=False, ...) for inference"
            )
        self.is_train = is_train
        self.augmentations = T.AugmentationList(augmentations)
        self.image_format = image_format
        self.ignore_label = ignore_label
        self.size_divisibility = size_divisibility
        self.num_classes = num_classes
        logger.info("[MaskFormerSemanticDatasetMapper] Augmentations: %s", self.augmentations)

    def _pad(self, image: torch.Tensor, sem_seg: torch.Tensor):
        d = self.size_divisibility
        h, w = image.shape[-2:]
        pad_h, pad_w = (-h) % d, (-w) % d
        if pad_h == 0 and pad_w == 0:
            return image, sem_seg
        image = F.pad(image, (0, pad_w, 0, pad_h), value=128)
        sem_seg = F.pad(sem_seg, (0, pad_w, 0, pad_h), value=self.ignore_label)
        return image.contiguous(), sem_seg.contiguous()

    def __call__(self, dataset_dict: dict) -> dict:
        """Maps one record (not modified) to a model input dict."""
        dataset_dict = copy.deepcopy(dataset_dict)
        if "sem_seg_file_name" not in dataset_dict:
            raise ValueError(
                f"Record for '{dataset_dict.get('file_name')}' has no sem_seg_file_name; "
                "MaskFormerSemanticDatasetMapper needs semantic labels"
            )
        image = utils.read_image(dataset_dict["file_name"], format=self.image_format)
        utils.check_image_size(dataset_dict, image)
        sem_seg = utils.read_sem_seg(
            dataset_dict, image.shape[:2], self.num_classes, self.ignore_label
        )

        aug_input = T.AugInput(image, sem_seg=sem_seg)
        self.augmentations(aug_input)
        image_t = torch.as_tensor(np.ascontiguousarray(aug_input.image.transpose(2, 0, 1)))
        sem_seg_t = torch.as_tensor(aug_input.sem_seg.astype(np.int64))
        if self.size_divisibility > 0:
            image_t, sem_seg_t = self._pad(image_t, sem_seg_t)

        dataset_dict["image"] = image_t
        dataset_dict["sem_seg"] = sem_seg_t
        dataset_dict.pop("sem_seg_file_name")
        dataset_dict.pop("reduce_zero_label", None)

        classes = torch.unique(sem_seg_t)
        classes = classes[classes != self.ignore_label]
        instances = Instances(tuple(sem_seg_t.shape))
        instances.gt_classes = classes.to(torch.int64)
        instances.gt_masks = sem_seg_t[None] == classes[:, None, None]
        dataset_dict["instances"] = instances
        return dataset_dict
