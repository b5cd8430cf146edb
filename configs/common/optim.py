"""Optimizers: ``SGD`` (detectron2's CNN recipes) and ``AdamW`` (ViTDet / EVA-02).

``params.model`` is filled in by the training script before instantiation. Layer-wise lr decay
is set per config, e.g. ``optimizer.params.lr_factor_func = partial(get_vit_lr_decay_rate,
lr_decay_rate=0.7, num_layers=12)``.
"""

import torch

from det.config import LazyCall as L
from det.solver import get_default_optimizer_params

SGD = L(torch.optim.SGD)(
    params=L(get_default_optimizer_params)(
        # Normalization layers get no weight decay.
        weight_decay_norm=0.0
    ),
    lr=0.02,
    momentum=0.9,
    weight_decay=1e-4,
)

AdamW = L(torch.optim.AdamW)(
    params=L(get_default_optimizer_params)(
        # base_lr is needed by lr_factor_func (layer-wise lr decay).
        base_lr="${..lr}",
        weight_decay_norm=0.0,
    ),
    lr=1e-4,
    betas=(0.9, 0.999),
    weight_decay=0.1,
)
