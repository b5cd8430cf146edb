"""tools/lazyconfig_train_net.py on the toy config: output layout, resume, 2 processes, errors."""

import contextlib
import importlib.util
import io
import json
import os
import subprocess
import sys

import pytest
import torch

from det.config import LazyConfig

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOY = os.path.join(REPO, "tests", "engine", "toy")
TOOL = os.path.join(REPO, "tools", "lazyconfig_train_net.py")
CONFIG = os.path.join(TOY, "toy_config.py")


def _run(flags, overrides, timeout=300):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, TOY]), OMP_NUM_THREADS="1")
    cmd = [sys.executable, TOOL, "--config-file", CONFIG, *flags, *overrides]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def _raw_losses(path):
    # The last record per iteration wins (a resumed run repeats iterations after the checkpoint).
    losses = {}
    for line in open(path):
        record = json.loads(line)
        losses[record.pop("iteration")] = record
    return losses


def _metrics(out_dir):
    return [json.loads(line) for line in open(os.path.join(out_dir, "metrics.json"))]


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("reference")
    proc = _run([], [f"train.output_dir={out}", f"model.raw_loss_file={out}/raw.jsonl"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc


@pytest.mark.slow
def test_training_writes_the_output_layout_and_evaluates(reference_run):
    out, proc = reference_run
    files = set(os.listdir(out))
    expected = {"config.yaml", "log.txt", "metrics.json", "last_checkpoint", "model_final.pth"}
    expected |= {"model_0000003.pth", "model_0000007.pth", "model_0000011.pth"}
    assert expected <= files
    assert any(f.startswith("events.out.tfevents.") for f in files)
    assert (out / "last_checkpoint").read_text() == "model_final.pth"

    cfg = LazyConfig.load(str(out / "config.yaml"))
    assert cfg.model._target_ == "toy_model.ToyClassifier" and cfg.train.max_iter == 12
    assert cfg.train.output_dir == str(out)

    metrics = _metrics(out)
    train_iters = [m["iteration"] for m in metrics if "total_loss" in m]
    assert train_iters == list(range(12))
    evals = [m for m in metrics if "toy/accuracy" in m]
    assert [m["iteration"] for m in evals] == [5, 12]  # eval_period 6, and after training

    log = (out / "log.txt").read_text()
    assert "copypaste: Task: toy" in log and "copypaste: accuracy,count" in log
    assert "total_loss:" in log and "lr:" in log and "eta:" in log

    final = torch.load(out / "model_final.pth", weights_only=True)
    assert set(final) == {"model", "trainer", "iteration"} and final["iteration"] == 11
    assert set(final["trainer"]) == {"iteration", "optimizer", "hooks"}
    assert final["trainer"]["hooks"]["LRScheduler"]["last_epoch"] == 12


@pytest.mark.slow
def test_resume_after_kill_continues_identically(reference_run, tmp_path):
    ref_out, _ = reference_run
    out = tmp_path / "run"
    raw = tmp_path / "raw.jsonl"
    overrides = [f"train.output_dir={out}", f"model.raw_loss_file={raw}"]
    killed = _run([], [*overrides, "dataloader.train.kill_at_batch=6"])
    assert killed.returncode == -9  # SIGKILL while reading the batch of iteration 6
    assert (out / "last_checkpoint").read_text() == "model_0000003.pth"

    init = ref_out / "model_0000007.pth"  # any existing file: --resume must ignore it
    resumed = _run(["--resume"], [*overrides, f"train.init_checkpoint={init}"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    log = (out / "log.txt").read_text()
    assert f"init_checkpoint '{init}' is ignored" in log
    assert "Starting training from iteration 4" in log

    reference = _raw_losses(ref_out / "raw.jsonl")
    ours = _raw_losses(raw)
    assert sorted(ours) == list(range(12))
    for it in range(12):
        assert ours[it] == pytest.approx(reference[it], rel=1e-6, abs=1e-9), it

    a = torch.load(ref_out / "model_final.pth", weights_only=True)
    b = torch.load(out / "model_final.pth", weights_only=True)
    for key, value in a["model"].items():
        torch.testing.assert_close(b["model"][key], value, rtol=1e-6, atol=1e-8)
    assert a["trainer"]["hooks"] == b["trainer"]["hooks"]
    opt_a, opt_b = a["trainer"]["optimizer"], b["trainer"]["optimizer"]
    assert opt_a["param_groups"] == opt_b["param_groups"]
    for idx, state in opt_a["state"].items():
        for name, value in state.items():
            torch.testing.assert_close(opt_b["state"][idx][name], value, rtol=1e-6, atol=1e-8)


@pytest.mark.slow
def test_two_gloo_processes_match_one_process(reference_run, tmp_path):
    ref_out, _ = reference_run
    out = tmp_path / "two"
    proc = _run(["--num-gpus", "2", "--dist-url", "auto"], [f"train.output_dir={out}"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "log.txt.rank1").exists()
    assert "World size: 2" in (out / "log.txt").read_text()
    # Each process sees half of the global batch of 8; losses are averaged over processes.
    ours = [m for m in _metrics(out) if "total_loss" in m]
    reference = [m for m in _metrics(ref_out) if "total_loss" in m]
    assert len(ours) == len(reference) == 12
    for a, b in zip(ours, reference):
        assert a["total_loss"] == pytest.approx(b["total_loss"], rel=1e-5)
    acc = [m["toy/accuracy"] for m in _metrics(out) if "toy/accuracy" in m]
    assert acc == [m["toy/accuracy"] for m in _metrics(ref_out) if "toy/accuracy" in m]


# ---- user mistakes, in-process (fast): one paragraph on stderr, exit status 2, no traceback


@pytest.fixture(scope="module")
def tool():
    sys.path.insert(0, TOY)
    spec = importlib.util.spec_from_file_location("lazyconfig_train_net", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    sys.path.remove(TOY)


def _invoke(tool, argv):
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        with pytest.raises(SystemExit) as info:
            tool.invoke_main(argv)
    return info.value.code, err.getvalue(), out.getvalue()


def _assert_one_paragraph(stderr, *needles):
    text = stderr.strip()
    assert text.startswith("Error: ") and "Traceback" not in text
    assert "\n\n" not in text
    for needle in needles:
        assert needle in text, (needle, text)


def test_bad_inputs_are_one_paragraph(tool, tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("x = dict(a=1)\nraise RuntimeError('boom in config')\n")
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"\x00not a checkpoint" * 10)
    out = f"train.output_dir={tmp_path / 'out'}"
    cases = [
        (["--config-file", str(tmp_path / "missing.py")], ["missing.py"]),
        (["--config-file", str(broken)], ["broken.py", "boom in config"]),
        (["--config-file", CONFIG, "train.max_iter"], ["train.max_iter"]),
        (["--config-file", CONFIG, "train.max_itr=5"], ["max_itr", "max_iter"]),
        (["--config-file", CONFIG, out, "train.max_iter=abc"], ["train.max_iter='abc'", "integer"]),
        (["--config-file", CONFIG, out, "train.log_period=0"], ["train.log_period=0", ">= 1"]),
        (["--config-file", CONFIG, out, "--resume"], ["--resume", "before"]),
        (
            ["--config-file", CONFIG, out, f"train.init_checkpoint={tmp_path / 'no.pth'}"],
            ["no.pth", "does not exist"],
        ),
        (
            ["--config-file", CONFIG, out, f"train.init_checkpoint={corrupt}"],
            ["corrupt.pth", "corrupt"],
        ),
    ]
    for argv, needles in cases:
        code, stderr, _ = _invoke(tool, argv)
        assert code == 2, (argv, stderr)
        _assert_one_paragraph(stderr, *needles)


def test_worker_user_errors_exit_quietly(tool, monkeypatch):
    # A spawned worker that hit a user error printed it and exited with status 2; the parent
    # must exit with 2 as well instead of dumping torch.multiprocessing's traceback.
    def worker_exited(*args, **kwargs):
        raise torch.multiprocessing.ProcessExitedException(
            "process 1 terminated with exit code 2", error_index=1, error_pid=1, exit_code=2
        )

    monkeypatch.setattr(tool, "launch", worker_exited)
    code, stderr, _ = _invoke(tool, ["--config-file", CONFIG])
    assert code == 2 and stderr == ""


@pytest.mark.slow
def test_eval_only_reproduces_the_final_evaluation(tool, reference_run):
    ref_out, _ = reference_run
    final_acc = [m for m in _metrics(ref_out) if "toy/accuracy" in m][-1]["toy/accuracy"]
    argv = [
        "--config-file",
        CONFIG,
        "--eval-only",
        f"train.output_dir={ref_out / 'eval'}",
        f"train.init_checkpoint={ref_out / 'model_final.pth'}",
    ]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        tool.invoke_main(argv)
    assert f"'accuracy': {final_acc}" in out.getvalue()


def test_ema_is_trained_saved_and_used_for_eval_only(tool, tmp_path):
    out = tmp_path / "ema"
    ema = ["train.model_ema.enabled=True", "train.model_ema.device=cpu"]
    argv = ["--config-file", CONFIG, f"train.output_dir={out}", *ema, "train.model_ema.decay=0.5"]
    with contextlib.redirect_stdout(io.StringIO()):
        tool.invoke_main(argv)
    final = torch.load(out / "model_final.pth", weights_only=True)
    assert set(final["ema_state"]) >= set(final["model"])
    assert not torch.equal(final["ema_state"]["fc1.weight"], final["model"]["fc1.weight"])
    log = (out / "log.txt").read_text()
    assert log.count("Run evaluation with EMA.") == 2  # after iteration 5 and after training
    # metrics.json keeps both: the EMA's results under the task keys, the raw model's under raw/.
    evals = [r for r in map(json.loads, (out / "metrics.json").read_text().splitlines())]
    evals = [r for r in evals if any(k.startswith("raw/") for k in r)]
    assert len(evals) == 2
    assert {k.removeprefix("raw/") for k in evals[0] if k.startswith("raw/")} <= set(evals[0])

    argv = ["--config-file", CONFIG, "--eval-only", f"train.output_dir={out / 'eval'}", *ema]
    argv += [f"train.init_checkpoint={out / 'model_final.pth'}"]
    argv += ["train.model_ema.use_ema_weights_for_eval_only=True"]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        tool.invoke_main(argv)
    assert "'accuracy':" in printed.getvalue()
    eval_log = (out / "eval" / "log.txt").read_text()
    assert "Loading ema_state from" in eval_log and "Run evaluation with EMA." in eval_log


def test_check_train_config_converts_integral_floats():
    from omegaconf import OmegaConf

    from det.config import ConfigError
    from det.engine import check_train_config

    cfg = OmegaConf.create({"train": {"max_iter": 1e5, "eval_period": 0}})
    check_train_config(cfg)
    assert cfg.train.max_iter == 100000 and isinstance(cfg.train.max_iter, int)
    for bad in (2.5, True, "1000", None.__class__.__name__):
        cfg = OmegaConf.create({"train": {"max_iter": bad}})
        with pytest.raises(ConfigError, match="train.max_iter"):
            check_train_config(cfg)


def test_amp_grad_scaler_args_reach_the_trainer(tool):
    from omegaconf import OmegaConf

    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    amp = {"enabled": True, "precision": "float16", "grad_scaler": {"init_scale": 512.0}}
    cfg = OmegaConf.create({"train": {"amp": amp}})
    assert tool._make_trainer(cfg, model, [], optimizer).grad_scaler.get_scale() == 512.0
    # Configs written before the key existed get torch's default scale.
    del cfg.train.amp.grad_scaler
    assert tool._make_trainer(cfg, model, [], optimizer).grad_scaler.get_scale() == 65536.0
