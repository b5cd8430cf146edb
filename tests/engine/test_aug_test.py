"""``--aug-test``: a single-scale segmentation card becomes mmseg's multi-scale + flip test."""

import os

import pytest
import torch

from det.config import LazyConfig, instantiate
from det.engine import MMSEG_AUG_TEST_RATIOS, apply_aug_test, default_argument_parser
from det.modeling.mask2former import MultiScaleFlipInference, SlidingWindowInference
from det.utils.errors import UserError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REGPROXY = (
    "projects/RegionProxy/configs/ade20k/"
    "regproxy-t16-sub4+implicit-mid-4+512x512+160k+adamw-poly+ade20k.py"
)
ADAPTER_T = "projects/ViTAdapter/configs/ade20k/upernet_deit_adapter_tiny_512_160k_ade20k.py"
ADAPTER_PASCAL = (
    "projects/ViTAdapter/configs/pascal_context/"
    "upernet_beit_adapter_large_480_80k_pascal_context_59.py"
)


def _load(path):
    return LazyConfig.load(os.path.join(ROOT, path))


@pytest.mark.parametrize(
    "path, scale, divisor",
    [
        (REGPROXY, [2048, 512], 0),  # mmseg 0.17 test pipeline: no ResizeToMultiple
        (ADAPTER_T, [2048, 512], 32),
        (ADAPTER_PASCAL, [4096, 520], 32),
    ],
)  # fmt: skip
def test_cards_get_the_mmseg_ms_flip_test(path, scale, divisor):
    cfg = _load(path)
    base = cfg.model.inference
    apply_aug_test(cfg)
    ms = cfg.model.inference
    assert ms.base == base and list(ms.scale) == scale and ms.size_divisor == divisor
    assert list(ms.ratios) == list(MMSEG_AUG_TEST_RATIOS) and ms.flip
    assert list(cfg.dataloader.test.mapper.augmentations) == []


def test_other_configs_are_refused_with_the_reason():
    ms_card = _load("projects/EVA02/configs/ade20k/upernet_eva02_large_24_512_slide_80k_ms_eval.py")
    with pytest.raises(UserError, match="already MultiScaleFlipInference"):
        apply_aug_test(ms_card)
    detection = _load("projects/ViTDet/configs/demo/eva2_tiny_cascade_synthetic.py")
    with pytest.raises(UserError, match="semantic-segmentation config"):
        apply_aug_test(detection)


def test_flag_and_a_narrowed_card_run():
    args = default_argument_parser().parse_args(["--aug-test", "--eval-only", "a=1"])
    assert args.aug_test and args.opts == ["a=1"]
    cfg = _load(REGPROXY)
    cfg.model.backbone.update(embed_dim=32, depth=2, num_heads=2, pretrain_img_size=64)
    cfg.model.backbone.out_indices = [0, 1]
    cfg.model.decode_head.update(in_features=["b0", "b1"], num_classes=3, norm="BN")
    cfg.model.inference.update(crop_size=(64, 64), stride=(64, 64))
    cfg.dataloader.test.mapper.augmentations.crop_size = 64
    apply_aug_test(cfg, ratios=[0.5, 1.0])
    model = instantiate(cfg.model).eval()
    assert isinstance(model.inference, MultiScaleFlipInference)
    assert isinstance(model.inference.base, SlidingWindowInference)
    with torch.no_grad():
        out = model([{"image": torch.rand(3, 50, 70) * 255, "height": 50, "width": 70}])
    probs = out[0]["sem_seg"]
    assert probs.shape == (3, 50, 70)
    torch.testing.assert_close(probs.sum(0), torch.ones(50, 70), rtol=1e-5, atol=1e-5)
