"""Defaults shared by the command-line tools: argument parser, run set-up, writers, DDP."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

import torch
from omegaconf import OmegaConf
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from det.engine.launch import default_dist_url
from det.utils import comm
from det.utils.env import collect_env_info, seed_all_rng
from det.utils.events import (
    CommonMetricPrinter,
    EventWriter,
    JSONWriter,
    TensorboardXWriter,
    WAndBWriter,
)
from det.utils.logger import setup_logger

__all__ = [
    "comma_separated_choices",
    "create_ddp_model",
    "default_argument_parser",
    "default_setup",
    "default_writers",
    "check_train_config",
]


def comma_separated_choices(choices: tuple[str, ...]):
    """An argparse ``type`` for a comma-separated subset of ``choices`` (``--tasks a,b``).

    Comma-separated rather than ``nargs="+"``, so that the trailing ``key=value`` overrides of
    the tools are not taken for choices.

    Returns:
        a function mapping the flag's text to the list of chosen names.
    """

    def parse(value: str) -> list[str]:
        chosen = [t.strip() for t in value.split(",") if t.strip()]
        unknown = [t for t in chosen if t not in choices]
        if unknown or not chosen:
            raise argparse.ArgumentTypeError(
                f"unknown choice(s) {unknown}; choose a comma-separated subset of "
                f"{','.join(choices)}"
            )
        return chosen

    return parse


def default_argument_parser(epilog: str | None = None) -> argparse.ArgumentParser:
    """Returns the parser of ``tools/lazyconfig_train_net.py``-style scripts.

    Flags: ``--config-file``, ``--resume``, ``--eval-only``, ``--num-gpus`` (per machine),
    ``--num-machines``, ``--machine-rank``, ``--dist-url``, ``--wandb``, then trailing
    ``path.key=value`` overrides (``opts``).

    Args:
        epilog: text shown at the end of ``--help`` (default: usage examples).
    """
    epilog = (
        epilog
        or f"""
Examples:

Run on a single machine:
    $ {sys.argv[0]} --num-gpus 8 --config-file cfg.py

Change some config options:
    $ {sys.argv[0]} --config-file cfg.py train.max_iter=1000 train.output_dir=out/

Run on multiple machines:
    (machine0)$ {sys.argv[0]} --machine-rank 0 --num-machines 2 --dist-url <URL> [--other-flags]
    (machine1)$ {sys.argv[0]} --machine-rank 1 --num-machines 2 --dist-url <URL> [--other-flags]

