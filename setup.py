"""Installs ctxseg, a Detectron2 extension for context-aware semantic segmentation."""
from setuptools import find_packages, setup

setup(
    name="ctxseg",
    version="0.1.0",
    description="Context-aware semantic segmentation (IIWA, Context Cluster) on Detectron2",
    packages=find_packages(include=("ctxseg", "ctxseg.*", "ctxseg_cli")),
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
    extras_require={
        # ONNX export (torch.onnx's exporter needs onnx and onnxscript) and the check with onnxruntime.
        "export": ["onnx>=1.16", "onnxscript>=0.3", "onnxruntime>=1.18"],
        # The tests run the ONNX round trips too.
        "dev": ["pytest>=7", "onnx>=1.16", "onnxscript>=0.3", "onnxruntime>=1.18"],
    },
    entry_points={"console_scripts": [
        "ctxseg-train=ctxseg_cli.train_net:main",
        "ctxseg-demo=ctxseg_cli.demo:main",
        "ctxseg-convert=ctxseg_cli.convert_weights:main",
        "ctxseg-analyze=ctxseg_cli.analyze_model:main",
        "ctxseg-export=ctxseg_cli.export_model:main",
        "ctxseg-plot=ctxseg_cli.plot_metrics:main",
        "ctxseg-browse=ctxseg_cli.browse_dataset:main",
        "ctxseg-make-toy=ctxseg_cli.make_toy_dataset:main",
        "ctxseg-prepare-ade20k=ctxseg_cli.prepare_ade20k:main",
        "ctxseg-prepare-cityscapes=ctxseg_cli.prepare_cityscapes:main",
        "ctxseg-prepare-pascal-context=ctxseg_cli.prepare_pascal_context:main",
    ]},
)
