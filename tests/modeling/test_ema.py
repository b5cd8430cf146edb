import itertools

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from det.checkpoint import DetectionCheckpointer
from det.engine import SimpleTrainer, hooks
from det.modeling import ema
from det.utils.errors import UserError


class _Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 2)
        self.register_buffer("running", torch.zeros(2))
        self.register_buffer("count", torch.zeros((), dtype=torch.int64))
        self.register_buffer("table", torch.arange(4.0), persistent=False)

    def forward(self, x):
        out = self.lin(x)
        with torch.no_grad():
            self.running.add_(out.mean(0))
            self.count += 1
        return {"loss": (out**2).mean()}


def _cfg(enabled=True, decay=0.5, **extra):
    model_ema = dict(enabled=enabled, decay=decay, device="", use_ema_weights_for_eval_only=False)
    model_ema.update(extra)
    return OmegaConf.create({"train": {"device": "cpu", "model_ema": model_ema}})


def test_update_is_the_ema_formula_on_parameters_and_buffers():
    torch.manual_seed(0)
    model = _Toy()
    state = ema.EMAState()
    updater = ema.EMAUpdater(state, decay=0.9, device="cpu")
    updater.init_state(model)
    old = {k: v.clone() for k, v in state.state.items()}
    assert set(old) == {"lin.weight", "lin.bias", "running", "count", "table"}
    with torch.no_grad():
        model.lin.weight.add_(1.0)
        model.running.fill_(2.0)
        model.count.fill_(7)
    updater.update(model)
    assert torch.allclose(
        state.state["lin.weight"], 0.9 * old["lin.weight"] + 0.1 * model.lin.weight
    )
    assert torch.allclose(state.state["running"], torch.full((2,), 0.2))
    assert state.state["count"].item() == 7  # integer buffers are copied
    # Constant buffers are averaged too (as in EVA-02): equal up to float rounding.
    assert torch.allclose(state.state["table"], torch.arange(4.0))
    assert state.state["lin.weight"] is not model.lin.weight  # a copy, not an alias


def test_apply_and_restore():
    torch.manual_seed(0)
    model = _Toy()
    ema.may_build_model_ema(_cfg(), model)
    model.ema_state.save_from(model)
    with torch.no_grad():
        for p in model.ema_state.state.values():
            p.add_(1)
    original = model.lin.weight.clone()
    with ema.apply_model_ema_and_restore(model):
        assert torch.equal(model.lin.weight, original + 1)
    assert torch.equal(model.lin.weight, original)
    ema.apply_model_ema(model)
    assert torch.equal(model.lin.weight, original + 1)


def test_disabled_ema_builds_nothing():
    model = _Toy()
    ema.may_build_model_ema(_cfg(enabled=False), model)
    assert not hasattr(model, "ema_state")
    assert ema.may_get_ema_checkpointer(_cfg(enabled=False), model) == {}


def test_applying_an_empty_state_is_a_clear_user_error():
    model = _Toy()
    ema.may_build_model_ema(_cfg(), model)
    with pytest.raises(UserError, match="no 'ema_state' entry"):
        ema.apply_model_ema(model)


def test_fork_style_checkpoint_with_buffers_loads(tmp_path):
    torch.manual_seed(0)
    source = _Toy()
    # EVA-02 saves parameters and all buffers (non-persistent ones too), flat, no "module.".
    fork_ema = {n: t.detach().clone() + 1 for n, t in source.named_parameters()}
    fork_ema.update({n: t.detach().clone() for n, t in source.named_buffers()})
    fork_ema["table"] = torch.zeros(9)  # e.g. a RoPE table of another image size
    path = tmp_path / "fork.pth"
    torch.save({"model": source.state_dict(), "ema_state": fork_ema, "iteration": 5}, path)

    model = _Toy()
    cfg = _cfg(use_ema_weights_for_eval_only=True)
    ema.may_build_model_ema(cfg, model)
    DetectionCheckpointer(model, **ema.may_get_ema_checkpointer(cfg, model)).load(str(path))
    ema.apply_model_ema(model)
    assert torch.equal(model.lin.weight, source.lin.weight + 1)
    assert torch.equal(model.table, torch.arange(4.0))  # mismatched buffer kept


def test_missing_parameter_is_reported():
    model = _Toy()
    state = ema.EMAState()
    state.load_state_dict({"lin.bias": torch.zeros(2)})
    with pytest.raises(UserError, match="lin.weight"):
        state.apply_to(model)


def _train(model, cfg, output_dir, max_iter, resume):
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    ema.may_build_model_ema(cfg, model)
    trainer = SimpleTrainer(model, itertools.repeat(torch.ones(4, 3)), opt)
    checkpointer = DetectionCheckpointer(
        model, str(output_dir), trainer=trainer, **ema.may_get_ema_checkpointer(cfg, model)
    )
    trainer.register_hooks([hooks.EMAHook(cfg, model)])
    checkpointer.resume_or_load("", resume=resume)
    start = trainer.iter + 1 if resume and checkpointer.has_checkpoint() else 0
    trainer.train(start, max_iter)
    checkpointer.save("model_final", iteration=trainer.iter - 1)
    return model


def test_ema_state_is_saved_and_resumed(tmp_path):
    cfg = _cfg(decay=0.5)
    torch.manual_seed(0)
    first = _train(_Toy(), cfg, tmp_path, max_iter=3, resume=False)
    saved = torch.load(tmp_path / "model_final.pth", weights_only=False)
    assert set(saved["ema_state"]) == set(first.ema_state.state)
    # A fresh model resumes the saved average instead of re-initializing it from its weights.
    torch.manual_seed(1)
    resumed = _Toy()
    hook_state = {}

    class _Probe(hooks.EMAHook):
        def before_train(self):
            super().before_train()
            hook_state.update({k: v.clone() for k, v in self.ema.state.items()})

    hooks.EMAHook, original = _Probe, hooks.EMAHook
    try:
        _train(resumed, cfg, tmp_path, max_iter=4, resume=True)
    finally:
        hooks.EMAHook = original
    assert torch.equal(hook_state["lin.weight"], saved["ema_state"]["lin.weight"])
    assert not torch.equal(hook_state["lin.weight"], resumed.lin.weight)


def test_cuda_ema_device_without_cuda_is_a_user_error():
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    model = _Toy()
    cfg = _cfg(device="cuda")
    ema.may_build_model_ema(cfg, model)
    with pytest.raises(UserError, match="train.model_ema.device"):
        hooks.EMAHook(cfg, model)
