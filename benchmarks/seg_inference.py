#!/usr/bin/env python
"""Per-image inference at each segmentation family's test mode, and one training step, built
from the model cards themselves.

Families and their cards' test modes (ADE20K images are resized to the crop on the short side,
so a 4:3 test image is ``crop x round(crop * 4 / 3)`` and the sliding window covers it in two):

* UperNet + ViT-Adapter-S (DeiT-S): slide 512 / stride 341;
* UperNet on CAE-B (the ViT-to-4-scales neck): slide 512 / stride 341;
* Mask2Former + ViT-Adapter-L (BEiT-L): slide 896 / stride 512;
* RegionProxy-S/16: slide 512 / stride 512.

The training step is the model's own loss on a batch of 2 synthetic images with label maps
(Mask2Former: per-class masks as ``MaskFormerSemanticDatasetMapper`` builds them), backward,
gradients cleared; at ``--train-size`` (256 on CPU by default) with the position tables built for
that size. SyncBN becomes BN (no process group; the same compute on one device).

* CPU (default when no GPU): float32; the 24-block BEiT-L of the Mask2Former card is cut to 4
  blocks (one per interaction), every other ViT runs at its full depth.
* CUDA: full depth everywhere, bf16 autocast, train at the crop size.

Results replace this script's section (per device type) in ``benchmarks/RESULTS.md``::

    python benchmarks/seg_inference.py                 # CPU, or CUDA when available
    python benchmarks/seg_inference.py --device cuda --repeats 5
"""

from __future__ import annotations

import argparse
import datetime
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from backbone import _machine, _peak_mib, _time_ms
from omegaconf import DictConfig, ListConfig
from results_md import RESULTS_MD, markdown_table, write_section

from det.config import LazyConfig, instantiate
from det.structures import Instances

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]
# name -> (card, ViT blocks on CPU or None for the card's depth)
CASES = {
    "UperNet + ViT-Adapter-S": (
        "projects/ViTAdapter/configs/ade20k/upernet_deit_adapter_small_512_160k_ade20k.py",
        None,
    ),
    "UperNet + CAE-B": (
        "projects/CAE/configs/ade20k/upernet_cae_base_12_512_slide_160k_ade20k_pt1600ep_1e-4.py",
        None,
    ),
    "Mask2Former + ViT-Adapter-L": (
        "projects/ViTAdapter/configs/ade20k/mask2former_beit_adapter_large_896_80k_ade20k_ss.py",
        4,
    ),
    "RegionProxy-S/16": (
        "projects/RegionProxy/configs/ade20k/"
        "regproxy-s16-sub4+implicit-mid-4+512x512+160k+adamw-poly+ade20k.py",
        None,
    ),
}
BATCH = 2


def _patch(node: Any, img_size: int | None) -> None:
    """SyncBN -> BN everywhere; ``img_size`` (position tables) set where a backbone has one."""
    if isinstance(node, DictConfig):
        for key in list(node.keys()):
            value = node[key]
            if isinstance(value, str) and value == "SyncBN":
                node[key] = "BN"
            elif key == "img_size" and img_size is not None:
                node[key] = img_size
            else:
                _patch(value, img_size)
    elif isinstance(node, ListConfig):
        for value in node:
            _patch(value, img_size)


def _build(config: str, depth: int | None, img_size: int | None, device: torch.device):
    cfg = LazyConfig.load(str(ROOT / config))
    backbone = cfg.model.backbone
    if depth is not None:
        backbone.vit.depth = depth
        backbone.interaction_indexes = [[i, i] for i in range(depth)]
    _patch(cfg.model, img_size)
    if img_size is not None and cfg.model.get("train_pad_size") is not None:
        cfg.model.train_pad_size = img_size  # train at the reduced size, not padded to the crop
    crop = tuple(cfg.model.inference.crop_size)
    stride = tuple(cfg.model.inference.stride)
    return instantiate(cfg.model).to(device), crop, stride


def _num_classes(model) -> int:
    if hasattr(model, "criterion"):  # Mask2Former
        return int(model.criterion.num_classes)
    return int(model.decode_head.num_classes)


def _training_inputs(size: int, num_classes: int, device: torch.device) -> list[dict]:
    """Two images whose label maps are four quadrants of distinct classes."""
    g = torch.Generator().manual_seed(0)
    inputs = []
    for i in range(BATCH):
        image = torch.randint(0, 256, (3, size, size), dtype=torch.uint8, generator=g)
        label = torch.empty(size, size, dtype=torch.long)
        half = size // 2
        for k, (ys, xs) in enumerate(
            [(slice(0, half), slice(0, half)), (slice(0, half), slice(half, None))]
            + [(slice(half, None), slice(0, half)), (slice(half, None), slice(half, None))]
        ):
            label[ys, xs] = (7 * (4 * i + k)) % num_classes
        classes = label.unique()
        instances = Instances((size, size))
        instances.gt_classes = classes
        instances.gt_masks = label[None] == classes[:, None, None]
        inputs.append(
            {"image": image.to(device), "sem_seg": label.to(device), "instances": instances}
        )
    return inputs


