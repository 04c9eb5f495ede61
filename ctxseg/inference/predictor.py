"""``ctxseg.Predictor``: a trained model applied to images exactly as the dataset test path applies it.

    predictor = ctxseg.Predictor("configs/toy/fpn_r18_toy.py", "output/fpn_r18_toy/model_final.pth")
    result = predictor("photo.jpg")          # or a numpy RGB array, or a PIL image
    result.labels                            # (H, W) class ids at the photo's own size

The image goes through the config's test mapper (its test resize, and one view per ratio of a multi-scale
test), then the model's inference (normalisation, whole image or sliding windows, flips, averaging), in
inference mode and at the chosen precision: the labels are those ``train_net --eval-only`` scores.
"""
import copy
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from ..config import apply_overrides, instantiate_config, load_config
from ..data.datasets.palette import classes_and_palette
from ..utils.errors import DataError
from .precision import inference_precision
from .weights import load_weights

if TYPE_CHECKING:
    import PIL.Image

__all__ = ["Predictor", "SegmentationResult", "load_inference_config", "label_dtype"]

# What the Predictor takes as an image: a file path, an HxWx3 uint8 array or a PIL image.
ImageInput = Union[str, os.PathLike, np.ndarray, "PIL.Image.Image"]
# What it takes as a config: a file path, a model-zoo name or a loaded LazyConfig.
ConfigInput = Union[str, os.PathLike, DictConfig]


def label_dtype(num_classes: int) -> type:
    """The numpy dtype of a stored label map: uint8 up to 255 classes (255 stays free for "ignore"), else uint16."""
    return np.uint8 if num_classes <= 255 else np.uint16


@dataclass
class SegmentationResult:
    """What the Predictor returns for one image.

    Attributes:
        labels: (H, W) class ids at the image's original size (``label_dtype(len(class_names))``).
        class_names: the name of each class id.
        palette: the (r, g, b) colour of each class id.
        probabilities: (K, H, W) float32 class probabilities, when asked for.
    """

    labels: np.ndarray
    class_names: List[str]
    palette: List[Tuple[int, int, int]]
    probabilities: Optional[np.ndarray] = None

    def present_classes(self) -> List[int]:
        """The class ids that occur in the label map, ascending."""
        return [int(c) for c in np.unique(self.labels)]


def load_inference_config(config: ConfigInput, overrides: Sequence[str] = ()) -> DictConfig:
    """A Predictor's config: a loaded LazyConfig (copied), or what ``load_config`` reads (a LazyConfig file, a yacs
    YAML, a model-zoo name such as ``toy/fpn_r18_toy.py``)."""
    if isinstance(config, DictConfig):
        return apply_overrides(copy.deepcopy(config), overrides)
    return load_config(os.fspath(config), overrides)


class Predictor:
    """Predict label maps with a trained model (see the module docstring).

    Args:
        config: a config file (LazyConfig or yacs YAML), a model-zoo name or a loaded LazyConfig.
        weights: a checkpoint; None reads ``train.init_checkpoint`` of the config.
        device: "auto" (CUDA when available, else the CPU), "cpu", "cuda", "cuda:N".
        precision: "fp32", "bf16" or "fp16" (autocast; see ``ctxseg.inference.precision``).
        overrides: ``key=value`` config overrides, checked as on the command line.
    """

    def __init__(self, config: ConfigInput, weights: Optional[Union[str, os.PathLike]] = None, device: str = "auto",
                 precision: str = "fp32", overrides: Sequence[str] = ()):
        from ..engine import resolve_device

        self.cfg = load_inference_config(config, overrides)
        self.device = torch.device(resolve_device(device))
        inference_precision(precision, self.device)  # refuses an unknown precision now
        self.precision = precision
        model = instantiate_config(self.cfg.model, "model")
        load_weights(model, self.cfg.train.init_checkpoint if weights is None else weights,
                     allow_pickle=self.cfg.train.get("allow_pickle", False))
        self.model = model.to(self.device).eval()
        self.mapper = instantiate_config(self.cfg.dataloader.test.mapper, "dataloader.test.mapper")
        dataset = OmegaConf.select(self.cfg, "dataloader.test.dataset.name", default=None)
        self.class_names, self.palette = classes_and_palette(dataset, self.model.num_classes)

    def __call__(self, image: ImageInput, format: str = "RGB", probabilities: bool = False) -> SegmentationResult:
        """The ``SegmentationResult`` of one image: a file path, an HxWx3 uint8 array or a PIL image.

        ``format`` is the channel order of an array ("RGB" or "BGR", as OpenCV reads); ``probabilities``
        also returns the (K, H, W) class probabilities.
        """
        return self.predict_batch([image], format=format, probabilities=probabilities)[0]

    def predict_batch(self, images: Sequence[ImageInput], format: str = "RGB",
                      probabilities: bool = False) -> List[SegmentationResult]:
        """``SegmentationResult`` of each image (as ``__call__``); images may differ in size."""
        return self.predict_samples([self.sample(image, format) for image in images], probabilities)

    def predict_samples(self, samples: Sequence[Dict[str, Any]],
                        probabilities: bool = False) -> List[SegmentationResult]:
        """``SegmentationResult`` of each sample made by :meth:`sample` (or by the config's test mapper)."""
        results = []
        with torch.inference_mode(), inference_precision(self.precision, self.device):
            for sample in samples:
                labels, probs = self.model.predict(sample, with_probabilities=probabilities)
                results.append(SegmentationResult(
                    labels=labels.cpu().numpy().astype(label_dtype(self.model.num_classes), copy=False),
                    class_names=self.class_names, palette=self.palette,
                    probabilities=None if probs is None else probs.float().cpu().numpy()))
        return results

    def sample(self, image: ImageInput, format: str = "RGB", label: Optional[np.ndarray] = None,
               dataset_dict: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        """The test mapper's output for one image (a path, an array or a PIL image), as the model takes it.

        ``label`` (an (H, W) array) or ``dataset_dict["sem_seg_file_name"]`` adds the ground truth as
        ``"sem_seg"``; ``dataset_dict`` also carries ``reduce_zero_label`` as a dataset's records do.
        """
        from PIL import Image

        dataset_dict = dict(dataset_dict or {})
        if isinstance(image, (str, os.PathLike)):
            if label is not None:
                raise ValueError("give the label of an image file as dataset_dict['sem_seg_file_name']")
            return self.mapper(dict(dataset_dict, file_name=os.fspath(image)))
        if isinstance(image, Image.Image):
            from detectron2.data.detection_utils import _apply_exif_orientation, convert_PIL_to_numpy

            array = convert_PIL_to_numpy(_apply_exif_orientation(image), self.mapper.image_format)
        elif isinstance(image, np.ndarray):
            array = self._array(image, format)
        else:
            raise TypeError(f"an image must be a file path, a numpy array or a PIL image, got {type(image).__name__}")
        if label is None and dataset_dict.get("sem_seg_file_name"):
            from ..data.mapper import read_label

            label = read_label(dataset_dict["sem_seg_file_name"])
        dataset_dict.setdefault("file_name", f"<{type(image).__name__}>")
        return self.mapper.map_image(array, label, dataset_dict)

    def _array(self, image, format):
        if format not in ("RGB", "BGR"):
            raise ValueError(f"format must be 'RGB' or 'BGR', got '{format}'")
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise DataError(f"an image array must be HxWx3 (or HxW) uint8, got shape {image.shape} and dtype "
                            f"{image.dtype}")
        if format != self.mapper.image_format:
            image = image[:, :, ::-1]
        return np.ascontiguousarray(image)
