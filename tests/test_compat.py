"""ctxseg.compat: each patch applies only when needed, and the _C placeholder names the op."""
import types

import pytest

import ctxseg  # noqa: F401
from ctxseg import compat


def test_placeholder_raises_naming_the_op():
    placeholder = compat.MissingCompiledOps()
    with pytest.raises(RuntimeError, match=r"_C\.nms_rotated"):
        placeholder.nms_rotated(None, None, 0.5)
    with pytest.raises(AttributeError):
        placeholder.__wrapped__  # dunder look-ups must not be mistaken for ops
    # build-information queries (Detectron2's environment report) answer instead of raising
    assert placeholder.has_cuda() is False
    assert "not built" in placeholder.get_compiler_version()


def test_placeholder_installed_only_when_extension_missing():
    modules = {"detectron2": types.ModuleType("detectron2")}
    specs = {"detectron2": object(), "detectron2._C": None}
    assert compat.install_compiled_ops_placeholder(modules, find_spec=specs.get)
    assert isinstance(modules["detectron2._C"], compat.MissingCompiledOps)
    assert modules["detectron2"]._C is modules["detectron2._C"]
    # Already there (second call, or an upstream build with a real extension): nothing happens.
    assert not compat.install_compiled_ops_placeholder(modules, find_spec=specs.get)
    upstream = {"detectron2": types.ModuleType("detectron2")}
    assert not compat.install_compiled_ops_placeholder(upstream, find_spec={"detectron2": 1, "detectron2._C": 1}.get)
    assert "detectron2._C" not in upstream


def test_pil_alias_only_when_missing():
    old_pillow = types.SimpleNamespace(BILINEAR=2, LINEAR=2)
    assert not compat.alias_pil_linear(old_pillow)
    new_pillow = types.SimpleNamespace(BILINEAR=2)
    assert compat.alias_pil_linear(new_pillow)
    assert new_pillow.LINEAR == new_pillow.BILINEAR


def test_detectron2_usable_after_import():
    import detectron2.data.transforms as T
    import detectron2.modeling  # noqa: F401  (imports deform_conv, which needs _C)
    from PIL import Image

    assert Image.LINEAR == Image.BILINEAR
    assert T.ResizeTransform(4, 4, 2, 2).interp == Image.BILINEAR
    assert compat.apply() == compat.apply()  # idempotent
    from detectron2.utils.collect_env import collect_env_info

    assert "not built" in collect_env_info()
