import os
import sys

import pytest
import torch
from torch import nn

from det.engine import AMPTrainer, CallbackHook, HookBase, SimpleTrainer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "toy"))
from toy_data import ToyTrainLoader  # noqa: E402
from toy_model import ToyClassifier  # noqa: E402


def _toy(seed=0):
    torch.manual_seed(seed)
    model = ToyClassifier()
    return model, torch.optim.SGD(model.parameters(), lr=0.1), ToyTrainLoader()


def test_hooks_run_in_order_and_iterations_count():
    model, optimizer, loader = _toy()
    trainer = SimpleTrainer(model, loader, optimizer)
    events = []
    trainer.register_hooks(
        [
            CallbackHook(
                before_train=lambda t: events.append(("before_train", t.iter)),
                before_step=lambda t: events.append(("before_step", t.iter)),
                after_step=lambda t: events.append(("after_step", t.iter)),
                after_train=lambda t: events.append(("after_train", t.iter)),
            ),
            None,  # None entries are skipped
        ]
    )
    trainer.train(2, 4)
    assert events == [
        ("before_train", 2),
        ("before_step", 2),
        ("after_step", 2),
        ("before_step", 3),
        ("after_step", 3),
        ("after_train", 4),
    ]
    assert set(trainer.storage.latest()) == {"total_loss", "loss_cls", "loss_l2", "data_time"}


class _NaNAt(nn.Module):
    def __init__(self, bad_iter):
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))
        self.calls = 0
        self.bad_iter = bad_iter

    def forward(self, batch):
        value = float("nan") if self.calls == self.bad_iter else 1.0
        self.calls += 1
        return {"loss_bad": self.w.sum() * value, "loss_ok": self.w.sum() * 0.5}


