import json

import pytest
import torch

from det.engine.launch import launch
from det.utils import comm


def test_single_process_defaults():
    assert comm.get_world_size() == 1 and comm.get_rank() == 0
    assert comm.get_local_rank() == 0 and comm.get_local_size() == 1
    assert comm.is_main_process()
    assert comm.all_gather({"a": 1}) == [{"a": 1}]
    assert comm.gather(5) == [5]
    losses = {"a": torch.tensor(1.0)}
    assert comm.reduce_dict(losses) is losses
    comm.synchronize()


def _worker(out_dir):
    rank = comm.get_rank()
    result = {
        "world": comm.get_world_size(),
        "local_rank": comm.get_local_rank(),
        "local_size": comm.get_local_size(),
        "all_gather": comm.all_gather({"rank": rank, "sq": rank * rank}),
        "gather": comm.gather(rank + 10),
        "seed_equal": len(set(comm.all_gather(comm.shared_random_seed()))) == 1,
        "reduced": {
            k: v.item()
            for k, v in comm.reduce_dict(
                {"x": torch.tensor(float(rank + 1)), "y": torch.tensor(2.0)}
            ).items()
        },
    }
    comm.synchronize()
    with open(f"{out_dir}/rank{rank}.json", "w") as f:
        json.dump(result, f)


@pytest.mark.slow
def test_two_gloo_processes(tmp_path):
    launch(_worker, 2, dist_url="auto", args=(str(tmp_path),))
    r0 = json.loads((tmp_path / "rank0.json").read_text())
    r1 = json.loads((tmp_path / "rank1.json").read_text())
    expected_gather = [{"rank": 0, "sq": 0}, {"rank": 1, "sq": 1}]
    for rank, r in enumerate((r0, r1)):
        assert r["world"] == 2 and r["local_size"] == 2 and r["local_rank"] == rank
        assert r["all_gather"] == expected_gather
        assert r["seed_equal"]
    assert r0["gather"] == [10, 11] and r1["gather"] == []
    # reduce_dict averages onto rank 0: x = (1 + 2) / 2, y = 2.
    assert r0["reduced"] == {"x": 1.5, "y": 2.0}
