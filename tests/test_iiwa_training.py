"""IIWA neck + decoder in training: losses, gradients to every parameter, OHEM wiring, checkpointing."""
import pytest
import torch
import torch.nn.functional as F

from ctxseg.modeling.backbone import IIWAFusionNeck
from ctxseg.modeling.heads import IIWADecoderHead
from ctxseg.modeling.meta_arch import EncoderDecoderSegmentor

from .iiwa_fakes import TinyDilatedSwin

NUM_CLASSES = 5


NO_DROPOUT = dict(neck_dropout=0.0, drop_rate=0.0, attn_drop_rate=0.0, drop_path_rate=0.0)


def make_model(seed=0, neck_dropout=0.1, **head_kwargs):
    """A tiny IIWA segmentor: 64x96 inputs give 8x12 query maps, 2x3 decoder windows, 36 key windows."""
    torch.manual_seed(seed)
    neck = IIWAFusionNeck(bottom_up=TinyDilatedSwin(8), dropout_ratio=neck_dropout)
    options = dict(embed_dim=8, query_dim=16, memory_dims=(8, 16, 32), depths=(1, 1), num_heads=4,
                   window_size_q=(4, 4), window_size_k=(4, 4), drop_rate=0.1, attn_drop_rate=0.1,
                   drop_path_rate=0.1)
    options.update(head_kwargs)
    head = IIWADecoderHead(num_classes=NUM_CLASSES, **options)
    return EncoderDecoderSegmentor(backbone=neck, head=head, num_classes=NUM_CLASSES)


def batch(n=2, h=64, w=96, seed=0):
    """Images of 16x16 single-colour blocks labelled by their red value (learnable), with an ignored band."""
    g = torch.Generator().manual_seed(seed)
    samples = []
    for _ in range(n):
        blocks = torch.randint(0, 256, (3, h // 16, w // 16), generator=g)
        image = blocks.repeat_interleave(16, dim=1).repeat_interleave(16, dim=2).to(torch.uint8)
        label = (image[0].long() * NUM_CLASSES) // 256
        label[:4] = 255
        samples.append({"image": image, "sem_seg": label})
    return samples


def features_and_targets(seed=0, **head_kwargs):
    model = make_model(seed, **head_kwargs).train()
    samples = batch()
    images = torch.stack([model.normalize(s["image"]) for s in samples])
    targets = torch.stack([s["sem_seg"] for s in samples])
    return model.sem_seg_head, model.backbone(images), targets


@pytest.mark.slow
def test_training_step_reaches_every_parameter():
    model = make_model().train()
    losses = model(batch())
    assert set(losses) == {"loss_sem_seg", "loss_aux"}
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())
    sum(losses.values()).backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None]
    assert no_grad == []  # DDP without find_unused_parameters
    # Gradients reach only the matched key windows: a memory scale may get none in a step (zero, not None).
    zero_grad = [n for n, p in model.named_parameters() if not p.grad.abs().sum() > 0]
    assert all(".memory_projs." in n or ".memory_norms." in n for n in zero_grad), zero_grad
    assert len(zero_grad) < 3 * 4  # at least one memory scale was matched
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.slow
def test_loss_decreases_on_a_fixed_batch():
    model = make_model(**NO_DROPOUT).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    samples = batch()
    history = []
    for _ in range(6):
        losses = model(samples)
        total = sum(losses.values())
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        history.append(total.item())
    assert history[-1] < 0.92 * history[0], history


@pytest.mark.slow
def test_plain_cross_entropy_without_ohem_and_aux_weight():
    head, features, targets = features_and_targets(ohem_min_kept=None)
    head.eval()
    with torch.no_grad():
        logits, aux = head(features)
        losses = head.losses((logits, aux), targets)

    def all_reduced(x):
        x = F.interpolate(x, size=targets.shape[-2:], mode="bilinear", align_corners=False)
        return F.cross_entropy(x, targets, ignore_index=255, reduction="none").sum() / targets.numel()

    torch.testing.assert_close(losses["loss_sem_seg"], all_reduced(logits))
    torch.testing.assert_close(losses["loss_aux"], 0.4 * all_reduced(aux))


@pytest.mark.slow
def test_ohem_keeps_hard_pixels_of_each_output():
    # At init the 5-class predictions are near uniform, so a threshold of 1/5 splits the pixels.
    head, features, targets = features_and_targets(ohem_thresh=0.2, ohem_min_kept=10)
    head.eval()
    with torch.no_grad():
        logits, aux = head(features)
        losses = head.losses((logits, aux), targets)

    def ohem(x):
        x = F.interpolate(x, size=targets.shape[-2:], mode="bilinear", align_corners=False)
        pixel = F.cross_entropy(x, targets, ignore_index=255, reduction="none")
        valid = targets != 255
        prob = x.softmax(1).gather(1, targets.clamp(max=NUM_CLASSES - 1)[:, None])[:, 0]
        kth = prob[valid].sort().values[10 * targets.shape[0]]
        keep = valid & (prob < max(kth.item(), 0.2))
        assert 0 < keep.sum() < valid.sum()  # the sampler really drops easy pixels
        return (pixel * keep).sum() / targets.numel()

    torch.testing.assert_close(losses["loss_sem_seg"], ohem(logits))
    torch.testing.assert_close(losses["loss_aux"], 0.4 * ohem(aux))


@pytest.mark.slow
def test_class_weight_and_aux_weight_options():
    weight = [0.5, 1.0, 2.0, 1.5, 1.0]
    head, features, targets = features_and_targets(ohem_min_kept=None, class_weight=weight, aux_weight=1.0)
    head.eval()
    with torch.no_grad():
        logits, aux = head(features)
        losses = head.losses((logits, aux), targets)
    x = F.interpolate(logits, size=targets.shape[-2:], mode="bilinear", align_corners=False)
    expected = F.cross_entropy(x, targets, weight=torch.tensor(weight), ignore_index=255, reduction="none")
    torch.testing.assert_close(losses["loss_sem_seg"], expected.sum() / targets.numel())
    y = F.interpolate(aux, size=targets.shape[-2:], mode="bilinear", align_corners=False)
    expected_aux = F.cross_entropy(y, targets, weight=torch.tensor(weight), ignore_index=255, reduction="none")
    torch.testing.assert_close(losses["loss_aux"], expected_aux.sum() / targets.numel())


@pytest.mark.slow
def test_use_checkpoint_gives_the_same_outputs_and_gradients(seed=0):
    plain = make_model(seed, **NO_DROPOUT).train()
    ckpt = make_model(seed, use_checkpoint=True, **NO_DROPOUT).train()
    ckpt.load_state_dict(plain.state_dict())
    assert all(block.use_checkpoint for block in ckpt.sem_seg_head.blocks)
    samples = batch()
    a, b = plain(samples), ckpt(samples)
    for key in a:
        torch.testing.assert_close(a[key], b[key])
    sum(a.values()).backward()
    sum(b.values()).backward()
    for (name, p), q in zip(plain.named_parameters(), ckpt.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-6, msg=name)
