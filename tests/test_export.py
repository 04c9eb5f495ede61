"""Export: the Semantic FPN models round-trip in every format at sizes other than the traced one; IIWA refuses."""
import os

import pytest
import torch

import ctxseg  # noqa: F401
from ctxseg.config import instantiate_config, load_config
from ctxseg.export import ExportError, SegmentationGraph, check_exported, export_graph, export_model, load_exported
from ctxseg.layers.tracing import NotExportableError, counting_operations, refuse_graph_capture
from ctxseg_cli import analyze_model
from ctxseg_cli import export_model as export_tool

from .conftest import ROOT
from .conftest import TINY_TOY_CONFIG as CONFIG

# Small versions of the toy Semantic FPN models (the exporters' work grows with the number of layers).
MODELS = {
    "r18": ("configs/toy/fpn_r18_toy.py", ["model.backbone.out_channels=16", "model.head.conv_dims=16"]),
    "swin": ("configs/toy/fpn_swin_toy.py", ["model.backbone.bottom_up.depths=[1,1,1,1]",
                                             "model.backbone.out_channels=16", "model.head.conv_dims=16"]),
    "coc": ("configs/toy/fpn_coc_toy.py", ["model.backbone.bottom_up.depths=[1,1,1,1]",
                                           "model.backbone.out_channels=16", "model.head.conv_dims=16"]),
}
IIWA_TOY = os.path.join(ROOT, "configs", "toy", "iiwa_swin_toy.py")
SIZE, CHECK_SIZES = (128, 160), ((96, 128), (160, 224))


def build(config, overrides=()):
    torch.manual_seed(0)
    return instantiate_config(load_config(os.path.join(ROOT, config), overrides).model, "model").eval()


# torch.export specialises the Swin backbone on a stride check of the traced size (a guard on the padded map
# sizes that fails at sizes needing window padding): the check refuses that export instead of writing it.
REFUSED = {("swin", "torch-export"): "Guard failed"}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("format", ["onnx", "torchscript", "torch-export"])
def test_semantic_fpn_models_round_trip(name, format, tmp_path):
    model = build(*MODELS[name])
    path = tmp_path / f"{name}.{format}"
    if (name, format) in REFUSED:
        with pytest.raises(ExportError, match=REFUSED[name, format]):
            export_model(model, format, str(path), size=SIZE, check_sizes=CHECK_SIZES)
        assert not os.listdir(tmp_path)
        return
    checks = export_model(model, format, str(path), size=SIZE, check_sizes=CHECK_SIZES)
    assert path.is_file() and [c.size for c in checks] == list(CHECK_SIZES)
    for check in checks:
        assert check.max_abs_difference <= 1e-4 and check.labels_equal
    assert sorted(os.listdir(tmp_path)) == [path.name]  # no draft left behind


@pytest.mark.slow
def test_a_graph_that_froze_the_traced_size_is_refused(tmp_path):
    class FrozenSize(torch.nn.Module):
        """Resizes to a size computed in Python: tracing records the traced image's numbers."""

        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, image):
            size = [int(s) for s in image.shape[-2:]]
            return torch.nn.functional.interpolate(self.model(image), size=size)

    model = build(CONFIG)
    real_graph = SegmentationGraph(model)
    with pytest.raises(ExportError, match="the traced image's size was frozen"):
        export_graph(FrozenSize(real_graph), "torchscript", str(tmp_path / "f.ts"), SIZE)
        check_exported(real_graph, load_exported(str(tmp_path / "f.ts"), "torchscript"), CHECK_SIZES)


@pytest.fixture(scope="module")
def iiwa():
    return build(IIWA_TOY)


@pytest.mark.slow
@pytest.mark.parametrize("format", ["onnx", "torchscript", "torch-export"])
def test_iiwa_export_raises(iiwa, format, tmp_path):
    with pytest.raises(ExportError, match="data-dependent host code"):
        export_model(iiwa, format, str(tmp_path / "iiwa.out"), size=(64, 64), check_sizes=((96, 96),))
    assert not os.listdir(tmp_path)


@pytest.mark.slow
def test_iiwa_tracing_raises_unless_counting(iiwa):
    image = torch.rand(1, 3, 64, 64) * 255
    graph = SegmentationGraph(iiwa)
    with torch.no_grad(), pytest.raises(NotExportableError, match="window matching"):
        torch.jit.trace(graph, (image,), check_trace=False)
    with torch.no_grad(), counting_operations():
        torch.jit.trace(graph, (image,), check_trace=False)  # FLOP counting traces through the matching
    with torch.no_grad():
        graph(image)  # eager inference is untouched


