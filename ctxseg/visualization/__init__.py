"""Pictures and plots: predictions over images with a legend, training curves, confusion matrices."""
from .legend import draw_legend, legend_layout
from .overlay import colorize, overlay
from .picture import PANEL_GAP, display_size, prediction_picture
from .plots import plot_confusion, plot_metrics, read_metrics

__all__ = ["colorize", "overlay", "draw_legend", "legend_layout", "display_size", "prediction_picture", "PANEL_GAP",
           "plot_confusion", "plot_metrics", "read_metrics"]