def _inference_fn(model, image: torch.Tensor, amp: bool) -> Callable[[], None]:
    inputs = [{"image": image, "height": image.shape[-2], "width": image.shape[-1]}]

    def run() -> None:
        with torch.no_grad(), torch.autocast(image.device.type, torch.bfloat16, enabled=amp):
            model(inputs)

    return run


def _train_fn(model, inputs: list[dict], amp: bool) -> Callable[[], None]:
    def run() -> None:
        with torch.autocast(inputs[0]["image"].device.type, torch.bfloat16, enabled=amp):
            losses = model(inputs)
        sum(v.float() for v in losses.values()).backward()
        for p in model.parameters():
            p.grad = None

    return run


def _run(name: str, config: str, depth: int | None, device, repeats, amp, train_size) -> dict:
    torch.manual_seed(0)
    model, crop, stride = _build(config, depth, None, device)
    model.eval()
    height = crop[0]
    width = round(crop[0] * 4 / 3)
    g = torch.Generator().manual_seed(1)
    image = torch.randint(0, 256, (3, height, width), dtype=torch.uint8, generator=g).to(device)
    vit = getattr(model.backbone, "vit", None) or getattr(model.backbone, "net", model.backbone)
    row = {
        "model": name,
        "ViT blocks": len(vit.blocks),
        "params M": sum(p.numel() for p in model.parameters()) / 1e6,
        "test image": f"{height}x{width}",
        "test mode": f"slide {crop[0]} / stride {stride[0]}",
    }
    fn = _inference_fn(model, image, amp)
    row["infer ms/img"] = _time_ms(fn, device, repeats)
    row["infer peak MiB"] = _peak_mib(fn, device)
    del model, fn

    size = crop[0] if train_size is None else train_size
    torch.manual_seed(0)
    model, _, _ = _build(config, depth, size, device)
    model.train()
    fn = _train_fn(model, _training_inputs(size, _num_classes(model), device), amp)
    row["train input"] = f"{BATCH}x{size}x{size}"
    row["train ms/step"] = _time_ms(fn, device, repeats)
    row["train peak MiB"] = _peak_mib(fn, device)
    print(row, flush=True)
    del model, fn
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return row


COLUMNS = [
    "model",
    "ViT blocks",
    "params M",
    "test image",
    "test mode",
    "infer ms/img",
    "infer peak MiB",
    "train input",
    "train ms/step",
    "train peak MiB",
]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per measurement")
    parser.add_argument(
        "--train-size", type=int, default=None, help="training crop (CPU 256, CUDA the card's)"
    )
    parser.add_argument("--only", nargs="*", default=None, help="subset of the families")
    parser.add_argument("--results", type=Path, default=RESULTS_MD, help="markdown file to update")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    use_cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda" if use_cuda else "cpu")
    train_size = args.train_size if args.train_size or use_cuda else 256
    unknown = sorted(set(args.only or []) - set(CASES))
    if unknown:
        parser.error(f"--only: unknown families {unknown}; expected some of {sorted(CASES)}")
    rows = []
    for name, (config, cpu_depth) in CASES.items():
        if args.only and name not in args.only:
            continue
        depth = None if use_cuda else cpu_depth
        rows.append(_run(name, config, depth, device, args.repeats, use_cuda, train_size))
    kind = "CUDA" if use_cuda else "CPU"
    precision = (
        "bf16 autocast, full depth"
        if use_cuda
        else "float32, the Mask2Former card's BEiT-L cut to 4 blocks, other ViTs at full depth"
    )
    command = " ".join(["python benchmarks/seg_inference.py", *argv]).strip()
    section = "\n".join(
        [
            f"## Segmentation inference and training step ({kind})",
            "",
            f"Written by `{command}` on {datetime.date.today().isoformat()}. Machine: "
            f"{_machine(device)}.",
            f"{precision}; median of {args.repeats} run(s) after one warm-up. Inference: one "
            "ADE20K-shaped image (short side = the card's crop, 4:3) through the card's sliding "
            f"window, batch 1. Training: batch {BATCH}, loss + backward, SyncBN as BN. Peak "
            "memory is what the call allocates on top of the weights and the input.",
            "",
            markdown_table(rows, COLUMNS),
        ]
    )
    print(section)
    if not args.no_write:
        tag = "cuda" if use_cuda else "cpu"
        write_section(
            f"<!-- seg_inference:{tag}:begin -->",
            f"<!-- seg_inference:{tag}:end -->",
            section,
            args.results,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
