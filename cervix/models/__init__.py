"""The two networks (dual-head attention U-Net, 5-channel classifier), their attention blocks, Grad-CAM."""

from cervix.models.blocks import (
    CBAM,
    ChannelAttention,
    SpatialAttention,
    AttentionGate,
    SEBlock,
    MultiHeadSelfAttention,
    ConvBNReLU,
)
from cervix.models.gradcam import grad_cam
from cervix.models.networks import (
    SegModelConfig,
    ClsModelConfig,
    LoadReport,
    DualHeadAttConvNeXtUNet,
    ConvNeXtAttentionClassifier,
    create_backbone,
    resolve_pretrained,
    load_weights_file,
    adapt_first_conv,
    load_backbone_state_dict,
    count_parameters,
    describe,
)

__all__ = [
    "CBAM",
    "ChannelAttention",
    "SpatialAttention",
    "AttentionGate",
    "SEBlock",
    "MultiHeadSelfAttention",
    "ConvBNReLU",
    "grad_cam",
    "SegModelConfig",
    "ClsModelConfig",
    "LoadReport",
    "DualHeadAttConvNeXtUNet",
    "ConvNeXtAttentionClassifier",
    "create_backbone",
    "resolve_pretrained",
    "load_weights_file",
    "adapt_first_conv",
    "load_backbone_state_dict",
    "count_parameters",
    "describe",
]
