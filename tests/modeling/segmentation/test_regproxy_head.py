"""RegionProxy head: affinity softmax by hand, decoding against a loop reference, every published
variant's output shape, and a seeded forward/backward with a TimmViT."""

from __future__ import annotations

import math

import pytest
import torch

from det.modeling.backbone import HybridPatchEmbed, TimmViT, timm_resnetv2_stem
from det.modeling.segmentation.regproxy_head import RegionProxyHead
from det.modeling.segmentation.regproxy_ops import neighbour_affinity, region_proxy_logits


def test_affinity_2x2_by_hand() -> None:
    """2 x 2 tokens, one sub-pixel: token (0, 0) sees itself, right, down, down-right."""
    logits = torch.zeros(1, 9, 2, 2)
    logits[0, 4, 0, 0] = math.log(2.0)  # self weight doubled at (0, 0)
    aff = neighbour_affinity(logits, (1, 1))[0, :, 0, 0]  # [9, 2, 2]
    expected_00 = torch.tensor([0, 0, 0, 0, 2, 1, 0, 1, 1]) / 5.0
    torch.testing.assert_close(aff[:, 0, 0], expected_00)
    expected_11 = torch.tensor([1, 1, 0, 1, 1, 0, 0, 0, 0]) / 4.0  # up-left, up, left, self
    torch.testing.assert_close(aff[:, 1, 1], expected_11)
    torch.testing.assert_close(aff.sum(0), torch.ones(2, 2))
    tokens = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])  # K = 1
    out = region_proxy_logits(neighbour_affinity(logits, (1, 1)), tokens)
    # (0,0): (2*1 + 2 + 3 + 4) / 5; elsewhere the uniform mean of all four tokens.
    torch.testing.assert_close(out, torch.tensor([[[[2.2, 2.5], [2.5, 2.5]]]]))


def test_decoding_matches_loop_reference() -> None:
    torch.manual_seed(0)
    b, k, h, w, rh, rw = 2, 3, 3, 4, 2, 3
    logits = torch.randn(b, 9 * rh * rw, h, w, dtype=torch.float64)
    tokens = torch.randn(b, k, h, w, dtype=torch.float64)
    got = region_proxy_logits(neighbour_affinity(logits, (rh, rw)), tokens)
    ref = torch.zeros(b, k, h * rh, w * rw, dtype=torch.float64)
    scores = logits.reshape(b, 9, rh, rw, h, w)
    for bi in range(b):
        for y in range(h):
            for x in range(w):
                for i in range(rh):
                    for j in range(rw):
                        valid = [
                            (n, y + n // 3 - 1, x + n % 3 - 1)
                            for n in range(9)
                            if 0 <= y + n // 3 - 1 < h and 0 <= x + n % 3 - 1 < w
                        ]
                        e = torch.stack([scores[bi, n, i, j, y, x] for n, _, _ in valid]).exp()
                        p = e / e.sum()
                        val = sum(
                            p[t] * tokens[bi, :, yy, xx] for t, (_, yy, xx) in enumerate(valid)
                        )
                        ref[bi, :, y * rh + i, x * rw + j] = val
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)


# Published RegProxy variants (YiF-Zhang/RegionProxy configs): width, depth, heads, patch,
# (mid, last) out_indices, crop, hybrid ResNetV2 layers.
VARIANTS = {
    "RegProxy-Ti/16": (192, 12, 3, 16, (4, 11), 512, None),
    "RegProxy-S/16": (384, 12, 6, 16, (4, 11), 512, None),
    "RegProxy-B/16": (768, 12, 12, 16, (4, 11), 512, None),
    "RegProxy-L/16": (1024, 24, 16, 16, (9, 23), 640, None),
    "RegProxy-R26+ViT-S/32": (384, 12, 6, 32, (-1, 11), 512, (2, 2, 2, 2)),
    "RegProxy-R50+ViT-L/32": (1024, 24, 16, 32, (-1, 23), 640, (3, 4, 6, 3)),
}


def _variant(name: str, num_classes: int = 150) -> tuple[TimmViT, RegionProxyHead, int]:
    width, depth, heads, patch, outs, crop, layers = VARIANTS[name]
    embed = None if layers is None else HybridPatchEmbed(timm_resnetv2_stem(layers), 2048, width)
    vit = TimmViT(
        patch_size=patch,
        embed_dim=width,
        depth=depth,
        num_heads=heads,
        drop_path_rate=0.1,
        pretrain_img_size=crop,
        final_norm=True,
        out_indices=outs,
        patch_embed=embed,
        use_dist_token=name == "RegProxy-B/16",  # DeiT-B distilled weights (deit=True)
    )
    head = RegionProxyHead(
        mid_channels=width,
        token_channels=width,
        channels=width,
        num_classes=num_classes,
        in_features=[f"b{i}" for i in outs],
    )
    return vit, head, crop


@pytest.mark.parametrize("name", list(VARIANTS))
def test_variant_output_shapes(name: str) -> None:
    with torch.device("meta"):  # full size, shapes only
        vit, head, crop = _variant(name)
        logits = head(vit(torch.empty(1, 3, crop, crop)))
    stride = VARIANTS[name][3] // 4
    assert logits.shape == (1, 150, crop // stride, crop // stride)


def test_seeded_forward_backward_two_images() -> None:
    def run() -> tuple[torch.Tensor, TimmViT, RegionProxyHead]:
        torch.manual_seed(0)
        vit = TimmViT(
            patch_size=16,
            embed_dim=32,
            depth=3,
            num_heads=2,
            pretrain_img_size=64,
            final_norm=True,
            out_indices=(1, 2),
            drop_path_rate=0.1,
        )
        head = RegionProxyHead(
            mid_channels=32, token_channels=32, channels=32, num_classes=5, in_features=("b1", "b2")
        )
        images = torch.randn(2, 3, 64, 80)
        labels = torch.randint(0, 5, (2, 64, 80))
        labels[1, :10] = 255
        logits = head(vit(images))
        assert logits.shape == (2, 5, 16, 20)
        loss = head.losses(logits, labels)["loss_sem_seg"]
        loss.backward()
        return loss.detach(), vit, head

    loss, vit, head = run()
    assert torch.isfinite(loss) and loss > 0
    for module in (vit.blocks[0], vit.patch_embed, head.mlp, head.affinity_head):
        grads = [p.grad for p in module.parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)
        assert any(g.abs().sum() > 0 for g in grads)
    loss_again, _, _ = run()
    assert torch.equal(loss, loss_again)


def test_loss_averages_over_all_pixels_like_mmseg_017() -> None:
    head = RegionProxyHead(
        mid_channels=4, token_channels=4, channels=4, num_classes=3, in_features=("a", "b")
    )
    logits = torch.zeros(1, 3, 2, 2)
    labels = torch.tensor([[[0, 1], [255, 255]]])
    # Two valid pixels with CE log(3) each, averaged over all four pixels.
    expected = torch.tensor(2 * math.log(3.0) / 4)
    torch.testing.assert_close(head.losses(logits, labels)["loss_sem_seg"], expected)
