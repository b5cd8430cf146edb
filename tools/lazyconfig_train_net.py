#!/usr/bin/env python
"""Train or evaluate a model described by a LazyConfig file (the EVA-02 / ViTDet entry point).

The config defines ``model``, ``dataloader.{train,test,evaluator}``, ``optimizer``,
``lr_multiplier`` and ``train``; nothing else is read. Examples::

    python tools/lazyconfig_train_net.py --config-file cfg.py --num-gpus 8
    python tools/lazyconfig_train_net.py --config-file cfg.py --eval-only \\
        train.init_checkpoint=/path/model.pth model.roi_heads.use_soft_nms=True
    python tools/lazyconfig_train_net.py --config-file cfg.py --resume   # continue a run

Mistakes in the command line, config or checkpoint paths are reported as one paragraph on
stderr (exit status 2) without a traceback.
"""

from __future__ import annotations

import argparse
import inspect
import logging
import os
import sys
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from det.checkpoint import CheckpointNotFoundError, DetectionCheckpointer
from det.config import ConfigError, LazyConfig, instantiate, locate
from det.engine import (
    AMPTrainer,
    SimpleTrainer,
    apply_aug_test,
    check_train_config,
    create_ddp_model,
    default_argument_parser,
    default_setup,
    default_writers,
    hooks,
    launch,
)
from det.evaluation import inference_on_dataset, print_csv_format
from det.utils import comm
from det.utils.errors import UserError

logger = logging.getLogger("det")

# Exit status for user mistakes (as argparse uses for command-line errors).
_USER_ERROR_EXIT = 2


def _opt(cfg: Any, key: str, default: Any) -> Any:
    """Reads ``key`` with a default, for keys that configs written before det may lack."""
    value = OmegaConf.select(cfg, key, default=default)
    return default if value is None else value


def _to_dict(node: Any) -> dict[str, Any]:
    if isinstance(node, DictConfig):
        return OmegaConf.to_container(node, resolve=True)
    return dict(node)


def _ema_enabled(cfg: Any) -> bool:
    return bool(_opt(cfg, "train.model_ema.enabled", False))


def _ema_module():
    # Imported only when EMA is on, so that training without EMA never depends on it.
    try:
        from det.modeling import ema
    except ImportError as e:
        raise UserError(
            f"train.model_ema.enabled=True needs det.modeling.ema, which failed to import ({e})."
        ) from None
    return ema


def _build_evaluator(cfg: Any) -> Any:
    """Instantiates ``dataloader.evaluator``; one that takes ``output_dir`` and has none set
    writes its predictions to ``<train.output_dir>/inference`` (as detectron2's train_net does)."""
    evaluator = cfg.dataloader.evaluator
    if isinstance(evaluator, DictConfig) and "_target_" in evaluator:
        target = evaluator._target_
        target = locate(target) if isinstance(target, str) else target
        takes_output_dir = "output_dir" in inspect.signature(target).parameters
        if takes_output_dir and OmegaConf.select(evaluator, "output_dir") is None:
            # Set in place: a copy would lose the node's parent, which its relative
            # interpolations (``${..test.dataset.names}``) resolve against.
            evaluator.output_dir = os.path.join(str(cfg.train.output_dir), "inference")
    return instantiate(evaluator)


def do_test(cfg: Any, model: torch.nn.Module, eval_only: bool = False) -> dict:
    """Evaluates ``model`` on ``dataloader.test`` with ``dataloader.evaluator``.

    During training with EMA enabled, the raw weights are evaluated first, then the EMA weights
    (restored afterwards). As in EVA-02 the EMA results take the task keys of the returned dict
    (``bbox/AP`` in metrics.json is the EMA's); unlike EVA-02, which dropped them, the raw
    results are kept under ``raw`` (``raw/bbox/AP``).

    Returns:
        dict: the evaluator's results on the main process, ``{}`` elsewhere.
    """
    if "evaluator" not in cfg.dataloader:
        logger.warning("The config has no dataloader.evaluator; skipping evaluation.")
        return {}
    if eval_only:
        logger.info("Run evaluation under eval-only mode")
        use_ema = _ema_enabled(cfg) and bool(
            _opt(cfg, "train.model_ema.use_ema_weights_for_eval_only", False)
        )
        logger.info(f"Run evaluation {'with' if use_ema else 'without'} EMA.")
    else:
        logger.info("Run evaluation without EMA.")
    ret = inference_on_dataset(model, instantiate(cfg.dataloader.test), _build_evaluator(cfg))
    print_csv_format(ret)
    if not eval_only and _ema_enabled(cfg):
        logger.info("Run evaluation with EMA.")
        ema = _ema_module()
        with ema.apply_model_ema_and_restore(model):
            ema_ret = inference_on_dataset(
                model, instantiate(cfg.dataloader.test), _build_evaluator(cfg)
            )
            print_csv_format(ema_ret)
        ret = {**ema_ret, "raw": ret}
    return ret


