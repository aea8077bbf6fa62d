"""TTA, confusion matrix, top losses, Grad-CAM and the saved figures."""
import types

import keras
import numpy as np
import pytest
from PIL import Image

from apps.image.gradcam import grad_cam, plot_grad_cam
from apps.image.heads import build_head
from apps.image.interpret import plot_top_losses
from apps.image.tta import tta_predict, tta_views
from dlkeras import interpretation as interpret
from dlkeras.plots import save_figure


def _left_brightness_model():
    """Output = mean of the left half's pixels / 255 (not flip-invariant)."""
    inputs = keras.Input((8, 8, 3))
    left = keras.layers.Cropping2D(((0, 0), (0, 4)))(inputs)
    outputs = keras.layers.GlobalAveragePooling2D()(left)
    return keras.Model(inputs, keras.layers.Lambda(lambda t: t[:, :1] / 255.0)(outputs))


def test_tta_weights_original_and_averages_views_by_hand():
    model = _left_brightness_model()
    images = np.zeros((2, 8, 8, 3), "float32")
    images[0, :, :4] = 255.0
    images[1, :, 4:] = 255.0
    flipped = tta_predict(model, images, views=("flip",), original_weight=0.25)
    np.testing.assert_allclose(flipped[:, 0], [0.25 * 1 + 0.75 * 0, 0.25 * 0 + 0.75 * 1], atol=1e-6)
    both = tta_predict(model, images, views=("flip", "zoom"), original_weight=0.0)
    zoom = model(tta_views(images, ["zoom"])[0]).numpy()[:, 0]
    np.testing.assert_allclose(both[:, 0], (np.array([0.0, 1.0]) + zoom) / 2, atol=1e-6)
    with pytest.raises(ValueError, match="'rotate'"):
        tta_predict(model, images, views=("rotate",))


def test_confusion_most_confused_and_top_losses_by_hand():
    targets = np.array([0, 0, 1, 1, 2, 2, 2])
    outputs = np.array([[.9, .05, .05], [.2, .7, .1], [.1, .8, .1], [.6, .3, .1],
                        [.1, .1, .8], [.05, .9, .05], [.3, .6, .1]])
    matrix = interpret.confusion_matrix(targets, outputs.argmax(1), 3)
    np.testing.assert_array_equal(matrix, [[1, 1, 0], [1, 1, 0], [0, 2, 1]])
    assert interpret.most_confused(matrix, ["a", "b", "c"]) == [
        ("c", "b", 2), ("a", "b", 1), ("b", "a", 1)]
    indices, losses = interpret.top_losses(outputs, targets, k=2)
    assert indices.tolist() == [5, 6]
    np.testing.assert_allclose(losses, [-np.log(0.05), -np.log(0.1)])
    multi = interpret.per_example_losses(np.array([[0.8, 0.4]]), np.array([[1, 0]]), "multi_label")
    np.testing.assert_allclose(multi, [-(np.log(0.8) + np.log(0.6)) / 2])
    with pytest.raises(ValueError, match=r"outside 0..2: \[0, 3\]"):
        interpret.confusion_matrix([0, 3], [0, 1], 3)


def test_figures_are_saved_as_png(tmp_path):
    matrix = np.array([[3, 1], [0, 4]])
    path = save_figure(interpret.plot_confusion_matrix(matrix, ["x", "y"]), tmp_path / "cm.png")
    images = np.random.default_rng(0).uniform(0, 255, (4, 8, 8, 3))
    outputs = np.array([[.9, .1], [.4, .6], [.5, .5], [.2, .8]])
    grid = save_figure(plot_top_losses(images, outputs, np.array([1, 0, 1, 1]), ["x", "y"], k=3),
                       tmp_path / "top.png")
    for saved in (path, grid):
        with Image.open(saved) as image:
            assert image.format == "PNG" and image.size[0] > 100


def _patch_backbone():
    """Last conv = ReLU(local brightness): activations only where the image is bright."""
    inputs = keras.Input((16, 16, 3))
    conv = keras.layers.Conv2D(4, 3, strides=2, padding="same", name="last_conv",
                               kernel_initializer=keras.initializers.Constant(1 / 27 / 255),
                               bias_initializer="zeros")(inputs)
    features = keras.layers.ReLU(name="last_relu")(conv)
    return types.SimpleNamespace(name="patch", model=keras.Model(inputs, features),
                                 last_conv_layer_name="last_relu", feature_channels=4)


def test_grad_cam_lights_up_the_evidence():
    backbone = _patch_backbone()
    head = build_head(4, 2, hidden_units=0, dropout=0.0)
    dense = head.get_layer("head_output")
    dense.set_weights([np.array([[1.0, -1.0]] * 8, "float32"), np.zeros(2, "float32")])
    images = np.zeros((2, 16, 16, 3), "float32")
    images[0, :8, :8] = 255.0    # evidence top-left
    images[1, 8:, 8:] = 255.0    # evidence bottom-right
    heatmaps, classes = grad_cam(backbone.model, backbone.last_conv_layer_name, head, images,
                                 class_indices=[0, 0])
    assert heatmaps.shape == (2, 16, 16) and classes.tolist() == [0, 0]
    assert heatmaps.max() == pytest.approx(1.0, abs=1e-5)
    # (The last row/column sees 'same' padding, so test the patch's interior.)
    assert heatmaps[0, 1:6, 1:6].min() > 0.5 and heatmaps[0, 10:, 10:].max() < 0.05
    assert heatmaps[1, 10:14, 10:14].min() > 0.5 and heatmaps[1, :6, :6].max() < 0.05
    # Class 1 has negative evidence everywhere: ReLU leaves nothing.
    against, _ = grad_cam(backbone.model, backbone.last_conv_layer_name, head, images[:1],
                          class_indices=[1])
    assert against.max() < 1e-6
    figure = plot_grad_cam(images, heatmaps, ["a", "b"])
    assert len(figure.axes) == 2
