"""The two networks (dual-head attention U-Net, 5-channel classifier), their attention blocks, Grad-CAM."""

from cervix.models.backbone import (
    LoadReport,
    adapt_first_conv,
    create_backbone,
    load_backbone_state_dict,
    load_weights_file,
    resolve_pretrained,
)
from cervix.models.blocks import (
    CBAM,
    AttentionGate,
    ChannelAttention,
    ConvBNReLU,
    MultiHeadSelfAttention,
    SEBlock,
    SpatialAttention,
)
from cervix.models.gradcam import grad_cam
from cervix.models.networks import (
    ClsModelConfig,
    ConvNeXtAttentionClassifier,
    DualHeadAttConvNeXtUNet,
    SegModelConfig,
    count_parameters,
    describe,
)

__all__ = [
    "LoadReport",
    "create_backbone",
    "resolve_pretrained",
    "load_weights_file",
    "adapt_first_conv",
    "load_backbone_state_dict",
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
    "DualHeadAttConvNeXtUNet",
    "ConvNeXtAttentionClassifier",
    "count_parameters",
    "describe",
]
