"""tools/demo.py as a subprocess: PNGs, predictions JSON equal to Predictor's, bad inputs."""

import json
import os
import shutil

import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch
from PIL import Image
from tools_testutil import load_tool, run_tool

from det.data import DatasetCatalog
from det.data.detection_utils import read_image
from det.engine import Predictor

pytestmark = pytest.mark.slow

THRESHOLD = 0.1


def _inputs_folder(dataset: str, tmp_path, n: int = 2) -> tuple[str, list[str]]:
    """A folder with ``n`` images of ``dataset`` and one broken ``.jpg``."""
    folder = tmp_path / "inputs"
    folder.mkdir()
    files = []
    for dic in DatasetCatalog.get(dataset)[:n]:
        dst = folder / os.path.basename(dic["file_name"])
        shutil.copy(dic["file_name"], dst)
        files.append(str(dst))
    (folder / "zz_broken.jpg").write_bytes(b"\xff\xd8 truncated")
    return str(folder), files


def _run_demo(run, env, inputs, out, extra=()):
    args = [
        "--config-file",
        run.config,
        "--input",
        *inputs,
        "--output",
        str(out),
        "--confidence-threshold",
        str(THRESHOLD),
        *extra,
        "--opts",
        f"train.init_checkpoint={run.checkpoint}",
        *run.overrides,
    ]
    return run_tool("demo.py", args, env)


def _load(out) -> dict:
    with open(os.path.join(out, "predictions.json")) as f:
        return json.load(f)


def test_demo_detection(det_run, tools_env, registered_root, tmp_path):
    folder, files = _inputs_folder("synthetic_coco_val", tmp_path)
    out = tmp_path / "out"
    proc = _run_demo(det_run, tools_env, [folder], out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "zz_broken.jpg" in proc.stderr  # reported by name, then skipped
    result = _load(out)
    assert [r["file_name"] for r in result["images"]] == files
    assert [os.path.basename(s["file_name"]) for s in result["skipped"]] == ["zz_broken.jpg"]

    predictor = Predictor(det_run.config, det_run.checkpoint, overrides=det_run.overrides)
    for record in result["images"]:
        expected = predictor(record["file_name"])["instances"].to("cpu")
        expected = expected[expected.scores >= THRESHOLD]
        dets = record["instances"]
        assert len(dets) == len(expected) > 0
        np.testing.assert_allclose([d["bbox"] for d in dets], expected.pred_boxes.tensor.numpy())
        np.testing.assert_allclose([d["score"] for d in dets], expected.scores.numpy())
        assert [d["category_id"] for d in dets] == expected.pred_classes.tolist()
        names = ["person", "car", "dog"]
        assert [d["category_name"] for d in dets] == [names[c] for c in expected.pred_classes]
        masks = mask_util.decode([d["segmentation"] for d in dets]).transpose(2, 0, 1)
        assert np.array_equal(masks.astype(bool), expected.pred_masks.numpy())

        # The drawing has the input's size and differs from it inside the detected boxes.
        image = read_image(record["file_name"], format="RGB")
        drawn = np.asarray(Image.open(record["visualization"]).convert("RGB"))
        assert drawn.shape == image.shape
        x0, y0, x1, y1 = (int(v) for v in expected.pred_boxes.tensor[0])
        assert (drawn[y0:y1, x0:x1] != image[y0:y1, x0:x1]).any()
        assert (drawn != image).mean() < 0.999  # not everything repainted


def test_demo_segmentation(seg_run, tools_env, registered_root, tmp_path):
    dataset = seg_run.val_dataset
    file_name = DatasetCatalog.get(dataset)[0]["file_name"]
    out = tmp_path / "out"
    proc = _run_demo(seg_run, tools_env, [file_name], out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (record,) = _load(out)["images"]

    predictor = Predictor(seg_run.config, seg_run.checkpoint, overrides=seg_run.overrides)
    labels = predictor(file_name)["sem_seg"].argmax(dim=0).numpy()
    classes = record["sem_seg"]
    assert [c["category_id"] for c in classes] == np.unique(labels).tolist()
    assert sum(c["pixels"] for c in classes) == labels.size
    for c in classes:
        mask = mask_util.decode(c["segmentation"]).astype(bool)
        assert np.array_equal(mask, labels == c["category_id"])
        assert c["category_name"] == predictor.metadata.stuff_classes[c["category_id"]]

    image = read_image(file_name, format="RGB")
    drawn = np.asarray(Image.open(record["visualization"]).convert("RGB"))
    h, w = image.shape[:2]
    assert drawn.shape[0] >= h and drawn.shape[1] > w  # legend panel on the right
    assert (drawn[:h, :w] != image).any(axis=2).mean() > 0.5  # the overlay covers the image


def test_demo_bad_inputs(det_run, registered_root, tmp_path, capsys):
    demo = load_tool("demo")
    args = ["--config-file", det_run.config, "--output", str(tmp_path / "out")]
    assert demo.main([*args, "--input", str(tmp_path / "*.jpg")]) == 2
    err = capsys.readouterr().err
    assert "matches no image" in err and "*.jpg" in err

    state = torch.load(det_run.checkpoint, map_location="cpu", weights_only=True)
    for key in [k for k in state["model"] if k.startswith("roi_heads.box_predictor.")]:
        del state["model"][key]
    partial = tmp_path / "partial.pth"
    torch.save(state, partial)
    image = tmp_path / "img.png"
    Image.fromarray(np.zeros((32, 32, 3), dtype=np.uint8)).save(image)
    opts = ["--opts", f"train.init_checkpoint={partial}", *det_run.overrides]
    assert demo.main([*args, "--input", str(image), *opts]) == 2
    err = capsys.readouterr().err
    assert "missing keys" in err and "roi_heads.box_predictor" in err
