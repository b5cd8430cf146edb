"""Toy LazyConfig: a tiny classifier on random data, trained on CPU in about a second.

Modules are referenced by dotted strings, so tests/engine/toy must be on PYTHONPATH.
Schedule: 12 iterations, checkpoints every 4 (after iterations 3, 7, 11), evaluation after
iteration 5 and at the end, a metrics line every iteration.
"""

from fvcore.common.param_scheduler import MultiStepParamScheduler

from det.config import LazyCall as L
from det.config import get_config
from det.solver import WarmupParamScheduler

model = L("toy_model.ToyClassifier")(in_dim=4, hidden_dim=16, num_classes=3)

dataloader = dict(
    train=L("toy_data.ToyTrainLoader")(num_samples=16, total_batch_size=8, seed=0),
    test=L("toy_data.build_toy_test_loader")(num_samples=12, seed=1),
    evaluator=L("toy_evaluator.ToyAccuracyEvaluator")(),
)

optimizer = get_config("common/optim.py").AdamW
optimizer.lr = 0.02

lr_multiplier = L(WarmupParamScheduler)(
    scheduler=L(MultiStepParamScheduler)(values=[1.0, 0.1], milestones=[8], num_updates=12),
    warmup_length=0.25,
    warmup_factor=0.1,
)

train = get_config("common/train.py").train
train.output_dir = "./output/toy"
train.max_iter = 12
train.device = "cpu"
train.seed = 0
train.checkpointer.period = 4
train.eval_period = 6
train.log_period = 1
