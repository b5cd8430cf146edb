"""LazyCall, LazyConfig.load/save/apply_overrides/to_py and get_config."""

import logging
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from omegaconf import DictConfig, ListConfig, OmegaConf
from torch import nn

import det
from det.config import ConfigError, L, LazyCall, LazyConfig, get_config, instantiate, locate

FIXTURES = Path(__file__).parent / "fixtures"
BASE = FIXTURES / "base" / "base_model.py"
CHILD = FIXTURES / "exp" / "child.py"


class FakeCascadeROIHeads:
    """Stands in for CascadeROIHeads: the soft-NMS options are real keyword-only parameters."""

    def __init__(self, *, num_classes, use_soft_nms=False, method="gaussian", iou_threshold=0.3):
        self.num_classes = num_classes
        self.use_soft_nms = use_soft_nms
        self.method = method
        self.iou_threshold = iou_threshold


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _same(original, reloaded, path=""):
    """Structural equality where an original callable ``_target_`` may have become its name."""
    if isinstance(original, dict):
        assert isinstance(reloaded, dict) and list(original) == list(reloaded), path
        for k in original:
            a, b = original[k], reloaded[k]
            if k == "_target_" and callable(a) and isinstance(b, str):
                assert locate(b) is a, f"{path}._target_"
            else:
                _same(a, b, f"{path}.{k}")
    elif isinstance(original, list):
        assert isinstance(reloaded, list) and len(original) == len(reloaded), path
        for i, (a, b) in enumerate(zip(original, reloaded)):
            _same(a, b, f"{path}[{i}]")
    else:
        assert type(original) is type(reloaded) and original == reloaded, path


# ----------------------------------------------------------------------------- LazyCall


def test_lazy_call_records_target_and_kwargs():
    node = L(nn.Linear)(in_features=3, out_features=2)
    assert LazyCall is L
    assert isinstance(node, DictConfig)
    assert node._target_ is nn.Linear
    assert (node.in_features, node.out_features) == (3, 2)
    assert L("torch.nn.Linear")(in_features=1)._target_ == "torch.nn.Linear"
    # partial arguments become lazy nodes, so they can be overridden and saved
    node = L(nn.Linear)(in_features=1, init=partial(nn.init.constant_, val=0.5))
    assert node.init._target_ is nn.init.constant_ and node.init._partial_ is True
    assert node.init.val == 0.5


def test_lazy_call_rejects_bad_targets():
    with pytest.raises(TypeError):
        L(3)
    with pytest.raises(TypeError):
        L(nn.Linear)(_target_=nn.ReLU)


# ----------------------------------------------------------------------------- load


def test_load_relative_imports_across_directories():
    cfg = LazyConfig.load(CHILD)
    # helper int, private dict and imported modules/classes are not config keys
    assert list(cfg.keys()) == ["model", "train", "dataloader", "optimizer"]
    assert cfg.model.num_classes == 10
    assert cfg.model.backbone.bias is False
    assert cfg.model.backbone._target_ is nn.Linear
    assert cfg.train.max_iter == 20
    assert cfg.dataloader.train.batch_size == 4  # via "from ..base import base_model"
    assert isinstance(cfg.model.heads, ListConfig)
    # a partial assigned in the child file became a lazy node as well
    assert cfg.model.init._target_ is nn.init.constant_ and cfg.model.init._partial_ is True
    # each import re-executes the base file: the child's edits do not leak into it
    base = LazyConfig.load(str(BASE))
    assert base.model.num_classes == 80 and "bias" not in base.model.backbone
    assert base.train.max_iter == 100 and "optimizer" not in base


def test_load_keys():
    model = LazyConfig.load(CHILD, "model")
    assert model.num_classes == 10
    train, optimizer = LazyConfig.load(CHILD, ("train", "optimizer"))
    assert train.max_iter == 20 and optimizer.lr == 0.1
    with pytest.raises(ConfigError, match="defines no 'modle'"):
        LazyConfig.load(CHILD, "modle")


def test_load_rel_from_a_config_file(tmp_path):
    text = (
        "from det.config import LazyConfig\n"
        "model = LazyConfig.load_rel('sub/base.py', 'model')\n"
        "model.depth = 3\n"
    )
    _write(tmp_path, "sub/base.py", "model = dict(depth=1, width=2)\n")
    cfg = LazyConfig.load(_write(tmp_path, "top.py", text))
    assert OmegaConf.to_container(cfg.model) == {"depth": 3, "width": 2}


