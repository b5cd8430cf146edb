"""Global registries of datasets (lazy loader functions) and their metadata.

``DatasetCatalog`` maps a dataset name to a function returning its list of dataset dicts (the
standard format of DESIGN.md: ``file_name``, ``height``, ``width``, ``image_id``,
``annotations`` or ``sem_seg_file_name``). Registering is cheap: nothing is read until
``DatasetCatalog.get(name)`` calls the function.

``MetadataCatalog`` maps the same names to ``Metadata`` objects: attributes that describe a
dataset as a whole and that every attribute may be set once (setting it again to an equal value
is allowed, a different value raises). Fields used across ``det``:

- ``thing_classes`` (list[str]): instance class names, index = contiguous class id.
- ``thing_colors`` (list[tuple[int, int, int]]): RGB colors for visualization.
- ``thing_dataset_id_to_contiguous_id`` (dict[int, int]): category id in the JSON -> 0..K-1.
- ``stuff_classes``, ``stuff_colors``: the same for semantic segmentation classes.
- ``stuff_dataset_id_to_contiguous_id`` (dict[int, int]): raw label id -> 0..K-1.
- ``ignore_label`` (int): label value ignored by semantic segmentation (255).
- ``evaluator_type`` (str): ``"coco"``, ``"lvis"`` or ``"sem_seg"``.
- ``json_file``, ``image_root``, ``sem_seg_root``: where the data lives.
- ``reduce_zero_label`` (bool): ground-truth PNGs hold raw labels where 0 is "other" and must be
  mapped 0 -> ignore, k -> k-1 when read (ADE20K); see ``det.data.datasets.read_sem_seg_gt``.
- ``class_image_count`` (list[dict]): ``{"id", "image_count"}`` per category (LVIS), used for
  the federated loss weights.
- ``frequency_groups`` (dict[str, list[int]]): contiguous ids of LVIS rare/common/frequent
  classes under the keys ``"r"``, ``"c"``, ``"f"``.

Some fields can only be known by reading a (possibly large) file, e.g. the LVIS class names.
``Metadata.set_lazy`` registers a loader that fills them on first access, so registration stays
cheap and ``MetadataCatalog.get("lvis_v1_train").class_image_count`` still works before the
dataset itself was loaded.
"""

from __future__ import annotations

import logging
from collections import UserDict
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["DatasetCatalog", "MetadataCatalog", "Metadata"]

logger = logging.getLogger(__name__)


class _DatasetCatalog(UserDict):
    """A global dictionary from dataset name to a function returning its list of dicts.

    The functions are called on every ``get``; they should cache nothing big themselves, since
    the training loader serializes the returned list once and shares it with its workers.
    """

    def register(self, name: str, func: Callable[[], list[dict]]) -> None:
        """Registers a dataset.

        Args:
            name: the dataset name, e.g. ``"coco_2017_train"``.
            func: a function with no arguments returning a list of dataset dicts. It is called
                each time ``get(name)`` is called.

        Raises:
            ValueError: if ``func`` is not callable or ``name`` is already registered.
        """
        if not callable(func):
            raise ValueError(
                f"DatasetCatalog.register('{name}', func): func must be a callable returning a "
                f"list of dicts; got {type(func).__name__}"
            )
        if name in self:
            raise ValueError(
                f"Dataset '{name}' is already registered! Use DatasetCatalog.remove('{name}') "
                "first to replace it."
            )
        self[name] = func

    def get(self, name: str) -> list[dict]:
        """Calls the registered function and returns its result.

        Args:
            name: a registered dataset name.

        Returns:
            list[dict]: dataset dicts in the standard format.

        Raises:
            KeyError: if ``name`` is not registered; the message lists the registered names.
        """
        try:
            func = self.data[name]
        except KeyError as e:
            raise KeyError(
                f"Dataset '{name}' is not registered! Available datasets are: "
                f"{', '.join(sorted(self.data))}"
            ) from e
        return func()

    def list(self) -> list[str]:
        """Returns the registered dataset names."""
        return list(self.data)

    def remove(self, name: str) -> None:
        """Forgets dataset ``name`` (no error if it is not registered)."""
        self.data.pop(name, None)

    def __str__(self) -> str:
        return f"DatasetCatalog(registered datasets: {', '.join(sorted(self.data))})"

    __repr__ = __str__


DatasetCatalog = _DatasetCatalog()
DatasetCatalog.__doc__ = _DatasetCatalog.__doc__


