"""The context toy (``tools/make_toy_dataset.py --kind context``): 5 classes, 128x160 images.

An object's class ("object A" or "object B") is set by its image's marker, at least 56 pixels away, so
training uses whole images (a crop could cut the marker out) at their own scale (a resize would change the
distances): flip and photometric distortion only. Testing is the texture toy's. Every context toy config
trains ``MAX_ITER`` iterations, so that their results compare.
"""
from .semseg_pipeline import semseg_dataloader

NUM_CLASSES = 5
IMAGE_SIZE = (128, 160)
BASE_SCALE = (640, 128)  # (long, short): the images' own size
MAX_ITER = 1000

dataloader = semseg_dataloader("toy_context_sem_seg_train", "toy_context_sem_seg_val",
                               NUM_CLASSES, IMAGE_SIZE, BASE_SCALE, ratio_range=(1.0, 1.0),
                               ignore_label=255, batch_size=8, num_workers=1)