def test_interpolation_relative_and_absolute():
    cfg = LazyConfig.load(CHILD)
    assert cfg.model.backbone.out_features == 10  # "${..num_classes}"
    assert cfg.train.eval_period == 20  # "${.max_iter}"
    assert cfg.optimizer.steps == 20  # "${train.max_iter}"
    LazyConfig.apply_overrides(cfg, ["model.num_classes=7", "train.max_iter=9"])
    assert cfg.model.backbone.out_features == 7
    assert instantiate(cfg.model.backbone).out_features == 7
    assert instantiate(cfg.optimizer).steps == 9


def test_from_dot_import_and_star_import(tmp_path):
    _write(tmp_path, "common/train.py", "train = dict(max_iter=5)\n")
    _write(tmp_path, "common/optim.py", "optimizer = dict(lr=0.5)\n")
    text = (
        "from ..common import train as t, optim\n"
        "from ..common.train import *\n"
        "train.max_iter = t.train.max_iter + 1\n"
        "optimizer = optim.optimizer\n"
    )
    cfg = LazyConfig.load(_write(tmp_path, "exp/a.py", text))
    assert cfg.train.max_iter == 6 and cfg.optimizer.lr == 0.5


def test_load_yaml_handwritten(tmp_path):
    text = "train:\n  lr: 1e-4\n  steps: [1, 2]\n  act: !!python/name:torch.nn.ReLU ''\n"
    cfg = LazyConfig.load(_write(tmp_path, "c.yaml", text))
    assert cfg.train.lr == pytest.approx(1e-4) and isinstance(cfg.train.lr, float)
    assert list(cfg.train.steps) == [1, 2]
    assert cfg.train.act is nn.ReLU


# ----------------------------------------------------------------------------- load errors


@pytest.mark.parametrize(
    "name, text, pattern",
    [
        (
            "raises.py",
            "x = dict(a=1)\ny = 1 / 0\n",
            r"raises\.py' raised ZeroDivisionError at line 2",
        ),
        ("syntax.py", "model = dict(a=\n", r"syntax\.py' has a syntax error at line 1"),
        ("badimp.py", "from .missing import model\n", r"imports '\.missing'.*missing\.py'"),
        ("noname.py", "from .other import modle\n", r"imports 'modle'.*defines: model"),
        ("modfail.py", "from det.config import Nope\n", r"modfail\.py' raised ImportError"),
    ],
)
def test_load_errors_name_the_file(tmp_path, name, text, pattern):
    _write(tmp_path, "other.py", "model = dict(a=1)\n")
    with pytest.raises(ConfigError, match=pattern):
        LazyConfig.load(_write(tmp_path, name, text))


def test_load_error_in_imported_file_names_both_files(tmp_path):
    _write(tmp_path, "base/b.py", "model = dict(a=1)\nraise ValueError('bad base')\n")
    path = _write(tmp_path, "exp/c.py", "from ..base.b import model\n")
    with pytest.raises(ConfigError) as info:
        LazyConfig.load(path)
    msg = str(info.value)
    assert "b.py' raised ValueError at line 2" in msg and "bad base" in msg
    assert f"while loading '{path}', line 1" in msg


def test_load_missing_file_and_bad_extension(tmp_path):
    _write(tmp_path, "cascade_mask_rcnn.py", "x = dict()\n")
    with pytest.raises(ConfigError, match=r"does not exist; similar files there: cascade_mask"):
        LazyConfig.load(tmp_path / "cascade_mask_rcnm.py")
    with pytest.raises(ConfigError, match="does not exist"):
        LazyConfig.load(tmp_path / "nodir" / "x.py")
    with pytest.raises(ConfigError, match="expected .py, .yaml or .yml"):
        LazyConfig.load(_write(tmp_path, "c.json", "{}"))
    with pytest.raises(ConfigError, match="not valid YAML"):
        LazyConfig.load(_write(tmp_path, "bad.yaml", "a: [1, 2\n"))


# ----------------------------------------------------------------------------- save


