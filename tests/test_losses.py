"""Cross-entropy reductions, class weights, ignore and OHEM pixel sampling."""
import pytest
import torch
import torch.nn.functional as F

from ctxseg.modeling.losses import SegmentationCrossEntropy, ohem_pixel_mask, pixel_accuracy


def _data(seed=0, n=2, k=4, h=6, w=5):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, k, h, w, generator=g)
    targets = torch.randint(0, k, (n, h, w), generator=g)
    targets[0, :2] = 255
    return logits, targets


def test_valid_reduction_equals_torch_mean_over_valid_pixels():
    logits, targets = _data()
    loss = SegmentationCrossEntropy(reduction="valid")(logits, targets)
    torch.testing.assert_close(loss, F.cross_entropy(logits, targets, ignore_index=255))


def test_all_reduction_divides_by_every_pixel():
    logits, targets = _data()
    per_pixel = F.cross_entropy(logits, targets, ignore_index=255, reduction="none")
    loss = SegmentationCrossEntropy(reduction="all")(logits, targets)
    torch.testing.assert_close(loss, per_pixel.sum() / targets.numel())
    assert loss < SegmentationCrossEntropy(reduction="valid")(logits, targets)


def test_class_weights_follow_torch_and_are_checked():
    logits, targets = _data()
    weight = [0.5, 1.0, 2.0, 1.5]
    loss = SegmentationCrossEntropy(class_weight=weight)(logits, targets)
    torch.testing.assert_close(loss, F.cross_entropy(logits, targets, weight=torch.tensor(weight), ignore_index=255))
    with pytest.raises(ValueError, match="class_weight has 2 entries"):
        SegmentationCrossEntropy(class_weight=[1.0, 2.0])(logits, targets)


def test_logits_are_resized_to_the_label_size():
    logits, targets = _data(h=3, w=4)
    big = torch.randint(0, 4, (2, 12, 16))
    expected = F.cross_entropy(F.interpolate(logits, size=(12, 16), mode="bilinear", align_corners=False), big)
    torch.testing.assert_close(SegmentationCrossEntropy()(logits, big), expected)


def test_ohem_keeps_hard_pixels_by_probability():
    logits, targets = _data(h=8, w=8)
    mask = ohem_pixel_mask(logits, targets, thresh=0.7, min_kept=3)
    prob = logits.softmax(1).gather(1, targets.clamp(max=3).unsqueeze(1)).squeeze(1)
    valid = targets != 255
    assert mask[~valid].sum() == 0
    # with few pixels required, the threshold is 0.7 itself
    expected = valid & (prob < 0.7)
    assert torch.equal(mask.bool(), expected)
    # min_kept larger than the valid pixels below the threshold raises the threshold
    lots = ohem_pixel_mask(logits, targets, thresh=0.01, min_kept=50)
    assert lots.sum() >= min(100, int(valid.sum()) - 1)


def test_ohem_by_loss_and_all_pixel_reduction():
    logits, targets = _data(h=8, w=8)
    per_pixel = F.cross_entropy(logits, targets, ignore_index=255, reduction="none")
    mask = ohem_pixel_mask(logits, targets, thresh=None, min_kept=5, pixel_losses=per_pixel)
    assert mask.sum() == 10  # min_kept per image
    assert per_pixel[mask.bool()].min() >= per_pixel[(targets != 255) & ~mask.bool()].max()
    loss = SegmentationCrossEntropy(ohem_thresh=None, ohem_min_kept=5)(logits, targets)
    torch.testing.assert_close(loss, (per_pixel * mask).sum() / targets.numel())


def test_pixel_accuracy_ignores_ignored_pixels():
    targets = torch.tensor([[[0, 1], [255, 1]]])
    logits = F.one_hot(torch.tensor([[[0, 0], [1, 1]]]), 2).permute(0, 3, 1, 2).float()
    assert pixel_accuracy(logits, targets).item() == pytest.approx(200 / 3)


def test_ohem_arguments_are_checked():
    with pytest.raises(TypeError, match="ohem_min_kept must be an int or None"):
        SegmentationCrossEntropy(ohem_min_kept="None")
    with pytest.raises(TypeError, match="ohem_thresh must be a number"):
        SegmentationCrossEntropy(ohem_thresh="0.7", ohem_min_kept=10)


def test_heads_refuse_class_weights_of_another_length_when_built():
    """A wrong ``class_weight`` list fails with the config (one line from the tools), not at the first step."""
    from ctxseg.modeling.heads import IIWADecoderHead, SemanticFPNHead
    from ctxseg.modeling.heads.semantic_fpn import fpn_feature_shapes

    with pytest.raises(ValueError, match="SemanticFPNHead: class_weight has 2 entries but there are 5 classes"):
        SemanticFPNHead(fpn_feature_shapes(16), num_classes=5, conv_dims=16,
                        loss=SegmentationCrossEntropy(class_weight=[1.0, 2.0]))
    with pytest.raises(ValueError, match="IIWADecoderHead: class_weight has 2 entries but there are 5 classes"):
        IIWADecoderHead(num_classes=5, class_weight=[1.0, 2.0], embed_dim=32, query_dim=32, memory_dims=(16, 16, 16),
                        depths=(1,), num_heads=2, query_in_channels=16)
    SemanticFPNHead(fpn_feature_shapes(16), num_classes=2, conv_dims=16,
                    loss=SegmentationCrossEntropy(class_weight=[1.0, 2.0]))  # the right length builds
