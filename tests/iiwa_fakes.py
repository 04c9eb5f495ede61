"""Small stand-in backbones for the IIWA neck/decoder tests (the real Swin is tested on its own)."""
import torch
import torch.nn.functional as F
from detectron2.layers import ShapeSpec
from detectron2.modeling import Backbone
from torch import nn


class RandomSwinFeatures(Backbone):
    """Swin-like outputs res2..res5 (channels E, 2E, 4E, 8E) filled with seeded noise; no parameters.

    Sizes follow Swin's corner padding: each level is ceil(previous / merge stride).
    """

    def __init__(self, embed_dim, strides=(4, 8, 8, 8), seed=0):
        super().__init__()
        self.embed_dim = embed_dim
        self.strides = strides
        self.seed = seed

    def forward(self, x):
        g = torch.Generator().manual_seed(self.seed)
        h, w = x.shape[-2:]
        out, previous = {}, 1
        for i, stride in enumerate(self.strides):
            h, w = -(-h // (stride // previous)), -(-w // (stride // previous))
            previous = stride
            out[f"res{i + 2}"] = torch.randn(x.shape[0], self.embed_dim * 2 ** i, h, w, generator=g)
        return out

    def output_shape(self):
        return {f"res{i + 2}": ShapeSpec(channels=self.embed_dim * 2 ** i, stride=s)
                for i, s in enumerate(self.strides)}


class TinyDilatedSwin(Backbone):
    """Trainable stand-in for the dilated Swin: strides 4, 8, 8, 8 with Swin's corner-padding size rule.

    res2 = ceil(H / 4) x ceil(W / 4); res3 = ceil(res2 / 2); res4 and res5 keep res3's size.
    """

    def __init__(self, embed_dim=8):
        super().__init__()
        e = embed_dim
        self.embed_dim = e
        self.stem = nn.Conv2d(3, e, kernel_size=4, stride=4)
        self.down = nn.Conv2d(e, 2 * e, kernel_size=2, stride=2)
        self.stage4 = nn.Conv2d(2 * e, 4 * e, kernel_size=1)
        self.stage5 = nn.Conv2d(4 * e, 8 * e, kernel_size=1)

    @staticmethod
    def _pad(x, multiple):
        h, w = x.shape[-2:]
        return F.pad(x, (0, (-w) % multiple, 0, (-h) % multiple))

    def forward(self, x):
        res2 = self.stem(self._pad(x, 4))
        res3 = self.down(self._pad(res2, 2))
        res4 = torch.tanh(self.stage4(res3))
        res5 = torch.tanh(self.stage5(res4))
        return {"res2": res2, "res3": res3, "res4": res4, "res5": res5}

    def output_shape(self):
        return {f"res{i + 2}": ShapeSpec(channels=self.embed_dim * 2 ** i, stride=s)
                for i, s in enumerate((4, 8, 8, 8))}

    @property
    def size_divisibility(self):
        return 0
