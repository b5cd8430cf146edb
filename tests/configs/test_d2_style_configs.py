"""Configs written as detectron2 / EVA-02 users write them load and build in det with no dataset
on disk, with the state-dict keys of det's own card of the same design; det.model_zoo over
det's configs/; LVIS cards and tools/analyze_model.py without lvis_v1_train.json."""

import importlib.util
import json
import os
import shutil

import pytest
import torch

from det import model_zoo
from det.config import ConfigError, LazyConfig, instantiate
from det.data.datasets.builtin import register_all_builtin
from det.data.datasets.paths import get_datasets_root

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
D2_STYLE = os.path.join(ROOT, "tests", "configs", "d2_style")
VITDET = os.path.join(ROOT, "projects", "ViTDet", "configs")
KEYS = os.path.join(ROOT, "tests", "fixtures", "checkpoint_keys")


@pytest.fixture()
def no_datasets(tmp_path, monkeypatch):
    """Built-in datasets registered under an empty DETECTRON2_DATASETS (restored after)."""
    original = get_datasets_root()
    root = tmp_path / "datasets"
    root.mkdir()
    monkeypatch.setenv("DETECTRON2_DATASETS", str(root))
    register_all_builtin(str(root))
    yield str(root)
    assert not os.listdir(root)  # nothing was needed, nothing was written
    register_all_builtin(original)


def _keys(cfg):
    with torch.device("meta"):
        model = instantiate(cfg.model)
    return {k: list(v.shape) for k, v in model.state_dict().items()}


def _fixture_keys(name):
    with open(os.path.join(KEYS, name + ".json")) as f:
        return json.load(f)


# d2-style config -> det's own card of the same design.
SAME_DESIGN = {
    "COCO/mask_rcnn_vit_b": "COCO/mask_rcnn_vitdet_b_100ep",
    "COCO/cascade_mask_rcnn_vit_b": "COCO/cascade_mask_rcnn_vitdet_b_100ep",
    "LVIS/cascade_mask_rcnn_vit_b": (
        "eva2_mim_to_lvis/eva2_lvis_cascade_mask_rcnn_vitdet_b_4attn_1024_lrd0p7"
    ),
}


@pytest.mark.parametrize("name", sorted(SAME_DESIGN))
def test_d2_style_config_builds_with_the_keys_of_dets_card(name, no_datasets):
    cfg = LazyConfig.load(os.path.join(D2_STYLE, name + ".py"))
    own = LazyConfig.load(os.path.join(VITDET, SAME_DESIGN[name] + ".py"))
    keys = _keys(cfg)
    assert keys == _keys(own)
    cascade = "cascade" in name
    assert ("roi_heads.box_predictor.2.cls_score.weight" in keys) == cascade
    classes = 1203 if name.startswith("LVIS") else 80
    assert keys["roi_heads.mask_head.predictor.weight"][0] == classes
    assert set(cfg) >= {"model", "dataloader", "optimizer", "lr_multiplier", "train"}


def test_d2_style_lvis_recipe(no_datasets):
    cfg = LazyConfig.load(os.path.join(D2_STYLE, "LVIS", "cascade_mask_rcnn_vit_b.py"))
    assert cfg.dataloader.evaluator._target_.__name__ == "LVISEvaluator"
    assert cfg.dataloader.evaluator.dataset_name == "lvis_v1_val"
    assert cfg.dataloader.train.sampler._target_.__name__ == "RepeatFactorTrainingSampler"
    assert [p.use_fed_loss and p.use_sigmoid_ce for p in cfg.model.roi_heads.box_predictors] == [
        True
    ] * 3
    # Built off the meta device the weights are real numbers: image_count ** 0.5 of the table.
    weights = instantiate(cfg.model.roi_heads.box_predictors[0].get_fed_loss_cls_weights)()
    path = os.path.join(ROOT, "det", "data", "datasets", "metadata", "lvis_v1_categories.json")
    with open(path) as f:
        counts = [c["image_count"] for c in sorted(json.load(f), key=lambda c: c["id"])]
    torch.testing.assert_close(
        weights.double(), torch.tensor(counts, dtype=torch.float64) ** 0.5, rtol=1e-6, atol=0
    )


def _place_in_vitdet_tree(tmp_path, card, folder):
    """A copy of det's projects/ViTDet/configs (links) with ``card`` added to ``folder``."""
    tree = tmp_path / "configs"
    tree.mkdir()
    for entry in os.listdir(VITDET):
        if entry != folder:
            os.symlink(os.path.join(VITDET, entry), tree / entry)
    (tree / folder).mkdir()
    for entry in os.listdir(os.path.join(VITDET, folder)):
        os.symlink(os.path.join(VITDET, folder, entry), tree / folder / entry)
    target = tree / folder / os.path.basename(card)
    shutil.copy(card, target)
    return str(target)