def _values_equal(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except (ValueError, TypeError):  # e.g. numpy arrays, whose == is elementwise
        return a is b


class Metadata:
    """Read-mostly attributes of one dataset; each attribute can be set only once.

    Example::

        meta = MetadataCatalog.get("my_dataset").set(thing_classes=["a", "b"])
        meta.thing_classes  # ["a", "b"]
        meta.thing_classes = ["a", "b"]  # fine: equal value
        meta.thing_classes = ["b", "a"]  # ValueError

    Attributes that are not set raise ``AttributeError`` naming the dataset and listing the
    available keys, so ``hasattr`` and ``get(key, default)`` work as expected.
    """

    def __init__(self, name: str = "N/A", **kwargs: Any) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "_lazy", {})
        self.set(**kwargs)

    def __getattr__(self, key: str) -> Any:
        # Only called when normal lookup fails. Dunder names (pickle, copy probe them before
        # __init__ ran) must fail fast without touching instance state.
        if key.startswith("__"):
            raise AttributeError(key)
        lazy = self.__dict__.get("_lazy", {})
        if key in lazy:
            self._resolve_lazy(lazy[key])
            if key in self.__dict__:
                return self.__dict__[key]
        raise AttributeError(
            f"Attribute '{key}' does not exist in the metadata of dataset "
            f"'{self.__dict__.get('name', 'N/A')}'. Available keys are "
            f"{sorted(k for k in self.__dict__ if not k.startswith('_'))}."
        )

    def __setattr__(self, key: str, value: Any) -> None:
        if key.startswith("_"):
            raise AttributeError(f"Metadata attribute names cannot start with '_': '{key}'")
        if key in self.__dict__:
            old = self.__dict__[key]
            if not _values_equal(old, value):
                raise ValueError(
                    f"Attribute '{key}' in the metadata of '{self.name}' cannot be set to a "
                    f"different value!\n{old!r} != {value!r}"
                )
            return
        # An explicit value wins over a pending lazy loader for the same key.
        self.__dict__["_lazy"].pop(key, None)
        object.__setattr__(self, key, value)

    def __delattr__(self, key: str) -> None:
        raise AttributeError(
            f"Metadata attributes cannot be deleted ('{key}' of '{self.name}'); use "
            "MetadataCatalog.remove(name) to start over."
        )

    def as_dict(self) -> dict[str, Any]:
        """Returns a shallow copy of the attributes set so far (pending lazy ones excluded)."""
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    def set(self, **kwargs: Any) -> Metadata:
        """Sets several attributes at once; returns ``self`` for chaining."""
        for k, v in kwargs.items():
            setattr(self, k, v)
        return self

    def get(self, key: str, default: Any = None) -> Any:
        """Returns attribute ``key`` or ``default`` when it is not set."""
        try:
            return getattr(self, key)
        except AttributeError:
            return default

    def set_lazy(self, keys: Iterable[str], loader: Callable[[], dict[str, Any]]) -> Metadata:
        """Registers a loader that provides ``keys`` the first time one of them is read.

        Args:
            keys: attribute names the loader provides. Keys already set are ignored.
            loader: function with no arguments returning a dict of attribute values. It is
                called at most once; the values it returns are set like ``set(**values)``
                (keys already set keep their value, a different value raises).

        Returns:
            self.
        """
        lazy = self.__dict__["_lazy"]
        entry = {"loader": loader, "done": False}
        for k in keys:
            if k not in self.__dict__:
                lazy[k] = entry
        return self

    def _resolve_lazy(self, entry: dict) -> None:
        if entry["done"]:
            return
        entry["done"] = True
        values = entry["loader"]()
        lazy = self.__dict__["_lazy"]
        for k, v in values.items():
            if lazy.get(k) is entry:
                del lazy[k]
            setattr(self, k, v)
        for k in [k for k, e in lazy.items() if e is entry]:
            del lazy[k]

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={_short_repr(v)}" for k, v in self.as_dict().items())
        lazy = sorted(self.__dict__["_lazy"])
        suffix = f", lazy={lazy}" if lazy else ""
        return f"Metadata({fields}{suffix})"

    def __getstate__(self) -> dict:
        return self.__dict__.copy()

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)


def _short_repr(v: Any, limit: int = 80) -> str:
    r = repr(v)
    return r if len(r) <= limit else r[: limit - 3] + "..."


class _MetadataCatalog(UserDict):
    """A global dictionary from dataset name to its ``Metadata``.

    ``get(name)`` creates an empty ``Metadata`` the first time a name is asked for, so metadata
    can be attached before or after the dataset itself is registered.
    """

    def get(self, name: str) -> Metadata:
        """Returns the ``Metadata`` of ``name``, creating an empty one if needed."""
        if not name:
            raise ValueError("MetadataCatalog.get(name): name must be a non-empty string")
        meta = self.data.get(name)
        if meta is None:
            meta = self.data[name] = Metadata(name=name)
        return meta

    def list(self) -> list[str]:
        """Returns the names that have metadata."""
        return list(self.data)

    def remove(self, name: str) -> None:
        """Forgets the metadata of ``name`` (no error if there is none)."""
        self.data.pop(name, None)

    def __str__(self) -> str:
        return f"MetadataCatalog(registered metadata: {', '.join(sorted(self.data))})"

    __repr__ = __str__


MetadataCatalog = _MetadataCatalog()
MetadataCatalog.__doc__ = _MetadataCatalog.__doc__