@pytest.mark.slow
def test_export_tool(tmp_path, capsys):
    assert export_tool.main(["--config-file", CONFIG, "--format", "torchscript", "--size", "64", "80",
                             "--check-sizes", "96", "96", "64", "128", "--output", str(tmp_path / "m.ts")]) == 0
    out = capsys.readouterr().out
    assert "96x96: max abs logit difference" in out and "labels identical" in out
    assert (tmp_path / "m.ts").is_file()
    assert export_tool.main(["--config-file", IIWA_TOY, "--format", "torchscript", "--size", "64", "64",
                             "--check-sizes", "96", "96", "--output", str(tmp_path / "i.ts")]) == 2
    assert "data-dependent host code" in capsys.readouterr().err
    assert export_tool.main(["--config-file", CONFIG, "--format", "onnx", "--check-sizes", "96",
                             "--output", str(tmp_path / "x.onnx")]) == 2
    assert "pairs H W" in capsys.readouterr().err


@pytest.mark.slow
def test_analyze_counts_one_forward_by_default_and_the_configured_test_on_request(capsys):
    tta = ["model.tta_scales=[0.5,1.0]", "model.tta_flip=True"]
    assert analyze_model.main(["--config-file", IIWA_TOY, "--tasks", "flops", "--size", "64", "64", *tta]) == 0
    default = capsys.readouterr().out
    assert "counted: one whole-image single-scale forward at 64x64" in default
    assert analyze_model.main(["--config-file", IIWA_TOY, "--tasks", "flops", "--size", "64", "64",
                               "--as-configured", *tta]) == 0
    configured = capsys.readouterr().out
    # the toy's test resize takes 64x64 to 128x128; ratio 0.5 gives 64x64
    assert "2 scale(s) 64x64, 128x128 x 2 flips; whole image; 4 forward passes" in configured

    def flops(text):
        return float(text.split("flops (multiply-adds): ")[1].split(" G")[0])

    # 2 views at 64x64 and 2 at 128x128 (four times the pixels): about 10 times one 64x64 forward
    assert 6 * flops(default) < flops(configured) < 14 * flops(default)


@pytest.mark.slow
def test_analyze_counts_sliding_windows(capsys):
    slide = ["model.test_mode=slide", "model.crop_size=[32,32]", "model.stride=[24,24]"]
    assert analyze_model.main(["--config-file", CONFIG, "--tasks", "flops", "--size", "64", "80", "--as-configured",
                               *slide]) == 0
    # 64x80 stays 64x80 (short side 64); rows (64-32+23)//24+1 = 3, columns (80-32+23)//24+1 = 3
    assert "1 scale(s) 64x80; sliding 32x32 windows, stride 24x24: 9 per flip; 9 forward passes" in \
        capsys.readouterr().out


class _HostCode(torch.nn.Module):
    def forward(self, x):
        refuse_graph_capture("the stand-in's host code")
        return x * 2


@pytest.mark.parametrize("capture", ["jit.trace", "torch.export", "onnx"])
def test_every_capture_path_is_refused(capture, tmp_path):
    x = torch.zeros(1, 3, 4, 4)
    with pytest.raises(Exception) as error:
        if capture == "jit.trace":
            torch.jit.trace(_HostCode(), (x,))
        elif capture == "torch.export":
            torch.export.export(_HostCode(), (x,))
        else:
            torch.onnx.export(_HostCode(), (x,), str(tmp_path / "h.onnx"), dynamo=False)
    chain, cause = [], error.value
    while cause is not None:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    assert any(isinstance(c, NotExportableError) for c in chain)
    assert torch.equal(_HostCode()(x + 1), x + 2)  # eager and torch.compile-style execution is untouched


def test_the_command_lines_name_the_library_choices():
    # The parsers repeat these names so that --help imports no torch; they must stay the library's.
    from ctxseg.export import FORMATS
    from ctxseg.inference import PRECISIONS
    from ctxseg_cli.runner import PRECISION_NAMES

    assert export_tool.FORMATS == tuple(FORMATS) and PRECISION_NAMES == tuple(PRECISIONS)
