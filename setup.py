"""Packages of the ctxseg distribution; its metadata is in pyproject.toml.

Besides ``ctxseg`` and ``ctxseg_cli``, the config trees of the checkout travel inside the package, in the
checkout's layout so that the project configs' relative imports of ``configs/common`` still resolve:
``configs/`` becomes ``ctxseg/model_zoo/configs/`` and ``projects/<P>/configs/`` becomes
``ctxseg/model_zoo/projects/<P>/configs/`` (``ctxseg.model_zoo`` finds them there).
"""
import os

from setuptools import find_namespace_packages, find_packages, setup

ZOO = "ctxseg.model_zoo"


def config_trees():
    """{package name: folder} of the config trees: configs/ and every projects/<P>/configs/."""
    trees = {f"{ZOO}.configs": "configs"}
    for project in sorted(os.listdir("projects")):
        if os.path.isdir(os.path.join("projects", project, "configs")):
            trees[f"{ZOO}.projects.{project}.configs"] = f"projects/{project}/configs"
    return trees


def config_packages(trees):
    """Every folder of the config trees as a package (they have no __init__.py: namespace packages)."""
    packages = []
    for package, folder in trees.items():
        packages.append(package)
        packages += [f"{package}.{sub}" for sub in find_namespace_packages(folder) if "__pycache__" not in sub]
    return packages


trees = config_trees()
setup(
    packages=find_packages(include=("ctxseg", "ctxseg.*", "ctxseg_cli")) + config_packages(trees),
    package_dir=trees,
)
