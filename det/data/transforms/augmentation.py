"""Randomized augmentations that produce deterministic :class:`Transform` objects.

An :class:`Augmentation` looks at the data (by default only the image; some also need the
semantic map) and draws a :class:`Transform`. The transform is then applied to everything in an
:class:`AugInput` (image, boxes, semantic map), and callers reuse it for polygons and masks, so
all annotations stay aligned with the image. Randomness comes from NumPy's global generator, as
in detectron2, so ``np.random.seed`` makes a pipeline reproducible.
"""

from __future__ import annotations

import inspect
import pprint

import numpy as np

from .transform import Transform, TransformList

__all__ = ["Augmentation", "AugInput", "AugmentationList", "apply_augmentations"]


class AugInput:
    """The data an augmentation pipeline transforms in place.

    Args:
        image (ndarray[H, W, C] or [H, W]): uint8 or float32 pixels.
        boxes (ndarray[N, 4] or None): XYXY absolute pixels.
        sem_seg (ndarray[H, W] or None): integer label map.
    """

    def __init__(
        self,
        image: np.ndarray,
        *,
        boxes: np.ndarray | None = None,
        sem_seg: np.ndarray | None = None,
    ):
        if not isinstance(image, np.ndarray) or image.ndim not in (2, 3):
            raise ValueError(
                f"AugInput expects an ndarray image of shape (H, W[, C]), got "
                f"{type(image).__name__} {getattr(image, 'shape', '')}"
            )
        if sem_seg is not None and sem_seg.shape[:2] != image.shape[:2]:
            raise ValueError(
                f"AugInput: sem_seg shape {sem_seg.shape[:2]} differs from image shape "
                f"{image.shape[:2]}"
            )
        self.image = image
        self.boxes = boxes
        self.sem_seg = sem_seg

    def transform(self, tfm: Transform) -> None:
        """Applies ``tfm`` to the image, boxes and semantic map in place."""
        self.image = tfm.apply_image(self.image)
        if self.boxes is not None:
            self.boxes = tfm.apply_box(self.boxes)
        if self.sem_seg is not None:
            self.sem_seg = tfm.apply_segmentation(self.sem_seg)

    def apply_augmentations(self, augmentations: list[Augmentation]) -> TransformList:
        """Applies augmentations in order and returns the transforms they drew."""
        return AugmentationList(augmentations)(self)


class Augmentation:
    """Base class: draws a :class:`Transform` from the current data.

    Subclasses implement ``get_transform(self, ...)``. The :class:`AugInput` attributes passed
    to it are named by ``input_args`` when a subclass sets it, else by the parameter names of
    its ``get_transform`` (detectron2's rule): ``get_transform(self, image, sem_seg)`` receives
    ``aug_input.image`` and ``aug_input.sem_seg``.
    """

    input_args: tuple[str, ...] | None = None

    def _init(self, params: dict) -> None:
        """Stores constructor arguments as attributes (used by subclasses and ``__repr__``)."""
        for k, v in params.items():
            if k != "self" and not k.startswith("_"):
                setattr(self, k, v)

    def get_transform(self, *args) -> Transform:
        """Draws a transform for the given inputs (named by ``input_args``)."""
        raise NotImplementedError

    def __call__(self, aug_input: AugInput) -> Transform:
        """Draws a transform, applies it to ``aug_input`` in place and returns it."""
        tfm = self.get_transform(*self._input_values(aug_input))
        if not isinstance(tfm, Transform):
            raise TypeError(
                f"{type(self).__name__}.get_transform must return a Transform, got {type(tfm)}"
            )
        aug_input.transform(tfm)
        return tfm

    def _input_names(self) -> tuple[str, ...]:
        if self.input_args is not None:
            return tuple(self.input_args)
        params = inspect.signature(self.get_transform).parameters.values()
        if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
            raise TypeError(
                f"{type(self).__name__}.get_transform takes *args/**kwargs; set input_args to "
                "name the AugInput attributes it needs"
            )
        return tuple(p.name for p in params)

    def _input_values(self, aug_input: AugInput) -> list:
        values = []
        for name in self._input_names():
            # AttributeError for a name the input lacks, as detectron2 raises.
            if not hasattr(aug_input, name):
                raise AttributeError(
                    f"{type(self).__name__}.get_transform needs '{name}', which "
                    f"{type(aug_input).__name__} does not have (it has "
                    f"{sorted(k for k in vars(aug_input) if not k.startswith('_'))})"
                )
            value = getattr(aug_input, name)
            if value is None:
                raise ValueError(
                    f"{type(self).__name__} needs '{name}' in its input, which has none"
                )
            values.append(value)
        return values

    @staticmethod
    def _rand_range(low: float = 1.0, high: float | None = None, size=None):
        """Uniform sample in [low, high), or [0, low) when ``high`` is None."""
        if high is None:
            low, high = 0.0, low
        return np.random.uniform(low, high, size)

    def __repr__(self) -> str:
        try:
            sig = inspect.signature(type(self).__init__)
        except (TypeError, ValueError):
            return f"{type(self).__name__}()"
        parts = []
        for name, p in sig.parameters.items():
            if name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            if hasattr(self, name):
                value = getattr(self, name)
                # Identity, not equality, as detectron2: an argument left at its default is
                # hidden, one passed explicitly is shown ("RandomFlip(prob=0.5)").
                if value is p.default:
                    continue
                text = pprint.pformat(value)
                parts.append(f"{name}={'...' if chr(10) in text else text}")
        return f"{type(self).__name__}({', '.join(parts)})"

    __str__ = __repr__


class AugmentationList(Augmentation):
    """Applies a sequence of augmentations; its transform is the :class:`TransformList`.

    Args:
        augs: augmentations (or ready :class:`Transform` objects, applied as they are).
    """

    def __init__(self, augs: list[Augmentation | Transform]):
        self.augs = [_as_augmentation(a) for a in augs]

    def __call__(self, aug_input: AugInput) -> TransformList:
        return TransformList([aug(aug_input) for aug in self.augs])

    def __repr__(self) -> str:
        return f"AugmentationList[{', '.join(repr(a) for a in self.augs)}]"

    __str__ = __repr__


class _FixedTransform(Augmentation):
    """Wraps an already determined transform so it can sit in an augmentation list."""

    input_args = ()

    def __init__(self, tfm: Transform):
        self.tfm = tfm

    def get_transform(self, *args) -> Transform:
        return self.tfm


def _as_augmentation(x) -> Augmentation:
    if isinstance(x, Augmentation):
        return x
    if isinstance(x, Transform):
        return _FixedTransform(x)
    raise TypeError(f"Expected an Augmentation or a Transform, got {type(x)}: {x!r}")


def apply_augmentations(
    augmentations: list[Augmentation | Transform], inputs: AugInput | np.ndarray
) -> tuple[AugInput | np.ndarray, TransformList]:
    """Applies augmentations to an :class:`AugInput` (in place) or to a bare image.

    Args:
        augmentations: augmentations or transforms, applied in order.
        inputs: the data; a bare image ndarray is wrapped in an :class:`AugInput`.

    Returns:
        (the transformed input, of the same kind as ``inputs``; the transforms drawn).
    """
    if isinstance(inputs, np.ndarray):
        aug_input = AugInput(inputs)
        tfms = AugmentationList(augmentations)(aug_input)
        return aug_input.image, tfms
    tfms = AugmentationList(augmentations)(inputs)
    return inputs, tfms
