"""Position encoding, pixel decoder and masked-attention transformer decoder."""

import math

import numpy as np
import torch
import torch.nn.functional as F

from det.layers import ShapeSpec
from det.modeling.mask2former import (
    MaskFormerHead,
    MSDeformAttnPixelDecoder,
    MultiScaleMaskedTransformerDecoder,
    PositionEmbeddingSine,
)
from det.modeling.mask2former.pixel_decoder import MSDeformAttnTransformerEncoderOnly
from det.modeling.mask2former.transformer_decoder import CrossAttentionLayer, masked_attention_mask


def test_position_embedding_sine_matches_formula():
    pe = PositionEmbeddingSine(num_pos_feats=4, normalize=True)
    out = pe(torch.zeros(1, 3, 2, 3))
    assert out.shape == (1, 8, 2, 3)
    h, w, f = 2, 3, 4
    want = np.zeros((8, h, w))
    for i in range(h):
        for j in range(w):
            y = (i + 1) / (h + 1e-6) * 2 * math.pi
            x = (j + 1) / (w + 1e-6) * 2 * math.pi
            for c in range(f):
                t = 10000 ** (2 * (c // 2) / f)
                fn = math.sin if c % 2 == 0 else math.cos
                want[c, i, j] = fn(y / t)
                want[f + c, i, j] = fn(x / t)
    np.testing.assert_allclose(out[0].numpy(), want, atol=1e-5)


def test_encoder_reference_points_are_pixel_centres():
    ref = MSDeformAttnTransformerEncoderOnly.reference_points([(2, 3), (1, 1)], torch.device("cpu"))
    assert ref.shape == (1, 7, 2, 2)
    want = [[1 / 6, 1 / 4], [3 / 6, 1 / 4], [5 / 6, 1 / 4], [1 / 6, 3 / 4], [3 / 6, 3 / 4]]
    want += [[5 / 6, 3 / 4], [1 / 2, 1 / 2]]
    torch.testing.assert_close(ref[0, :, 0], torch.tensor(want))
    torch.testing.assert_close(ref[0, :, 1], ref[0, :, 0])


def _pixel_decoder(channels=16, conv_dim=32):
    shapes = {f"p{lvl}": ShapeSpec(channels=channels, stride=2**lvl) for lvl in (2, 3, 4, 5)}
    return MSDeformAttnPixelDecoder(
        input_shape=shapes,
        transformer_in_features=["p3", "p4", "p5"],
        conv_dim=conv_dim,
        mask_dim=24,
        transformer_nheads=4,
        transformer_dim_feedforward=48,
        transformer_enc_layers=2,
    )


def test_pixel_decoder_shapes_and_parameter_names():
    torch.manual_seed(0)
    dec = _pixel_decoder()
    feats = {f"p{lvl}": torch.randn(2, 16, 64 // 2**lvl, 96 // 2**lvl) for lvl in (2, 3, 4, 5)}
    mask_features, coarsest, multi_scale = dec.forward_features(feats)
    assert mask_features.shape == (2, 24, 16, 24)
    assert coarsest.shape == (2, 32, 2, 3)
    assert [tuple(x.shape[-2:]) for x in multi_scale] == [(2, 3), (4, 6), (8, 12)]
    keys = set(dec.state_dict())
    for key in (
        "input_proj.0.0.weight",
        "input_proj.2.1.weight",
        "transformer.level_embed",
        "transformer.encoder.layers.1.self_attn.sampling_offsets.weight",
        "transformer.encoder.layers.0.linear1.weight",
        "transformer.encoder.layers.0.norm2.bias",
        "adapter_1.weight",
        "adapter_1.norm.weight",
        "layer_1.weight",
        "layer_1.norm.bias",
        "mask_features.weight",
    ):
        assert key in keys, key
    # input_proj[0] sees the coarsest level (p5), as in Mask2Former.
    assert dec.transformer_in_features == ["p5", "p4", "p3"]
    assert dec.transformer.encoder.layers[0].linear1.out_features == 48


def test_pixel_decoder_fpn_level_adds_lateral_and_upsampled_coarse():
    torch.manual_seed(0)
    dec = _pixel_decoder().eval()
    feats = {f"p{lvl}": torch.randn(1, 16, 64 // 2**lvl, 64 // 2**lvl) for lvl in (2, 3, 4, 5)}
    mask_features, _, multi_scale = dec.forward_features(feats)
    finest = multi_scale[-1]
    up = F.interpolate(finest, size=(16, 16), mode="bilinear", align_corners=False)
    y = dec.layer_1(dec.adapter_1(feats["p2"]) + up)
    torch.testing.assert_close(mask_features, dec.mask_features(y))


def test_masked_attention_mask_threshold_and_fallback():
    logits = torch.full((1, 3, 4, 4), -5.0)
    logits[0, 0, :2, :2] = 5.0  # query 0: top-left quadrant
    logits[0, 2] = 5.0  # query 2: everywhere; query 1: nowhere
    allowed = masked_attention_mask(logits, (2, 2))
    assert allowed.shape == (1, 1, 3, 4) and allowed.dtype == torch.bool
    assert allowed[0, 0, 0].tolist() == [True, False, False, False]
    # The empty mask falls back to attending everywhere.
    assert allowed[0, 0, 1].all() and allowed[0, 0, 2].all()


def test_cross_attention_with_empty_mask_equals_unmasked_attention():
    torch.manual_seed(0)
    layer = CrossAttentionLayer(d_model=8, nhead=2).eval()
    tgt, query_pos = torch.randn(1, 3, 8), torch.randn(1, 3, 8)
    memory, pos = torch.randn(1, 4, 8), torch.randn(1, 4, 8)
    logits = torch.randn(1, 3, 2, 2)
    logits[0, 1] = -3.0  # query 1 predicts an empty mask
    allowed = masked_attention_mask(logits, (2, 2))
    masked = layer(tgt, memory, allowed, pos, query_pos)
    free = layer(tgt, memory, None, pos, query_pos)
    assert torch.isfinite(masked).all()
    torch.testing.assert_close(masked[0, 1], free[0, 1])

    # Explicit attention for query 0 over its allowed keys only.
    attn = layer.multihead_attn
    w_q, w_k, w_v = attn.in_proj_weight.chunk(3)
    b_q, b_k, b_v = attn.in_proj_bias.chunk(3)
    q = ((tgt + query_pos)[0, 0] @ w_q.T + b_q).view(2, 4)
    k = ((memory + pos)[0] @ w_k.T + b_k).view(4, 2, 4)
    v = (memory[0] @ w_v.T + b_v).view(4, 2, 4)
    keep = allowed[0, 0, 0]
    scores = torch.einsum("hd,khd->hk", q, k) / 2.0
    scores = scores.masked_fill(~keep, float("-inf")).softmax(-1)
    heads = torch.einsum("hk,khd->hd", scores, v).reshape(8)
    want = layer.norm(tgt[0, 0] + attn.out_proj(heads))
    torch.testing.assert_close(masked[0, 0], want, atol=1e-5, rtol=1e-5)


def test_transformer_decoder_deep_supervision_and_level_cycle():
    torch.manual_seed(0)
    dec = MultiScaleMaskedTransformerDecoder(
        in_channels=16,
        num_classes=5,
        hidden_dim=16,
        num_queries=6,
        nheads=2,
        dim_feedforward=32,
        dec_layers=4,
        mask_dim=8,
    )
    levels = [torch.randn(2, 16, s, s) for s in (2, 4, 8)]
    seen = []
    for i, layer in enumerate(dec.transformer_cross_attention_layers):
        layer.register_forward_hook(lambda m, args, out, i=i: seen.append(args[1].shape[1]))
    out = dec(levels, torch.randn(2, 8, 16, 16))
    assert out["pred_logits"].shape == (2, 6, 6)
    assert out["pred_masks"].shape == (2, 6, 16, 16)
    assert len(out["aux_outputs"]) == 4
    # Layer i reads level i % 3: 1/32, 1/16, 1/8, 1/32.
    assert seen == [4, 16, 64, 4]
    (out["pred_masks"].sum() + out["pred_logits"].sum()).backward()
    assert dec.query_feat.weight.grad is not None and dec.query_embed.weight.grad is not None
    names = set(dec.state_dict())
    for key in (
        "transformer_self_attention_layers.3.self_attn.in_proj_weight",
        "transformer_cross_attention_layers.0.multihead_attn.out_proj.weight",
        "transformer_ffn_layers.2.linear2.bias",
        "decoder_norm.weight",
        "class_embed.weight",
        "mask_embed.layers.2.weight",
        "level_embed.weight",
    ):
        assert key in names, key


def test_mask_former_head_wires_the_decoders():
    torch.manual_seed(0)
    pixel = _pixel_decoder(conv_dim=32)
    predictor = MultiScaleMaskedTransformerDecoder(
        in_channels=32,
        num_classes=3,
        hidden_dim=32,
        num_queries=4,
        nheads=2,
        dim_feedforward=16,
        dec_layers=2,
        mask_dim=24,
    )
    head = MaskFormerHead(pixel_decoder=pixel, predictor=predictor)
    feats = {f"p{lvl}": torch.randn(1, 16, 64 // 2**lvl, 64 // 2**lvl) for lvl in (2, 3, 4, 5)}
    out = head(feats)
    assert out["pred_masks"].shape == (1, 4, 16, 16)
    assert out["pred_logits"].shape == (1, 4, 4)
