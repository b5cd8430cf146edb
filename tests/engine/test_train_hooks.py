import os
import sys

import pytest
import torch
from fvcore.common.param_scheduler import MultiStepParamScheduler

from det.checkpoint import DetectionCheckpointer
from det.engine import SimpleTrainer, hooks
from det.solver import WarmupParamScheduler
from det.utils.events import EventWriter

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "toy"))
from toy_data import ToyTrainLoader  # noqa: E402
from toy_model import ToyClassifier  # noqa: E402


def _trainer(lr=0.1):
    torch.manual_seed(0)
    model = ToyClassifier()
    return SimpleTrainer(model, ToyTrainLoader(), torch.optim.SGD(model.parameters(), lr=lr))


def test_eval_hook_schedule_and_flattening():
    trainer = _trainer()
    calls = []

    def evaluate():
        calls.append(trainer.iter)
        return {"bbox": {"AP": 10.0 + len(calls), "AP-person": float("nan")}, "n": 3}

    trainer.register_hooks([hooks.EvalHook(3, evaluate)])
    trainer.train(0, 7)
    # after iterations 2 and 5, and once after training (iter == max_iter then)
    assert calls == [2, 5, 7]
    latest = trainer.storage.latest()
    assert latest["bbox/AP"] == (13.0, 7) and latest["n"] == (3.0, 7)
    assert "bbox/AP-person" not in latest  # NaN results are not recorded
    assert trainer.storage.history("bbox/AP").values() == [(11.0, 2), (12.0, 5), (13.0, 7)]

    bad = _trainer()
    bad.register_hooks([hooks.EvalHook(0, lambda: {"bbox": {"AP": "high"}})])
    with pytest.raises(ValueError, match="bbox/AP"):
        bad.train(0, 1)


def test_lr_scheduler_hook_values_and_resume():
    schedule = WarmupParamScheduler(
        MultiStepParamScheduler(values=[1.0, 0.1], milestones=[6], num_updates=8), 0.1, 0.25
    )
    trainer = _trainer(lr=0.5)
    trainer.register_hooks([hooks.LRScheduler(scheduler=schedule)])
    trainer.train(0, 8)
    lrs = [v for v, _ in trainer.storage.history("lr").values()]
    # warm-up 0.1 -> 1 over 2 iterations (x 0.5), then 0.5 until 6, then 0.05
    assert lrs == pytest.approx([0.05, 0.275, 0.5, 0.5, 0.5, 0.5, 0.05, 0.05])
    saved = trainer.state_dict()
    assert saved["hooks"]["LRScheduler"]["last_epoch"] == 8

    # A trainer resumed at iteration 4 (state saved after iteration 3) continues the schedule.
    first = _trainer(lr=0.5)
    first.register_hooks([hooks.LRScheduler(scheduler=schedule)])
    first.train(0, 4)
    state = first.state_dict()
    resumed = _trainer(lr=0.5)
    resumed.register_hooks([hooks.LRScheduler(scheduler=schedule)])
    resumed.load_state_dict(state)
    assert resumed.iter == 4
    resumed.train(resumed.iter, 8)
    assert [v for v, _ in resumed.storage.history("lr").values()] == pytest.approx(lrs[4:])


def test_logged_lr_is_the_largest_group():
    big = torch.nn.Parameter(torch.zeros(100))
    small = [torch.nn.Parameter(torch.zeros(1)) for _ in range(3)]
    optimizer = torch.optim.SGD(
        [{"params": small[:1], "lr": 0.001}, {"params": [big], "lr": 0.1}, {"params": small[1:]}],
        lr=0.01,
    )
    assert hooks.LRScheduler.get_best_param_group_id(optimizer) == 1


class _RecordingWriter(EventWriter):
    def __init__(self):
        self.writes = []
        self.closed = False

    def write(self):
        from det.utils.events import get_event_storage

        self.writes.append(get_event_storage().iter)

    def close(self):
        self.closed = True


def test_periodic_writer_and_timer():
    trainer = _trainer()
    writer = _RecordingWriter()
    trainer.register_hooks([hooks.IterationTimer(warmup_iter=2), hooks.PeriodicWriter([writer], 3)])
    trainer.train(0, 7)
    assert writer.writes == [2, 5, 6, 7] and writer.closed  # periods, last iter, after_train
    # times are recorded once the warm-up iterations are over
    assert [it for _, it in trainer.storage.history("time").values()] == [2, 3, 4, 5, 6]


def test_periodic_checkpointer_and_best_checkpointer(tmp_path):
    trainer = _trainer()
    checkpointer = DetectionCheckpointer(
        trainer.model, str(tmp_path), save_to_disk=True, trainer=trainer
    )
    scores = iter([1.0, 3.0, 2.0])
    trainer.register_hooks(
        [
            hooks.PeriodicCheckpointer(checkpointer, period=2, max_to_keep=5),
            hooks.EvalHook(2, lambda: {"acc": next(scores)}),
            hooks.BestCheckpointer(2, checkpointer, "acc", mode="max"),
        ]
    )
    trainer.train(0, 5)
    files = sorted(os.listdir(tmp_path))
    assert files == [
        "last_checkpoint",
        "model_0000001.pth",
        "model_0000003.pth",
        "model_best.pth",
        "model_final.pth",
    ]
    best = torch.load(tmp_path / "model_best.pth", weights_only=True)
    assert best["iteration"] == 3  # acc 3.0 at the second evaluation
    final = torch.load(tmp_path / "model_final.pth", weights_only=True)
    assert final["iteration"] == 4 and final["trainer"]["iteration"] == 4
    assert "optimizer" in final["trainer"]
