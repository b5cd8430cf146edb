"""inference_on_dataset: modes, no_grad, autocast, callbacks, logging, and 2-process gathering."""

import json
import logging
import math
import os

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from evaluation_testdata import LogCapture, make_gt, make_predictions, to_instances
from torch import nn

from det.evaluation import DatasetEvaluator, DatasetEvaluators, inference_on_dataset
from det.evaluation.evaluator import gather_to_main


class _Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(2, 2))
        self.seen = []

    def forward(self, batch):
        out = torch.ones(1, 2) @ self.weight
        self.seen.append(
            {
                "training": self.training,
                "grad": torch.is_grad_enabled(),
                "dtype": out.dtype,
            }
        )
        return [{"value": x["x"] * 2} for x in batch]


class _Recorder(DatasetEvaluator):
    def __init__(self, key="rec"):
        self.key = key
        self.values = []

    def reset(self):
        self.values = []

    def process(self, inputs, outputs):
        self.values += [o["value"] for o in outputs]

    def evaluate(self):
        return {self.key: {"sum": float(sum(self.values)), "count": len(self.values)}}


def _loader(n=9, batch=2):
    return [[{"x": i + j} for j in range(batch)] for i in range(0, n * batch, batch)]


def test_modes_results_callbacks_and_timing_lines():
    model = _Model().train()
    calls = []
    callbacks = {
        k: (lambda k=k: calls.append(k))
        for k in ("on_start", "before_inference", "after_inference", "on_end")
    }
    logger = logging.getLogger("det.evaluation.evaluator")
    handler = LogCapture()
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        results = inference_on_dataset(model, _loader(), _Recorder(), callbacks=callbacks)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    expected = sum(2 * x["x"] for batch in _loader() for x in batch)
    assert results == {"rec": {"sum": float(expected), "count": 18}}
    assert model.training  # restored
    assert torch.is_grad_enabled()
    assert all(not s["training"] and not s["grad"] for s in model.seen)
    assert calls[0] == "on_start" and calls[-1] == "on_end"
    assert calls[1:-1] == ["before_inference", "after_inference"] * 9
    assert handler.messages[0] == "Start inference on 9 batches"
    total, compute = handler.messages[-2:]
    # 9 batches, 5 warm-up iterations left out of the per-iteration numbers
    assert total.startswith("Total inference time: 0:00:")
    assert total.endswith(" s / iter per device, on 1 devices)")
    assert compute.startswith("Total inference pure compute time: 0:00:00 (")


def test_eval_mode_model_stays_in_eval_and_no_evaluator():
    model = _Model().eval()
    assert inference_on_dataset(model, _loader(3), None) == {}
    assert not model.training
    assert len(model.seen) == 3


def test_autocast_dtype():
    model = _Model()
    inference_on_dataset(model, _loader(2), None, autocast_dtype=torch.bfloat16)
    assert [s["dtype"] for s in model.seen] == [torch.bfloat16] * 2
    model.seen.clear()
    inference_on_dataset(model, _loader(2), None)
    assert [s["dtype"] for s in model.seen] == [torch.float32] * 2


def test_list_of_evaluators_and_duplicate_keys():
    results = inference_on_dataset(_Model(), _loader(2), [_Recorder("a"), _Recorder("b")])
    assert list(results) == ["a", "b"]
    with pytest.raises(KeyError, match="task 'a'"):
        DatasetEvaluators([_Recorder("a"), _Recorder("a")]).evaluate()


CAT_IDS = [1, 2, 3]


def _coco_setup(root):
    from det.data.catalog import MetadataCatalog

    rng = np.random.default_rng(5)
    gt = make_gt(rng, 14, CAT_IDS)
    preds = make_predictions(rng, gt, CAT_IDS)
    json_file = os.path.join(root, "gt.json")
    if not os.path.exists(json_file):
        with open(json_file, "w") as f:
            json.dump(gt, f)
    name = "test_inference_ddp_coco"
    if name not in MetadataCatalog.list():
        MetadataCatalog.get(name).set(
            json_file=json_file,
            thing_classes=["a", "b", "c"],
            thing_dataset_id_to_contiguous_id={c: i for i, c in enumerate(CAT_IDS)},
        )
    return name, preds


class _PredictionModel(nn.Module):
    def __init__(self, preds):
        super().__init__()
        self.by_id = {p["image_id"]: p for p in preds}

    def forward(self, batch):
        return [{"instances": to_instances(self.by_id[x["image_id"]])} for x in batch]


def _run_coco(name, preds, rank, world_size):
    from det.evaluation import COCOEvaluator

    # InferenceSampler-style contiguous shards of unequal size (14 images over 2 ranks: 7 + 7,
    # batch 3 leaves ragged batches).
    ids = [p["image_id"] for p in preds]
    per_rank = math.ceil(len(ids) / world_size)
    shard = ids[rank * per_rank : (rank + 1) * per_rank]
    loader = [[{"image_id": i} for i in shard[j : j + 3]] for j in range(0, len(shard), 3)]
    return inference_on_dataset(_PredictionModel(preds), loader, COCOEvaluator(name))


def _ddp_worker(rank, root):
    dist.init_process_group(
        "gloo", init_method=f"file://{os.path.join(root, 'init')}", rank=rank, world_size=2
    )
    try:
        name, preds = _coco_setup(root)
        results = _run_coco(name, preds, rank, 2)
        items = [(rank, i) for i in range(5 if rank == 0 else 2)]
        gathered = gather_to_main(items, items_per_round=2)
        if rank == 0:
            with open(os.path.join(root, "rank0.json"), "w") as f:
                json.dump({"results": results, "gathered": gathered}, f)
        else:
            assert results == {} and gathered is None
    finally:
        dist.destroy_process_group()


@pytest.mark.slow  # spawns two interpreters that import torch
def test_two_process_gather_equals_single_process(tmp_path):
    root = str(tmp_path)
    mp.start_processes(_ddp_worker, args=(root,), nprocs=2, join=True, start_method="spawn")
    with open(tmp_path / "rank0.json") as f:
        out = json.load(f)
    assert out["gathered"] == [[0, 0], [0, 1], [0, 2], [0, 3], [0, 4], [1, 0], [1, 1]]
    name, preds = _coco_setup(root)
    single = _run_coco(name, preds, 0, 1)
    assert list(out["results"]) == ["bbox", "segm"]
    for task in ("bbox", "segm"):
        for metric, value in single[task].items():
            got = out["results"][task][metric]
            assert got == value or (math.isnan(got) and math.isnan(value)), (task, metric)
