import pickle

import pytest

from det.data.catalog import Metadata, _DatasetCatalog, _MetadataCatalog


def test_register_get_list_remove():
    catalog = _DatasetCatalog()
    calls = []
    catalog.register("a", lambda: calls.append(1) or [{"file_name": "x"}])
    assert calls == []  # registering reads nothing
    assert catalog.get("a") == [{"file_name": "x"}]
    assert catalog.get("a") == [{"file_name": "x"}]
    assert calls == [1, 1]  # the function runs on every get, like detectron2
    assert catalog.list() == ["a"]
    catalog.remove("a")
    assert "a" not in catalog


def test_not_registered_lists_available_names():
    catalog = _DatasetCatalog()
    catalog.register("coco_x", list)
    catalog.register("ade_y", list)
    with pytest.raises(KeyError) as e:
        catalog.get("missing")
    msg = str(e.value)
    assert "Dataset 'missing' is not registered! Available datasets are: ade_y, coco_x" in msg


def test_register_twice_or_not_callable():
    catalog = _DatasetCatalog()
    catalog.register("a", list)
    with pytest.raises(ValueError, match="already registered"):
        catalog.register("a", list)
    with pytest.raises(ValueError, match="callable"):
        catalog.register("b", [1, 2])


def test_metadata_set_once():
    meta = Metadata(name="d")
    meta.thing_classes = ["a", "b"]
    meta.thing_classes = ["a", "b"]  # equal value is fine
    with pytest.raises(ValueError, match="thing_classes.*'d'"):
        meta.thing_classes = ["b", "a"]
    assert meta.set(ignore_label=255) is meta
    assert meta.as_dict() == {"name": "d", "thing_classes": ["a", "b"], "ignore_label": 255}
    assert meta.get("stuff_classes", "default") == "default"
    with pytest.raises(AttributeError, match="'stuff_classes'.*'d'.*ignore_label"):
        meta.stuff_classes  # noqa: B018
    assert not hasattr(meta, "evaluator_type")


def test_metadata_catalog_creates_on_get():
    catalog = _MetadataCatalog()
    meta = catalog.get("x")
    assert meta.name == "x"
    assert catalog.get("x") is meta
    catalog.remove("x")
    assert catalog.get("x") is not meta


def test_lazy_metadata_loaded_once_on_first_access():
    calls = []

    def loader():
        calls.append(1)
        return {"thing_classes": ["p", "q"], "class_image_count": [{"id": 1, "image_count": 3}]}

    meta = Metadata(name="lazy").set_lazy(["thing_classes", "class_image_count"], loader)
    assert calls == []
    assert "lazy" in repr(meta)
    assert meta.class_image_count == [{"id": 1, "image_count": 3}]
    assert meta.thing_classes == ["p", "q"]
    assert calls == [1]
    with pytest.raises(ValueError):
        meta.thing_classes = ["q"]


def test_explicit_value_replaces_pending_lazy_loader():
    meta = Metadata(name="n").set_lazy(["thing_classes"], lambda: 1 / 0)
    meta.thing_classes = ["a"]
    assert meta.thing_classes == ["a"]  # the (failing) loader is never called


def test_metadata_pickles():
    meta = Metadata(name="p", thing_classes=["a"])
    copy = pickle.loads(pickle.dumps(meta))
    assert copy.thing_classes == ["a"] and copy.name == "p"