def test_save_load_round_trip_is_equal(tmp_path):
    cfg = LazyConfig.load(CHILD)
    path = tmp_path / "config.yaml"
    LazyConfig.save(cfg, path)
    cfg2 = LazyConfig.load(path)
    _same(OmegaConf.to_container(cfg, resolve=False), OmegaConf.to_container(cfg2, resolve=False))
    # interpolations are kept, not resolved, and still work after reloading
    assert OmegaConf.to_container(cfg2.model.backbone)["out_features"] == "${..num_classes}"
    assert cfg2.model.backbone.out_features == 10
    assert cfg2.model.act is nn.GELU
    assert cfg2.model.norm == {"_target_": "torch.nn.LayerNorm", "_partial_": True, "eps": 1e-6}
    # saving the reloaded config gives the same file
    LazyConfig.save(cfg2, tmp_path / "again.yaml")
    assert (tmp_path / "again.yaml").read_text() == path.read_text()
    # and both build the same objects
    m1, m2 = instantiate(cfg.model), instantiate(cfg2.model)
    assert m2.backbone.weight.shape == m1.backbone.weight.shape == (10, 4)
    assert m2.backbone.bias is None and [h.out_features for h in m2.heads] == [2, 3]
    assert m2.norm(8).eps == 1e-6 and m2.act is nn.GELU
    assert m2.init(torch.zeros(2)).tolist() == [0.5, 0.5]


def test_save_reports_unserializable_values(tmp_path, caplog):
    cfg = LazyConfig.load(CHILD)
    cfg.model.built = nn.ReLU()
    cfg.train.hook = lambda: None
    path = tmp_path / "config.yaml"
    with caplog.at_level(logging.WARNING, logger="det.config"):
        LazyConfig.save(cfg, path)
    assert "model.built" in caplog.text and "train.hook" in caplog.text
    assert "torch.nn.modules.activation.ReLU object" in caplog.text
    text = path.read_text()
    assert text.startswith("# Values that cannot be written to YAML") and "#   model.built" in text
    cfg2 = LazyConfig.load(path)
    assert OmegaConf.is_missing(cfg2.model, "built") and OmegaConf.is_missing(cfg2.train, "hook")
    assert isinstance(cfg.model.built, nn.ReLU)  # save does not modify its input


# ----------------------------------------------------------------------------- overrides


@pytest.fixture
def eva_like():
    return OmegaConf.create(
        {
            "model": {
                "roi_heads": L(FakeCascadeROIHeads)(num_classes=80),
                "backbone": L("torch.nn.Linear")(in_features=2, out_features=3),
                "extra": L(SimpleNamespace)(a=1),
            },
            "optimizer": {"lr": 1.0e-4, "params": {"overrides": {"pos_embed": {"wd": 0.0}}}},
            "train": {"init_checkpoint": "", "max_iter": 10, "amp": {"enabled": False}},
            "dataloader": {"evaluator": [{"max_dets_per_image": 300}], "names": ["a"]},
        },
        flags={"allow_objects": True},
    )


def test_override_values_are_python_literals(eva_like):
    cfg = LazyConfig.apply_overrides(
        eva_like,
        [
            "model.roi_heads.use_soft_nms=True",
            "model.roi_heads.method=linear",
            "model.roi_heads.iou_threshold=0.6",
            "train.init_checkpoint=/x/model_final.pth",
            "optimizer.params.overrides={}",
            "train.max_iter=1000",
            "train.amp.enabled=None",
            "dataloader.names=[1, 2]",
            "optimizer.lr='quoted=str'",
        ],
    )
    rh = cfg.model.roi_heads
    assert rh.use_soft_nms is True and rh.method == "linear" and rh.iou_threshold == 0.6
    assert isinstance(rh.iou_threshold, float)
    assert cfg.train.init_checkpoint == "/x/model_final.pth"
    assert OmegaConf.to_container(cfg.optimizer.params.overrides) == {}  # replaced, not merged
    assert cfg.train.max_iter == 1000 and isinstance(cfg.train.max_iter, int)
    assert cfg.train.amp.enabled is None
    assert list(cfg.dataloader.names) == [1, 2]
    assert cfg.optimizer.lr == "quoted=str"
    built = instantiate(cfg.model.roi_heads)
    assert (built.use_soft_nms, built.method, built.iou_threshold) == (True, "linear", 0.6)


def test_override_bracketed_yaml_lists_and_indices(eva_like):
    LazyConfig.apply_overrides(
        eva_like,
        [
            "dataloader.names=[coco_2017_train, lvis_v1_train]",
            "dataloader.evaluator[0].max_dets_per_image=1000",
            "dataloader.names.1=o365",
            "model.backbone.out_features=${.in_features}",
        ],
    )
    assert list(eva_like.dataloader.names) == ["coco_2017_train", "o365"]
    assert eva_like.dataloader.evaluator[0].max_dets_per_image == 1000
    assert eva_like.model.backbone.out_features == 2


