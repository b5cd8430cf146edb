"""instantiate, locate and _convert_target_to_string."""

import collections
import functools
import json
import types

import pytest
from omegaconf import DictConfig, OmegaConf
from torch import nn

from det.config import ConfigError, L, LazyConfig, instantiate, locate
from det.config.instantiate import _convert_target_to_string


def scaled_sum(*, a, b, scale=1.0):
    return (a + b) * scale


class Pair:
    def __init__(self, first, second=None):
        self.first = first
        self.second = second


class Exploding:
    def __init__(self, value):
        raise RuntimeError(f"cannot build with {value}")


def _cfg(tree):
    return OmegaConf.create(tree, flags={"allow_objects": True})


def test_targets_as_class_function_and_string():
    assert instantiate(L(scaled_sum)(a=1, b=2, scale=3.0)) == 9.0
    layer = instantiate(L(nn.Linear)(in_features=3, out_features=2, bias=False))
    assert isinstance(layer, nn.Linear) and layer.weight.shape == (2, 3) and layer.bias is None
    layer = instantiate({"_target_": "torch.nn.Linear", "in_features": 1, "out_features": 4})
    assert layer.weight.shape == (4, 1)
    ns = instantiate(L("types.SimpleNamespace")(first=1))
    assert isinstance(ns, types.SimpleNamespace) and ns.first == 1


def test_nested_lists_and_dicts():
    cfg = L(Pair)(
        first=[L(nn.Linear)(in_features=1, out_features=2), [L(nn.ReLU)(), 5]],
        second={"head": L(scaled_sum)(a=1, b=1), "plain": {"x": [1, 2]}},
    )
    pair = instantiate(cfg)
    assert type(pair.first) is list and isinstance(pair.first[0], nn.Linear)
    assert type(pair.first[1]) is list and isinstance(pair.first[1][0], nn.ReLU)
    assert pair.first[1][1] == 5
    assert type(pair.second) is dict and pair.second["head"] == 2.0
    assert pair.second["plain"] == {"x": [1, 2]} and type(pair.second["plain"]["x"]) is list
    # containers without a target at the top are converted (and their members built) too
    built = instantiate(_cfg({"layers": [L(nn.ReLU)()], "n": 3}))
    assert type(built) is dict and isinstance(built["layers"][0], nn.ReLU) and built["n"] == 3
    assert instantiate(OmegaConf.create([1, {"a": 2}])) == [1, {"a": 2}]


def test_built_objects_pass_through():
    layer = nn.Linear(2, 2)
    assert instantiate(layer) is layer
    cfg = L(Pair)(first=None)
    cfg.first = layer  # as lazyconfig_train_net does with optimizer.params.model
    assert instantiate(cfg).first is layer
    for value in (3, "x", None, 1.5):
        assert instantiate(value) == value
    # built containers that are not plain dict/list/tuple are objects, not configs
    ordered = collections.OrderedDict(_target_="not.a.target")
    point = collections.namedtuple("Point", "x y")(1, 2)
    assert instantiate(ordered) is ordered and instantiate(point) is point


def test_partial_and_positional_args():
    fn = instantiate(L(scaled_sum)(a=1, _partial_=True))
    assert isinstance(fn, functools.partial) and fn(b=2) == 3.0
    assert instantiate({"_target_": Pair, "_args_": [L(scaled_sum)(a=1, b=1)]}).first == 2.0
    fn = instantiate(L(Pair)(_partial_=True, _args_=[7]))
    assert fn().first == 7


def test_relative_interpolation_resolved_from_a_sub_node():
    cfg = _cfg(
        {
            "model": {
                "num_classes": 5,
                "head": L(nn.Linear)(in_features=2, out_features="${..num_classes}"),
            },
        }
    )
    assert instantiate(cfg.model.head).out_features == 5
    cfg.model.num_classes = 9
    assert instantiate(cfg).get("model")["head"].out_features == 9


def test_dataclass_structured_config():
    import dataclasses

    @dataclasses.dataclass
    class Opt:
        lr: float = 0.1

    out = instantiate(OmegaConf.structured(Opt(lr=0.5)))
    assert isinstance(out, Opt) and out.lr == 0.5


def test_unknown_kwarg_names_key_target_and_suggestion():
    cfg = _cfg({"model": {"head": L(nn.Linear)(in_features=2, out_features=3, bais=False)}})
    with pytest.raises(ConfigError) as info:
        instantiate(cfg.model)
    msg = str(info.value)
    assert "'model.head'" in msg and "torch.nn.Linear" in msg
    assert "unexpected keyword argument 'bais'" in msg and "did you mean bias?" in msg


def test_missing_argument_and_missing_value():
    with pytest.raises(ConfigError, match=r"'model\.head'.*missing a required argument"):
        instantiate(_cfg({"model": {"head": L(nn.Linear)(in_features=2)}}))
    cfg = _cfg({"train": L(scaled_sum)(a=1, b="???")})
    with pytest.raises(ConfigError, match=r"'train\.b' has no value"):
        instantiate(cfg.train)
    cfg = _cfg({"a": L(scaled_sum)(a=1, b="${nowhere}")})
    with pytest.raises(ConfigError, match=r"Cannot resolve config key 'a\.b'"):
        instantiate(cfg)


def test_bad_targets():
    with pytest.raises(ConfigError, match=r"'x\.y': _target_ Cannot locate 'torch\.nn\.Linaer'"):
        instantiate(_cfg({"x": {"y": {"_target_": "torch.nn.Linaer"}}}))
    with pytest.raises(ConfigError, match="is not callable"):
        instantiate({"_target_": 3})


def test_error_inside_target_keeps_type_and_names_key():
    cfg = _cfg({"model": {"backbone": L(Exploding)(value=4)}})
    with pytest.raises(RuntimeError, match="cannot build with 4") as info:
        instantiate(cfg)
    notes = getattr(info.value, "__notes__", [])
    assert len(notes) == 1 and "model.backbone" in notes[0] and "Exploding" in notes[0]


def test_locate_and_target_names():
    assert locate("torch.nn.Linear") is nn.Linear
    assert locate("torch.nn.modules.linear.Linear.forward") is nn.Linear.forward
    assert locate("functools") is functools
    for bad in ("torch.nn.Linaer", "no_such_pkg_xyz.A", "", "a..b"):
        with pytest.raises(ImportError):
            locate(bad)
    assert _convert_target_to_string(nn.Linear) == "torch.nn.Linear"
    assert _convert_target_to_string(functools.partial) == "functools.partial"
    assert _convert_target_to_string(json.dumps) == "json.dumps"
    with pytest.raises(ValueError):
        _convert_target_to_string(lambda: 0)


def test_lazy_call_of_dict_subclass_target():
    # OmegaConf refuses dict types as values; such targets are stored as dotted strings
    node = L(dict)(a=1)
    assert isinstance(node, DictConfig) and node._target_ == "builtins.dict"
    assert instantiate(node) == {"a": 1}


def test_dataclass_instance_in_lazy_call_instantiates_as_itself(tmp_path):
    from det.layers import ShapeSpec

    cfg = L(dict)(shape=ShapeSpec(channels=256, stride=4))
    built = instantiate(cfg)
    assert isinstance(built["shape"], ShapeSpec)
    assert built["shape"] == ShapeSpec(channels=256, stride=4)
    path = tmp_path / "cfg.yaml"
    LazyConfig.save({"m": cfg}, str(path))
    assert instantiate(LazyConfig.load(str(path)).m)["shape"] == ShapeSpec(channels=256, stride=4)
