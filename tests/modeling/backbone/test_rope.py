"""2-D RoPE tables (EVA-02 layout) checked entry by entry against the written-out formula."""

import math

import numpy as np
import pytest
import torch

from det.modeling.backbone.rope import (
    VisionRotaryEmbeddingFast,
    apply_rope,
    rotate_half,
)


def _freq(j: int) -> float:
    # EVA-02: 16 frequencies 10000^(-2j/32) for head dim 64.
    return 10000.0 ** (-j / 16)


def _angle(ft: int, token: int, channel: int, pt: int = 16) -> float:
    h, w = divmod(token, ft)
    pos = h if channel < 32 else w
    return pos / ft * pt * _freq((channel % 32) // 2)


@pytest.mark.parametrize(
    "ft, token, channel, expected_angle",
    [
        (16, 3 * 16 + 5, 0, 3.0),  # window 16: t = k exactly; row index drives channel 0
        (16, 3 * 16 + 5, 1, 3.0),  # the pair (0, 1) shares one angle
        (16, 3 * 16 + 5, 32, 5.0),  # channel 32 is the first column channel
        (16, 3 * 16 + 5, 2, 3.0 * 10000 ** (-1 / 16)),
        (16, 15 * 16 + 15, 63, 15.0 * 10000 ** (-15 / 16)),
        (32, 31 * 32 + 0, 0, 15.5),  # window 32: t = k / 2
        (32, 31 * 32 + 0, 32, 0.0),
        (32, 7 * 32 + 9, 35, 4.5 * 10000 ** (-1 / 16)),
        (64, 63 * 64 + 10, 0, 15.75),  # 1024 px global grid: t = k / 4
        (64, 63 * 64 + 10, 34, 2.5 * 10000 ** (-1 / 16)),
        (96, 95 * 96 + 95, 30, 95 / 6 * 10000 ** (-15 / 16)),  # 1536 px: t = k / 6
        (96, 95 * 96 + 95, 62, 95 / 6 * 10000 ** (-15 / 16)),
        (96, 1 * 96 + 0, 0, 1 / 6),
    ],
)
def test_table_entries_by_hand(ft, token, channel, expected_angle):
    rope = VisionRotaryEmbeddingFast(dim=32, pt_seq_len=16, ft_seq_len=ft)
    assert rope.freqs_cos.shape == (ft * ft, 64)
    assert rope.freqs_sin.shape == (ft * ft, 64)
    assert rope.freqs_cos[token, channel].item() == pytest.approx(
        math.cos(expected_angle), abs=2e-6
    )
    assert rope.freqs_sin[token, channel].item() == pytest.approx(
        math.sin(expected_angle), abs=2e-6
    )


@pytest.mark.parametrize("ft", [16, 32, 64, 96])
def test_full_table_matches_numpy_formula(ft):
    rope = VisionRotaryEmbeddingFast(dim=32, pt_seq_len=16, ft_seq_len=ft)
    tokens = np.arange(ft * ft)
    h, w = tokens // ft, tokens % ft
    freqs = 10000.0 ** (-np.arange(16) / 16)
    pos = np.concatenate(
        [np.repeat((h / ft * 16)[:, None] * freqs, 2, axis=1)]
        + [np.repeat((w / ft * 16)[:, None] * freqs, 2, axis=1)],
        axis=1,
    )
    np.testing.assert_allclose(rope.freqs_cos.numpy(), np.cos(pos), atol=3e-6)
    np.testing.assert_allclose(rope.freqs_sin.numpy(), np.sin(pos), atol=3e-6)
    assert _angle(ft, ft * ft - 1, 63) == pytest.approx(pos[-1, 63])


def test_intp_freq_off_uses_pretraining_grid():
    rope = VisionRotaryEmbeddingFast(dim=32, pt_seq_len=16, ft_seq_len=None)
    assert rope.freqs_cos.shape == (256, 64)


def test_rotate_half_pairs_adjacent_channels():
    x = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert rotate_half(x).tolist() == [-2.0, 1.0, -4.0, 3.0]


def test_apply_rope_is_complex_rotation_of_pairs():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 16, 8, generator=g)
    angles = torch.rand(16, 4, generator=g) * 6
    cos = angles.repeat_interleave(2, -1).cos()
    sin = angles.repeat_interleave(2, -1).sin()
    out = apply_rope(x, cos, sin)
    xc = x.numpy()[..., 0::2] + 1j * x.numpy()[..., 1::2]
    ref = xc * np.exp(1j * angles.numpy())
    np.testing.assert_allclose(out.numpy()[..., 0::2], ref.real, atol=1e-5)
    np.testing.assert_allclose(out.numpy()[..., 1::2], ref.imag, atol=1e-5)


def test_scores_depend_on_relative_position_only():
    # With t = k (ft == pt), q_i . k_j after RoPE depends only on (i - j) along each axis.
    rope = VisionRotaryEmbeddingFast(dim=8, pt_seq_len=4, ft_seq_len=4)
    g = torch.Generator().manual_seed(1)
    q = torch.randn(16, generator=g)
    k = torch.randn(16, generator=g)
    qs = rope(q.expand(1, 1, 16, 16).clone())[0, 0]
    ks = rope(k.expand(1, 1, 16, 16).clone())[0, 0]
    scores = qs @ ks.T
    # token (1, 1) vs (0, 0) has the same offset as (3, 2) vs (2, 1).
    assert scores[1 * 4 + 1, 0].item() == pytest.approx(scores[3 * 4 + 2, 2 * 4 + 1].item(), 1e-5)


def test_wrong_token_count_names_the_fix():
    rope = VisionRotaryEmbeddingFast(dim=32, pt_seq_len=16, ft_seq_len=4)
    with pytest.raises(ValueError, match="square_pad"):
        rope(torch.zeros(1, 1, 20, 64))


def test_loading_tables_of_another_size_keeps_own():
    rope = VisionRotaryEmbeddingFast(dim=32, pt_seq_len=16, ft_seq_len=64)
    other = VisionRotaryEmbeddingFast(dim=32, pt_seq_len=16, ft_seq_len=96)
    expected = rope.freqs_cos.clone()
    result = rope.load_state_dict(other.state_dict(), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert torch.equal(rope.freqs_cos, expected)
    # and loading nothing is fine too: the tables are derived, never "missing".
    assert not rope.load_state_dict({}, strict=True).missing_keys


def test_loading_same_size_tables_copies_them():
    rope = VisionRotaryEmbeddingFast(dim=32, pt_seq_len=16, ft_seq_len=16)
    sd = {"freqs_cos": torch.full((256, 64), 0.5), "freqs_sin": torch.zeros(256, 64)}
    rope.load_state_dict(sd)
    assert torch.all(rope.freqs_cos == 0.5)
