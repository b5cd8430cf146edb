"""tools/visualize_json_results.py and tools/visualize_data.py as subprocesses."""

import json
import os

import numpy as np
import pytest
from PIL import Image
from tools_testutil import load_tool, run_tool

from det.data import DatasetCatalog, MetadataCatalog
from det.data.detection_utils import read_image

pytestmark = pytest.mark.slow

GAP = 8  # between the prediction and ground-truth panels


def _png(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def _by_stem(dataset: str) -> dict:
    return {
        os.path.splitext(os.path.basename(d["file_name"]))[0]: d
        for d in DatasetCatalog.get(dataset)
    }


def test_visualize_json_results_detection(det_run, tools_env, registered_root, tmp_path):
    out = tmp_path / "vis"
    args = ["--input", det_run.predictions, "--dataset", "synthetic_coco_val"]
    args += ["--output", str(out), "--conf-threshold", "0.1", "--max-images", "2"]
    proc = run_tool("visualize_json_results.py", args, tools_env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    pngs = sorted(os.listdir(out))
    assert len(pngs) == 2
    dicts = _by_stem("synthetic_coco_val")
    with open(det_run.predictions) as f:
        results = json.load(f)
    for name in pngs:
        dic = dicts[os.path.splitext(name)[0]]
        image = read_image(dic["file_name"], format="RGB")
        h, w = image.shape[:2]
        panel = _png(out / name)
        assert panel.shape == (h, 2 * w + GAP, 3)
        pred, gt = panel[:, :w], panel[:, w + GAP :]
        box = next(
            r["bbox"] for r in results if r["image_id"] == dic["image_id"] and r["score"] >= 0.1
        )
        x, y, bw, bh = (int(v) for v in box)
        assert (pred[y : y + bh, x : x + bw] != image[y : y + bh, x : x + bw]).any()
        for anno in dic["annotations"]:
            x, y, bw, bh = (int(v) for v in anno["bbox"])
            assert (gt[y : y + bh, x : x + bw] != image[y : y + bh, x : x + bw]).any()
        if not dic["annotations"]:
            assert np.array_equal(gt, image)


def test_visualize_json_results_segmentation(seg_run, tools_env, registered_root, tmp_path):
    out = tmp_path / "vis"
    dataset = seg_run.val_dataset
    args = ["--input", seg_run.predictions, "--dataset", dataset, "--output", str(out)]
    proc = run_tool("visualize_json_results.py", [*args, "--max-images", "2"], tools_env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    dicts = _by_stem(dataset)
    pngs = sorted(os.listdir(out))
    assert pngs == sorted(f"{s}.png" for s in dicts)[:2]
    for png in pngs:
        image = read_image(dicts[os.path.splitext(png)[0]]["file_name"], format="RGB")
        h, w = image.shape[:2]
        panel = _png(out / png)
        assert panel.shape[0] >= h and panel.shape[1] > 2 * w + GAP  # two legends
        assert (panel[:h, :w] != image).any(axis=2).mean() > 0.5


def test_visualize_json_results_wrong_dataset(det_run, registered_root, tmp_path, capsys):
    tool = load_tool("visualize_json_results")
    args = ["--input", det_run.predictions, "--dataset", "synthetic_coco_train"]
    assert tool.main([*args, "--output", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "No prediction" in err and "synthetic_coco_train" in err


def test_visualize_data_detection(det_run, tools_env, registered_root, tmp_path):
    base = ["--config-file", det_run.config, "--num-images", "3"]
    out = tmp_path / "loader"
    proc = run_tool(
        "visualize_data.py", [*base, "--output", str(out), *det_run.overrides], tools_env
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    pngs = sorted(os.listdir(out))
    assert len(pngs) == 3
    colors = {tuple(c) for c in MetadataCatalog.get("synthetic_coco_train").thing_colors}
    drawn = [_png(out / p) for p in pngs]
    # LSJ output: at most the 192 x 192 crop; box outlines use the exact class colors.
    assert all(d.shape[0] <= 192 and d.shape[1] <= 192 for d in drawn)
    assert any({tuple(p) for p in d.reshape(-1, 3)} & colors for d in drawn)

    out = tmp_path / "annotation"
    args = [*base, "--source", "annotation", "--output", str(out), *det_run.overrides]
    assert load_tool("visualize_data").main(args) == 0
    dicts = DatasetCatalog.get("synthetic_coco_train")[:3]
    for name, dic in zip(sorted(os.listdir(out)), dicts):
        assert name.endswith(os.path.splitext(os.path.basename(dic["file_name"]))[0] + ".png")
        image = read_image(dic["file_name"], format="RGB")
        vis = _png(out / name)
        assert vis.shape == image.shape
        for anno in dic["annotations"]:
            x, y, bw, bh = (int(v) for v in anno["bbox"])
            assert (vis[y : y + bh, x : x + bw] != image[y : y + bh, x : x + bw]).any()


def test_visualize_data_segmentation(seg_run, tools_env, registered_root, tmp_path):
    out = tmp_path / "loader"
    args = ["--config-file", seg_run.config, "--num-images", "2", "--output", str(out)]
    proc = run_tool("visualize_data.py", [*args, *seg_run.overrides], tools_env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    pngs = sorted(os.listdir(out))
    assert len(pngs) == 2
    for p in pngs:
        vis = _png(out / p)
        # The crop (at most 128 x 128) plus a legend panel: white margin, black swatch outlines.
        assert (vis[:, -5:] == 255).all()
        assert (vis == 0).all(axis=2).any()
