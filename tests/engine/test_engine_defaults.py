import pytest
import torch
from omegaconf import OmegaConf

from det.config import LazyConfig, get_config
from det.engine import create_ddp_model, default_argument_parser, default_setup, default_writers
from det.utils.events import CommonMetricPrinter, JSONWriter, TensorboardXWriter


def test_argument_parser_surface():
    args = default_argument_parser().parse_args(
        "--config-file c.py --eval-only --num-gpus 4 --num-machines 2 --machine-rank 1 "
        "--dist-url tcp://h:60900 --resume --wandb train.max_iter=10 model.x=True".split()
    )
    assert (args.config_file, args.eval_only, args.resume, args.wandb) == ("c.py", True, True, True)
    assert (args.num_gpus, args.num_machines, args.machine_rank) == (4, 2, 1)
    assert args.dist_url == "tcp://h:60900"
    assert args.opts == ["train.max_iter=10", "model.x=True"]
    defaults = default_argument_parser().parse_args([])
    assert defaults.num_gpus == 1 and defaults.opts == [] and not defaults.resume
    assert defaults.dist_url.startswith("tcp://127.0.0.1:")


def test_default_setup_writes_config_log_and_seeds(tmp_path):
    cfg = OmegaConf.create({"train": get_config("common/train.py").train})
    cfg.train.output_dir = str(tmp_path / "out")
    cfg.train.seed = 5
    args = default_argument_parser().parse_args([])
    default_setup(cfg, args)
    value = torch.rand(1)
    torch.manual_seed(5)
    assert torch.equal(value, torch.rand(1))  # seeded with train.seed + rank 0
    reloaded = LazyConfig.load(str(tmp_path / "out" / "config.yaml"))
    assert reloaded.train.seed == 5 and reloaded.train.checkpointer.period == 500
    log = (tmp_path / "out" / "log.txt").read_text()
    assert "Environment info" in log and "Full config saved" in log


def test_default_writers_and_single_process_ddp(tmp_path):
    writers = default_writers(str(tmp_path), max_iter=10)
    assert [type(w) for w in writers] == [CommonMetricPrinter, JSONWriter, TensorboardXWriter]
    for w in writers:
        w.close()
    model = torch.nn.Linear(2, 2)
    assert create_ddp_model(model, broadcast_buffers=False) is model


def test_common_train_config_keys():
    train = get_config("common/train.py").train
    assert train.checkpointer == {"period": 500, "max_to_keep": 100}
    assert train.eval_period == 500 and train.log_period == 20 and train.seed == -1
    assert train.model_ema == {
        "enabled": False,
        "decay": 0.9999,
        "device": "cuda",
        "use_ema_weights_for_eval_only": False,
    }
    assert set(train.ddp) == {"broadcast_buffers", "find_unused_parameters", "fp16_compression"}


@pytest.mark.parametrize("name", ["SGD", "AdamW"])
def test_common_optimizers_instantiate(name):
    from det.config import instantiate

    cfg = get_config("common/optim.py")[name]
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    cfg.params.model = model
    optimizer = instantiate(cfg)
    decays = sorted(g["weight_decay"] for g in optimizer.param_groups)
    # norm layers get weight_decay_norm=0; the rest the optimizer's default
    assert decays == [0.0, 1e-4] if name == "SGD" else decays == [0.0, 0.1]
    assert all(g["lr"] == cfg.lr for g in optimizer.param_groups)
