"""Multi-scale deformable attention: det's op vs the straightforward pure-PyTorch version.

Sizes are those of Mask2Former's pixel-decoder encoder on an 896 x 896 crop: 3 levels at strides
8 / 16 / 32 (112^2 + 56^2 + 28^2 = 16464 tokens, each of them a query), 256 channels in 8
heads, 4 points per head and level. Four implementations of the same math run on the same
inputs (outputs and gradients are checked against the reference):

* ``reference``: the fallback of Deformable DETR / Mask2Former / mmcv (written here from the
  math): one ``grid_sample`` per level, the samples of all levels stacked into
  [N * M, D, Lq, L * P], multiplied by the weights and summed;
* ``padded``: one ``grid_sample`` for all levels, each level zero-padded to the largest map
  (locations rescaled so the padding plays the role of the outside zeros);
* ``per-level``: one ``grid_sample`` per level, reduced with its weights at once (autograd
  keeps the samples for backward);
* ``det``: ``det.layers.ms_deform_attn``: per level like the previous one, but nothing larger
  than the inputs is kept for backward; the backward pass samples again.

Usage::

    python benchmarks/ms_deform_attn.py                 # CPU (1 thread) and CUDA if present
    python benchmarks/ms_deform_attn.py --batch 2 --repeats 5

Times are the median of ``--repeats`` runs (CPU: process CPU time with one thread, so a shared
machine does not inflate them; CUDA: wall time after synchronization). Peak memory is the
highest allocated total during forward + backward beyond the inputs (CPU: from the profiler's
allocation events; CUDA: ``max_memory_allocated``); "kept for backward" sums the distinct
tensors autograd saves during the forward pass. The table is written into
``benchmarks/RESULTS.md`` between the ``ms_deform_attn`` markers (``--no-write`` to skip).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from results_md import write_section  # noqa: E402

from det.layers import ms_deform_attn  # noqa: E402

__all__ = ["main"]

_MARK_BEGIN, _MARK_END = "<!-- ms_deform_attn -->", "<!-- /ms_deform_attn -->"


def reference(value, spatial_shapes, level_start_index, sampling_locations, attention_weights):
    """The stack-all-levels fallback. value [N, S, M, D] -> [N, Lq, M * D]."""
    n, _, m, d = value.shape
    _, lq, _, num_levels, p, _ = sampling_locations.shape
    sizes = [int(h) * int(w) for h, w in spatial_shapes.tolist()]
    grids = 2 * sampling_locations - 1
    samples = []
    for lvl, (v, (h, w)) in enumerate(zip(value.split(sizes, 1), spatial_shapes.tolist())):
        v = v.flatten(2).transpose(1, 2).reshape(n * m, d, h, w)
        g = grids[:, :, :, lvl].transpose(1, 2).flatten(0, 1)  # [N * M, Lq, P, 2]
        samples.append(
            F.grid_sample(v, g, mode="bilinear", padding_mode="zeros", align_corners=False)
        )
    weights = attention_weights.transpose(1, 2).reshape(n * m, 1, lq, num_levels * p)
    out = (torch.stack(samples, dim=-2).flatten(-2) * weights).sum(-1)
    return out.view(n, m * d, lq).transpose(1, 2).contiguous()


def padded(value, spatial_shapes, level_start_index, sampling_locations, attention_weights):
    """All levels in one ``grid_sample`` call, each padded to the largest map."""
    n, _, m, d = value.shape
    _, lq, _, num_levels, p, _ = sampling_locations.shape
    shapes = spatial_shapes.tolist()
    hmax, wmax = max(h for h, _ in shapes), max(w for _, w in shapes)
    sizes = [h * w for h, w in shapes]
    maps = []
    for v, (h, w) in zip(value.split(sizes, 1), shapes):
        v = v.permute(0, 2, 3, 1).reshape(n * m, d, h, w)
        maps.append(F.pad(v, (0, wmax - w, 0, hmax - h)))
    maps = torch.stack(maps, 1).flatten(0, 1)  # [N * M * L, D, Hmax, Wmax]
    # (x, y) in [0, 1] of level l is x * W_l / Wmax on the padded map; beyond W_l lie zeros.
    scale = (spatial_shapes.flip(-1) / torch.tensor([wmax, hmax])).to(value)
    grids = 2 * sampling_locations * scale[:, None, :] - 1
    grids = grids.permute(0, 2, 3, 1, 4, 5).reshape(n * m * num_levels, lq, p, 2)
    out = F.grid_sample(maps, grids, mode="bilinear", padding_mode="zeros", align_corners=False)
    out = out.view(n * m, num_levels, d, lq, p)
    weights = attention_weights.permute(0, 2, 3, 1, 4).reshape(n * m, num_levels, 1, lq, p)
    out = (out * weights).sum((1, 4))
    return out.view(n, m * d, lq).transpose(1, 2).contiguous()


def per_level(value, spatial_shapes, level_start_index, sampling_locations, attention_weights):
    """One ``grid_sample`` per level, reduced at once; plain autograd."""
    n, _, m, d = value.shape
    _, lq, _, _, p, _ = sampling_locations.shape
    shapes = spatial_shapes.tolist()
    grids = 2 * sampling_locations - 1
    out = None
    for lvl, (v, (h, w)) in enumerate(zip(value.split([h * w for h, w in shapes], 1), shapes)):
        v = v.permute(0, 2, 3, 1).reshape(n * m, d, h, w)
        g = grids[:, :, :, lvl].transpose(1, 2).flatten(0, 1)
        s = F.grid_sample(v, g, mode="bilinear", padding_mode="zeros", align_corners=False)
        wgt = attention_weights[:, :, :, lvl].transpose(1, 2).reshape(n * m, 1, lq, p)
        part = (s * wgt).sum(-1)
        out = part if out is None else out + part
    return out.view(n, m * d, lq).transpose(1, 2).contiguous()


IMPLEMENTATIONS = {
    "reference (stack levels)": reference,
    "padded (one grid_sample)": padded,
    "per-level (autograd)": per_level,
    "det `ms_deform_attn`": ms_deform_attn,
}


def make_inputs(batch, crop, channels, heads, points, device, seed=0):
    g = torch.Generator().manual_seed(seed)
    shapes = [(crop // s, crop // s) for s in (8, 16, 32)]
    spatial = torch.tensor(shapes, dtype=torch.long)
    sizes = spatial.prod(1)
    start = torch.cat((sizes.new_zeros(1), sizes.cumsum(0)[:-1]))
    s = int(sizes.sum())
    value = torch.randn(batch, s, heads, channels // heads, generator=g)
    # Locations spread around each query like trained offsets, some outside the maps.
    locations = torch.rand(batch, s, heads, len(shapes), points, 2, generator=g) * 1.2 - 0.1
    weights = torch.rand(batch, s, heads, len(shapes), points, generator=g).softmax(-1)
    tensors = [t.to(device).requires_grad_() for t in (value, locations, weights)]
    return tensors, spatial.to(device), start.to(device)


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _clock(device):
    return time.perf_counter() if device.type == "cuda" else time.process_time()


def time_impl(fn, inputs, spatial, start, device, repeats):
    fwd, both = [], []
    for _ in range(repeats + 1):  # the first run warms up
        for t in inputs:
            t.grad = None
        _sync(device)
        t0 = _clock(device)
        out = fn(inputs[0], spatial, start, inputs[1], inputs[2])
        _sync(device)
        t1 = _clock(device)
        out.backward(torch.ones_like(out))
        _sync(device)
        t2 = _clock(device)
        fwd.append(t1 - t0)
        both.append(t2 - t0)
        del out
    return statistics.median(fwd[1:]), statistics.median(both[1:])


def _saved_bytes(fn, inputs, spatial, start):
    storages = {}

    def pack(t):
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    input_ptrs = {t.untyped_storage().data_ptr() for t in inputs}
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn(inputs[0], spatial, start, inputs[1], inputs[2])
    del out
    return sum(v for k, v in storages.items() if k not in input_ptrs)


def peak_bytes(fn, inputs, spatial, start, device):
    """Highest memory allocated during forward + backward, beyond what existed before."""
    for t in inputs:
        t.grad = None
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        out = fn(inputs[0], spatial, start, inputs[1], inputs[2])
        out.backward(torch.ones_like(out))
        del out
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - base
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        out = fn(inputs[0], spatial, start, inputs[1], inputs[2])
        out.backward(torch.ones_like(out))
        del out
    events = sorted(
        (e.time_range.start, e.self_cpu_memory_usage)
        for e in prof.events()
        if e.self_cpu_memory_usage
    )
    current = peak = 0
    for _, delta in events:
        current += delta
        peak = max(peak, current)
    return peak


def check_outputs(inputs, spatial, start):
    """Max |difference| vs the reference of the output and of the gradients of value and
    attention weights. (Gradients w.r.t. locations jump where a location crosses a pixel centre;
    with millions of samples some lie within rounding of one, so they are not compared.)"""
    results = {}
    for name, fn in IMPLEMENTATIONS.items():
        for t in inputs:
            t.grad = None
        out = fn(inputs[0], spatial, start, inputs[1], inputs[2])
        out.backward(torch.ones_like(out))
        results[name] = [out.detach(), inputs[0].grad.clone(), inputs[2].grad.clone()]
    ref = results["reference (stack levels)"]
    return {
        name: max(float((a - b).abs().max()) for a, b in zip(res, ref))
        for name, res in results.items()
    }


def run_device(device, args):
    inputs, spatial, start = make_inputs(
        args.batch, args.crop, args.channels, args.heads, args.points, device
    )
    diffs = check_outputs(inputs, spatial, start)
    rows = []
    for name, fn in IMPLEMENTATIONS.items():
        fwd, both = time_impl(fn, inputs, spatial, start, device, args.repeats)
        peak = peak_bytes(fn, inputs, spatial, start, device)
        saved = _saved_bytes(fn, inputs, spatial, start)
        rows.append((name, fwd, both, peak, saved, diffs[name]))
        print(
            f"[{device}] {name}: fwd {fwd * 1e3:.1f} ms, fwd+bwd {both * 1e3:.1f} ms, peak "
            f"{peak / 2**20:.0f} MiB, kept for backward {saved / 2**20:.0f} MiB, "
            f"max |diff| {diffs[name]:.1e}"
        )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=1, help="images (N)")
    parser.add_argument("--crop", type=int, default=896, help="input side; levels at /8 /16 /32")
    parser.add_argument("--channels", type=int, default=256)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--points", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads")
    parser.add_argument("--no-cpu", action="store_true", help="only CUDA")
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    devices = [] if args.no_cpu else [torch.device("cpu")]
    if torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    lines = [
        "## Multi-scale deformable attention (`benchmarks/ms_deform_attn.py`)",
        "",
        f"Mask2Former pixel-decoder encoder at a {args.crop} crop: batch {args.batch}, 3 levels "
        f"(strides 8/16/32), every token a query, {args.channels} channels, {args.heads} heads, "
        f"{args.points} points; float32. torch {torch.__version__}; CPU: "
        f"{platform.processor() or platform.machine()}, {args.threads} thread(s), time = "
        "process CPU time; CUDA: wall time. Peak = most memory allocated during forward + "
        "backward beyond the inputs; kept = tensors autograd saves for backward.",
        f"Command: `python benchmarks/ms_deform_attn.py {' '.join(argv or sys.argv[1:])}`".rstrip(),
        "",
        "| device | implementation | forward ms | forward + backward ms | peak MiB | kept MiB "
        "| max abs diff vs reference (output, grads) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for device in devices:
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
        for impl, fwd, both, peak, saved, diff in run_device(device, args):
            lines.append(
                f"| {name} | {impl} | {fwd * 1e3:.0f} | {both * 1e3:.0f} | {peak / 2**20:.0f} "
                f"| {saved / 2**20:.0f} | {diff:.1e} |"
            )
    lines.append("")
    lines.append(
        "Rows: the stack-all-levels fallback of Deformable DETR / Mask2Former / mmcv (reference); "
        "one `grid_sample` over all levels zero-padded to the largest map; one `grid_sample` "
        "per level reduced at once with plain autograd; det's op (per level, and the backward "
        "pass samples again instead of keeping the samples). Differences to the reference are "
        "float32 rounding (the padded variant rescales the coordinates)."
    )
    if not torch.cuda.is_available():
        lines.append("")
        lines.append("No CUDA device was available for this run.")
    section = "\n".join(lines)
    print("\n" + section)
    if not args.no_write:
        write_section(_MARK_BEGIN, _MARK_END, section)


if __name__ == "__main__":
    main()
