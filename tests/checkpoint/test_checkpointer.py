import logging
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from torch import nn

from det.checkpoint import (
    CheckpointNotFoundError,
    CorruptCheckpointError,
    DetectionCheckpointer,
    PeriodicCheckpointer,
    UnsafeCheckpointError,
)
from det.utils.errors import UserError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class _Counter:
    """A checkpointable."""

    def __init__(self, value=0):
        self.value = value

    def state_dict(self):
        return {"value": self.value}

    def load_state_dict(self, state):
        self.value = state["value"]


def _model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))


def _same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_save_load_round_trip_with_checkpointables(tmp_path):
    model, counter = _model(0), _Counter(7)
    ckpt = DetectionCheckpointer(model, str(tmp_path), save_to_disk=True, counter=counter)
    ckpt.save("model_0000009", iteration=9)
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000009.pth"
    data = torch.load(tmp_path / "model_0000009.pth", weights_only=True)
    assert set(data) == {"model", "counter", "iteration"}

    model2, counter2 = _model(1), _Counter(0)
    ckpt2 = DetectionCheckpointer(model2, str(tmp_path), counter=counter2)
    rest = ckpt2.load(str(tmp_path / "model_0000009.pth"))
    assert rest == {"iteration": 9}
    assert counter2.value == 7 and _same_weights(model, model2)
    assert ckpt2.load_report.missing_keys == [] and ckpt2.load_report.unexpected_keys == []

    counter3 = _Counter(0)
    DetectionCheckpointer(_model(1), counter=counter3).load(
        str(tmp_path / "model_0000009.pth"), checkpointables=[]
    )
    assert counter3.value == 0


def test_loads_flat_and_ddp_prefixed_state_dicts(tmp_path):
    model = _model(0)
    torch.save(model.state_dict(), tmp_path / "flat.pth")
    torch.save({f"module.{k}": v for k, v in model.state_dict().items()}, tmp_path / "ddp.pth")
    for name in ("flat.pth", "ddp.pth"):
        target = _model(1)
        DetectionCheckpointer(target).load(str(tmp_path / name))
        assert _same_weights(model, target), name


def test_shape_mismatch_is_skipped_not_fatal(tmp_path, caplog):
    model = _model(0)
    torch.save({"model": model.state_dict()}, tmp_path / "m.pth")
    other = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 5))  # 5 classes
    with caplog.at_level(logging.WARNING):
        checkpointer = DetectionCheckpointer(other)
        checkpointer.load(str(tmp_path / "m.pth"))
    assert torch.equal(other[0].weight, model[0].weight)
    assert [k for k, _, _ in checkpointer.load_report.incorrect_shapes] == ["2.weight", "2.bias"]
    assert "2.weight: (2, 4) vs (5, 4)" in caplog.text and "2.bias: (2,) vs (5,)" in caplog.text


def test_resume_or_load_semantics(tmp_path, caplog):
    model, counter = _model(0), _Counter(3)
    DetectionCheckpointer(model, str(tmp_path / "run"), save_to_disk=True, counter=counter).save(
        "model_0000004", iteration=4
    )
    init = tmp_path / "init.pth"
    init_model = _model(5)
    torch.save({"model": init_model.state_dict(), "counter": {"value": 99}}, init)

    # resume + last_checkpoint: everything from last_checkpoint, init ignored (and said so)
    target, c = _model(1), _Counter(0)
    ckpt = DetectionCheckpointer(target, str(tmp_path / "run"), counter=c)
    with caplog.at_level(logging.INFO):
        rest = ckpt.resume_or_load(str(init), resume=True)
    assert rest["iteration"] == 4 and c.value == 3 and _same_weights(model, target)
    assert "is ignored" in caplog.text and str(init) in caplog.text

    # no resume: weights only from init
    target, c = _model(1), _Counter(0)
    DetectionCheckpointer(target, str(tmp_path / "run"), counter=c).resume_or_load(
        str(init), resume=False
    )
    assert c.value == 0 and _same_weights(init_model, target)

    # resume without last_checkpoint: falls back to init
    target = _model(1)
    ckpt = DetectionCheckpointer(target, str(tmp_path / "empty"))
    assert not ckpt.has_checkpoint()
    ckpt.resume_or_load(str(init), resume=True)
    assert _same_weights(init_model, target)


