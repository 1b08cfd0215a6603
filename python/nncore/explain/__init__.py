"""Explanations of model outputs: gradient attributions, KernelSHAP and LIME, and their maps."""

from nncore.explain.gradient import (
    IntegratedGradients,
    gradient_x_input,
    integrated_gradients,
    saliency,
)
from nncore.explain.kernel_shap import KernelShap, kernel_shap
from nncore.explain.lime import (
    LimeExplanation,
    lime_image,
    lime_tabular,
    patch_segments,
    superpixels,
)
from nncore.explain.render import attribution_png, render_attribution

__all__ = [
    "IntegratedGradients", "KernelShap", "LimeExplanation", "attribution_png",
    "gradient_x_input", "integrated_gradients", "kernel_shap", "lime_image", "lime_tabular",
    "patch_segments", "render_attribution", "saliency", "superpixels",
]