Processes started by torchrun or srun are detected from their environment; then --num-gpus,
--num-machines, --machine-rank and --dist-url are not needed.
"""
    )
    parser = argparse.ArgumentParser(
        epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config-file", default="", metavar="FILE", help="path to config file")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="resume from <output_dir>/last_checkpoint if it exists (init_checkpoint is "
        "then ignored); otherwise start from train.init_checkpoint",
    )
    parser.add_argument("--eval-only", action="store_true", help="perform evaluation only")
    parser.add_argument(
        "--aug-test",
        action="store_true",
        help="semantic segmentation: evaluate with mmseg's multi-scale (0.5-1.75) + flip test "
        "instead of the card's single scale",
    )
    parser.add_argument("--num-gpus", type=int, default=1, help="number of processes per machine")
    parser.add_argument("--num-machines", type=int, default=1, help="total number of machines")
    parser.add_argument(
        "--machine-rank", type=int, default=0, help="the rank of this machine (unique per machine)"
    )
    parser.add_argument(
        "--dist-url",
        default=default_dist_url(),
        help="initialization URL of the process group, tcp://<machine 0 address>:<port>; "
        "'auto' picks a free port (single machine only)",
    )
    parser.add_argument(
        "--wandb", action="store_true", help="also log metrics to Weights & Biases (needs wandb)"
    )
    parser.add_argument(
        "opts",
        help="config overrides 'path.key=value' at the end of the command, e.g. "
        "train.init_checkpoint=/x.pth model.roi_heads.use_soft_nms=True",
        default=None,
        nargs=argparse.REMAINDER,
    )
    return parser


def _cfg_get(cfg: Any, key: str, default: Any) -> Any:
    value = OmegaConf.select(cfg, key, default=default)
    return default if value is None else value


# train.* keys that must be integers, with the smallest value that makes sense.
_INT_KEYS = {
    "train.max_iter": 0,
    "train.eval_period": 0,
    "train.log_period": 1,
    "train.checkpointer.period": 1,
    "train.checkpointer.max_to_keep": 1,
}


def check_train_config(cfg: Any) -> None:
    """Checks the ``train`` keys the trainer does arithmetic with before anything is built.

    A value like ``train.max_iter=abc`` on the command line would otherwise surface as a
    ``TypeError`` deep inside fvcore's scheduler. Integral floats (``train.max_iter=1e5``) are
    converted to ``int`` in place.

    Args:
        cfg: the LazyConfig; keys it does not have are skipped.

    Raises:
        ConfigError: naming the key, the value given and what was expected.
    """
    from det.config import ConfigError

    for key, minimum in _INT_KEYS.items():
        value = OmegaConf.select(cfg, key, default=None)
        if value is None:
            continue
        integral_float = isinstance(value, float) and value.is_integer()
        if isinstance(value, bool) or not (isinstance(value, int) or integral_float):
            raise ConfigError(
                f"{key}={value!r} ({type(value).__name__}): expected an integer >= {minimum}, "
                f"e.g. {key}=1000"
            )
        if value < minimum:
            raise ConfigError(f"{key}={value!r}: expected an integer >= {minimum}")
        if integral_float:
            OmegaConf.update(cfg, key, int(value), merge=False)


def default_setup(cfg: Any, args: argparse.Namespace) -> None:
    """Prepares a run: output directory, loggers, environment report, saved config, seed.

    1. Creates ``train.output_dir`` (main process).
    2. Sets up the ``det`` and ``fvcore`` loggers: console on rank 0, ``log.txt`` /
       ``log.txt.rank{N}`` in the output directory.
    3. Logs the environment, the command-line arguments and the config file's text.
    4. Saves the full config as ``<output_dir>/config.yaml`` (main process).
    5. Seeds all RNGs with ``train.seed + rank`` (``train.seed < 0``: a random seed).
    6. Sets ``torch.backends.cudnn.benchmark = train.cudnn_benchmark`` (not in eval-only).

    Args:
        cfg: the LazyConfig (a ``DictConfig`` with a ``train`` node).
        args: the parsed command line (``config_file``, ``eval_only`` are used).
    """
    from det.config import LazyConfig

    output_dir = _cfg_get(cfg, "train.output_dir", "")
    if comm.is_main_process() and output_dir:
        os.makedirs(output_dir, exist_ok=True)
    rank = comm.get_rank()
    setup_logger(output_dir or None, distributed_rank=rank, name="fvcore")
    logger = setup_logger(output_dir or None, distributed_rank=rank, name="det")
    logger.info(f"Rank of current process: {rank}. World size: {comm.get_world_size()}")
    logger.info("Environment info:\n" + collect_env_info())
    logger.info("Command line arguments: " + str(args))
    config_file = getattr(args, "config_file", "")
    if config_file:
        with open(config_file, encoding="utf-8") as f:
            logger.info(f"Contents of args.config_file={config_file}:\n{f.read()}")
    if comm.is_main_process() and output_dir:
        path = os.path.join(output_dir, "config.yaml")
        LazyConfig.save(cfg, path)
        logger.info(f"Full config saved to {path}")
    seed = int(_cfg_get(cfg, "train.seed", -1))
    used_seed = seed_all_rng(None if seed < 0 else seed + rank)
    logger.info(f"Using seed {used_seed} (train.seed={seed})")
    if not getattr(args, "eval_only", False):
        torch.backends.cudnn.benchmark = bool(_cfg_get(cfg, "train.cudnn_benchmark", False))


def default_writers(
    output_dir: str, max_iter: int | None = None, use_wandb: bool = False
) -> list[EventWriter]:
    """Returns the standard writers: console line, ``metrics.json``, TensorBoard (+ W&B).

    Args:
        output_dir: where ``metrics.json`` and the TensorBoard event files go.
        max_iter: total iterations (for the ETA).
        use_wandb: also log to Weights & Biases.
    """
    os.makedirs(output_dir, exist_ok=True)
    writers: list[EventWriter] = [
        CommonMetricPrinter(max_iter),
        JSONWriter(os.path.join(output_dir, "metrics.json")),
        TensorboardXWriter(output_dir),
    ]
    if use_wandb:
        writers.append(WAndBWriter(output_dir))
    return writers


def create_ddp_model(
    model: nn.Module, *, fp16_compression: bool = False, **kwargs: Any
) -> nn.Module:
    """Wraps ``model`` in ``DistributedDataParallel`` when there are several processes.

    Args:
        model: the model, already on its device.
        fp16_compression: all-reduce gradients in float16 (halves communication; EVA-02
            training uses it).
        **kwargs: passed to ``DistributedDataParallel`` (e.g. ``broadcast_buffers``,
            ``find_unused_parameters``); ``device_ids`` defaults to this process's GPU.

    Returns:
        nn.Module: ``model`` itself with one process, else the DDP wrapper.
    """
    if comm.get_world_size() == 1:
        return model
    param = next(model.parameters(), None)
    if "device_ids" not in kwargs and param is not None and param.device.type == "cuda":
        kwargs["device_ids"] = [comm.get_local_rank()]
    ddp = DistributedDataParallel(model, **kwargs)
    if fp16_compression:
        from torch.distributed.algorithms.ddp_comm_hooks import default_hooks as comm_hooks

        ddp.register_comm_hook(state=None, hook=comm_hooks.fp16_compress_hook)
    logging.getLogger(__name__).info(
        f"Wrapped the model in DistributedDataParallel ({comm.get_world_size()} processes, "
        f"fp16_compression={fp16_compression})."
    )
    return ddp