def test_override_new_kwarg_on_lazy_call(eva_like):
    LazyConfig.apply_overrides(
        eva_like,
        [
            "model.backbone.bias=False",  # string target: imported to check the signature
            "model.extra.anything=3",  # SimpleNamespace takes **kwargs
        ],
    )
    assert eva_like.model.backbone.bias is False and eva_like.model.extra.anything == 3
    with pytest.raises(ConfigError) as info:
        LazyConfig.apply_overrides(eva_like, ["model.roi_heads.use_soft_nm=True"])
    msg = str(info.value)
    assert "'use_soft_nm'" in msg and "FakeCascadeROIHeads does not accept" in msg
    assert "Did you mean: use_soft_nms" in msg
    with pytest.raises(ConfigError, match="Did you mean: bias"):
        LazyConfig.apply_overrides(eva_like, ["model.backbone.bais=False"])


@pytest.mark.parametrize(
    "override, pattern",
    [
        (
            "trian.max_iter=1",
            r"key 'trian' does not exist in the config root\. Did you mean: train",
        ),
        ("train.max_itr=1", r"key 'max_itr' does not exist in 'train'\. Did you mean: max_iter"),
        ("train.amp.enabeld=True", r"in 'train\.amp'\. Did you mean: enabled"),
        ("train.zzz=1", r"Existing keys: init_checkpoint, max_iter, amp"),
        ("train.max_iter", r"Override 'train\.max_iter' is not of the form key=value"),
        ("=3", r"not of the form key=value"),
        ("train..max_iter=3", r"is not a dotted key"),
        ("train.max_iter.x=3", r"'train\.max_iter' holds a int \(10\), not a config node"),
        ("dataloader.evaluator[3].x=1", r"index 3 is out of range .* length 1"),
        ("model.roi_heads.foo.bar=1", r"key 'foo' does not exist in 'model\.roi_heads'"),
    ],
)
def test_override_errors(eva_like, override, pattern):
    with pytest.raises(ConfigError, match=pattern):
        LazyConfig.apply_overrides(eva_like, [override])


def test_override_fixture_config_round_trip(tmp_path):
    cfg = LazyConfig.load(CHILD)
    LazyConfig.apply_overrides(cfg, ["model.norm.eps=0.001", "model.weights.box=0.5"])
    LazyConfig.save(cfg, tmp_path / "c.yaml")
    cfg2 = LazyConfig.load(tmp_path / "c.yaml")
    assert instantiate(cfg2.model.norm)(4).eps == 0.001  # partial kwargs are overridable
    assert cfg2.model.weights.box == 0.5


# ----------------------------------------------------------------------------- to_py


def test_to_py_renders_calls():
    text = LazyConfig.to_py(LazyConfig.load(CHILD))
    compile(text, "<to_py>", "exec")
    assert "cfg.model = types.SimpleNamespace(" in text
    assert "backbone=torch.nn.Linear(in_features=4, out_features=10, bias=False)" in text
    assert "norm=functools.partial(torch.nn.LayerNorm, eps=1e-06)" in text
    assert "cfg.train.max_iter = 20" in text and "cfg.train.amp.enabled = False" in text


# ----------------------------------------------------------------------------- get_config


def test_get_config_resolves_repo_configs(tmp_path, monkeypatch):
    _write(tmp_path, "configs/common/train.py", "train = dict(max_iter=7)\n")
    _write(tmp_path, "det/__init__.py", "")
    monkeypatch.setattr(det, "__file__", str(tmp_path / "det" / "__init__.py"))
    assert get_config("common/train.py").train.max_iter == 7
    assert get_config("configs/common/train.py").train.max_iter == 7
    with pytest.raises(ConfigError, match="similar files there: train.py"):
        get_config("common/trian.py")
    monkeypatch.setattr(det, "__file__", str(tmp_path / "site" / "det" / "__init__.py"))
    with pytest.raises(ConfigError, match="configs/ directory was not found.*pip install -e"):
        get_config("common/train.py")


def test_get_config_real_repo_layout():
    configs = Path(det.__file__).resolve().parents[1] / "configs"
    assert configs.is_dir()
    assert "max_iter" in get_config("common/train.py").train


def test_objects_set_at_run_time_are_kept():
    # as the trainer does with ``cfg.optimizer.params.model = model``
    cfg = LazyConfig.load(CHILD)
    weight = torch.zeros(2)
    cfg.optimizer.params = weight
    assert instantiate(cfg.optimizer).params is weight
