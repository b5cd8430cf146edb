"""The evaluator protocol and the loop that runs a model over a test set.

``inference_on_dataset`` is what ``do_test`` in ``tools/lazyconfig_train_net.py`` calls: it feeds
every batch of a test loader to the model in eval mode under ``torch.no_grad()``, hands inputs and
outputs to an evaluator, and prints detectron2's progress and timing lines. Under DDP each rank runs
its own shard of the test set (the test loader's ``InferenceSampler`` does the sharding) and the
evaluator's ``evaluate()`` gathers what it needs; only the main rank returns the metrics.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections import OrderedDict, abc
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import torch
from torch import nn

from det.utils import comm
from det.utils.logger import log_every_n_seconds

__all__ = [
    "DatasetEvaluator",
    "DatasetEvaluators",
    "inference_on_dataset",
    "inference_context",
    "gather_to_main",
]

logger = logging.getLogger(__name__)

# The first batches include cudnn autotuning, lazy allocations and worker start-up; detectron2
# leaves up to 5 of them out of the per-iteration timings.
_NUM_WARMUP_ITERS = 5
_LOG_PERIOD_SECONDS = 5


class DatasetEvaluator:
    """Base class of a dataset evaluator.

    The evaluation loop calls :meth:`reset` once, :meth:`process` once per batch with the model's
    inputs and outputs, and :meth:`evaluate` once at the end. Subclasses accumulate whatever they
    need in :meth:`process` and turn it into metrics in :meth:`evaluate`.
    """

    def reset(self) -> None:
        """Prepare for a new round of evaluation (clear accumulated state)."""

    def process(self, inputs: list[dict], outputs: list[dict]) -> None:
        """Consume one batch.

        Args:
            inputs: the model inputs (one dict per image, with ``image_id``, ``file_name``,
                ``height``, ``width``, ...).
            outputs: the model outputs, aligned with ``inputs`` (e.g. ``{"instances": Instances}``
                or ``{"sem_seg": Tensor[K, H, W]}``).
        """

    def evaluate(self) -> dict | None:
        """Compute the metrics from everything processed since :meth:`reset`.

        Returns:
            ``{task: {metric: value}}`` (e.g. ``{"bbox": {"AP": 41.2, ...}}``); may be empty or
            ``None`` on non-main ranks when the evaluator gathers to the main rank.
        """
        return None


class DatasetEvaluators(DatasetEvaluator):
    """Runs several evaluators on the same batches and merges their results.

    Args:
        evaluators: the evaluators to call in order. Their result dicts must not share a task key.
    """

    def __init__(self, evaluators: Sequence[DatasetEvaluator]) -> None:
        super().__init__()
        self._evaluators = list(evaluators)

    def reset(self) -> None:
        for evaluator in self._evaluators:
            evaluator.reset()

    def process(self, inputs: list[dict], outputs: list[dict]) -> None:
        for evaluator in self._evaluators:
            evaluator.process(inputs, outputs)

    def evaluate(self) -> OrderedDict:
        results: OrderedDict = OrderedDict()
        for evaluator in self._evaluators:
            result = evaluator.evaluate()
            if not comm.is_main_process() or result is None:
                continue
            for key, value in result.items():
                if key in results:
                    raise KeyError(
                        f"Two evaluators both produced results for task '{key}' "
                        f"({type(evaluator).__name__} is the second); task keys must be unique."
                    )
                results[key] = value
        return results


@contextmanager
def inference_context(model: nn.Module) -> Iterator[None]:
    """Put ``model`` in eval mode for the duration of the block, then restore its training flag."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _model_device_type(model: Any) -> str:
    if isinstance(model, nn.Module):
        for tensor in model.parameters():
            return tensor.device.type
        for tensor in model.buffers():
            return tensor.device.type
    return "cuda" if torch.cuda.is_available() else "cpu"


def _call(callbacks: dict[str, Callable[[], None]] | None, name: str) -> None:
    if callbacks and name in callbacks:
        callbacks[name]()


