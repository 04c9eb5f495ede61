"""Fixed colour palettes for datasets whose official release has none."""

__all__ = ["bit_palette"]


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
