"""Released mmseg segmentors (ViT-Adapter, EVA-01, CAE, RegionProxy) into det's cards: the
published key names map onto every det tensor, values survive the DetectionCheckpointer, and a
release of another family is an error that names it."""

from __future__ import annotations

import json
import os

import pytest
import torch

from det.checkpoint import DetectionCheckpointer
from det.checkpoint.mmseg_released import (
    MMSegCheckpointError,
    _backbone_key,
    _head_key,
    maybe_convert_mmseg_release,
)
from det.config import LazyConfig, instantiate
from det.modeling.meta_arch import MaskFormer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KEYS = os.path.join(ROOT, "tests", "fixtures", "released_keys")

CASES = {
    "upernet_deit_adapter_tiny_512_160k_ade20k": (
        "projects/ViTAdapter/configs/ade20k/upernet_deit_adapter_tiny_512_160k_ade20k.py"
    ),
    "upernet_beit_adapter_large_640_160k_ade20k": (
        "projects/ViTAdapter/configs/ade20k/upernet_beit_adapter_large_640_160k_ade20k.py"
    ),
    "eva_sem_seg_mask2former_cocostuff_53p4": (
        "projects/EVA01/configs/coco_stuff164k/eva01_mask2former_896_60k_cocostuff164k_ss.py"
    ),
    "upernet_cae_base_12_512_slide_160k_ade20k": (
        "projects/CAE/configs/ade20k/upernet_cae_base_12_512_slide_160k_ade20k_pt1600ep_1e-4.py"
    ),
    "mask2former_beit_adapter_large_896_80k_mapillary": (
        "projects/ViTAdapter/configs/cityscapes/"
        "mask2former_beit_adapter_large_896_80k_cityscapes_ss.py"
    ),
    "regproxy_t16_ade20k": (
        "projects/RegionProxy/configs/ade20k/"
        "regproxy-t16-sub4+implicit-mid-4+512x512+160k+adamw-poly+ade20k.py"
    ),
    "regproxy_b16_cityscapes": (
        "projects/RegionProxy/configs/cityscapes/"
        "regproxy-b16-sub4+implicit-mid-2+768x768+80k+adamw-cr+cityscapes.py"
    ),
}


def _meta_model(config: str):
    with torch.device("meta"):
        return instantiate(LazyConfig.load(os.path.join(ROOT, config)).model)


def _release(name: str, model) -> dict:
    """The release's names, each with the shape of the det tensor it should land on."""
    with open(os.path.join(KEYS, f"{name}.json")) as f:
        names = json.load(f)
    target = model.state_dict()
    is_maskformer = isinstance(model, MaskFormer)
    state = {}
    for key in names:
        det = _backbone_key(key, model.backbone) if key.startswith("backbone.") else None
        det = det or _head_key(key, is_maskformer)
        shape = target[det].shape if det in target else (1,)
        state[key] = torch.empty(shape, device="meta")
    return {"meta": {"mmseg_version": "0.20.2"}, "state_dict": state}


@pytest.mark.parametrize("name", sorted(CASES))
def test_published_names_cover_the_card(name):
    model = _meta_model(CASES[name])
    state, report = maybe_convert_mmseg_release(_release(name, model), model)
    model.load_state_dict(state, strict=True, assign=True)  # raises on any gap
    assert len(report.loaded) == len(model.state_dict())
    assert f"mmseg release -> {type(model).__name__}" in str(report)
    if "deit" in name:
        assert {"backbone.cls_token", "backbone.norm.weight"} <= set(report.dropped)
    if "beit" in name or "cae" in name:
        assert any(k.endswith("relative_position_index") for k in report.dropped)