def test_nan_loss_names_iteration_and_losses():
    model = _NaNAt(bad_iter=2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    trainer = SimpleTrainer(model, iter(lambda: [0], None), optimizer)
    with pytest.raises(FloatingPointError) as info:
        trainer.train(0, 5)
    message = str(info.value)
    assert (
        "iteration=2" in message and "loss_bad=nan" in message and "loss_ok=0.35" in message
    )  # w = 0.7 by then
    # The NaN step never reached the optimizer: 2 SGD steps of lr * 1.5 from 1.
    assert model.w.item() == pytest.approx(1 - 2 * 0.15)


def test_grad_clipping_bounds_the_update():
    model = nn.Linear(4, 1, bias=False)
    nn.init.zeros_(model.weight)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    batch = torch.full((2, 4), 100.0)
    trainer = SimpleTrainer(
        lambda_model := _LossOf(model, batch), iter(lambda: None, 0), optimizer, clip_grad_norm=0.5
    )
    trainer.train(0, 1)
    # Unclipped gradient is 100 per weight (norm 200); clipped to norm 0.5.
    assert model.weight.detach().norm().item() == pytest.approx(0.5, rel=1e-4)
    assert lambda_model.training


class _LossOf(nn.Module):
    def __init__(self, inner, batch):
        super().__init__()
        self.inner = inner
        self.batch = batch

    def forward(self, _):
        return self.inner(self.batch).mean()  # a single tensor is accepted as the loss


def test_bf16_amp_on_cpu_trains_without_scaler():
    model, optimizer, loader = _toy()
    dtypes = []
    model.fc1.register_forward_hook(lambda m, i, out: dtypes.append(out.dtype))
    trainer = AMPTrainer(model, loader, optimizer, precision="bfloat16")
    assert trainer.grad_scaler is None and trainer.device_type == "cpu"
    before = model.fc1.weight.detach().clone()
    trainer.train(0, 6)
    assert dtypes and all(d == torch.bfloat16 for d in dtypes)
    assert not torch.equal(before, model.fc1.weight) and torch.isfinite(model.fc1.weight).all()
    losses = [v for v, _ in trainer.storage.history("loss_cls").values()]
    assert losses[-1] < losses[0]
    assert "grad_scaler" not in trainer.state_dict()
    with pytest.raises(ValueError, match="no GradScaler"):
        AMPTrainer(
            model,
            loader,
            optimizer,
            precision=torch.bfloat16,
            grad_scaler=torch.amp.GradScaler("cpu"),
        )
    with pytest.raises(ValueError, match="precision"):
        AMPTrainer(model, loader, optimizer, precision="float64")


def test_fp16_amp_uses_grad_scaler_and_saves_it():
    model, optimizer, loader = _toy()
    trainer = AMPTrainer(model, loader, optimizer, precision="float16", log_grad_scaler=True)
    trainer.train(0, 3)
    state = trainer.state_dict()
    assert state["grad_scaler"]["scale"] == trainer.grad_scaler.get_scale()
    assert "[metric]grad_scaler" in trainer.storage.latest()


def test_grad_scaler_args_configure_the_default_scaler(caplog):
    model, optimizer, loader = _toy()
    trainer = AMPTrainer(
        model, loader, optimizer, precision="float16", grad_scaler_args={"init_scale": 512.0}
    )
    assert trainer.grad_scaler.get_scale() == 512.0
    with pytest.raises(ValueError, match=r"unknown keys \['init_scael'\]"):
        AMPTrainer(model, loader, optimizer, grad_scaler_args={"init_scael": 512.0})
    with pytest.raises(ValueError, match="not both"):
        AMPTrainer(
            model,
            loader,
            optimizer,
            grad_scaler=torch.amp.GradScaler("cpu"),
            grad_scaler_args={"init_scale": 512.0},
        )
    # A card's float16 scaler settings do not stop a bfloat16 override.
    with caplog.at_level("WARNING", logger="det.engine.train_loop"):
        bf16 = AMPTrainer(
            model, loader, optimizer, precision="bf16", grad_scaler_args={"init_scale": 512.0}
        )
    assert bf16.grad_scaler is None
    assert "ignoring grad_scaler_args {'init_scale': 512.0}" in caplog.text


def test_state_dict_round_trip():
    model, optimizer, loader = _toy()
    trainer = SimpleTrainer(model, loader, torch.optim.Adam(model.parameters(), lr=0.01))
    trainer.train(0, 3)
    state = trainer.state_dict()
    assert state["iteration"] == 3

    model2, _, _ = _toy(seed=1)
    model2.load_state_dict(model.state_dict())
    trainer2 = SimpleTrainer(model2, loader, torch.optim.Adam(model2.parameters(), lr=0.01))
    trainer2.load_state_dict(state)
    assert trainer2.iter == 3
    s1, s2 = trainer.optimizer.state_dict()["state"], trainer2.optimizer.state_dict()["state"]
    assert all(torch.equal(s1[k]["exp_avg"], s2[k]["exp_avg"]) for k in s1)


class _Stateful(HookBase):
    def __init__(self):
        self.value = 0

    def state_dict(self):
        return {"value": self.value}

    def load_state_dict(self, state):
        self.value = state["value"]


def test_hook_states_are_saved_by_class_name(caplog):
    model, optimizer, loader = _toy()
    trainer = SimpleTrainer(model, loader, optimizer)
    hook = _Stateful()
    hook.value = 5
    trainer.register_hooks([hook])
    state = trainer.state_dict()
    assert state["hooks"] == {"_Stateful": {"value": 5}}
    other = SimpleTrainer(model, loader, optimizer)
    restored = _Stateful()
    other.register_hooks([restored])
    other.load_state_dict(state)
    assert restored.value == 5
    state["hooks"]["Gone"] = {"x": 1}
    other.load_state_dict(state)
    assert "Cannot find the hook 'Gone'" in caplog.text


def test_async_metrics_and_gather_period():
    model, optimizer, loader = _toy()
    trainer = SimpleTrainer(
        model, loader, optimizer, gather_metric_period=2, async_write_metrics=True
    )
    trainer.train(0, 5)
    # Recorded after iterations 1, 3 (period) and 4 (the last one).
    assert [it for _, it in trainer.storage.history("total_loss").values()] == [1, 3, 4]

    model = _NaNAt(bad_iter=1)
    trainer = SimpleTrainer(
        model,
        iter(lambda: [0], None),
        torch.optim.SGD(model.parameters(), lr=0.1),
        async_write_metrics=True,
    )
    with pytest.raises(FloatingPointError, match="iteration=1"):
        trainer.train(0, 4)
