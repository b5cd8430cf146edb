import pytest
import torch
from fvcore.common.param_scheduler import (
    CompositeParamScheduler,
    CosineParamScheduler,
    LinearParamScheduler,
    MultiStepParamScheduler,
)

from det.solver import LRMultiplier, WarmupParamScheduler


def test_linear_warmup_values_by_hand():
    main = MultiStepParamScheduler(values=[1.0, 0.1, 0.01], milestones=[6, 8], num_updates=10)
    sched = WarmupParamScheduler(main, warmup_factor=0.001, warmup_length=0.2)
    # Warm-up from 0.001 * 1 to main(0.2) = 1 over [0, 0.2): value(0.1) = 0.001 + 0.5 * 0.999.
    expected = [0.001, 0.5005, 1, 1, 1, 1, 0.1, 0.1, 0.01, 0.01]
    assert [sched(i / 10) for i in range(10)] == pytest.approx(expected)


def test_constant_warmup_and_rescaled_interval():
    main = CosineParamScheduler(1.0, 0.0)
    const = WarmupParamScheduler(main, 0.1, 0.25, warmup_method="constant")
    assert const(0.0) == pytest.approx(0.1) and const(0.2) == pytest.approx(0.1)
    assert const(0.5) == pytest.approx(0.5)  # cosine at 0.5 of the full interval
    rescaled = WarmupParamScheduler(main, 0.1, 0.25, rescale_interval=True)
    # At 0.625 the cosine sees (0.625 - 0.25) / 0.75 = 0.5.
    assert rescaled(0.625) == pytest.approx(0.5)
    assert rescaled(0.25) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="warmup_method"):
        WarmupParamScheduler(main, 0.1, 0.25, warmup_method="exp")


@pytest.mark.parametrize("rescale", [False, True])
def test_matches_fvcore_composite(rescale):
    main = CosineParamScheduler(1.0, 0.05)
    length = 0.3
    ours = WarmupParamScheduler(main, 0.01, length, rescale_interval=rescale)
    reference = CompositeParamScheduler(
        [LinearParamScheduler(0.01 * main(0.0), main(length)), main],
        lengths=[length, 1 - length],
        interval_scaling=["rescaled", "rescaled" if rescale else "fixed"],
    )
    for i in range(100):
        assert ours(i / 100) == pytest.approx(reference(i / 100), abs=1e-12)


def _optimizer():
    params = [torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))]
    return torch.optim.SGD([{"params": [params[0]], "lr": 1.0}, {"params": [params[1]], "lr": 0.1}])


def test_lr_multiplier_steps_and_resumes():
    schedule = WarmupParamScheduler(
        MultiStepParamScheduler(values=[1.0, 0.1], milestones=[5], num_updates=8), 0.5, 0.25
    )
    optimizer = _optimizer()
    scheduler = LRMultiplier(optimizer, schedule, max_iter=8)
    seen = []
    for _ in range(8):
        seen.append([g["lr"] for g in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    # Warm-up 0.5 -> 1 over 2 iterations, then 1 until iteration 5, then 0.1.
    multipliers = [0.5, 0.75, 1, 1, 1, 0.1, 0.1, 0.1]
    assert [lr for lrs in seen for lr in lrs] == pytest.approx(
        [lr for m in multipliers for lr in (m, 0.1 * m)]
    )

    # Resume after iteration 3: a new scheduler positioned there continues identically.
    optimizer2 = _optimizer()
    LRMultiplier(optimizer2, schedule, max_iter=8)  # sets initial_lr, as in the first run
    state = {"base_lrs": [1.0, 0.1], "last_epoch": 4}
    resumed = LRMultiplier(optimizer2, schedule, max_iter=8, last_iter=3)
    assert resumed.state_dict() == state
    assert [g["lr"] for g in optimizer2.param_groups] == pytest.approx(seen[4])
    optimizer2.step()
    resumed.step()
    assert [g["lr"] for g in optimizer2.param_groups] == pytest.approx(seen[5])


def test_lr_multiplier_rejects_non_schedule():
    with pytest.raises(ValueError, match="ParamScheduler"):
        LRMultiplier(_optimizer(), lambda where: 1.0, max_iter=10)
