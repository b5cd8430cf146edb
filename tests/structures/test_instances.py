import copy
import pickle

import pytest
import torch

from det.structures import Boxes, Instances


def _make(n=4, size=(20, 30)):
    boxes = Boxes(torch.arange(n * 4, dtype=torch.float32).reshape(n, 4))
    return Instances(
        size,
        gt_boxes=boxes,
        gt_classes=torch.arange(n) * 10,
        names=[f"obj{i}" for i in range(n)],
    )


def test_fields_set_get_has_remove():
    inst = _make()
    assert len(inst) == 4 and inst.image_size == (20, 30)
    assert inst.has("gt_classes") and not inst.has("scores")
    inst.scores = torch.ones(4)
    assert inst.get("scores") is inst.scores
    assert set(inst.get_fields()) == {"gt_boxes", "gt_classes", "names", "scores"}
    inst.remove("scores")
    assert not inst.has("scores")
    with pytest.raises(AttributeError, match="scores"):
        _ = inst.scores
    with pytest.raises(KeyError, match="scores"):
        inst.remove("scores")


def test_length_mismatch_is_an_error():
    inst = _make(4)
    with pytest.raises(ValueError, match="length 3"):
        inst.scores = torch.ones(3)
    with pytest.raises(ValueError, match="length 5"):
        Instances((5, 5), a=torch.ones(2), b=[1, 2, 3, 4, 5])


def test_empty_instances_len_raises():
    with pytest.raises(NotImplementedError):
        len(Instances((3, 3)))


@pytest.mark.parametrize(
    "index, expected",
    [
        (1, [1]),
        (-1, [3]),
        (-2, [2]),
        (slice(1, 3), [1, 2]),
        (torch.tensor([True, False, False, True]), [0, 3]),
        (torch.tensor([2, 0]), [2, 0]),
    ],
)
def test_indexing(index, expected):
    inst = _make()
    if isinstance(index, torch.Tensor):
        # Python lists only support int/slice indexing (as in detectron2).
        inst.remove("names")
    sub = inst[index]
    assert len(sub) == len(expected)
    assert sub.gt_classes.tolist() == [10 * e for e in expected]
    assert sub.gt_boxes.tensor[:, 0].tolist() == [4.0 * e for e in expected]
    assert sub.image_size == inst.image_size
    if inst.has("names"):
        assert sub.names == [f"obj{e}" for e in expected]


def test_int_index_out_of_range():
    with pytest.raises(IndexError, match="out of range"):
        _make(4)[4]
    with pytest.raises(IndexError):
        _make(4)[-5]


def test_cat():
    a, b = _make(2), _make(3)
    c = Instances.cat([a, b])
    assert len(c) == 5
    assert c.gt_classes.tolist() == [0, 10, 0, 10, 20]
    assert c.names == ["obj0", "obj1", "obj0", "obj1", "obj2"]
    assert isinstance(c.gt_boxes, Boxes) and c.gt_boxes.tensor[4, 0].item() == 8.0
    assert Instances.cat([a]) is a
    with pytest.raises(ValueError, match="image sizes differ"):
        Instances.cat([a, _make(2, size=(1, 1))])


def test_to_repr_pickle():
    inst = _make(2)
    moved = inst.to("cpu")
    assert moved is not inst and moved.gt_classes.device.type == "cpu"
    assert moved.names == inst.names
    r = repr(inst)
    assert "num_instances=2" in r and "image_height=20" in r and "gt_boxes" in r
    for clone in (pickle.loads(pickle.dumps(inst)), copy.deepcopy(inst)):
        assert clone.gt_classes.tolist() == [0, 10]
        assert clone.image_size == (20, 30)


def test_negative_int_index_selects_from_the_end():
    inst = Instances((100, 100))
    inst.a = torch.tensor([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
    inst.b = torch.tensor([0.1, 0.2, 0.3])
    for i in range(-3, 3):
        one = inst[i]
        assert len(one) == 1 and one.image_size == (100, 100)
        assert torch.equal(one.a[0], inst.a[i]) and torch.equal(one.b[0], inst.b[i])
