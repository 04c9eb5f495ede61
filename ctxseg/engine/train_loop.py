"""Training and evaluation driven by a LazyConfig: what ``ctxseg-train`` runs in each process.

A command line runs ``default_setup(cfg, args)`` then ``do_train(args, cfg)`` or ``eval_only(cfg)``.
They read ``args.resume`` and these config keys besides the model, data and optimizer:
``train.output_dir``, ``train.init_checkpoint``, ``train.max_iter``, ``train.seed``,
``train.allow_pickle``, ``train.checkpointer``, ``train.eval_period``, ``train.log_period``,
``train.amp``, ``train.clip_grad``, ``train.ddp``, ``train.device``. User errors are ``UserError``s
(``TrainingInterrupted`` carries the exit status of the signal that stopped training).
"""
import contextlib
import logging

import torch
from detectron2.engine import default_setup as d2_default_setup
from detectron2.engine import hooks
from detectron2.engine.defaults import default_writers
from detectron2.evaluation import inference_on_dataset, print_csv_format
from detectron2.utils import comm
from torch.nn.parallel import DistributedDataParallel

from ..config import instantiate_config, validate_train_config
from ..utils import UserError, lock_output_dir, remove_temporaries, unlock_output_dir
from ..utils.seeding import Stream, derive_seed, random_seed, seeded_rng
from .checkpointer import AtomicCheckpointer
from .config_diff import flatten_config
from .errors import TrainingDiverged
from .hooks import CheckpointHook, PeriodicWriter
from .interrupt import StopOnSignal, StopRequest
from .trainer import SegTrainer

__all__ = ["resolve_device", "build_model", "default_setup", "do_test", "do_train", "eval_only"]

logger = logging.getLogger("ctxseg")


def resolve_device(device):
    """"auto" -> "cuda" when available, else "cpu"; any other value is returned unchanged."""
    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"train.device={device} but CUDA is not available; use train.device=auto or cpu")
    return device


def build_model(cfg):
    """Instantiate ``cfg.model`` on ``cfg.train.device``."""
    model = instantiate_config(cfg.model, "model")
    device = resolve_device(cfg.train.get("device", "auto"))
    if device.startswith("cuda") and comm.get_world_size() > 1:
        device = f"cuda:{comm.get_local_rank()}"
    return model.to(device)


def _on_main_process(fn):
    """Run ``fn`` in the main process; a ``UserError`` it raises is raised in every process."""
    error = None
    if comm.is_main_process():
        try:
            fn()
        except UserError as e:
            error = e
    if comm.get_world_size() > 1:
        error = comm.all_gather(error)[0]
    if error is not None:
        raise error


def _take_output_dir(output_dir):
    lock_output_dir(output_dir)
    remove_temporaries(output_dir)


@contextlib.contextmanager
def _output_dir_locked(output_dir):
    """Hold the run lock of ``output_dir`` (main process) and clear the temporaries of killed writes."""
    _on_main_process(lambda: _take_output_dir(output_dir))
    try:
        yield
    finally:
        if comm.is_main_process():
            unlock_output_dir(output_dir)


def default_setup(cfg, args):
    """Detectron2's ``default_setup`` (logs, ``config.yaml``, seeds), once this run holds the output dir.

    The lock is taken first, so a second run on the same output dir is refused before it writes
    anything there; it is held until the process ends.
    """
    _on_main_process(lambda: _take_output_dir(cfg.train.output_dir))
    d2_default_setup(cfg, args)


def _wrap_ddp(model, cfg):
    if comm.get_world_size() == 1:
        return model
    kwargs = dict(cfg.train.get("ddp", {}))
    kwargs.pop("fp16_compression", None)
    if next(model.parameters()).is_cuda:
        kwargs.setdefault("device_ids", [comm.get_local_rank()])
    return DistributedDataParallel(model, **kwargs)


def _training_seed(cfg):
    seed = cfg.train.get("seed", 0)
    if seed is None or seed < 0:
        seed = comm.all_gather(random_seed())[0]
        logger.info("train.seed < 0: using the drawn seed %d (saved in the checkpoints)", seed)
    return seed


