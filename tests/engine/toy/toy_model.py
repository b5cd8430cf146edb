"""A tiny classifier that follows det's model contract, for trainer and CLI tests.

Input: a list of dicts ``{"x": Tensor[D], "label": int}``. Training returns
``{"loss_cls": cross entropy (mean over the batch), "loss_l2": weight penalty}``; inference
returns ``[{"pred_class": int, "scores": Tensor[K]}]``.
"""

import json

import torch
import torch.nn.functional as F
from torch import nn

from det.utils import comm
from det.utils.events import get_event_storage

__all__ = ["ToyClassifier"]


class ToyClassifier(nn.Module):
    """Linear -> LayerNorm -> ReLU -> Linear on D-dim inputs, K classes.

    ``raw_loss_file``: if set, the main process appends ``{"iteration", "loss_cls", "loss_l2"}``
    JSON lines with the unsmoothed losses of every training step (metrics.json holds medians).
    """

    def __init__(
        self, *, in_dim: int = 4, hidden_dim: int = 16, num_classes: int = 3, raw_loss_file=""
    ):
        super().__init__()
        self.raw_loss_file = raw_loss_file
        self.fc1 = nn.Linear(in_dim, hidden_dim)
        self.norm = nn.LayerNorm(hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, num_classes)

    @property
    def device(self) -> torch.device:
        return self.fc1.weight.device

    def forward(self, batched_inputs: list[dict]):
        x = torch.stack([d["x"] for d in batched_inputs]).to(self.device)
        logits = self.fc2(torch.relu(self.norm(self.fc1(x))))
        if not self.training:
            return [{"pred_class": int(s.argmax()), "scores": s.softmax(-1)} for s in logits]
        labels = torch.tensor([d["label"] for d in batched_inputs], device=self.device)
        loss_cls = F.cross_entropy(logits.float(), labels)
        weights = (self.fc1.weight, self.fc2.weight)
        loss_l2 = 1e-3 * sum(w.float().pow(2).sum() for w in weights)
        if self.raw_loss_file and comm.is_main_process():
            record = {"iteration": get_event_storage().iter, "loss_cls": loss_cls.item()}
            record["loss_l2"] = loss_l2.item()
            with open(self.raw_loss_file, "a") as f:
                f.write(json.dumps(record) + "\n")
        return {"loss_cls": loss_cls, "loss_l2": loss_l2}
