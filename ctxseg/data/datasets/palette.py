"""Fixed colour palettes for datasets whose official release has none."""

__all__ = ["bit_palette", "classes_and_palette"]


def bit_palette(num_classes):
    """Pascal VOC's bit-interleaved palette: class i -> a fixed, distinct [r, g, b] (class 0 is not black)."""
    colors = []
    for index in range(1, num_classes + 1):
        # Offset by one so that no class gets black, which reads as "no label" in pictures.
        r = g = b = 0
        value, shift = index, 7
        while value and shift >= 0:
            r |= ((value >> 0) & 1) << shift
            g |= ((value >> 1) & 1) << shift
            b |= ((value >> 2) & 1) << shift
            value >>= 3
            shift -= 1
        colors.append([r, g, b])
    return colors


def classes_and_palette(dataset_name, num_classes):
    """``(class names, [(r, g, b), ...])`` of a registered dataset; numbers and ``bit_palette`` where it has none.

    ``dataset_name`` may be None (a model without a dataset): every class then gets its number as its name.
    """
    from detectron2.data import MetadataCatalog

    meta = MetadataCatalog.get(dataset_name) if dataset_name else None
    names = list(meta.get("stuff_classes", None) or []) if meta else []
    colors = list(meta.get("stuff_colors", None) or []) if meta else []
    if len(names) != num_classes:
        names = [str(i) for i in range(num_classes)]
    if len(colors) != num_classes:
        colors = bit_palette(num_classes)
    return names, [tuple(int(v) for v in c) for c in colors]
