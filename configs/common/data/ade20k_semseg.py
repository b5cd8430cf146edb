"""ADE20K (150 classes) semantic segmentation loaders, EVA / ViT-Adapter mmseg recipe.

Train: ratio-range resize (0.5-2.0 of (4 * crop, crop)) -> crop x crop random crop with
cat_max_ratio 0.75 -> flip -> mmseg photometric distortion; per-class mask targets. The model
pads the normalized batch (mmseg pads after normalization with 0), so the mapper does not pad.
Test: keep-ratio resize to short side = crop (long <= 4 * crop), sides up to a multiple of 32.
Change the crop with ``dataloader.train.mapper.augmentations.crop_size=640``.
"""

from omegaconf import OmegaConf

from det.config import LazyCall as L
from det.data.augmentation_recipes import (
    build_mmseg_semseg_augmentation,
    build_mmseg_semseg_test_augmentation,
)
from det.data.build import (
    build_detection_test_loader,
    build_detection_train_loader,
    get_detection_dataset_dicts,
)
from det.data.dataset_mapper import DatasetMapper
from det.data.semseg_mapper import MaskFormerSemanticDatasetMapper
from det.evaluation import SemSegEvaluator

dataloader = OmegaConf.create()

dataloader.train = L(build_detection_train_loader)(
    dataset=L(get_detection_dataset_dicts)(names="ade20k_sem_seg_train"),
    mapper=L(MaskFormerSemanticDatasetMapper)(
        is_train=True,
        augmentations=L(build_mmseg_semseg_augmentation)(
            crop_size=896, image_format="${..image_format}", cat_max_ratio=0.75
        ),
        image_format="RGB",
        ignore_label=255,
        size_divisibility=-1,
        num_classes=150,
    ),
    total_batch_size=16,
    num_workers=4,
)

dataloader.test = L(build_detection_test_loader)(
    dataset=L(get_detection_dataset_dicts)(names="ade20k_sem_seg_val", filter_empty=False),
    mapper=L(DatasetMapper)(
        is_train=False,
        augmentations=L(build_mmseg_semseg_test_augmentation)(
            crop_size="${....train.mapper.augmentations.crop_size}"
        ),
        image_format="${...train.mapper.image_format}",
    ),
    num_workers=4,
)

dataloader.evaluator = L(SemSegEvaluator)(dataset_name="${..test.dataset.names}")
