"""The encoder-decoder segmentor registered in Detectron2's META_ARCH_REGISTRY."""
