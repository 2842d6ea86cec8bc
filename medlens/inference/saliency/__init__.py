"""Saliency maps for classification and segmentation plugins, each shown with its sanity check.

Qt-free. :func:`compute_saliency` is the one entry point (a job: ``progress``/``cancel``); methods
are Integrated Gradients and GradCAM (need the plugin's TorchScript twin) and Occlusion (forward
passes only, so it also runs on ONNX plugins).
"""

from medlens.inference.saliency.engine import SaliencyResult, compute_saliency
from medlens.inference.saliency.methods import METHODS
from medlens.inference.saliency.sanity import SanityReport

__all__ = ["METHODS", "SaliencyResult", "SanityReport", "compute_saliency"]