def test_eva2_style_card_next_to_dets_cards(tmp_path, no_datasets):
    card = os.path.join(D2_STYLE, "eva2_mim_to_coco", "eva2_coco_b_1536_win32.py")
    cfg = LazyConfig.load(_place_in_vitdet_tree(tmp_path, card, "eva2_mim_to_coco"))
    name = "eva2_coco_cascade_mask_rcnn_vitdet_b_6attn_win32_1536_lrd0p7"
    assert _keys(cfg) == _fixture_keys(name)
    own = LazyConfig.load(os.path.join(VITDET, "eva2_mim_to_coco", name + ".py"))
    for key in ("img_size", "window_size", "embed_dim", "depth", "window_block_indexes"):
        assert cfg.model.backbone.net[key] == own.model.backbone.net[key], key
    assert cfg.model.backbone.square_pad == 1536
    assert cfg.dataloader.train.mapper.augmentations.image_size == 1536
    test_aug = instantiate(cfg.dataloader.test.mapper.augmentations)
    assert (test_aug[0].short_edge_length, test_aug[0].max_size) == ((1536, 1536), 1536)
    assert cfg.optimizer.lr == own.optimizer.lr and cfg.train.max_iter == own.train.max_iter


# The fork's sibling files, under the names its cards import them by.
FORK_SIBLINGS = {
    "common/coco_loader_lsj.py": ("coco_2017_train", 1024, True),
    "common/coco_loader_lsj_1024.py": ("coco_2017_train", 1024, True),
    "common/coco_loader_lsj_1536.py": ("coco_2017_train", 1536, True),
    "common/objects365_trainval_loader_lsj_1536.py": (
        ["objects365_train", "objects365_val"],
        1536,
        False,
    ),
}


@pytest.mark.parametrize("name", sorted(FORK_SIBLINGS))
def test_fork_loader_siblings(name):
    names, size, masks = FORK_SIBLINGS[name]
    train = LazyConfig.load(os.path.join(VITDET, name)).dataloader.train
    assert train.dataset.names == names
    assert train.mapper.augmentations.image_size == size
    assert train.mapper.use_instance_mask == train.mapper.recompute_boxes == masks
    assert train.mapper.image_format == "RGB"


@pytest.mark.parametrize("folder", ["eva2_mim_to_coco", "eva2_o365", "eva2_o365_to_coco"])
def test_fork_b_100ep_sibling_is_the_coco_vitdet_b_recipe(folder):
    cfg = LazyConfig.load(os.path.join(VITDET, folder, "cascade_mask_rcnn_vitdet_b_100ep.py"))
    # detectron2's ViTDet-B 100-epoch schedule (projects/ViTDet/configs/COCO/*_b_100ep.py).
    assert cfg.train.max_iter == 184375
    assert list(cfg.lr_multiplier.scheduler.milestones) == [163889, 177546]
    assert cfg.optimizer.params.overrides == {"pos_embed": {"weight_decay": 0.0}}
    assert cfg.model.roi_heads._target_.__name__ == "CascadeROIHeads"
    assert cfg.dataloader.train.total_batch_size == 64


def test_fork_common_data_names():
    o365 = model_zoo.get_config("common/data/objects365_trainval.py").dataloader
    assert list(o365.train.dataset.names) == ["objects365_train", "objects365_val"]
    assert o365.test.dataset.names == "objects365_val" and not o365.train.mapper.use_instance_mask
    constants = model_zoo.get_config("common/data/constants.py").constants
    # ImageNet statistics in 0-255 units: 255 * (0.485, 0.456, 0.406) / (0.229, 0.224, 0.225).
    mean = [255 * m for m in (0.485, 0.456, 0.406)]
    std = [255 * s for s in (0.229, 0.224, 0.225)]
    assert constants.imagenet_rgb256_mean == pytest.approx(mean, abs=1e-3)
    assert constants.imagenet_rgb256_std == pytest.approx(std, abs=1e-3)
    assert constants.imagenet_bgr256_mean == constants.imagenet_rgb256_mean[::-1]


def test_model_zoo_paths_and_errors():
    path = model_zoo.get_config_file("common/train.py")
    assert path == os.path.join(ROOT, "configs", "common", "train.py")
    assert model_zoo.get_config_file("configs/common/train.py") == path
    with pytest.raises(
        ConfigError,
        match=r"'common/models/mask_rcnn_vitdt.py' does not exist.*"
        r"mask_rcnn_vitdet.py",
    ):
        model_zoo.get_config("common/models/mask_rcnn_vitdt.py")
    with pytest.raises(ConfigError, match="no model-zoo weights.*train.init_checkpoint"):
        model_zoo.get_config("common/train.py", trained=True)
    # The old spelling still works and is the same function's result.
    from det.config import get_config

    assert get_config("common/train.py") == model_zoo.get_config("common/train.py")


def _load_tool(name):
    spec = importlib.util.spec_from_file_location(f"_tool_{name}", f"{ROOT}/tools/{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_analyze_model_on_an_lvis_card_without_data(no_datasets, capsys):
    card = os.path.join(
        VITDET, "eva2_mim_to_lvis", "eva2_lvis_cascade_mask_rcnn_vitdet_b_4attn_1024_lrd0p7.py"
    )
    tiny = [
        "model.backbone.net.depth=1",
        "model.backbone.net.embed_dim=32",
        "model.backbone.net.num_heads=2",
        "model.backbone.net.window_block_indexes=[]",
        "model.backbone.net.img_size=64",
    ]
    assert (
        _load_tool("analyze_model").main(["--config-file", card, "--tasks", "parameter", *tiny])
        == 0
    )
    out = capsys.readouterr().out
    cfg = LazyConfig.apply_overrides(LazyConfig.load(card), tiny)
    expected = sum(p.numel() for p in instantiate(cfg.model).parameters())
    assert f"Total parameters: {expected}" in out
