import pytest
import torch

from det.structures import ImageList


def _imgs():
    g = torch.Generator().manual_seed(0)
    return [torch.rand(3, 30, 45, generator=g), torch.rand(3, 50, 20, generator=g)]


def _check_content(il, imgs, pad_value):
    for i, img in enumerate(imgs):
        h, w = img.shape[-2:]
        assert il.image_sizes[i] == (h, w)
        torch.testing.assert_close(il[i], img)
        padded = il.tensor[i]
        pad_region = torch.ones(padded.shape[-2:], dtype=torch.bool)
        pad_region[:h, :w] = False
        assert (padded[..., pad_region] == pad_value).all()


def test_no_divisibility_pads_to_max():
    imgs = _imgs()
    il = ImageList.from_tensors(imgs)
    assert il.tensor.shape == (2, 3, 50, 45)
    assert len(il) == 2
    _check_content(il, imgs, 0.0)


def test_size_divisibility():
    imgs = _imgs()
    il = ImageList.from_tensors(imgs, size_divisibility=32, pad_value=-1.5)
    # max (50, 45) rounded up to multiples of 32.
    assert il.tensor.shape == (2, 3, 64, 64)
    _check_content(il, imgs, -1.5)
    il = ImageList.from_tensors(imgs, size_divisibility=16)
    assert il.tensor.shape == (2, 3, 64, 48)


def test_single_image_path_same_as_batched():
    img = _imgs()[0]
    il = ImageList.from_tensors([img], size_divisibility=32, pad_value=7.0)
    assert il.tensor.shape == (1, 3, 32, 64)
    _check_content(il, [img], 7.0)


def test_square_size_padding():
    imgs = _imgs()
    il = ImageList.from_tensors(imgs, padding_constraints={"square_size": 96}, pad_value=2.0)
    assert il.tensor.shape == (2, 3, 96, 96)
    _check_content(il, imgs, 2.0)
    # The constraint's divisibility overrides the argument.
    il = ImageList.from_tensors(
        imgs, size_divisibility=32, padding_constraints={"size_divisibility": 7}
    )
    assert il.tensor.shape == (2, 3, 56, 49)
    il = ImageList.from_tensors(
        imgs[:1], size_divisibility=32, padding_constraints={"square_size": 48}
    )
    assert il.tensor.shape == (1, 3, 64, 64)
    with pytest.raises(ValueError, match="square_size=32"):
        ImageList.from_tensors(imgs, padding_constraints={"square_size": 32})


def test_two_dim_and_uint8_inputs():
    masks = [torch.ones(5, 7, dtype=torch.uint8), torch.full((3, 9), 4, dtype=torch.uint8)]
    il = ImageList.from_tensors(masks, size_divisibility=4, pad_value=255)
    assert il.tensor.shape == (2, 8, 12) and il.tensor.dtype == torch.uint8
    _check_content(il, masks, 255)
    single = ImageList.from_tensors(masks[:1], size_divisibility=4, pad_value=255)
    assert single.tensor.dtype == torch.uint8
    _check_content(single, masks[:1], 255)


def test_errors_and_to():
    with pytest.raises(ValueError, match="at least one"):
        ImageList.from_tensors([])
    with pytest.raises(ValueError, match="leading shape"):
        ImageList.from_tensors([torch.zeros(3, 4, 4), torch.zeros(1, 4, 4)])
    with pytest.raises(ValueError, match="image sizes"):
        ImageList(torch.zeros(2, 3, 4, 4), [(4, 4)])
    il = ImageList.from_tensors(_imgs()).to(torch.float64)
    assert il.tensor.dtype == torch.float64 and il.device.type == "cpu"
    assert il.image_sizes == [(30, 45), (50, 20)]


def test_positional_divisibility_for_chw_and_hw_inputs():
    # 15 x 20 padded to multiples of 4 -> 16 x 20; sizes keep the unpadded (h, w).
    il = ImageList.from_tensors([torch.ones(3, 15, 20)], 4)
    assert il.tensor.shape == (1, 3, 16, 20) and tuple(il.image_sizes[0]) == (15, 20)
    il = ImageList.from_tensors([torch.ones(15, 20)], 4)
    assert il.tensor.shape == (1, 16, 20)
    il = ImageList.from_tensors([torch.ones(3, 25, 20), torch.ones(3, 10, 10)], 4)
    assert il.tensor.shape == (2, 3, 28, 20)
    assert [tuple(s) for s in il.image_sizes] == [(25, 20), (10, 10)]
    assert il.tensor[1, :, 10:, :].abs().sum() == 0 and il.tensor[1, :, :10, :10].min() == 1