def inference_on_dataset(
    model: nn.Module | Callable[[list[dict]], list[dict]],
    data_loader: Iterable[list[dict]],
    evaluator: DatasetEvaluator | Sequence[DatasetEvaluator] | None,
    callbacks: dict[str, Callable[[], None]] | None = None,
    autocast_dtype: torch.dtype | None = None,
) -> dict:
    """Run ``model`` on every batch of ``data_loader`` and evaluate the outputs.

    The model runs in eval mode (its previous train/eval mode is restored afterwards) under
    ``torch.no_grad()``. Progress with an ETA is logged every few seconds; at the end the total and
    the pure-compute time per iteration are logged exactly as detectron2 prints them. The first
    ``min(5, len(data_loader) - 1)`` iterations are left out of the timings (warm-up).

    Under DDP every rank must call this with its own shard of the data; the evaluator's
    ``evaluate()`` then gathers across ranks and only the main rank gets the metrics.

    Args:
        model: a module (or any callable) mapping a list of input dicts to a list of output dicts.
        data_loader: an iterable of batches with a fixed ``len()`` (a test loader).
        evaluator: a :class:`DatasetEvaluator`, a list of them, or ``None`` to only run the model
            (benchmarking inference).
        callbacks: optional functions called without arguments at ``"on_start"``,
            ``"before_inference"``, ``"after_inference"`` and ``"on_end"``.
        autocast_dtype: when set (e.g. ``torch.bfloat16``), the model runs under
            ``torch.autocast`` with this dtype on the model's device type. ``None`` (default, as
            the EVA-02 fork evaluates) runs in full precision.

    Returns:
        The evaluator's results (``{}`` when there is none, and on non-main ranks).
    """
    num_devices = comm.get_world_size()
    total = len(data_loader)  # type: ignore[arg-type]
    logger.info(f"Start inference on {total} batches")

    if evaluator is None:
        evaluator = DatasetEvaluators([])
    elif isinstance(evaluator, abc.MutableSequence):
        evaluator = DatasetEvaluators(evaluator)
    evaluator.reset()

    num_warmup = min(_NUM_WARMUP_ITERS, total - 1)
    start_time = time.perf_counter()
    total_data_time = total_compute_time = total_eval_time = 0.0
    with ExitStack() as stack:
        if isinstance(model, nn.Module):
            stack.enter_context(inference_context(model))
        stack.enter_context(torch.no_grad())
        device_type = _model_device_type(model)
        _call(callbacks, "on_start")
        start_data_time = time.perf_counter()
        for idx, inputs in enumerate(data_loader):
            total_data_time += time.perf_counter() - start_data_time
            if idx == num_warmup:
                start_time = time.perf_counter()
                total_data_time = total_compute_time = total_eval_time = 0.0

            start_compute_time = time.perf_counter()
            _call(callbacks, "before_inference")
            if autocast_dtype is not None:
                with torch.autocast(device_type=device_type, dtype=autocast_dtype):
                    outputs = model(inputs)
            else:
                outputs = model(inputs)
            _call(callbacks, "after_inference")
            if device_type == "cuda":
                # CUDA launches are asynchronous; without this the compute time would leak into
                # the evaluator's time.
                torch.cuda.synchronize()
            total_compute_time += time.perf_counter() - start_compute_time

            start_eval_time = time.perf_counter()
            evaluator.process(inputs, outputs)
            total_eval_time += time.perf_counter() - start_eval_time

            iters_after_start = idx + 1 - num_warmup * int(idx >= num_warmup)
            data_per_iter = total_data_time / iters_after_start
            compute_per_iter = total_compute_time / iters_after_start
            eval_per_iter = total_eval_time / iters_after_start
            if idx >= num_warmup * 2 or compute_per_iter > 5:
                total_per_iter = (time.perf_counter() - start_time) / iters_after_start
                eta = datetime.timedelta(seconds=int(total_per_iter * (total - idx - 1)))
                log_every_n_seconds(
                    logging.INFO,
                    f"Inference done {idx + 1}/{total}. Dataloading: {data_per_iter:.4f} s/iter. "
                    f"Inference: {compute_per_iter:.4f} s/iter. Eval: {eval_per_iter:.4f} s/iter. "
                    f"Total: {total_per_iter:.4f} s/iter. ETA={eta}",
                    n=_LOG_PERIOD_SECONDS,
                    name=__name__,
                )
            start_data_time = time.perf_counter()
        _call(callbacks, "on_end")

    total_time = time.perf_counter() - start_time
    num_timed = max(total - num_warmup, 1)
    logger.info(
        f"Total inference time: {datetime.timedelta(seconds=total_time)} "
        f"({total_time / num_timed:.6f} s / iter per device, on {num_devices} devices)"
    )
    logger.info(
        "Total inference pure compute time: "
        f"{datetime.timedelta(seconds=int(total_compute_time))} "
        f"({total_compute_time / num_timed:.6f} s / iter per device, on {num_devices} devices)"
    )

    results = evaluator.evaluate()
    # Non-main ranks get None from gathering evaluators; callers index the result, so return {}.
    return {} if results is None else results


# Images per gather round: bounds the transient pickled payload on the main rank to about
# world_size * this many images' predictions instead of everything at once.
_GATHER_ITEMS_PER_ROUND = 256


def gather_to_main(items: list, items_per_round: int = _GATHER_ITEMS_PER_ROUND) -> list | None:
    """Gather every rank's list onto the main rank, a bounded number of items per round.

    ``comm.gather`` in one call makes the main rank hold every rank's pickled payload plus the
    unpickled copies at the same time, which is what makes LVIS evaluation run out of host memory
    (ashkamath/mdetr#40). Here each round gathers at most ``items_per_round`` items from each rank,
    so the transient buffers stay small; the evaluators keep their items compact (NumPy arrays and
    RLE strings rather than one Python dict per detection) so the final list is small too.

    Must be called by every rank. Collective even when some ranks have fewer items.

    Args:
        items: this rank's items (any picklable objects, e.g. one record per image).
        items_per_round: how many items each rank sends per round.

    Returns:
        On the main rank, all items ordered by rank, then by position in the rank's list (the order
        a single ``comm.gather`` would give); ``None`` on the other ranks.
    """
    if comm.get_world_size() == 1:
        return list(items)
    if items_per_round < 1:
        raise ValueError(f"gather_to_main: items_per_round must be >= 1, got {items_per_round}")
    lengths = comm.all_gather(len(items))
    num_rounds = -(-max(lengths) // items_per_round)
    per_rank: list[list] = [[] for _ in lengths]
    for round_idx in range(num_rounds):
        start = round_idx * items_per_round
        received = comm.gather(items[start : start + items_per_round], dst=0)
        if comm.is_main_process():
            for rank, chunk in enumerate(received):
                per_rank[rank].extend(chunk)
    if not comm.is_main_process():
        return None
    return [item for rank_items in per_rank for item in rank_items]