def test_another_family_is_an_error_naming_it():
    upernet = _meta_model(CASES["upernet_beit_adapter_large_640_160k_ade20k"])
    m2f = _meta_model(CASES["eva_sem_seg_mask2former_cocostuff_53p4"])
    with pytest.raises(MMSegCheckpointError, match="looks like: Mask2Former"):
        maybe_convert_mmseg_release(
            _release("eva_sem_seg_mask2former_cocostuff_53p4", m2f), upernet
        )
    with pytest.raises(MMSegCheckpointError, match="UperNet"):
        maybe_convert_mmseg_release(
            _release("upernet_cae_base_12_512_slide_160k_ade20k", upernet), m2f
        )
    regproxy = _meta_model(CASES["regproxy_t16_ade20k"])
    with pytest.raises(MMSegCheckpointError, match="looks like: RegionProxy"):
        maybe_convert_mmseg_release(_release("regproxy_t16_ade20k", regproxy), upernet)
    assert maybe_convert_mmseg_release({"backbone.x": torch.zeros(1)}, upernet) is None
    assert (
        maybe_convert_mmseg_release(
            _release("upernet_cae_base_12_512_slide_160k_ade20k", upernet), torch.nn.Linear(1, 1)
        )
        is None
    )


def test_release_of_another_dataset_keeps_a_fresh_class_head():
    """Cityscapes from the Mapillary release: 66 class rows in the file, 20 in the card."""
    model = _meta_model(CASES["mask2former_beit_adapter_large_896_80k_mapillary"])
    release = _release("mask2former_beit_adapter_large_896_80k_mapillary", model)
    state = release["state_dict"]
    state["decode_head.cls_embed.weight"] = torch.empty(66, 1024, device="meta")
    state["decode_head.cls_embed.bias"] = torch.empty(66, device="meta")
    loaded, report = maybe_convert_mmseg_release(release, model)
    head = "sem_seg_head.predictor.class_embed."
    assert {head + "weight", head + "bias"}.isdisjoint(loaded)
    assert report.dropped["decode_head.cls_embed.weight"].startswith("class head for another")
    assert len(loaded) == len(model.state_dict()) - 2
    # Any other shape disagreement is still an error.
    state["decode_head.query_embed.weight"] = torch.empty(7, 1024, device="meta")
    with pytest.raises(MMSegCheckpointError, match="shape mismatch"):
        maybe_convert_mmseg_release(release, model)


def _tiny_cae():
    cfg = LazyConfig.load(os.path.join(ROOT, CASES["upernet_cae_base_12_512_slide_160k_ade20k"]))
    cfg.model.backbone.net.update(img_size=32, embed_dim=32, depth=2, num_heads=2)
    cfg.model.backbone.net.out_indices = [0, 1, 1, 1]
    cfg.model.backbone.in_features = ["b0", "b1", "b1", "b1"]
    cfg.model.backbone.norm = "BN"
    cfg.model.decode_head.update(in_channels=[32] * 4, channels=8, num_classes=3, norm="BN")
    cfg.model.auxiliary_head.update(in_channels=32, channels=8, norm="BN")
    cfg.model.inference.update(crop_size=(32, 32), stride=(32, 32))
    return instantiate(cfg.model).eval()


def test_values_through_detection_checkpointer(tmp_path):
    torch.manual_seed(0)
    trained = _tiny_cae()
    with torch.no_grad():
        for p in trained.parameters():
            p.normal_()
    released = {
        k.replace("backbone.net.", "backbone.", 1): v for k, v in trained.state_dict().items()
    }
    released["backbone.blocks.0.attn.relative_position_index"] = torch.zeros(5, 5)
    path = tmp_path / "iter_160000.pth"
    torch.save({"meta": {"iter": 160000}, "state_dict": released}, path)
    fresh = _tiny_cae()
    DetectionCheckpointer(fresh).load(str(path))
    image = [{"image": torch.rand(3, 32, 32) * 255, "height": 32, "width": 32}]
    with torch.no_grad():
        torch.testing.assert_close(fresh(image)[0]["sem_seg"], trained(image)[0]["sem_seg"])