def test_missing_corrupt_and_truncated_files(tmp_path):
    checkpointer = DetectionCheckpointer(_model(0))
    with pytest.raises(CheckpointNotFoundError, match="nope.pth"):
        checkpointer.load(str(tmp_path / "nope.pth"))
    good = tmp_path / "good.pth"
    torch.save({"model": _model(0).state_dict()}, good)
    data = good.read_bytes()
    (tmp_path / "trunc.pth").write_bytes(data[: len(data) // 2])
    (tmp_path / "garbage.pth").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "empty.pth").write_bytes(b"")
    for name in ("trunc.pth", "garbage.pth", "empty.pth"):
        with pytest.raises(CorruptCheckpointError) as info:
            checkpointer.load(str(tmp_path / name))
        message = str(info.value)
        assert name in message and "corrupt" in message and "\n" not in message
        assert isinstance(info.value, UserError)


class _Custom:
    pass


def test_unsafe_files_need_explicit_opt_in(tmp_path, monkeypatch):
    model = _model(0)
    path = tmp_path / "unsafe.pth"
    torch.save({"model": model.state_dict(), "extra": np.arange(3)}, path)
    with pytest.raises(UnsafeCheckpointError, match="allow_unsafe_load=True"):
        DetectionCheckpointer(_model(1)).load(str(path))
    target = _model(1)
    rest = DetectionCheckpointer(target, allow_unsafe_load=True).load(str(path))
    assert _same_weights(model, target) and list(rest["extra"]) == [0, 1, 2]
    monkeypatch.setenv("DET_ALLOW_UNSAFE_LOAD", "1")
    assert DetectionCheckpointer(_model(1)).allow_unsafe_load

    # detectron2 model-zoo style .pkl with numpy arrays
    pkl = tmp_path / "zoo.pkl"
    with open(pkl, "wb") as f:
        pickle.dump({"model": {k: v.numpy() for k, v in model.state_dict().items()}}, f)
    monkeypatch.delenv("DET_ALLOW_UNSAFE_LOAD")
    with pytest.raises(UnsafeCheckpointError, match="pickle"):
        DetectionCheckpointer(_model(1)).load(str(pkl))
    target = _model(1)
    DetectionCheckpointer(target, allow_unsafe_load=True).load(str(pkl))
    assert _same_weights(model, target)


def test_periodic_checkpointer_names_and_max_to_keep(tmp_path):
    ckpt = DetectionCheckpointer(_model(0), str(tmp_path), save_to_disk=True)
    periodic = PeriodicCheckpointer(ckpt, period=2, max_iter=7, max_to_keep=2)
    for it in range(7):
        periodic.step(it)
    # saved after iterations 1, 3, 5 (only the newest two kept) and the final one at 6
    assert sorted(os.listdir(tmp_path)) == [
        "last_checkpoint",
        "model_0000003.pth",
        "model_0000005.pth",
        "model_final.pth",
    ]
    assert (tmp_path / "last_checkpoint").read_text() == "model_final.pth"
    assert torch.load(tmp_path / "model_0000005.pth", weights_only=True)["iteration"] == 5


def test_conversion_hook(tmp_path, monkeypatch):
    import types

    from det.checkpoint import detection_checkpoint

    model = _model(0)
    calls = []

    def maybe_convert(state_dict, target):
        calls.append(sorted(state_dict))
        if "patch_embed.proj.weight" not in state_dict:
            return None
        return {"0.weight": torch.full((4, 3), 2.0)}, "converted 1 tensor"

    fake = types.ModuleType("fake_converter")
    fake.maybe_convert = maybe_convert
    monkeypatch.setitem(sys.modules, "fake_converter", fake)
    monkeypatch.setattr(detection_checkpoint, "CONVERTERS", ("fake_converter:maybe_convert",))
    mim = {"patch_embed.proj.weight": torch.ones(1), "blocks.0.norm1.weight": torch.ones(1)}
    torch.save({"module": mim}, tmp_path / "mim.pt")
    DetectionCheckpointer(model).load(str(tmp_path / "mim.pt"))
    assert calls == [sorted(mim)]  # the converter sees the flat state dict
    assert torch.equal(model[0].weight, torch.full((4, 3), 2.0))
    torch.save(model.state_dict(), tmp_path / "plain.pth")
    other = _model(1)
    DetectionCheckpointer(other).load(str(tmp_path / "plain.pth"))
    assert len(calls) == 2  # asked, declined: the checkpoint loads as it is
    assert torch.equal(other[0].weight, torch.full((4, 3), 2.0))


_KILL_DURING_SAVE = textwrap.dedent(
    """
    import os, signal, sys, torch
    sys.path.insert(0, {repo!r})
    from det.checkpoint import DetectionCheckpointer
    from det.utils import file_io

    model = torch.nn.Linear(1000, 100)
    ckpt = DetectionCheckpointer(model, {out!r}, save_to_disk=True)
    ckpt.save("model_0000001", iteration=1)
    real_save = torch.save

    def dying_save(obj, f):
        f.write(b"PK\\x03\\x04" + b"x" * 4096)  # part of the new file reaches the disk
        f.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    file_io.torch.save = dying_save
    ckpt.save("model_0000003", iteration=3)
    """
)


def test_kill_during_save_keeps_previous_checkpoint(tmp_path):
    out = tmp_path / "out"
    script = _KILL_DURING_SAVE.format(repo=REPO, out=str(out))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=300)
    assert proc.returncode == -9, proc.stderr.decode()
    assert (out / "last_checkpoint").read_text() == "model_0000001.pth"
    assert not (out / "model_0000003.pth").exists()
    checkpointer = DetectionCheckpointer(nn.Linear(1000, 100), str(out))
    assert checkpointer.get_checkpoint_file() == str(out / "model_0000001.pth")
    assert checkpointer.resume_or_load("", resume=True)["iteration"] == 1
