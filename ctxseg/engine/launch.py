"""Launch one process per device, like Detectron2's ``launch``, with three differences.

- Without CUDA the processes are CPU processes joined with the gloo backend (Detectron2 0.6 needs CUDA).
- SIGINT and SIGTERM sent to the launching process are passed on to its workers, which stop after
  their current iteration with a checkpoint (``ctxseg.engine.interrupt``), and the launcher waits for them.
- A ``UserError`` raised in a worker (a refused checkpoint, a locked output dir, an interrupted run...)
  is raised again in the launching process, as itself, instead of a worker traceback.
"""
import contextlib
import logging
import os
import signal
import sys
import threading
from datetime import timedelta

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from detectron2.engine.launch import _find_free_port
from detectron2.utils import comm

from ..utils import UserError
from .interrupt import STOP_SIGNALS

__all__ = ["launch"]

DEFAULT_TIMEOUT = timedelta(minutes=30)
# How long the launcher lets the other workers finish (e.g. a checkpoint being written) after one ended with an error.
GRACE_PERIOD_S = 120

logger = logging.getLogger(__name__)


def launch(main_func, num_gpus_per_machine, num_machines=1, machine_rank=0, dist_url=None, args=(),
           timeout=DEFAULT_TIMEOUT):
    """Run ``main_func(*args)`` in ``num_gpus_per_machine`` processes on each of ``num_machines``.

    With CUDA the processes use one GPU each (NCCL); without, they are CPU processes (gloo). One
    process in all runs ``main_func`` in this process.
    """
    world_size = num_machines * num_gpus_per_machine
    if world_size == 1:
        return main_func(*args)
    if dist_url in (None, "auto"):
        if num_machines != 1:
            raise ValueError("dist_url must be given for a multi-machine job")
        dist_url = f"tcp://127.0.0.1:{_find_free_port()}"
    if not torch.cuda.is_available():
        logger.info("No CUDA: starting %d CPU processes (gloo)", num_gpus_per_machine)
    errors = mp.get_context("spawn").SimpleQueue()
    context = mp.start_processes(_worker, nprocs=num_gpus_per_machine, daemon=False, join=False, start_method="spawn",
                                 args=(main_func, world_size, num_gpus_per_machine, machine_rank, dist_url, args,
                                       timeout, errors))
    with _passing_on_stop_signals(context.processes):
        try:
            while not context.join(grace_period=GRACE_PERIOD_S):
                pass
        except (mp.ProcessExitedException, mp.ProcessRaisedException):
            reported = []
            while not errors.empty():
                reported.append(errors.get())
            if not reported:
                raise
            raise min(reported, key=lambda item: item[0])[1] from None


@contextlib.contextmanager
def _passing_on_stop_signals(processes):
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def pass_on(signum, frame):
        logger.warning("Received %s: passing it on to the %d workers", signal.Signals(signum).name, len(processes))
        for process in processes:
            if process.is_alive():
                os.kill(process.pid, signum)

    previous = {signum: signal.signal(signum, pass_on) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _worker(local_rank, main_func, world_size, procs_per_machine, machine_rank, dist_url, args, timeout, errors):
    global_rank = machine_rank * procs_per_machine + local_rank
    cuda = torch.cuda.is_available()
    if cuda:
        if procs_per_machine > torch.cuda.device_count():
            raise ValueError(f"{procs_per_machine} processes per machine but only {torch.cuda.device_count()} GPUs")
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend="nccl" if cuda else "gloo", init_method=dist_url, world_size=world_size,
                            rank=global_rank, timeout=timeout)
    # Detectron2's comm helpers need the group of the ranks on this machine.
    for i in range(world_size // procs_per_machine):
        group = dist.new_group(list(range(i * procs_per_machine, (i + 1) * procs_per_machine)))
        if i == machine_rank:
            comm._LOCAL_PROCESS_GROUP = group
    comm.synchronize()
    try:
        main_func(*args)
    except UserError as e:
        errors.put((global_rank, e))
        sys.exit(getattr(e, "exit_code", 1))
    finally:
        dist.destroy_process_group()
