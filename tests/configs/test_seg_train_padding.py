"""Every encoder-decoder card pads its training batches to the crop, as mmseg's
``Pad(size=crop_size)`` does (otherwise images smaller than the crop would change the input
grid of backbones that interpolate their position table)."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import DictConfig

from det.config import LazyConfig
from det.modeling.meta_arch import EncoderDecoder

REPO = Path(__file__).resolve().parents[2]
# Cards whose base builds an EncoderDecoder (UperNet / RegionProxy families and their demos).
CARDS = sorted(
    str(p.relative_to(REPO))
    for p in REPO.glob("projects/*/configs/*/*.py")
    if p.parent.name != "common"
    and p.parts[-4] in ("CAE", "EVA02", "RegionProxy", "ViTAdapter")
    and "mask2former" not in p.name
)


def _crop(inference: DictConfig) -> int:
    while "crop_size" not in inference:  # multi-scale wraps the sliding window
        inference = inference.base
    crop = tuple(inference.crop_size)
    assert crop[0] == crop[1]
    return crop[0]


@pytest.mark.parametrize("card", CARDS)
def test_train_pad_size_is_the_crop(card):
    cfg = LazyConfig.load(str(REPO / card))
    assert cfg.model._target_ is EncoderDecoder
    crop = _crop(cfg.model.inference)
    pad = cfg.model.get("train_pad_size")
    if pad is None:  # a fixed-grid ViT (BEiT / CAE / EVA-02 tables) pads to its img_size
        backbone = cfg.model.backbone
        vit = backbone.get("vit") or backbone.get("net")
        pad = vit.img_size
    assert pad == crop
    augmentations = cfg.dataloader.train.mapper.augmentations
    if isinstance(augmentations, DictConfig) and "crop_size" in augmentations:
        assert augmentations.crop_size == crop
