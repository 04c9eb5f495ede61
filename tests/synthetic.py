"""Synthetic training batches and a fixed-batch training probe shared by the config tests."""
import math

import torch
from detectron2.config import LazyConfig, instantiate


def synthetic_batch(n, h, w, num_classes, block=8, ignored_rows=4, seed=0):
    """Mapped training samples (float32 images in the uint8 range, as PadToSize makes them): images of
    ``block`` x ``block`` squares of random colour labelled by their red value, the last ``ignored_rows``
    label rows ignored (255)."""
    g = torch.Generator().manual_seed(seed)
    samples = []
    for _ in range(n):
        squares = torch.randint(0, 256, (3, math.ceil(h / block), math.ceil(w / block)), generator=g)
        image = squares.repeat_interleave(block, dim=1).repeat_interleave(block, dim=2)[:, :h, :w].float()
        label = (image[0].long() * num_classes) // 256
        label[-ignored_rows:] = 255
        samples.append({"image": image, "sem_seg": label})
    return samples


def train_on_fixed_batch(config_file, steps, **batch_options):
    """Build ``config_file``'s model and optimizer (at the base lr: a warm-up would hide the first steps),
    take ``steps`` steps on one 2 x 64 x 64 synthetic batch; returns the model and the total losses."""
    cfg = LazyConfig.load(config_file)
    torch.manual_seed(0)
    model = instantiate(cfg.model).train()
    cfg.optimizer.params.model = model
    optimizer = instantiate(cfg.optimizer)
    samples = synthetic_batch(2, 64, 64, cfg.model.num_classes, **batch_options)
    history = []
    for _ in range(steps):
        total = sum(model(samples).values())
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        history.append(total.item())
    return model, history
