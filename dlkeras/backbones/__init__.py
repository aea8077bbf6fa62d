"""Pretrained convolutional backbones that take raw RGB pixels.

Example:

    >>> from dlkeras.backbones import create_backbone, list_backbones
    >>> bb = create_backbone("mobilenet_v3_small", weights=None, input_shape=(64, 64, 3))
    >>> bb.feature_channels
    576
"""

from dlkeras.backbones.backbone import Backbone, create_backbone
from dlkeras.backbones.efficientnet_lite import efficientnet_lite0
from dlkeras.backbones.preprocessing import ChannelNormalization, preprocessing_layer
from dlkeras.backbones.registry import BACKBONES, BackboneSpec, get_backbone_spec, list_backbones
from dlkeras.backbones.weights import PretrainedWeightsUnavailableError

__all__ = [
    "BACKBONES",
    "Backbone",
    "BackboneSpec",
    "ChannelNormalization",
    "PretrainedWeightsUnavailableError",
    "create_backbone",
    "efficientnet_lite0",
    "get_backbone_spec",
    "list_backbones",
    "preprocessing_layer",
]
