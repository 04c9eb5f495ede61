"""A training loader that resumes exactly where it stopped, with any number of workers or processes.

The stream of samples is a pure function of (seed, global position). Position p is the sample
``order(epoch)[p % n]`` with ``epoch = p // n`` and one seeded permutation per epoch, and its
augmentations draw from RNGs seeded with (seed, p), so they do not depend on which worker maps it.
In iteration i the global batch of B samples is positions [i*B, (i+1)*B); rank r of w takes every
w-th of them. The loader counts the positions it has handed out, and ``state_dict`` /
``load_state_dict`` carry that count and the seed through a checkpoint: a resumed run reads the same
samples with the same augmentation draws as a run that never stopped.
"""
import itertools
import logging
import signal

import torch
from detectron2.data.common import DatasetFromList
from detectron2.utils import comm
from torch.utils.data import DataLoader, Dataset, Sampler

from ..utils.seeding import Stream, derive_seed, random_seed, seeded_rng

__all__ = ["ResumableTrainLoader"]

logger = logging.getLogger(__name__)


class _SeededSamples(Dataset):
    """Map a global position to (a permutation of) the dataset, mapped under RNGs seeded by the position."""

    def __init__(self, dataset, mapper, seed):
        self.dataset = DatasetFromList(dataset, copy=False) if isinstance(dataset, list) else dataset
        if len(self.dataset) == 0:
            raise ValueError("the training dataset is empty")
        self.mapper = mapper
        self.reseed(seed)

    def reseed(self, seed):
        """Use ``seed`` for the data order and the augmentations."""
        self.seed = seed
        self._order = (None, None)  # (epoch, permutation) of the last epoch seen

    def order(self, epoch):
        """The permutation of the dataset's indices used in ``epoch``."""
        if self._order[0] != epoch:
            generator = torch.Generator().manual_seed(derive_seed(self.seed, Stream.DATA_ORDER, epoch))
            self._order = (epoch, torch.randperm(len(self.dataset), generator=generator))
        return self._order[1]

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, position):
        epoch, offset = divmod(position, len(self.dataset))
        record = self.dataset[int(self.order(epoch)[offset])]
        with seeded_rng(derive_seed(self.seed, Stream.AUGMENTATION, position)):
            return self.mapper(record)


class _Positions(Sampler):
    """The endless positions start + rank, start + rank + world_size, ..."""

    def __init__(self, start, rank, world_size):
        self.start, self.rank, self.world_size = start, rank, world_size

    def __iter__(self):
        return itertools.count(self.start + self.rank, self.world_size)


def _as_list(batch):
    return batch


def _leave_stop_signals_to_the_trainer(worker_id):
    # Ctrl-C reaches the whole process group: the training process stops after its iteration and shuts
    # its workers down, so they ignore it. SIGTERM ends a worker quietly (exit status 0), as torch ends
    # one on SIGINT: the launcher, multiprocessing at exit and job schedulers send it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.default_int_handler)


class ResumableTrainLoader:
    """An endless iterable of training batches (lists of mapped dicts) whose position is checkpointable.

    Args:
        dataset: a list of dataset dicts (or a map-style dataset).
        mapper: maps one dataset dict to the model's input (its randomness must come from Python's,
            NumPy's or torch's global RNGs, which are seeded per sample).
        total_batch_size: samples per iteration over all processes.
        num_workers: data-loading worker processes per training process (0: load in the trainer).
        seed: the seed of the data order and the augmentations; None or < 0 draws one, which is
            saved with the loader's state.
    """

    def __init__(self, dataset, mapper, total_batch_size, num_workers=0, seed=0):
        world_size = comm.get_world_size()
        if total_batch_size <= 0 or total_batch_size % world_size:
            raise ValueError(f"dataloader.train.total_batch_size={total_batch_size} must be a positive multiple "
                             f"of the number of processes ({world_size})")
        if seed is None or seed < 0:
            seed = comm.all_gather(random_seed())[0]  # every process must read the same stream
            logger.info("Training data seed (drawn): %d", seed)
        self.total_batch_size = total_batch_size
        self.num_workers = num_workers
        self.position = 0
        self._samples = _SeededSamples(dataset, mapper, seed)

    @property
    def seed(self):
        """The seed of the data order and the augmentations."""
        return self._samples.seed

    def _batches_from(self, position):
        return DataLoader(self._samples, sampler=_Positions(position, comm.get_rank(), comm.get_world_size()),
                          batch_size=self.total_batch_size // comm.get_world_size(), num_workers=self.num_workers,
                          collate_fn=_as_list, worker_init_fn=_leave_stop_signals_to_the_trainer,
                          generator=torch.Generator().manual_seed(self.seed))  # not torch's global RNG

    def __iter__(self):
        restarted_at = None
        while True:
            try:
                for batch in self._batches_from(self.position):
                    self.position += self.total_batch_size
                    yield batch
            except RuntimeError as e:
                # Workers ended by a signal to the process group (the trainer is then finishing its
                # iteration) or killed: new ones continue at the same position, with the same samples.
                if not self.num_workers or "exited unexpectedly" not in str(e) or restarted_at == self.position:
                    raise
                restarted_at = self.position
                logger.warning("The data-loading workers ended (%s): starting new ones at sample %d", e, self.position)

    def state_dict(self):
        """The seed and the number of samples handed out so far (over all processes)."""
        return {"seed": self.seed, "position": self.position}

    def load_state_dict(self, state):
        """Continue from ``state``; takes effect for the next ``iter()``."""
        self._samples.reseed(int(state["seed"]))
        self.position = int(state["position"])
