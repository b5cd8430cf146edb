"""tools/analyze_model.py, tools/benchmark.py and tools/plot_metrics.py."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from fvcore.nn import FlopCountAnalysis
from PIL import Image
from tools_testutil import load_tool, run_tool

from det.config import LazyConfig, instantiate


def test_sdpa_flop_rule_hand_computed():
    analyze = load_tool("analyze_model")

    class _Attn(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = torch.nn.Linear(16, 16)

        def forward(self, x):
            q = self.proj(x).view(1, 2, 10, 8)
            return F.scaled_dot_product_attention(q, q, q)

    flops = FlopCountAnalysis(_Attn(), (torch.randn(1, 10, 16),))
    flops.set_op_handle("aten::scaled_dot_product_attention", analyze._sdpa_flop)
    flops.unsupported_ops_warnings(False)
    # Linear: 10 tokens x 16 x 16 MACs; attention: 2 heads x 10 x 10 x (8 + 8) MACs.
    assert flops.total() == 10 * 16 * 16 + 2 * 10 * 10 * (8 + 8)


def _model_parameters(run) -> int:
    cfg = LazyConfig.apply_overrides(LazyConfig.load(run.config), run.overrides)
    return sum(p.numel() for p in instantiate(cfg.model).parameters())


@pytest.mark.slow
@pytest.mark.parametrize("family, task", [("det", "flop"), ("seg", "activation")])
def test_analyze_model(family, task, request, tools_env, registered_root, tmp_path):
    # One traced analysis per family keeps the test short.
    run = request.getfixturevalue(f"{family}_run")
    out = tmp_path / "stats.json"
    args = ["--config-file", run.config, "--json", str(out), "--max-depth", "2"]
    args += ["--tasks", f"parameter,{task}"]
    proc = run_tool("analyze_model.py", [*args, *run.overrides], tools_env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    expected = _model_parameters(run)
    assert f"Total parameters: {expected}" in proc.stdout
    stats = json.loads(out.read_text())
    assert stats["parameters"] == expected
    assert stats["parameters_per_module"]["backbone"] > 0
    assert "backbone" in proc.stdout
    if task == "flop":
        assert stats["flops"] > stats["flops_per_module"]["backbone"] > 0
        assert "#flops" in proc.stdout
    else:
        assert stats["activations"] > 0 and "#activations" in proc.stdout


@pytest.mark.slow
def test_benchmark(det_run, tools_env, registered_root, tmp_path):
    out = tmp_path / "bench.json"
    args = ["--config-file", det_run.config, "--iters", "2", "--warmup", "1"]
    args += ["--num-batches", "1", "--output", str(out), *det_run.overrides]
    args += ["dataloader.train.total_batch_size=2", "train.device=cpu"]
    proc = run_tool("benchmark.py", args, tools_env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["train"]["images_per_iter"] == 2
    assert result["train"]["iters"] == 2 and result["eval"]["iters"] == 2
    for task in ("train", "eval", "data"):
        assert result[task]["images_per_s"] > 0
        assert f"{task:5s}: " in proc.stdout
    assert result["eval"]["input_sizes"] == [[154, 192]]  # 256 x 320 with long side 192
    assert result["env"]["device"] == "cpu"


@pytest.mark.slow
def test_plot_metrics(det_run, seg_run, tools_env, tmp_path):
    out = tmp_path / "plots"
    args = [det_run.output_dir, seg_run.output_dir, "--output", str(out), "--keys", "data_time"]
    proc = run_tool("plot_metrics.py", args, tools_env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("loss.png", "lr.png", "ap.png", "custom.png"):
        image = np.asarray(Image.open(out / name).convert("L"))
        assert image.shape[0] > 100 and image.std() > 5  # decodes and is not blank

    proc = run_tool("plot_metrics.py", [str(tmp_path / "missing")], tools_env)
    assert proc.returncode == 2 and "metrics.json" in proc.stderr


def test_plot_metrics_reads_resumed_and_damaged_files(tmp_path):
    plot = load_tool("plot_metrics")
    path = tmp_path / "metrics.json"
    lines = [
        {"iteration": 19, "total_loss": 2.0, "lr": 0.1},
        {"iteration": 39, "total_loss": 1.5, "lr": 0.1},
        {"iteration": 39, "total_loss": 1.4, "bbox/AP": 3.0},  # resumed run repeats 39
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + '\n{"iteration": 5')
    series = plot.read_metrics(str(tmp_path))
    assert series["total_loss"] == [(19, 2.0), (39, 1.4)]
    assert series["lr"] == [(19, 0.1), (39, 0.1)]
    assert series["bbox/AP"] == [(39, 3.0)]
