"""The notebooks' ipywidgets, one style: every picture is a PNG in an ipywidgets.Image."""

from cervix.widgets.cells import CellPicker, cell_picker
from cervix.widgets.data import ALL_CLASSES, AugmentationTuner, SampleBrowser, augmentation_tuner, sample_browser
from cervix.widgets.evaluation import ConfusionWidget, GradCamWidget, confusion_widget, gradcam_widget
from cervix.widgets.segmentation import (
    DiameterExplorer,
    OverlayBrowser,
    ThresholdSlider,
    diameter_explorer,
    overlay_browser,
    threshold_slider,
)
from cervix.widgets.training import live_plot_callback

__all__ = [
    "CellPicker",
    "cell_picker",
    "SampleBrowser",
    "AugmentationTuner",
    "sample_browser",
    "augmentation_tuner",
    "ALL_CLASSES",
    "ConfusionWidget",
    "GradCamWidget",
    "confusion_widget",
    "gradcam_widget",
    "ThresholdSlider",
    "OverlayBrowser",
    "threshold_slider",
    "overlay_browser",
    "DiameterExplorer",
    "diameter_explorer",
    "live_plot_callback",
]
