"""LazyConfig behaviours that detectron2's own config tests pin down (package renamed to det)."""

import logging
import os
import pickle
from itertools import count

import pytest
from omegaconf import DictConfig

from det.config import ConfigError, LazyConfig
from det.config import LazyCall as L


def _write(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return path


@pytest.fixture
def tree(tmp_path):
    """A root config importing a dict and a string from a subfolder, one via load_rel."""
    root = str(tmp_path)
    _write(root, "sub/base.py", 'name = "seed_1"\nopts = {"a": 1, "b": 2}\nsteps = 7\n')
    _write(
        root,
        "sub/derived.py",
        "from det.config import LazyConfig\n"
        'name, opts = LazyConfig.load_rel("base.py", ("name", "opts"))\n'
        'derived_name = name + "_derived"\n'
        "derived_opts = opts\n"
        "assert opts.a == 1  # every import re-executes the file: edits elsewhere do not leak\n",
    )
    _write(
        root,
        "root.py",
        "from itertools import count\n"
        "from det.config import LazyCall as L\n"
        "from .sub.base import opts, name, steps\n"
        'opts.a = "edited"\n'
        "from .sub.derived import derived_opts, derived_name\n"
        "obj = L(count)(start=name, step=derived_name)\n"
        "schedule = dict(steps=steps)\n",
    )
    return root


def test_import_any_value_and_reload_isolation(tree):
    cfg = LazyConfig.load(os.path.join(tree, "root.py"))
    assert set(cfg.keys()) == {"opts", "derived_opts", "obj", "schedule"}
    assert cfg.opts.a == "edited" and cfg.derived_opts.a == 1
    assert cfg.obj.start == "seed_1" and cfg.obj.step == "seed_1_derived"
    assert cfg.schedule.steps == 7
    cfg.obj.start = "changed"
    assert LazyConfig.load(os.path.join(tree, "root.py")).obj.start == "seed_1"


def test_keys_select_non_dict_values(tree):
    path = os.path.join(tree, "sub", "base.py")
    assert LazyConfig.load(path, "name") == "seed_1"
    assert LazyConfig.load(path, ("steps", "opts"))[0] == 7
    with pytest.raises(KeyError, match="defines no 'nope'; it defines: opts, name, steps"):
        LazyConfig.load(path, "nope")


def test_functions_defined_in_a_config_load_and_import(tmp_path):
    _write(tmp_path, "fns.py", "def scale(x):\n    return 2 * x\n\nshift = lambda x: x + 1\n")
    path = _write(
        tmp_path,
        "use.py",
        "from .fns import scale, shift\nmodel = dict(n=scale(3), fn=shift)\n",
    )
    cfg = LazyConfig.load(path)
    assert cfg.model.n == 6 and cfg.model.fn(1) == 2


def test_bad_relative_imports_are_import_errors(tmp_path):
    _write(tmp_path, "d/real.py", "x = dict()\n")
    with pytest.raises(ImportError, match="relative import") as info:
        LazyConfig.load(_write(tmp_path, "d/bad_dir.py", "from . import missing_name\n"))
    assert isinstance(info.value, ConfigError) and "missing_name.py" in str(info.value)
    with pytest.raises(ImportError, match="not exist"):
        LazyConfig.load(_write(tmp_path, "d/bad_file.py", "from .does_not_exist import x\n"))
    with pytest.raises(ImportError, match="defines no 'y'"):
        LazyConfig.load(_write(tmp_path, "d/bad_name.py", "from .real import y\n"))


def test_save_round_trip_of_imported_values(tree, tmp_path):
    cfg = LazyConfig.load(os.path.join(tree, "root.py"))
    path = str(tmp_path / "out" / "config.yaml")
    LazyConfig.save(cfg, path)
    cfg2 = LazyConfig.load(path)
    assert cfg2.obj._target_ == "itertools.count" and cfg.obj._target_ is count
    cfg.obj.pop("_target_")
    cfg2.obj.pop("_target_")
    assert cfg == cfg2
    assert not os.path.exists(path + ".pkl")  # only written when YAML cannot hold everything


def test_save_of_unserializable_value_falls_back_to_pickle(tmp_path, caplog):
    cfg = DictConfig({"x": lambda: 3, "y": {"z": 1}}, flags={"allow_objects": True})
    path = str(tmp_path / "config.yaml")
    with caplog.at_level(logging.WARNING, logger="det.config"):
        LazyConfig.save(cfg, path)
    assert os.path.exists(path) and os.path.exists(path + ".pkl")
    assert "pickled to" in caplog.text and path + ".pkl" in caplog.text
    with open(path + ".pkl", "rb") as f:
        restored = pickle.load(f)
    assert restored.y.z == 1
    try:
        import cloudpickle  # noqa: F401 -- the lambda survives only with cloudpickle
    except ImportError:
        return
    assert restored.x() == 3


def test_invalid_override_is_a_key_error(tree):
    cfg = LazyConfig.load(os.path.join(tree, "root.py"))
    LazyConfig.apply_overrides(cfg, ["obj.start=123", 'derived_opts.a="123"'])
    assert cfg.obj.start == 123 and cfg.derived_opts.a == "123"
    LazyConfig.apply_overrides(cfg, ["derived_opts.a='abc'"])
    assert cfg.derived_opts.a == "abc"
    with pytest.raises(KeyError, match="not a config node"):
        LazyConfig.apply_overrides(cfg, ["obj.start.deeper=1"])
    with pytest.raises(KeyError, match="does not exist"):
        LazyConfig.apply_overrides(cfg, ["schedule.nope=1"])


def test_to_py_matches_detectron2_layout(tree):
    cfg = LazyConfig.load(os.path.join(tree, "root.py"))
    cfg.obj.start = {"a": 1, "b": 2, "c": L(count)(start={"r": "a", "s": 2.4, "t": [1, 2, 3, "z"]})}
    cfg.items = ["a", 1, "b", 3.2]
    del cfg.derived_opts
    expected = (
        'cfg.opts.a = "edited"\n'
        "cfg.opts.b = 2\n"
        "cfg.obj = itertools.count(\n"
        "    start={\n"
        '        "a": 1,\n'
        '        "b": 2,\n'
        '        "c": itertools.count(start={"r": "a", "s": 2.4, "t": [1, 2, 3, "z"]}),\n'
        "    },\n"
        '    step="seed_1_derived",\n'
        ")\n"
        "cfg.schedule.steps = 7\n"
        'cfg.items = ["a", 1, "b", 3.2]\n'
    )
    assert LazyConfig.to_py(cfg) == expected
    # Short calls stay on one line; a body that fits goes on one indented line.
    short = DictConfig({"m": L(count)(start=1, step=2)}, flags={"allow_objects": True})
    assert LazyConfig.to_py(short) == "cfg.m = itertools.count(start=1, step=2)\n"
    long_args = {f"argument_{i}": i for i in range(6)}
    mid = DictConfig({"m": L(count)(**long_args)}, flags={"allow_objects": True})
    assert LazyConfig.to_py(mid, prefix="") == (
        "m = itertools.count(\n"
        "    argument_0=0, argument_1=1, argument_2=2, argument_3=3, argument_4=4, argument_5=5\n"
        ")\n"
    )
