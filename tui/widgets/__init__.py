"""The dashboard's panels: status, loss plot, gradients, samples, hidden-state heatmap,
hyperparameters, keys."""

from .gradients import GradientPanel
from .heatmap import HiddenHeatmap, HiddenPanel
from .hyperparams import HyperparameterPanel
from .keybar import KeyBar
from .loss_plot import LossPanel, LossPlot
from .sample_panel import SamplePanel
from .status import StatusPanel

__all__ = [
    "GradientPanel",
    "HiddenHeatmap",
    "HiddenPanel",
    "HyperparameterPanel",
    "KeyBar",
    "LossPanel",
    "LossPlot",
    "SamplePanel",
    "StatusPanel",
]
