"""``Instances``: per-image fields of equal length (boxes, scores, classes, masks, ...)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["Instances"]


class Instances:
    """A list of N objects found in (or annotated on) one image, stored as named fields.

    Every field has length N: a Tensor[N, ...], a list of N items, or any object with
    ``__len__`` and ``__getitem__`` (``Boxes``, ``BitMasks``, ...). Fields are read and written
    as attributes (``instances.gt_boxes = Boxes(...)``) or with ``set``/``get``/``has``/``remove``.

    Indexing an Instances indexes every field: ``instances[instances.scores > 0.5]``.

    Args:
        image_size: (height, width) of the image.
        **kwargs: initial fields.
    """

    def __init__(self, image_size: tuple[int, int], **kwargs: Any) -> None:
        self._image_size = image_size
        self._fields: dict[str, Any] = {}
        for k, v in kwargs.items():
            self.set(k, v)

    @property
    def image_size(self) -> tuple[int, int]:
        """(height, width) of the image."""
        return self._image_size

    def __setattr__(self, name: str, val: Any) -> None:
        if name.startswith("_"):
            super().__setattr__(name, val)
        else:
            self.set(name, val)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails; guard "_fields" so unpickling does not recurse.
        if name == "_fields" or name not in self._fields:
            raise AttributeError(
                f"Cannot find field {name!r} in the given Instances "
                f"(fields: {sorted(self.__dict__.get('_fields', {}))})"
            )
        return self._fields[name]

    def set(self, name: str, value: Any) -> None:
        """Set field ``name``; its length must equal the length of the existing fields."""
        data_len = len(value)
        if self._fields and len(self) != data_len:
            raise ValueError(
                f"Adding a field {name!r} of length {data_len} to an Instances of length "
                f"{len(self)}"
            )
        self._fields[name] = value

    def has(self, name: str) -> bool:
        """Return whether field ``name`` exists."""
        return name in self._fields

    def remove(self, name: str) -> None:
        """Delete field ``name``."""
        if name not in self._fields:
            raise KeyError(f"Instances has no field {name!r} to remove")
        del self._fields[name]

    def get(self, name: str) -> Any:
        """Return field ``name``."""
        return self._fields[name]

    def get_fields(self) -> dict[str, Any]:
        """Return the dict of fields (the same object, not a copy)."""
        return self._fields

    def to(self, *args: Any, **kwargs: Any) -> Instances:
        """Return a new Instances with every field that has a ``to`` method converted."""
        ret = Instances(self._image_size)
        for k, v in self._fields.items():
            if hasattr(v, "to"):
                v = v.to(*args, **kwargs)
            ret.set(k, v)
        return ret

    def __getitem__(self, item: int | slice | torch.Tensor | Sequence[int]) -> Instances:
        """Select instances.

        Args:
            item: an int (gives an Instances of length 1), a slice, a bool Tensor[N] mask or
                an index tensor. Each field is indexed with it.

        Returns:
            A new Instances.
        """
        if type(item) is int:
            if item >= len(self) or item < -len(self):
                raise IndexError(f"Instances index {item} out of range for length {len(self)}")
            item = slice(item, None, len(self)) if item >= 0 else slice(item, item + 1 or None)
        ret = Instances(self._image_size)
        for k, v in self._fields.items():
            ret.set(k, v[item])
        return ret

    def __len__(self) -> int:
        for v in self._fields.values():
            return v.__len__()
        raise NotImplementedError("Empty Instances (no fields) does not support __len__")

    def __iter__(self):
        raise NotImplementedError("Instances object is not iterable; index it or use its fields")

    @staticmethod
    def cat(instance_lists: list[Instances]) -> Instances:
        """Concatenate Instances of the same image size and the same fields.

        Tensor fields use ``torch.cat``, lists are chained, other types use their class's
        ``cat`` (e.g. ``Boxes.cat``).

        Args:
            instance_lists: non-empty list of Instances.
        """
        if not all(isinstance(i, Instances) for i in instance_lists):
            raise TypeError("Instances.cat expects a list of Instances")
        if len(instance_lists) == 0:
            raise ValueError("Instances.cat needs at least one Instances")
        if len(instance_lists) == 1:
            return instance_lists[0]
        image_size = instance_lists[0].image_size
        for i in instance_lists[1:]:
            if not isinstance(image_size, torch.Tensor) and i.image_size != image_size:
                raise ValueError(
                    f"Instances.cat: image sizes differ ({image_size} vs {i.image_size})"
                )
        ret = Instances(image_size)
        for k in instance_lists[0]._fields.keys():
            values = [i.get(k) for i in instance_lists]
            v0 = values[0]
            if isinstance(v0, torch.Tensor):
                values = torch.cat(values, dim=0)
            elif isinstance(v0, list):
                values = list(itertools.chain(*values))
            elif hasattr(type(v0), "cat"):
                values = type(v0).cat(values)
            else:
                raise ValueError(f"Instances.cat: unsupported type {type(v0)} of field {k!r}")
            ret.set(k, values)
        return ret

    def __repr__(self) -> str:
        s = self.__class__.__name__ + "("
        s += f"num_instances={len(self) if self._fields else 0}, "
        s += f"image_height={self._image_size[0]}, "
        s += f"image_width={self._image_size[1]}, "
        s += "fields=[{}])".format(", ".join(f"{k}: {v}" for k, v in self._fields.items()))
        return s

    __str__ = __repr__
