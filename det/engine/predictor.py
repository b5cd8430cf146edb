"""Run a trained LazyConfig model on single images: :class:`Predictor`.

detectron2's ``DefaultPredictor`` only understands yacs configs; this one is built from a
LazyConfig file (or a loaded config), a checkpoint and command-line style overrides, and
prepares images exactly as the config's test data loader does:

* the channel order is converted to ``dataloader.test.mapper.image_format`` (the model's input
  format), and a path is read with :func:`det.data.detection_utils.read_image` like the mapper;
* the test mapper's augmentations (``dataloader.test.mapper.augmentations``: the test-time
  resize) are applied;
* the original ``height`` / ``width`` are passed, so the model returns its output in original
  image coordinates.

Example::

    predictor = Predictor(
        "projects/ViTDet/configs/demo/eva2_tiny_cascade_synthetic.py", "output/model_final.pth"
    )
    outputs = predictor("image.jpg")  # {"instances": Instances} or {"sem_seg": Tensor[K, H, W]}
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from PIL import Image

from det.checkpoint import CheckpointError, DetectionCheckpointer, group_keys
from det.config import LazyConfig, instantiate
from det.data import MetadataCatalog
from det.data import transforms as T
from det.data.catalog import Metadata
from det.data.detection_utils import read_image
from det.utils.errors import UserError

__all__ = ["CheckpointMismatchError", "ImageInput", "MissingWeightsError", "Predictor"]

logger = logging.getLogger(__name__)

ImageInput = str | os.PathLike | np.ndarray | torch.Tensor | Image.Image
"""A path, an ndarray[H, W, 3] (or [H, W]) uint8, a Tensor[3, H, W] (uint8 or float in
[0, 255]) or a PIL image."""

_FORMATS = ("RGB", "BGR")


class CheckpointMismatchError(CheckpointError):
    """The checkpoint does not provide every weight of the model the config builds."""


class MissingWeightsError(UserError, ValueError):
    """Neither a checkpoint nor ``train.init_checkpoint`` was given."""


def _opt(cfg: DictConfig, key: str, default: Any) -> Any:
    value = OmegaConf.select(cfg, key, default=default)
    return default if value is None else value


def _check_format(fmt: str, what: str) -> str:
    fmt = str(fmt).upper()
    if fmt not in _FORMATS:
        raise ValueError(f"{what} must be 'RGB' or 'BGR', got {fmt!r}")
    return fmt


class Predictor:
    """A model built from a LazyConfig and a checkpoint, applied to one image or a batch.

    Args:
        cfg_or_path: a LazyConfig file (``.py`` / ``.yaml``) or a loaded config (copied, not
            modified). It needs ``model`` and ``dataloader.test.mapper`` (its
            ``augmentations`` and ``image_format``).
        checkpoint: weights to load; default the config's ``train.init_checkpoint``. With
            ``train.model_ema.enabled`` and ``use_ema_weights_for_eval_only``, the checkpoint's
            EMA weights are used, as ``--eval-only`` does.
        overrides: ``"key=value"`` strings applied to the config (as on the command line).
        device: e.g. ``"cpu"`` or ``"cuda:1"``; default ``train.device``, or the CPU (with a
            warning) when that asks for CUDA on a machine without it.

    Attributes:
        cfg: the config after overrides.
        model: the model, in eval mode on :attr:`device`.
        metadata: metadata of the first test dataset (class names and colors).
        input_format: the channel order the model takes ("RGB" or "BGR").
        augmentations: the test-time augmentations (an AugmentationList).

    Raises:
        MissingWeightsError: no checkpoint given and ``train.init_checkpoint`` is empty.
        CheckpointMismatchError: the checkpoint lacks weights of the model (the message names
            the missing keys), or some shapes differ.
    """

    def __init__(
        self,
        cfg_or_path: str | os.PathLike | DictConfig,
        checkpoint: str | None = None,
        overrides: Iterable[str] = (),
        device: str | torch.device | None = None,
    ) -> None:
        if isinstance(cfg_or_path, (str, os.PathLike)):
            cfg = LazyConfig.load(cfg_or_path)
        else:
            cfg = copy.deepcopy(cfg_or_path)
        self.cfg = LazyConfig.apply_overrides(cfg, list(overrides))
        mapper = OmegaConf.select(self.cfg, "dataloader.test.mapper")
        if mapper is None:
            raise UserError(
                "Predictor needs dataloader.test.mapper in the config (its augmentations and "
                "image_format give the test-time preprocessing); the config has none"
            )
        self.input_format = _check_format(
            _opt(mapper, "image_format", _opt(self.cfg, "model.input_format", "RGB")),
            "dataloader.test.mapper.image_format",
        )
        augs = instantiate(mapper.augmentations) if "augmentations" in mapper else []
        self.augmentations = T.AugmentationList(list(augs))
        self.metadata = self._test_metadata()
        self.device = torch.device(device if device is not None else self._default_device())

        self.model = instantiate(self.cfg.model).to(self.device).eval()
        if checkpoint is None:
            checkpoint = str(_opt(self.cfg, "train.init_checkpoint", ""))
        if not checkpoint:
            raise MissingWeightsError(
                "Predictor: no weights given; pass checkpoint='path/model_final.pth' or set "
                "train.init_checkpoint (e.g. the override train.init_checkpoint=path.pth)"
            )
        self._load(str(checkpoint))

    def _default_device(self) -> str:
        device = str(_opt(self.cfg, "train.device", "cpu"))
        if device.startswith("cuda") and not torch.cuda.is_available():
            logger.warning(f"train.device='{device}' but CUDA is not available; using the CPU.")
            return "cpu"
        return device

    def _test_metadata(self) -> Metadata:
        names = _opt(self.cfg, "dataloader.test.dataset.names", None)
        if names is None:
            return Metadata()
        if not isinstance(names, str):
            names = list(names)[0]
        return MetadataCatalog.get(names)

    def _load(self, path: str) -> None:
        use_ema = bool(_opt(self.cfg, "train.model_ema.enabled", False)) and bool(
            _opt(self.cfg, "train.model_ema.use_ema_weights_for_eval_only", False)
        )
        ema = None
        extra = {}
        if use_ema:
            # Imported only here, as lazyconfig_train_net does: EMA is a model-side option.
            from det.modeling import ema

            ema.may_build_model_ema(self.cfg, self.model)
            extra = ema.may_get_ema_checkpointer(self.cfg, self.model)
        checkpointer = DetectionCheckpointer(self.model, **extra)
        checkpointer.load(path, checkpointables=list(extra))
        _check_report(checkpointer.load_report, path)
        if ema is not None:
            ema.apply_model_ema(self.model)

    # ------------------------------------------------------------------ inputs
    def _to_array(self, image: ImageInput, input_format: str) -> np.ndarray:
        """The image as ndarray[H, W, 3] uint8 in the model's channel order."""
        if isinstance(image, (str, os.PathLike)):
            return read_image(os.fspath(image), format=self.input_format)
        if isinstance(image, Image.Image):
            image, input_format = np.asarray(image.convert("RGB")), "RGB"
        elif isinstance(image, torch.Tensor):
            if image.dim() != 3 or image.shape[0] not in (1, 3):
                raise ValueError(
                    f"Predictor: a tensor image must be [C, H, W] with C = 1 or 3, got "
                    f"{tuple(image.shape)}"
                )
            image = image.detach().cpu().permute(1, 2, 0).numpy()
        if not isinstance(image, np.ndarray):
            raise TypeError(
                f"Predictor: unsupported image type {type(image).__name__}; expected a path, "
                "ndarray[H, W, 3], Tensor[3, H, W] or PIL image"
            )
        if image.ndim == 2:
            image = image[:, :, None]
        if image.ndim != 3 or image.shape[2] not in (1, 3):
            raise ValueError(f"Predictor: an array image must be [H, W, 3], got {image.shape}")
        if image.shape[2] == 1:
            image = np.repeat(image, 3, axis=2)
        if image.dtype != np.uint8:
            # Float images in [0, 255] are accepted; resizing uint8 is what the loader does.
            image = np.clip(np.round(image), 0, 255).astype(np.uint8)
        if _check_format(input_format, "input_format") != self.input_format:
            image = image[:, :, ::-1]
        return np.ascontiguousarray(image)

    def preprocess(self, image: ImageInput, input_format: str = "RGB") -> dict[str, Any]:
        """The model input dict of one image, as the config's test mapper builds it.

        Args:
            image: see :data:`ImageInput`.
            input_format: channel order of an array / tensor image ("RGB" or "BGR"); paths and
                PIL images carry their own.

        Returns:
            ``{"image": uint8 Tensor[3, H', W'] (resized, model's channel order), "height": H,
            "width": W}`` (H x W: the original size).

        Raises:
            FileNotFoundError, OSError: a path that does not exist or is not a readable image
                (the message names the file).
        """
        array = self._to_array(image, input_format)
        height, width = array.shape[:2]
        aug_input = T.AugInput(array)
        self.augmentations(aug_input)
        tensor = torch.as_tensor(np.ascontiguousarray(aug_input.image.transpose(2, 0, 1)))
        return {"image": tensor, "height": height, "width": width}

    # ------------------------------------------------------------------ inference
    def predict_batch(
        self, images: Sequence[ImageInput], input_format: str = "RGB"
    ) -> list[dict[str, Any]]:
        """Runs the model on several images in one forward pass.

        Args:
            images: see :data:`ImageInput`.
            input_format: channel order of the array / tensor images.

        Returns:
            One output dict per image, on :attr:`device`, in original image coordinates:
            ``{"instances": Instances}`` (``pred_boxes`` XYXY absolute pixels, ``scores``,
            ``pred_classes``, ``pred_masks`` bool Tensor[D, H, W]) for detectors,
            ``{"sem_seg": Tensor[K, H, W]}`` class scores for semantic segmentation.
        """
        inputs = [self.preprocess(image, input_format) for image in images]
        if not inputs:
            return []
        with torch.no_grad():
            return list(self.model(inputs))

    def __call__(self, image: ImageInput, input_format: str = "RGB") -> dict[str, Any]:
        """Runs the model on one image; see :meth:`predict_batch`."""
        return self.predict_batch([image], input_format)[0]


def _check_report(report: Any, path: str) -> None:
    """Raises :class:`CheckpointMismatchError` when weights are missing or shapes differ."""
    if report is None:
        return
    problems = []
    if report.missing_keys:
        problems.append(
            f"missing keys ({len(report.missing_keys)}): "
            + "; ".join(group_keys(list(report.missing_keys)))
        )
    if report.incorrect_shapes:
        shapes = [f"{k} {tuple(a)} vs model {tuple(b)}" for k, a, b in report.incorrect_shapes]
        problems.append(f"shape mismatches ({len(shapes)}): " + "; ".join(shapes[:10]))
    if not problems:
        return
    unexpected = ""
    if report.unexpected_keys:
        unexpected = (
            f" The checkpoint also has {len(report.unexpected_keys)} keys the model does not use "
            f"({'; '.join(group_keys(list(report.unexpected_keys))[:5])})."
        )
    raise CheckpointMismatchError(
        f"Checkpoint '{path}' does not match the model built from the config: "
        + " | ".join(problems)
        + "."
        + unexpected
        + " Check that the config (and its overrides) is the one the checkpoint was trained with."
    )
