import json
import logging
import os

import pytest

from det.utils.events import (
    CommonMetricPrinter,
    EventStorage,
    JSONWriter,
    TensorboardXWriter,
    WAndBWriter,
    get_event_storage,
)


def _fill(storage, name, values, **kwargs):
    for it, v in enumerate(values):
        storage.iter = it
        storage.put_scalar(name, v, **kwargs)


def test_history_latest_and_smoothing():
    with EventStorage() as storage:
        _fill(storage, "loss", [5.0, 1.0, 3.0, 2.0, 4.0])
        _fill(storage, "lr", [0.1, 0.2, 0.3, 0.4, 0.5], smoothing_hint=False)
        expected = [(5.0, 0), (1.0, 1), (3.0, 2), (2.0, 3), (4.0, 4)]
        assert storage.history("loss").values() == expected
        assert storage.latest()["loss"] == (4.0, 4)
        smoothed = storage.latest_with_smoothing_hint(window_size=3)
        assert smoothed["loss"] == (3.0, 4)  # median of 3, 2, 4
        assert smoothed["lr"] == (0.5, 4)  # no smoothing
        assert storage.history("loss").global_avg() == pytest.approx(3.0)


def test_put_scalars_cur_iter_and_hint_conflict():
    with EventStorage(start_iter=7) as storage:
        storage.put_scalars(a=1, b=2.5)
        storage.put_scalar("c", 3, cur_iter=2)
        assert storage.latest() == {"a": (1.0, 7), "b": (2.5, 7), "c": (3.0, 2)}
        with pytest.raises(ValueError, match="smoothing_hint"):
            storage.put_scalar("a", 1, smoothing_hint=False)


def test_name_scope_nests():
    with EventStorage() as storage:
        with storage.name_scope("eval"):
            storage.put_scalar("x", 1)
            with storage.name_scope("coco/"):
                storage.put_scalar("AP", 2)
        storage.put_scalar("y", 3)
        assert set(storage.latest()) == {"eval/x", "eval/coco/AP", "y"}


def test_get_event_storage_stack():
    with pytest.raises(RuntimeError, match="EventStorage"):
        get_event_storage()
    with EventStorage() as outer:
        assert get_event_storage() is outer
        with EventStorage() as inner:
            assert get_event_storage() is inner
        assert get_event_storage() is outer


def test_json_writer_appends_only_new_iterations(tmp_path):
    path = tmp_path / "metrics.json"
    with EventStorage() as storage:
        writer = JSONWriter(str(path), window_size=2)
        for it in range(3):
            storage.iter = it
            storage.put_scalar("loss", float(it + 1))
            storage.put_scalar("lr", 0.1, smoothing_hint=False)
        writer.write()
        storage.iter = 3
        storage.put_scalar("loss", 10.0)
        writer.write()
        writer.write()  # nothing new: no line
        writer.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    # Only the latest value of each name is written, at the iteration it was put.
    assert lines == [
        {"iteration": 2, "loss": 2.5, "lr": 0.1},  # median of the last two losses: 2, 3
        {"iteration": 3, "loss": 6.5},  # median of 3 and 10
    ]


def test_common_metric_printer_line(caplog):
    with EventStorage() as storage:
        for it in range(10):
            storage.iter = it
            storage.put_scalars(total_loss=1.0, loss_cls=0.25)
            storage.put_scalars(time=0.5, data_time=0.125)
            storage.put_scalar("lr", 0.002, smoothing_hint=False)
        printer = CommonMetricPrinter(max_iter=20, window_size=5)
        with caplog.at_level(logging.INFO, logger="det.utils.events"):
            printer.write()
    line = caplog.records[-1].getMessage()
    # 10 remaining iterations of 0.5 s each.
    assert "eta: 0:00:05" in line
    assert "iter: 9" in line
    assert "total_loss: 1" in line and "loss_cls: 0.25" in line
    assert "time: 0.5000" in line and "data_time: 0.1250" in line
    assert "lr: 0.002" in line


def test_tensorboard_writer_round_trip(tmp_path):
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    with EventStorage() as storage:
        writer = TensorboardXWriter(str(tmp_path), window_size=1)
        for it in range(3):
            storage.iter = it
            storage.put_scalar("loss", float(it))
            writer.write()
        writer.close()
    files = [f for f in os.listdir(tmp_path) if f.startswith("events.out.tfevents")]
    assert len(files) == 1
    values = {}
    for event in EventFileLoader(str(tmp_path / files[0])).Load():
        for value in event.summary.value:
            values[event.step] = value.tensor.float_val[0] if value.HasField("tensor") else None
    assert values == {0: 0.0, 1: 1.0, 2: 2.0}


def test_wandb_writer_needs_wandb(tmp_path):
    try:
        import wandb  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install wandb"):
            WAndBWriter(str(tmp_path))
    else:
        pytest.skip("wandb is installed")


def test_has_event_storage_tracks_the_open_storages():
    from det.utils.events import has_event_storage

    assert not has_event_storage()
    with EventStorage():
        assert has_event_storage()
        with EventStorage():
            assert has_event_storage()
        assert has_event_storage()
    assert not has_event_storage()
