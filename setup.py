"""Installs ctxseg, a Detectron2 extension for context-aware semantic segmentation."""
from setuptools import find_packages, setup

setup(
    name="ctxseg",
    version="0.1.0",
    description="Context-aware semantic segmentation (IIWA, Context Cluster) on Detectron2",
    packages=find_packages(include=("ctxseg", "ctxseg.*")),
    python_requires=">=3.9",
    # torch, torchvision and Detectron2 are installed by tools/setup_env.sh (or by the user):
    # they have no plain registry release that fits every machine.
    install_requires=[
        "timm>=0.9",
        "einops>=0.6",
        "opencv-python-headless>=4.5",
        "pycocotools>=2.0.2",
        "scipy>=1.9",
        "cityscapesscripts>=2.2",
        "matplotlib",
        "tqdm",
        "fvcore",
        "tensorboard",
    ],
    extras_require={"dev": ["pytest>=7"]},
)
