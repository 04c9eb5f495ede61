"""ctxseg's backbones inside other Detectron2 projects: Detectron2's own SemanticSegmentor, SemSegFPNHead,
data loader, optimizer and trainer, configured by yacs alone, train one iteration on the toy dataset."""
import pytest
import torch
from detectron2.config import CfgNode, get_cfg
from detectron2.data import build_detection_train_loader
from detectron2.engine import SimpleTrainer
from detectron2.modeling import build_model
from detectron2.modeling.meta_arch.semantic_seg import SemanticSegmentor, SemSegFPNHead
from detectron2.solver import build_optimizer

from ctxseg.config import add_ctxseg_config
from ctxseg.modeling.backbone.context_cluster import D2ContextCluster
from ctxseg.modeling.backbone.swin import D2SwinTransformer


def mask2former_swin_node():
    """``MODEL.SWIN`` with the keys and defaults of Mask2Former's ``add_maskformer2_config`` (no ctxseg key)."""
    return CfgNode({"PRETRAIN_IMG_SIZE": 224, "PATCH_SIZE": 4, "EMBED_DIM": 96, "DEPTHS": [2, 2, 6, 2],
                    "NUM_HEADS": [3, 6, 12, 24], "WINDOW_SIZE": 7, "MLP_RATIO": 4.0, "QKV_BIAS": True,
                    "QK_SCALE": None, "DROP_RATE": 0.0, "ATTN_DROP_RATE": 0.0, "DROP_PATH_RATE": 0.3, "APE": False,
                    "PATCH_NORM": True, "OUT_FEATURES": ["res2", "res3", "res4", "res5"], "USE_CHECKPOINT": False})


def semantic_segmentor_cfg(cfg):
    """Detectron2's SemanticSegmentor + SemSegFPNHead on res2..res5, its DatasetMapper on the raw toy labels
    (0 unlabelled, 1..7 classes), SGD, on the CPU."""
    cfg.MODEL.META_ARCHITECTURE = "SemanticSegmentor"
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.SEM_SEG_HEAD.NAME = "SemSegFPNHead"
    cfg.MODEL.SEM_SEG_HEAD.IN_FEATURES = ["res2", "res3", "res4", "res5"]
    cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES = 8
    cfg.MODEL.SEM_SEG_HEAD.IGNORE_VALUE = 0
    cfg.MODEL.SEM_SEG_HEAD.CONVS_DIM = 32
    cfg.MODEL.SEM_SEG_HEAD.NORM = "GN"
    cfg.DATASETS.TRAIN = ("toy_sem_seg_train",)
    cfg.INPUT.MIN_SIZE_TRAIN = (64,)
    cfg.INPUT.MAX_SIZE_TRAIN = 128
    cfg.DATALOADER.NUM_WORKERS = 0
    cfg.SOLVER.IMS_PER_BATCH = 2
    cfg.SOLVER.BASE_LR = 0.01
    return cfg


def train_one_iteration(cfg):
    torch.manual_seed(0)
    model = build_model(cfg)
    assert isinstance(model, SemanticSegmentor) and isinstance(model.sem_seg_head, SemSegFPNHead)
    before = {name: p.detach().clone() for name, p in model.backbone.named_parameters()}
    trainer = SimpleTrainer(model, build_detection_train_loader(cfg), build_optimizer(cfg, model))
    trainer.train(0, 1)
    loss = trainer.storage.history("total_loss").latest()  # = loss_sem_seg, the only loss
    assert torch.isfinite(torch.tensor(loss)) and loss > 0
    # Every backbone weight got a gradient; the first layer's took a visible step (deeper ones may move
    # by less than float32 resolves behind Context Cluster's 1e-5 layer scales).
    assert all(p.grad is not None for p in model.backbone.parameters())
    first = next(name for name, _ in model.backbone.named_parameters())
    assert not torch.equal(dict(model.backbone.named_parameters())[first], before[first])
    return model


@pytest.mark.slow
def test_swin_from_a_mask2former_swin_node_trains_in_detectron2_semantic_segmentor(toy_root, monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", toy_root)
    cfg = get_cfg()  # no add_ctxseg_config: Mask2Former's own node is enough
    cfg.MODEL.SWIN = mask2former_swin_node()
    cfg.MODEL.SWIN.update(EMBED_DIM=16, DEPTHS=[1, 1, 2, 1], NUM_HEADS=[1, 2, 2, 4], WINDOW_SIZE=4,
                          DROP_PATH_RATE=0.1)
    cfg.MODEL.BACKBONE.NAME = "D2SwinTransformer"
    model = train_one_iteration(semantic_segmentor_cfg(cfg))
    backbone = model.backbone
    assert isinstance(backbone, D2SwinTransformer) and backbone.size_divisibility == 32
    assert {k: (s.channels, s.stride) for k, s in backbone.output_shape().items()} == {
        "res2": (16, 4), "res3": (32, 8), "res4": (64, 16), "res5": (128, 32)}


@pytest.mark.slow
def test_context_cluster_trains_as_the_backbone_of_detectron2_semantic_segmentor(toy_root, monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", toy_root)
    cfg = add_ctxseg_config(get_cfg())
    cfg.MODEL.BACKBONE.NAME = "D2ContextCluster"
    cfg.MODEL.COC.update(DEPTHS=[1, 1, 1, 1], EMBED_DIMS=[16, 32, 48, 64], HEADS=[2, 2, 2, 2], HEAD_DIM=8)
    model = train_one_iteration(semantic_segmentor_cfg(cfg))
    assert isinstance(model.backbone, D2ContextCluster) and model.backbone.size_divisibility == 32