def _build_model(cfg: Any) -> torch.nn.Module:
    device = str(cfg.train.device)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(
            f"train.device='{device}' but CUDA is not available on this machine; run on a GPU "
            "machine or add the override train.device=cpu."
        )
    model = instantiate(cfg.model)
    logger.info(f"Model:\n{model}")
    return model.to(device)


def _make_trainer(cfg: Any, model: torch.nn.Module, loader: Any, optimizer: Any):
    clip_norm = None
    if _opt(cfg, "train.clip_grad.enabled", False):
        clip_norm = float(cfg.train.clip_grad.max_norm)
    if cfg.train.amp.enabled:
        return AMPTrainer(
            model,
            loader,
            optimizer,
            precision=str(_opt(cfg, "train.amp.precision", "float16")),
            clip_grad_norm=clip_norm,
            grad_scaler_args=_to_dict(_opt(cfg, "train.amp.grad_scaler", {})),
        )
    return SimpleTrainer(model, loader, optimizer, clip_grad_norm=clip_norm)


def do_train(args: argparse.Namespace, cfg: Any) -> None:
    """Trains with the hooks of detectron2's LazyConfig recipe (plus EMA when enabled).

    Hooks, in order: IterationTimer, EMAHook (EMA only), LRScheduler, PeriodicCheckpointer
    (main process), EvalHook, PeriodicWriter (main process). With ``--resume`` and an existing
    ``<output_dir>/last_checkpoint`` everything is restored from it and training continues at
    the next iteration; otherwise the weights of ``train.init_checkpoint`` are loaded.
    """
    model = _build_model(cfg)
    cfg.optimizer.params.model = model
    optimizer = instantiate(cfg.optimizer)
    train_loader = instantiate(cfg.dataloader.train)
    model = create_ddp_model(model, **cfg.train.ddp)

    ema = _ema_module() if _ema_enabled(cfg) else None
    ema_checkpointables: dict = {}
    if ema is not None:
        ema.may_build_model_ema(cfg, model)
        ema_checkpointables = ema.may_get_ema_checkpointer(cfg, model)

    trainer = _make_trainer(cfg, model, train_loader, optimizer)
    checkpointer = DetectionCheckpointer(
        model, cfg.train.output_dir, trainer=trainer, **ema_checkpointables
    )
    trainer.register_hooks(
        [
            hooks.IterationTimer(),
            hooks.EMAHook(cfg, model) if ema is not None else None,
            hooks.LRScheduler(scheduler=instantiate(cfg.lr_multiplier)),
            hooks.PeriodicCheckpointer(checkpointer, **cfg.train.checkpointer)
            if comm.is_main_process()
            else None,
            hooks.EvalHook(cfg.train.eval_period, lambda: do_test(cfg, model)),
            hooks.PeriodicWriter(
                default_writers(cfg.train.output_dir, cfg.train.max_iter, use_wandb=args.wandb),
                period=cfg.train.log_period,
            )
            if comm.is_main_process()
            else None,
        ]
    )
    resuming = args.resume and checkpointer.has_checkpoint()
    checkpointer.resume_or_load(cfg.train.init_checkpoint, resume=args.resume)
    start_iter = trainer.iter + 1 if resuming else 0
    trainer.train(start_iter, cfg.train.max_iter)


