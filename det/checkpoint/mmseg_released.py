"""Load the seeds' released mmseg segmentors (ViT-Adapter, EVA-01, CAE, BEiT-style UperNets,
RegionProxy) into det's :class:`EncoderDecoder` / :class:`MaskFormer`.

The releases are mmseg checkpoints: ``{"meta": ..., "state_dict": {backbone.*, decode_head.*,
auxiliary_head.*}}`` (``.pth`` or ``.pth.tar``). det keeps mmseg's module names wherever the module
is the same, so the map is short and explicit:

* backbone inside a :class:`ViTAdapter`: the adapter's own modules (``level_embed``, ``spm``,
  ``interactions``, ``up``, ``norm1..norm4``) keep their names, every other ``backbone.X`` (the
  ViT: BEiT / EVA-01 / DeiT) becomes ``backbone.vit.X``;
* backbone inside a :class:`FourScaleNeck` (BEiT / CAE / EVA-02 UperNet): ``backbone.fpn{1..4}``
  keep their names, the ViT's ``backbone.X`` becomes ``backbone.net.X``;
* a bare :class:`TimmViT` backbone (RegionProxy): mmseg's ``VisionTransformer`` names become
  timm's (:mod:`det.checkpoint.mmseg_vit`), the head's ``decode_head.*`` names are det's;
* UperNet / FCN heads (``decode_head.*``, ``auxiliary_head.*``): identical names;
* the mmdet-style Mask2Former head (ViT-Adapter / EVA-01) onto det's ``sem_seg_head``: the table
  :data:`_MASK2FORMER_RULES` (spec ``mask2former_semseg.md`` Sec. 5.4, item 19).

Index buffers are dropped (rebuilt); a relative position table of another grid is resized as at
pre-training load; a class head for another number of classes (fine-tuning from a release of
another dataset, e.g. Cityscapes from Mapillary) is skipped and keeps its initialization.
Anything else that does not fit raises an error naming the family the file looks like and the
key groups that differ.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

from det.checkpoint.checkpointer import CheckpointError
from det.checkpoint.mmseg_vit import mmseg_vit_key_to_timm

__all__ = ["MMSegCheckpointError", "MMSegLoadReport", "maybe_convert_mmseg_release"]

_PD = "decode_head.pixel_decoder."
_TD = "decode_head.transformer_decoder."
_SP = "sem_seg_head.pixel_decoder."
_PR = "sem_seg_head.predictor."
# (mmseg / mmdet regex, det replacement) for ViT-Adapter / EVA-01's Mask2FormerHead.
_MASK2FORMER_RULES: tuple[tuple[str, str], ...] = (
    (rf"^{_PD}input_convs\.(\d+)\.conv\.", rf"{_SP}input_proj.\1.0."),
    (rf"^{_PD}input_convs\.(\d+)\.gn\.", rf"{_SP}input_proj.\1.1."),
    (rf"^{_PD}level_encoding\.weight$", rf"{_SP}transformer.level_embed"),
    (
        rf"^{_PD}encoder\.layers\.(\d+)\.attentions\.0\.",
        rf"{_SP}transformer.encoder.layers.\1.self_attn.",
    ),
    (
        rf"^{_PD}encoder\.layers\.(\d+)\.ffns\.0\.layers\.0\.0\.",
        rf"{_SP}transformer.encoder.layers.\1.linear1.",
    ),
    (
        rf"^{_PD}encoder\.layers\.(\d+)\.ffns\.0\.layers\.1\.",
        rf"{_SP}transformer.encoder.layers.\1.linear2.",
    ),
    (rf"^{_PD}encoder\.layers\.(\d+)\.norms\.0\.", rf"{_SP}transformer.encoder.layers.\1.norm1."),
    (rf"^{_PD}encoder\.layers\.(\d+)\.norms\.1\.", rf"{_SP}transformer.encoder.layers.\1.norm2."),
    (rf"^{_PD}lateral_convs\.0\.conv\.", rf"{_SP}adapter_1."),
    (rf"^{_PD}lateral_convs\.0\.gn\.", rf"{_SP}adapter_1.norm."),
    (rf"^{_PD}output_convs\.0\.conv\.", rf"{_SP}layer_1."),
    (rf"^{_PD}output_convs\.0\.gn\.", rf"{_SP}layer_1.norm."),
    (rf"^{_PD}mask_feature\.", rf"{_SP}mask_features."),
    (
        rf"^{_TD}layers\.(\d+)\.attentions\.0\.attn\.",
        rf"{_PR}transformer_cross_attention_layers.\1.multihead_attn.",
    ),
    (
        rf"^{_TD}layers\.(\d+)\.attentions\.1\.attn\.",
        rf"{_PR}transformer_self_attention_layers.\1.self_attn.",
    ),
    (rf"^{_TD}layers\.(\d+)\.ffns\.0\.layers\.0\.0\.", rf"{_PR}transformer_ffn_layers.\1.linear1."),
    (rf"^{_TD}layers\.(\d+)\.ffns\.0\.layers\.1\.", rf"{_PR}transformer_ffn_layers.\1.linear2."),
    (rf"^{_TD}layers\.(\d+)\.norms\.0\.", rf"{_PR}transformer_cross_attention_layers.\1.norm."),
    (rf"^{_TD}layers\.(\d+)\.norms\.1\.", rf"{_PR}transformer_self_attention_layers.\1.norm."),
    (rf"^{_TD}layers\.(\d+)\.norms\.2\.", rf"{_PR}transformer_ffn_layers.\1.norm."),
    (rf"^{_TD}post_norm\.", rf"{_PR}decoder_norm."),
    (r"^decode_head\.(query_embed|query_feat|level_embed)\.", rf"{_PR}\1."),
    (r"^decode_head\.cls_embed\.", rf"{_PR}class_embed."),
    (r"^decode_head\.mask_embed\.0\.", rf"{_PR}mask_embed.layers.0."),
    (r"^decode_head\.mask_embed\.2\.", rf"{_PR}mask_embed.layers.1."),
    (r"^decode_head\.mask_embed\.4\.", rf"{_PR}mask_embed.layers.2."),
)
_COMPILED = tuple((re.compile(p), r) for p, r in _MASK2FORMER_RULES)

# Per-class output layers: a release for another class count loads without them.
_CLASS_HEADS = (
    "sem_seg_head.predictor.class_embed.",
    "decode_head.conv_seg.",
    "auxiliary_head.conv_seg.",
    "decode_head.mlp.0.0.",
)

# What a decode head's keys say about the family that trained it.
_FAMILY_HINTS = (
    ("decode_head.transformer_decoder.", "Mask2Former (ViT-Adapter / EVA-01)"),
    ("decode_head.psp_modules.", "UperNet"),
    ("auxiliary_head.convs.", "UperNet / FCN with an auxiliary FCN head"),
    ("backbone.interactions.", "ViT-Adapter backbone"),
    ("backbone.fpn1.", "BEiT-style ViT with the four-scale neck"),
    ("decode_head.affinity_head.", "RegionProxy"),
    ("backbone.layers.", "mmseg VisionTransformer backbone"),
)


class MMSegCheckpointError(CheckpointError):
    """A released mmseg checkpoint that does not fit the model."""


@dataclass
class MMSegLoadReport:
    """What happened to every tensor of a released mmseg segmentor.

    Attributes:
        family: what the model is ("EncoderDecoder", "MaskFormer").
        loaded: model keys that received a checkpoint tensor.
        dropped: checkpoint key -> why it was deliberately not loaded.
        converted: notes on tensors changed on the way.
    """

    family: str
    loaded: list[str] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)
    converted: list[str] = field(default_factory=list)

    @property
    def is_clean(self) -> bool:
        """Always True: a checkpoint with missing or unexpected keys raises instead."""
        return True

    def __str__(self) -> str:
        lines = [f"mmseg release -> {self.family}: loaded {len(self.loaded)} tensors"]
        lines += [f"  converted: {note}" for note in self.converted]
        reasons: dict[str, list[str]] = {}
        for key, reason in self.dropped.items():
            reasons.setdefault(reason, []).append(key)
        for reason, keys in reasons.items():
            shown = ", ".join(keys[:3]) + (", ..." if len(keys) > 3 else "")
            lines.append(f"  dropped {len(keys)} ({reason}): {shown}")
        return "\n".join(lines)


def _flat(state_dict: Mapping) -> dict[str, torch.Tensor]:
    current: Mapping = state_dict
    for key in ("state_dict", "model", "module"):
        if isinstance(current.get(key), Mapping):
            current = current[key]
    return {k: v for k, v in current.items() if isinstance(v, torch.Tensor)}


def _looks_like_mmseg(flat: Mapping[str, torch.Tensor]) -> bool:
    return any(k.startswith("backbone.") for k in flat) and any(
        k.startswith("decode_head.") for k in flat
    )


def _family(keys) -> str:
    found = [name for prefix, name in _FAMILY_HINTS if any(k.startswith(prefix) for k in keys)]
    return ", ".join(found) or "an unknown mmseg segmentor"


def _backbone_key(key: str, backbone: nn.Module) -> str:
    from det.modeling.backbone import FourScaleNeck, TimmViT, ViTAdapter

    rest = key[len("backbone.") :]
    first = rest.split(".", 1)[0]
    if isinstance(backbone, ViTAdapter):
        own = {n for n, _ in backbone.named_children() if n != "vit"}
        own |= {n for n, _ in backbone.named_parameters(recurse=False)}
        return key if first in own else f"backbone.vit.{rest}"
    if isinstance(backbone, FourScaleNeck):
        return key if first.startswith("fpn") else f"backbone.net.{rest}"
    if isinstance(backbone, TimmViT):  # RegionProxy: mmseg's VisionTransformer names
        return f"backbone.{mmseg_vit_key_to_timm(rest)}"
    return key


def _head_key(key: str, is_maskformer: bool) -> str | None:
    if not is_maskformer:
        return key
    for pattern, replacement in _COMPILED:
        if pattern.search(key):
            return pattern.sub(replacement, key)
    return None


def _drop_reason(key: str, is_maskformer: bool, target: Mapping[str, torch.Tensor]) -> str | None:
    if key.endswith("relative_position_index"):
        return "index buffer (rebuilt for the model grid)"
    if key.endswith("attn.k_bias"):
        return "zero key bias buffer"
    if key.startswith("backbone.mask_token"):
        return "MIM mask token (unused)"
    if is_maskformer and key.startswith("decode_head.conv_seg."):
        return "unused per-pixel classifier of mmseg's BaseDecodeHead"
    # Parts of the ViT that this build does not use (ViT-Adapter's DeiT / AugReg keep them in
    # the module but never call them): only when the model has no such tensor anywhere.
    rest = key[len("backbone.") :] if key.startswith("backbone.") else ""
    unused = rest == "cls_token" or rest.startswith(("norm.", "head.", "fc_norm."))
    if unused and not any(k.endswith("." + rest) for k in target):
        return "ViT part this model does not use (no cls token / final norm / classifier)"
    return None


def maybe_convert_mmseg_release(
    state_dict: Mapping, model: nn.Module
) -> tuple[dict[str, torch.Tensor], MMSegLoadReport] | None:
    """Map a released mmseg segmentor onto det's EncoderDecoder / MaskFormer, or return None.

    One of ``det.checkpoint.detection_checkpoint.CONVERTERS``.

    Args:
        state_dict: the loaded file (``state_dict`` / ``model`` nesting allowed).
        model: an :class:`EncoderDecoder` or :class:`MaskFormer`.

    Returns:
        None when the file has no ``backbone.*`` + ``decode_head.*`` keys or the model is neither
        segmentor. Else ``(state dict keyed by model names, report)``.

    Raises:
        MMSegCheckpointError: keys that do not fit; the message names the family the file looks
            like (UperNet, Mask2Former, ViT-Adapter, ...) and the differing key groups.
    """
    from det.checkpoint.beit_pretrained import resize_rel_pos_table
    from det.modeling.backbone import BEiT
    from det.modeling.meta_arch import EncoderDecoder, MaskFormer

    flat = _flat(state_dict)
    if not _looks_like_mmseg(flat) or not isinstance(model, (EncoderDecoder, MaskFormer)):
        return None
    is_maskformer = isinstance(model, MaskFormer)
    report = MMSegLoadReport(family=type(model).__name__)
    target = model.state_dict()
    out: dict[str, torch.Tensor] = {}
    unexpected: list[str] = []
    mismatched: list[str] = []
    fresh: set[str] = set()
    for key, value in flat.items():
        reason = _drop_reason(key, is_maskformer, target)
        if reason is not None:
            report.dropped[key] = reason
            continue
        if key.startswith("backbone."):
            name = _backbone_key(key, model.backbone)
        else:
            name = _head_key(key, is_maskformer)
        if name is None or name not in target:
            unexpected.append(key)
            continue
        if name.endswith("relative_position_bias_table") and value.shape != target[name].shape:
            beit = next(m for m in model.modules() if isinstance(m, BEiT))
            value = resize_rel_pos_table(value, beit.grid)
            note = f"relative position tables resized to the {beit.grid} grid"
            if note not in report.converted:
                report.converted.append(note)
        if value.shape != target[name].shape and name.startswith(_CLASS_HEADS):
            # Fine-tuning from another dataset's release (Cityscapes from Mapillary): the
            # classifier keeps its initialization, as mmcv's ``load_from`` skips it.
            report.dropped[key] = "class head for another number of classes (kept fresh)"
            fresh.add(name)
            continue
        if value.shape != target[name].shape:
            mismatched.append(f"{key} {tuple(value.shape)} vs {name} {tuple(target[name].shape)}")
            continue
        out[name] = value
        report.loaded.append(name)
    missing = [k for k in target if k not in out and k not in fresh]
    if unexpected or missing or mismatched:
        raise MMSegCheckpointError(
            f"The released checkpoint (it looks like: {_family(flat)}) does not fit this "
            f"{type(model).__name__} (a {_family(_model_keys_as_mmseg(target))} model): "
            f"missing {_groups(missing)}; unexpected {_groups(unexpected)}; shape mismatch "
            f"{mismatched[:3]}. Use the card of the checkpoint's family and size."
        )
    return out, report


def _model_keys_as_mmseg(target: Mapping[str, torch.Tensor]) -> list[str]:
    # Describe the model in the checkpoint's vocabulary, for the error message.
    keys = list(target)
    if any(k.startswith("sem_seg_head.predictor.") for k in keys):
        keys.append("decode_head.transformer_decoder.")
    return keys


def _groups(keys: list[str]) -> list[str]:
    starred = {re.sub(r"\.(weight|bias)$", "", re.sub(r"(?<=\.)\d+(?=\.)", "*", k)) for k in keys}
    groups = sorted(starred)
    return groups[:12] + (["..."] if len(groups) > 12 else [])
