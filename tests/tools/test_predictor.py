"""det.engine.Predictor: same outputs as inference_on_dataset, input formats, bad checkpoints."""

import numpy as np
import pytest
import torch
from PIL import Image

from det.checkpoint import CheckpointNotFoundError
from det.config import instantiate
from det.data import DatasetCatalog, build_detection_test_loader
from det.data.detection_utils import read_image
from det.engine import Predictor
from det.engine.predictor import CheckpointMismatchError, MissingWeightsError
from det.evaluation import DatasetEvaluator, inference_on_dataset
from det.structures import pairwise_iou

pytestmark = pytest.mark.slow


class _Recorder(DatasetEvaluator):
    def reset(self):
        self.outputs = {}

    def process(self, inputs, outputs):
        for inp, out in zip(inputs, outputs):
            self.outputs[inp["file_name"]] = out

    def evaluate(self):
        return {}


def _assert_same_output(a: dict, b: dict, exact: bool = True) -> None:
    """Bitwise equal, or (``exact=False``: a batched forward sums in another order) equal up to
    float32 rounding with at most 0.1% of the mask pixels flipped."""
    assert a.keys() == b.keys()
    tol = {"rtol": 0, "atol": 0} if exact else {"rtol": 1e-5, "atol": 1e-3}
    if "sem_seg" in a:
        torch.testing.assert_close(a["sem_seg"], b["sem_seg"], **tol)
        return
    x, y = a["instances"].to("cpu"), b["instances"].to("cpu")
    assert len(x) > 0 and len(x) == len(y)
    assert x.image_size == y.image_size
    torch.testing.assert_close(x.pred_boxes.tensor, y.pred_boxes.tensor, **tol)
    torch.testing.assert_close(x.scores, y.scores, **tol)
    assert torch.equal(x.pred_classes, y.pred_classes)
    flipped = (x.pred_masks != y.pred_masks).float().mean().item()
    assert flipped == 0 if exact else flipped < 1e-3


def _check_against_inference_on_dataset(run, num_images: int = 2) -> Predictor:
    predictor = Predictor(run.config, run.checkpoint, overrides=run.overrides, device="cpu")
    cfg = predictor.cfg
    dicts = DatasetCatalog.get(cfg.dataloader.test.dataset.names)[:num_images]
    loader = build_detection_test_loader(dicts, mapper=instantiate(cfg.dataloader.test.mapper))
    recorder = _Recorder()
    inference_on_dataset(predictor.model, loader, recorder)
    assert len(recorder.outputs) == num_images
    for dic in dicts:
        expected = recorder.outputs[dic["file_name"]]
        got = predictor(dic["file_name"])
        _assert_same_output(got, expected)
        size = got["instances"].image_size if "instances" in got else got["sem_seg"].shape[-2:]
        with Image.open(dic["file_name"]) as image:
            assert tuple(size) == (image.height, image.width)  # original image coordinates
    return predictor


def test_detector_predictor_equals_inference_on_dataset(det_run, registered_root):
    predictor = _check_against_inference_on_dataset(det_run)
    assert predictor.metadata.thing_classes == ["person", "car", "dog"]
    assert predictor.input_format == "RGB"

    # The same image given as RGB array, BGR array, CHW tensor and batch gives the same result.
    file_name = DatasetCatalog.get("synthetic_coco_val")[0]["file_name"]
    rgb = read_image(file_name, format="RGB")
    reference = predictor(file_name)
    _assert_same_output(predictor(rgb), reference)
    _assert_same_output(predictor(rgb[:, :, ::-1].copy(), input_format="BGR"), reference)
    _assert_same_output(predictor(torch.from_numpy(rgb.copy()).permute(2, 0, 1)), reference)
    batch = predictor.predict_batch([file_name, file_name])
    assert len(batch) == 2
    _assert_same_output(batch[1], reference, exact=False)


def test_segmentation_predictor_equals_inference_on_dataset(seg_run, registered_root):
    predictor = _check_against_inference_on_dataset(seg_run)
    out = predictor(DatasetCatalog.get(predictor.cfg.dataloader.test.dataset.names)[0]["file_name"])
    assert out["sem_seg"].shape[0] == len(predictor.metadata.stuff_classes)


def test_checkpoint_missing_keys_are_named(det_run, registered_root, tmp_path):
    state = torch.load(det_run.checkpoint, map_location="cpu", weights_only=True)
    model_state = state["model"]
    dropped = [k for k in model_state if k.startswith("roi_heads.mask_head.")]
    assert dropped
    for k in dropped:
        del model_state[k]
    path = tmp_path / "partial.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointMismatchError, match=r"missing keys.*roi_heads\.mask_head"):
        Predictor(det_run.config, str(path), overrides=det_run.overrides, device="cpu")


def test_checkpoint_of_another_config_and_no_weights(det_run, registered_root, tmp_path):
    # Narrower pyramid than the checkpoint: shapes differ and are reported, not loaded silently.
    with pytest.raises(CheckpointMismatchError, match="shape mismatches"):
        Predictor(
            det_run.config,
            det_run.checkpoint,
            overrides=[*det_run.overrides, "model.roi_heads.mask_head.conv_dims=[32,32,32]"],
            device="cpu",
        )
    with pytest.raises(MissingWeightsError, match="train.init_checkpoint"):
        Predictor(det_run.config, overrides=det_run.overrides, device="cpu")
    with pytest.raises(CheckpointNotFoundError, match="nope.pth"):
        Predictor(det_run.config, str(tmp_path / "nope.pth"), device="cpu")


def test_unreadable_image_is_named(det_run, registered_root, tmp_path):
    predictor = Predictor(det_run.config, det_run.checkpoint, overrides=det_run.overrides)
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(OSError, match="broken.jpg"):
        predictor(str(bad))
    with pytest.raises(ValueError, match=r"\[H, W, 3\]"):
        predictor(np.zeros((4, 4, 5), dtype=np.uint8))


@pytest.mark.gpu
def test_predictor_on_gpu_matches_cpu(det_run, registered_root):
    file_name = DatasetCatalog.get("synthetic_coco_val")[0]["file_name"]
    cpu = Predictor(det_run.config, det_run.checkpoint, overrides=det_run.overrides, device="cpu")
    gpu = Predictor(det_run.config, det_run.checkpoint, overrides=det_run.overrides, device="cuda")
    out = gpu(file_name)
    assert out["instances"].pred_boxes.tensor.device.type == "cuda"
    expected = cpu(file_name)["instances"]
    got = out["instances"].to("cpu")
    # Kernels differ (TF32, reduction order): every confident CPU detection has a GPU twin.
    confident = expected[expected.scores > expected.scores.max() * 0.9]
    iou = pairwise_iou(confident.pred_boxes, got.pred_boxes)
    assert (iou.max(dim=1).values > 0.9).all()
