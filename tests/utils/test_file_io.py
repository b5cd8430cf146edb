import os

import pytest
import torch

from det.utils import file_io
from det.utils.file_io import atomic_torch_save, atomic_write_text


def test_atomic_write_text_replaces(tmp_path):
    path = tmp_path / "sub" / "last_checkpoint"
    atomic_write_text(str(path), "model_0000001.pth")
    atomic_write_text(str(path), "model_0000002.pth")
    assert path.read_text() == "model_0000002.pth"
    assert os.listdir(path.parent) == ["last_checkpoint"]  # no temp files left


def test_failed_save_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "model.pth"
    atomic_torch_save({"w": torch.ones(3)}, str(path))

    def broken_save(obj, f):
        f.write(b"PK\x03\x04 partial")  # some bytes reach the temp file, then the write fails
        raise OSError("disk full")

    monkeypatch.setattr(file_io.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        atomic_torch_save({"w": torch.zeros(3)}, str(path))
    monkeypatch.undo()
    assert torch.equal(torch.load(path, weights_only=True)["w"], torch.ones(3))
    assert os.listdir(tmp_path) == ["model.pth"]