def do_test(cfg, model):
    """Evaluate ``model`` on ``cfg.dataloader.test`` with ``cfg.dataloader.evaluator``; return results."""
    if "evaluator" not in cfg.dataloader:
        return {}
    evaluator = instantiate_config(cfg.dataloader.evaluator, "dataloader.evaluator")
    results = inference_on_dataset(model, instantiate_config(cfg.dataloader.test, "dataloader.test"), evaluator)
    if comm.is_main_process() and results:
        print_csv_format(results)
    return results


def _start_iteration(checkpointer, cfg, resume):
    if resume:
        if checkpointer.resume() is not None:
            start_iter = checkpointer.checkpointables["trainer"].iter + 1
            logger.info("Resuming from iteration %d", start_iter)
            return start_iter
        logger.info("--resume: %s has no checkpoint yet; starting a new run", cfg.train.output_dir)
    checkpointer.load_init(cfg.train.init_checkpoint)
    return 0


def do_train(args, cfg):
    """Train ``cfg.model`` with checkpoints, evaluation and metric writers; resume when ``args.resume``.

    Holds the output dir's lock. Stops with ``TrainingDiverged`` at the first non-finite loss or
    gradient norm, and with ``TrainingInterrupted`` (after saving a checkpoint) on SIGINT or SIGTERM.
    Returns the trainer.
    """
    validate_train_config(cfg)
    output_dir = cfg.train.output_dir
    with _output_dir_locked(output_dir):
        seed = _training_seed(cfg)
        with seeded_rng(derive_seed(seed, Stream.MODEL_INIT)):
            model = build_model(cfg)
        logger.info("Model:\n%s", model)
        model_config = flatten_config(cfg.model, "model")
        cfg.optimizer.params.model = model
        optimizer = instantiate_config(cfg.optimizer, "optimizer")
        train_loader = instantiate_config(cfg.dataloader.train, "dataloader.train")
        ddp_model = _wrap_ddp(model, cfg)

        amp = cfg.train.get("amp", {})
        clip = cfg.train.get("clip_grad", {})
        trainer = SegTrainer(ddp_model, train_loader, optimizer,
                             amp=amp.get("dtype", "bf16") if amp.get("enabled", False) else None,
                             clip_grad=clip.get("max_norm") if clip.get("enabled", False) else None,
                             device_type="cuda" if next(model.parameters()).is_cuda else "cpu", seed=seed)
        checkpointer = AtomicCheckpointer(model, output_dir, allow_pickle=cfg.train.get("allow_pickle", False),
                                          model_config=model_config, trainer=trainer)
        stop_request = StopRequest()
        trainer.register_hooks([
            hooks.IterationTimer(),
            hooks.LRScheduler(scheduler=instantiate_config(cfg.lr_multiplier, "lr_multiplier")),
            CheckpointHook(checkpointer, **cfg.train.checkpointer),
            hooks.EvalHook(cfg.train.eval_period, lambda: do_test(cfg, model)),
            PeriodicWriter(default_writers(output_dir, cfg.train.max_iter),
                           period=cfg.train.get("log_period", 20)) if comm.is_main_process() else None,
            StopOnSignal(checkpointer, stop_request),
        ])

        start_iter = _start_iteration(checkpointer, cfg, args.resume)
        with stop_request:
            try:
                trainer.train(start_iter, cfg.train.max_iter)
            except TrainingDiverged as e:
                last = checkpointer.get_checkpoint_file() if checkpointer.has_checkpoint() else None
                raise TrainingDiverged(f"{e} The last good checkpoint is {last}." if last else
                                       f"{e} No checkpoint was saved before.") from None
    return trainer


def eval_only(cfg):
    """Load ``cfg.train.init_checkpoint`` (weights that fit the model exactly) and evaluate."""
    with _output_dir_locked(cfg.train.output_dir):
        model = build_model(cfg)
        if not cfg.train.init_checkpoint:
            logger.warning("--eval-only without train.init_checkpoint: evaluating an untrained model")
        else:
            AtomicCheckpointer(model, allow_pickle=cfg.train.get("allow_pickle", False)).load(cfg.train.init_checkpoint)
        return do_test(cfg, model)
