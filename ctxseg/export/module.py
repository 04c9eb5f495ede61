"""The exportable part of a segmentor: one whole-image forward from the image to the class logits."""
import torch.nn as nn

__all__ = ["SegmentationGraph"]


class SegmentationGraph(nn.Module):
    """``image`` (1, 3, H, W) float32 RGB on 0..255, already test-resized -> (1, K, H, W) float32 logits.

    The segmentor's whole-image forward (normalise, pad to the backbone's multiple, backbone, head, resize
    the logits to the input, crop the padding), with H and W free. The test resize, sliding windows,
    multi-scale and flip views and the softmax stay outside the graph: ``ctxseg.Predictor`` does them in
    PyTorch, and a user of the exported graph does them around it.
    """

    def __init__(self, segmentor):
        super().__init__()
        self.segmentor = segmentor

    def forward(self, image):
        """Logits of a batch of one image."""
        segmentor = self.segmentor
        return segmentor.encode_decode((image - segmentor.pixel_mean) / segmentor.pixel_std)