def do_eval_only(args: argparse.Namespace, cfg: Any) -> dict:
    """Loads ``train.init_checkpoint`` (with ``--resume``: the output directory's
    last_checkpoint when there is one), optionally swaps in the EMA weights, evaluates."""
    model = _build_model(cfg)
    model = create_ddp_model(model)
    ema = _ema_module() if _ema_enabled(cfg) else None
    ema_checkpointables: dict = {}
    if ema is not None:
        ema.may_build_model_ema(cfg, model)
        ema_checkpointables = ema.may_get_ema_checkpointer(cfg, model)
    checkpointer = DetectionCheckpointer(model, cfg.train.output_dir, **ema_checkpointables)
    path = cfg.train.init_checkpoint
    if args.resume and checkpointer.has_checkpoint():
        path = checkpointer.get_checkpoint_file()
        logger.info(f"--resume: evaluating {path} (named in last_checkpoint).")
    checkpointer.load(path)
    if ema is not None and _opt(cfg, "train.model_ema.use_ema_weights_for_eval_only", False):
        ema.apply_model_ema(model)
    return do_test(cfg, model, eval_only=True)


def load_config(args: argparse.Namespace) -> Any:
    """Loads ``--config-file`` and applies the overrides.

    Raises:
        UserError / ConfigError: missing or failing config file, bad override.
    """
    if not args.config_file:
        raise UserError("No config given: pass --config-file path/to/config.py.")
    flags = [opt for opt in args.opts if opt.startswith("--")]
    if flags:
        raise UserError(
            f"{flags[0]} appears after the config overrides, where it would be read as an "
            "override; put all --flags before the key=value overrides."
        )
    cfg = LazyConfig.apply_overrides(LazyConfig.load(args.config_file), args.opts)
    if getattr(args, "aug_test", False):
        apply_aug_test(cfg)
    return cfg


def _check_init_checkpoint(cfg: Any, args: argparse.Namespace) -> None:
    # Fails before the (possibly slow) model build and process spawn.
    path = str(_opt(cfg, "train.init_checkpoint", ""))
    if not path or "://" in path or os.path.isfile(path):
        return
    output_dir = str(_opt(cfg, "train.output_dir", ""))
    if args.resume and os.path.isfile(os.path.join(output_dir, "last_checkpoint")):
        return
    raise CheckpointNotFoundError(
        f"train.init_checkpoint '{path}' does not exist (resolved to '{os.path.abspath(path)}'). "
        "Give an existing checkpoint file, or train.init_checkpoint='' to start from scratch."
    )


def main(args: argparse.Namespace) -> None:
    """Runs in every process: loads the config, sets up the run, trains or evaluates."""
    cfg = load_config(args)
    check_train_config(cfg)
    _check_init_checkpoint(cfg, args)
    default_setup(cfg, args)
    if args.eval_only:
        print(do_eval_only(args, cfg))
    else:
        do_train(args, cfg)


def _user_error_message(error: BaseException) -> str:
    prefix = f"[rank {comm.get_rank()}] " if comm.get_world_size() > 1 else ""
    return f"{prefix}Error: {str(error).strip()}"


def _main_reporting_user_errors(args: argparse.Namespace) -> None:
    try:
        main(args)
    except (UserError, ConfigError) as e:
        print(_user_error_message(e), file=sys.stderr, flush=True)
        sys.exit(_USER_ERROR_EXIT)


def invoke_main(argv: list[str] | None = None) -> None:
    """Parses the command line, checks the config, and launches :func:`main`."""
    args = default_argument_parser().parse_args(argv)
    try:
        if args.num_gpus * args.num_machines > 1:
            # Validate before spawning, so that a broken config fails once, not per process.
            cfg = load_config(args)
            check_train_config(cfg)
            _check_init_checkpoint(cfg, args)
        launch(
            _main_reporting_user_errors,
            args.num_gpus,
            num_machines=args.num_machines,
            machine_rank=args.machine_rank,
            dist_url=args.dist_url,
            args=(args,),
        )
    except (UserError, ConfigError) as e:
        print(_user_error_message(e), file=sys.stderr, flush=True)
        sys.exit(_USER_ERROR_EXIT)
    except torch.multiprocessing.ProcessExitedException as e:
        # A worker stopped on a user error and has printed it already.
        if e.exit_code == _USER_ERROR_EXIT:
            sys.exit(_USER_ERROR_EXIT)
        raise


if __name__ == "__main__":
    invoke_main()
