"""2-D rotary position embedding (RoPE) with EVA-02's frequencies, scaling and channel layout.

Glossary: ``ft`` is the side of the token grid the table is built for (the window size for
window attention, ``img_size // patch_size`` for global attention), ``pt`` the side of the
pretraining grid (16 for EVA-02's 224 px / patch 14 MIM models), ``D`` the attention head dim.

Layout (EVA-02, ``VisionRotaryEmbeddingFast``): ``D // 4`` frequencies
``f_j = 1 / theta ** (2j / (D / 2))``; positions ``t = arange(ft) / ft * pt`` (the fine-tune grid
is squeezed onto the pretraining range); every frequency is repeated twice, adjacent
(``[f0, f0, f1, f1, ...]``); channels ``[0, D/2)`` rotate with the row index h, channels
``[D/2, D)`` with the column index w; token ``h * ft + w``. Channel pairs ``(2i, 2i + 1)``
rotate together by the same angle.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["VisionRotaryEmbeddingFast", "apply_rope", "rope_2d_angles", "rotate_half"]


def rope_2d_angles(
    dim: int,
    pt_seq_len: int,
    ft_seq_len: int,
    theta: float = 10000.0,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Rotation angles of a ``ft_seq_len x ft_seq_len`` token grid in EVA-02's layout.

    Args:
        dim: half of the head dim; the table has ``2 * dim`` channels and ``dim // 2``
            distinct frequencies.
        pt_seq_len: side of the pretraining grid that positions are rescaled onto.
        ft_seq_len: side of the grid the table is built for.
        theta: frequency base.
        device: where to compute (default: the current default device).

    Returns:
        Tensor[ft_seq_len ** 2, 2 * dim] (float32): angle of every (token, channel); row-major
        tokens (index ``h * ft_seq_len + w``), first ``dim`` channels driven by h, rest by w.
    """
    # Same float32 operation order as EVA-02 so the tables match its checkpoints bit for bit.
    freqs = 1.0 / (theta ** (torch.arange(0, dim, 2, device=device)[: dim // 2].float() / dim))
    t = torch.arange(ft_seq_len, device=device) / ft_seq_len * pt_seq_len
    per_axis = torch.einsum("i,f->if", t, freqs).repeat_interleave(2, dim=-1)  # (ft, dim)
    rows = per_axis[:, None, :].expand(ft_seq_len, ft_seq_len, dim)
    cols = per_axis[None, :, :].expand(ft_seq_len, ft_seq_len, dim)
    return torch.cat([rows, cols], dim=-1).reshape(ft_seq_len * ft_seq_len, 2 * dim)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """Rotate adjacent channel pairs by 90 degrees: ``(x0, x1) -> (-x1, x0)``.

    Args:
        x (Tensor[..., D]): D even.

    Returns:
        Tensor[..., D].
    """
    pairs = x.unflatten(-1, (-1, 2))
    return torch.stack([-pairs[..., 1], pairs[..., 0]], dim=-1).flatten(-2)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate every channel pair of ``x`` by the table's angle.

    Args:
        x (Tensor[B, heads, N, D]): queries or keys.
        cos (Tensor[N, D]): cosine table (float32).
        sin (Tensor[N, D]): sine table (float32).

    Returns:
        Tensor[B, heads, N, D], in the type promotion of ``x`` and the tables (float32 under
        AMP; callers cast back, as EVA-02 does with ``.type_as(v)``).
    """
    return x * cos + rotate_half(x) * sin


class VisionRotaryEmbeddingFast(nn.Module):
    """Pre-computed 2-D RoPE tables for one grid size, applied to queries and keys.

    The tables are persistent buffers named ``freqs_cos`` / ``freqs_sin`` so state dicts match
    the EVA-02 fork. They are a pure function of the constructor arguments: loading a state
    dict copies them when the shapes agree (identical values) and otherwise keeps the tables
    computed for this module's size, so a checkpoint trained at another resolution loads.

    Args:
        dim: half of the attention head dim (32 for EVA-02 B and L).
        pt_seq_len: side of the pretraining token grid (16).
        ft_seq_len: side of the grid to build for (window size, or image tokens per side);
            None means ``pt_seq_len``.
        theta: frequency base.
    """

    freqs_cos: torch.Tensor
    freqs_sin: torch.Tensor

    def __init__(
        self,
        dim: int,
        pt_seq_len: int = 16,
        ft_seq_len: int | None = None,
        theta: float = 10000.0,
    ) -> None:
        super().__init__()
        if dim % 2 != 0:
            raise ValueError(
                f"VisionRotaryEmbeddingFast: dim (half head dim) must be even, not {dim}"
            )
        self.dim = dim
        self.pt_seq_len = pt_seq_len
        self.ft_seq_len = pt_seq_len if ft_seq_len is None else ft_seq_len
        self.theta = theta
        # Built on the CPU even under a meta/cuda default device so values never depend on it.
        angles = rope_2d_angles(dim, pt_seq_len, self.ft_seq_len, theta, device="cpu")
        device = torch.empty(0).device
        self.register_buffer("freqs_cos", angles.cos().to(device))
        self.register_buffer("freqs_sin", angles.sin().to(device))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        """Apply the rotation.

        Args:
            t (Tensor[B, heads, N, 2 * dim]): N must equal ``ft_seq_len ** 2``.

        Returns:
            Tensor[B, heads, N, 2 * dim] (float32 when ``t`` is half precision).
        """
        if t.shape[-2] != self.freqs_cos.shape[0]:
            raise ValueError(
                f"RoPE table is built for a {self.ft_seq_len}x{self.ft_seq_len} token grid "
                f"({self.freqs_cos.shape[0]} tokens) but the attention input has {t.shape[-2]} "
                "tokens; global-attention blocks need the input padded to exactly img_size "
                "(SimpleFeaturePyramid square_pad), window blocks a window of window_size"
            )
        return apply_rope(t, self.freqs_cos, self.freqs_sin)

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, errors
    ):
        # The tables are recomputed from the config: accept a checkpoint's tables when they are
        # for the same grid, ignore them otherwise, and never report them missing.
        for name in ("freqs_cos", "freqs_sin"):
            key = prefix + name
            if key not in state_dict:
                continue
            value = state_dict[key]
            own = getattr(self, name)
            if tuple(value.shape) == tuple(own.shape) and own.device.type != "meta":
                with torch.no_grad():
                    own.copy_(value)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, pt_seq_len={self.pt_seq_len}, ft_seq_len={self.ft_seq_len}"
