"""Training-loop settings shared by every config (``train.*``)."""
train = dict(
    output_dir="./output",
    init_checkpoint="",
    max_iter=160000,
    seed=0,  # data order, augmentations, dropout and init; < 0: drawn once and saved in the checkpoints
    device="auto",  # "cuda" when available, else "cpu"
    amp=dict(enabled=False, dtype="bf16"),  # bf16 on GPU; IIWA's attention overflows fp16
    clip_grad=dict(enabled=False, max_norm=1.0),
    ddp=dict(broadcast_buffers=False, find_unused_parameters=False),
    checkpointer=dict(period=16000, max_to_keep=3),
    eval_period=16000,
    log_period=20,
    # Also read legacy pickled checkpoints (Detectron2 model-zoo .pkl, files holding Python objects).
    # Unpickling runs any code the file holds: only for files you trust. Off: weights only.
    allow_pickle=False,
)
