"""The resumable train loader: samples and augmentation draws are functions of (seed, position) only."""
import itertools
import multiprocessing
import os
import random
import signal

import numpy as np
import pytest
import torch

import ctxseg.data.train_loader as train_loader
from ctxseg.data import ResumableTrainLoader

DATASET = [{"index": i} for i in range(5)]


def draw(record):
    """A mapper whose output shows the sample and one draw of each global RNG."""
    return (record["index"], float(np.random.rand()), random.random(), float(torch.rand(1)))


def batches(loader, n):
    return list(itertools.islice(iter(loader), n))


def test_a_restored_loader_continues_with_the_same_samples_and_draws():
    straight = batches(ResumableTrainLoader(DATASET, draw, total_batch_size=2, seed=3), 6)
    first = ResumableTrainLoader(DATASET, draw, total_batch_size=2, seed=3)
    head = batches(first, 3)
    resumed = ResumableTrainLoader(DATASET, draw, total_batch_size=2, seed=7)
    resumed.load_state_dict(first.state_dict())
    assert first.state_dict() == {"seed": 3, "position": 6}
    assert head + batches(resumed, 3) == straight
    assert straight != batches(ResumableTrainLoader(DATASET, draw, total_batch_size=2, seed=4), 6)


def test_each_epoch_is_a_permutation_and_epochs_differ():
    samples = [s[0] for b in batches(ResumableTrainLoader(DATASET, draw, total_batch_size=5, seed=0), 3) for s in b]
    epochs = [samples[i:i + 5] for i in (0, 5, 10)]
    assert all(sorted(e) == list(range(5)) for e in epochs) and len({tuple(e) for e in epochs}) > 1
    augmentations = [s[1] for b in batches(ResumableTrainLoader(DATASET, draw, total_batch_size=5, seed=0), 2)
                     for s in b]
    assert len(set(augmentations)) == 10  # a sample seen again gets new draws


def test_the_trainers_random_state_is_left_alone():
    torch.manual_seed(11)
    np.random.seed(11)
    expected = (float(torch.rand(1)), float(np.random.rand()))
    torch.manual_seed(11)
    np.random.seed(11)
    batches(ResumableTrainLoader(DATASET, draw, total_batch_size=2, seed=0), 2)
    assert (float(torch.rand(1)), float(np.random.rand())) == expected


def test_workers_give_the_same_batches_as_the_main_process():
    expected = batches(ResumableTrainLoader(DATASET, draw, total_batch_size=2, seed=5), 5)
    assert batches(ResumableTrainLoader(DATASET, draw, total_batch_size=2, num_workers=2, seed=5), 5) == expected


def test_two_processes_split_each_global_batch(monkeypatch):
    expected = batches(ResumableTrainLoader(DATASET, draw, total_batch_size=4, seed=1), 3)
    monkeypatch.setattr(train_loader.comm, "get_world_size", lambda: 2)
    per_rank = []
    for rank in (0, 1):
        monkeypatch.setattr(train_loader.comm, "get_rank", lambda rank=rank: rank)
        per_rank.append(batches(ResumableTrainLoader(DATASET, draw, total_batch_size=4, seed=1), 3))
    for i in range(3):  # rank r takes positions r, r + 2 of the iteration's global batch
        assert sorted(per_rank[0][i] + per_rank[1][i]) == sorted(expected[i])
        assert per_rank[0][i] == expected[i][0::2] and per_rank[1][i] == expected[i][1::2]


@pytest.mark.slow
def test_workers_ended_by_sigterm_are_replaced_at_the_same_position():
    expected = batches(ResumableTrainLoader(DATASET, draw, total_batch_size=2, seed=2), 6)
    loader = ResumableTrainLoader(DATASET, draw, total_batch_size=2, num_workers=2, seed=2)
    stream = iter(loader)
    got = [next(stream) for _ in range(2)]
    workers = multiprocessing.active_children()
    assert workers
    for worker in workers:
        os.kill(worker.pid, signal.SIGTERM)  # as a SIGTERM to the whole process group does
    got += [next(stream) for _ in range(4)]
    stream.close()
    assert got == expected
