"""The ``train`` node read by tools/lazyconfig_train_net.py (detectron2's keys, EVA-02's periods).

Experiment configs import it (``train = get_config("common/train.py").train``) and change
``max_iter``, ``init_checkpoint``, ``eval_period``, ... on the copy.
"""

train = dict(
    output_dir="./output",
    # Weights loaded at the start of training (ignored when --resume finds last_checkpoint).
    init_checkpoint="",
    max_iter=90000,
    amp=dict(
        enabled=False,
        # "float16" (with a GradScaler, as EVA-02 trains) or "bfloat16" (no scaler needed).
        precision="float16",
        # Keyword arguments of torch.amp.GradScaler (float16), e.g. dict(init_scale=512).
        grad_scaler={},
    ),
    ddp=dict(  # options of DistributedDataParallel
        broadcast_buffers=False,
        find_unused_parameters=False,
        fp16_compression=False,
    ),
    # EVA-02 saves every 500 iterations (detectron2: 5000) and keeps up to 100 files.
    checkpointer=dict(period=500, max_to_keep=100),
    eval_period=500,
    log_period=20,
    device="cuda",
    # -1: a random seed per run (logged); >= 0: seed + rank in each process.
    seed=-1,
    cudnn_benchmark=False,
    # Clip the global L2 norm of the gradients to max_norm (off in all EVA-02 recipes).
    clip_grad=dict(enabled=False, max_norm=1.0),
    model_ema=dict(
        enabled=False,
        decay=0.9999,
        # Where the EMA copy lives; "" means the model's device (train.device).
        device="cuda",
        # --eval-only: evaluate the checkpoint's "ema_state" instead of its "model" weights.
        use_ema_weights_for_eval_only=False,
    ),
)
