"""Random seeding and a report of the software/hardware environment."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import random
import subprocess
import sys
from datetime import datetime

import numpy as np
import torch

__all__ = ["collect_env_info", "seed_all_rng"]

_DEPENDENCIES = (
    "torchvision",
    "fvcore",
    "omegaconf",
    "pycocotools",
    "lvis",
    "timm",
    "scipy",
    "Pillow",
    "tensorboard",
)


def seed_all_rng(seed: int | None = None) -> int:
    """Seeds the RNGs of ``random``, NumPy and torch (all devices).

    Args:
        seed: the seed; ``None`` draws one from the process id, the time and ``os.urandom``.

    Returns:
        int: the seed that was used (log it to reproduce a run).
    """
    if seed is None:
        seed = (
            os.getpid()
            + int(datetime.now().strftime("%S%f"))
            + int.from_bytes(os.urandom(2), "big")
        ) % 2**31
    np.random.seed(seed)
    torch.manual_seed(seed)
    random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    return seed


def _package_version(distribution: str) -> str:
    # Read from the installed metadata: importing tensorboard, timm or lvis takes seconds.
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _nvidia_driver_version() -> str | None:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout else None


def collect_env_info() -> str:
    """Returns a two-column text table of versions and devices, for logs and bug reports.

    Lists the platform, Python, det, torch (and its CUDA/cuDNN build), each visible GPU,
    the NVIDIA driver, torchvision and the other runtime dependencies.
    """
    import det

    rows: list[tuple[str, str]] = [
        ("sys.platform", sys.platform),
        ("Platform", platform.platform()),
        ("Python", sys.version.replace("\n", " ")),
        ("numpy", np.__version__),
        ("det", f"{det.__version__} @{os.path.dirname(det.__file__)}"),
        ("PyTorch", f"{torch.__version__} @{os.path.dirname(torch.__file__)}"),
        ("PyTorch debug build", str(torch.version.debug)),
        ("torch._C._GLIBCXX_USE_CXX11_ABI", str(getattr(torch._C, "_GLIBCXX_USE_CXX11_ABI", "?"))),
        ("PyTorch built with CUDA", str(torch.version.cuda)),
    ]
    has_cuda = torch.cuda.is_available()
    rows.append(("GPU available", "Yes" if has_cuda else "No: torch.cuda.is_available() == False"))
    if has_cuda:
        devices: dict[str, list[str]] = {}
        for k in range(torch.cuda.device_count()):
            cap = ".".join(str(x) for x in torch.cuda.get_device_capability(k))
            devices.setdefault(f"{torch.cuda.get_device_name(k)} (arch={cap})", []).append(str(k))
        for name, ids in devices.items():
            rows.append(("GPU " + ",".join(ids), name))
        rows.append(("Driver version", _nvidia_driver_version() or "unknown"))
        rows.append(("cuDNN", str(torch.backends.cudnn.version())))
        rows.append(("CUDA_VISIBLE_DEVICES", os.environ.get("CUDA_VISIBLE_DEVICES", "<not set>")))
    rows.append(("NCCL available", str(torch.distributed.is_nccl_available())))
    for package in _DEPENDENCIES:
        rows.append((package, _package_version(package)))
    rows.append(("CPU threads (torch)", str(torch.get_num_threads())))
    width = max(len(key) for key, _ in rows)
    return "\n".join(f"{key.ljust(width)}  {value}" for key, value in rows)
