#!/usr/bin/env python
"""Draw what the training data loader produces, to check a dataset registration and its
augmentations.

``--source dataloader`` (default) draws the model inputs of ``dataloader.train`` after
augmentation: ``gt_boxes``, ``gt_classes`` and ``gt_masks`` of detection mappers, or the ``sem_seg``
map of segmentation mappers (255 = ignore, not colored). ``--source annotation`` draws the
dataset dicts of ``dataloader.train.dataset`` as registered, without augmentation. Writes
``<output>/<index>_<image stem>.png``. Example::

    python tools/visualize_data.py --config-file cfg.py --output vis_data/ --num-images 16 \\
        dataloader.train.dataset.names=my_dataset_train
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from det.config import ConfigError, LazyConfig, instantiate
from det.data import MetadataCatalog
from det.data.detection_utils import read_image
from det.utils.errors import UserError
from det.utils.visualizer import Visualizer


def _train_dataset_name(cfg: Any) -> str | None:
    names = OmegaConf.select(cfg, "dataloader.train.dataset.names", default=None)
    if names is None:
        return None
    return names if isinstance(names, str) else list(names)[0]


def _to_rgb(image: Any, image_format: str) -> np.ndarray:
    """A model input image (uint8 Tensor[3, H, W] in ``image_format``) as RGB ndarray[H, W, 3]."""
    array = image.permute(1, 2, 0).cpu().numpy()
    return np.ascontiguousarray(array[:, :, ::-1] if image_format == "BGR" else array)


def draw_model_input(inp: dict, metadata: Any, image_format: str) -> np.ndarray:
    """Draws one mapped training dict (its augmented image and targets); returns RGB."""
    image = _to_rgb(inp["image"], image_format)
    vis = Visualizer(image, metadata)
    if "sem_seg" in inp:
        return vis.draw_sem_seg(inp["sem_seg"]).get_image()
    instances = inp.get("instances")
    if instances is None:
        return vis.get_output().get_image()
    return vis.draw_ground_truth_instances(instances).get_image()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config-file", required=True, metavar="FILE")
    parser.add_argument("--source", choices=("dataloader", "annotation"), default="dataloader")
    parser.add_argument("--output", required=True, help="folder for the PNGs")
    parser.add_argument("--num-images", type=int, default=8, help="how many images to draw")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides key=value")
    args = parser.parse_args(argv)
    try:
        cfg = LazyConfig.apply_overrides(LazyConfig.load(args.config_file), args.opts)
        written = run(cfg, args)
    except (UserError, ConfigError) as e:
        print(f"Error: {e}", file=sys.stderr)
        return 2
    print(f"Wrote {written} images to {args.output}")
    return 0


def run(cfg: Any, args: argparse.Namespace) -> int:
    """Draws ``--num-images`` images from ``--source``; returns how many were written."""
    from PIL import Image

    name = _train_dataset_name(cfg)
    metadata = MetadataCatalog.get(name) if name else None
    os.makedirs(args.output, exist_ok=True)
    written = 0
    if args.source == "annotation":
        dicts = instantiate(cfg.dataloader.train.dataset)
        for dic in dicts[: args.num_images]:
            image = read_image(dic["file_name"], format="RGB")
            out = Visualizer(image, metadata).draw_dataset_dict(dic).get_image()
            stem = os.path.splitext(os.path.basename(dic["file_name"]))[0]
            Image.fromarray(out).save(os.path.join(args.output, f"{written:04d}_{stem}.png"))
            written += 1
        return written
    # Workers would only add start-up time for a handful of images.
    cfg.dataloader.train.num_workers = 0
    image_format = str(OmegaConf.select(cfg, "dataloader.train.mapper.image_format", default="RGB"))
    for batch in itertools.islice(instantiate(cfg.dataloader.train), args.num_images):
        for inp in batch:
            if written >= args.num_images:
                return written
            out = draw_model_input(inp, metadata, image_format)
            stem = os.path.splitext(os.path.basename(inp.get("file_name", "image")))[0]
            Image.fromarray(out).save(os.path.join(args.output, f"{written:04d}_{stem}.png"))
            written += 1
    return written


if __name__ == "__main__":
    sys.exit(main())
