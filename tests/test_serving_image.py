"""Image serving contract, checked in a fresh process without dlkeras (issue 12).

Decompression bombs are refused from the header (a 0.29 MB PNG of
10000x10000 zeros added 1.6 GB to the serving process), a GIF costs one
frame (a 6 KB GIF of 60 2000x2000 frames is 730 MB when every frame is
decoded; TensorFlow 2.21 already decodes frame 0 only, the test guards it),
empty batches give empty outputs, broken inputs get errors naming the
image, and a tensor of another dtype is refused.
"""
import io
import json

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from apps.image.data import from_arrays
from apps.image.pipeline import to_model_pixels
from apps.image.task import ImageTask

from fresh_process import run_without_dlkeras
from hostile_images import gif_of_frames, png_of_zeros
from test_image_support import tiny_backbone

SIZE = 16
SERVE = r"""
import json, resource, sys
import numpy as np, tensorflow as tf
root = sys.argv[1]
loaded = tf.saved_model.load(root + "/default/1")
from_bytes, from_pixels = loaded.signatures["serving_default"], loaded.signatures["serve_pixels"]
inputs = np.load(root + "/inputs.npz", allow_pickle=True)
def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
def call(function, **kwargs):
    try:
        return function(**kwargs)["outputs"].numpy().tolist()
    except (tf.errors.InvalidArgumentError, TypeError, ValueError) as error:
        return type(error).__name__ + ": " + str(error)
report = {"valid": call(from_bytes, image_bytes=tf.constant(list(inputs["valid"])))}
# The peak is a high-water mark: measure the smaller cases first.
for case in ("gif_first_frame", "gif_frames", "png_bomb"):
    before = peak_mib()
    data = open(root + "/" + case, "rb").read()
    report[case] = {"result": call(from_bytes, image_bytes=tf.constant([data])),
                    "grown_mib": peak_mib() - before}
report["empty_bytes"] = call(from_bytes, image_bytes=tf.constant([], tf.string))
report["empty_pixels"] = call(from_pixels, pixels=tf.zeros([0, 0, 0, 3], tf.uint8))
report["garbage"] = call(from_bytes, image_bytes=tf.constant([inputs["valid"][0], b"GIF8 no"]))
report["unknown"] = call(from_bytes, image_bytes=tf.constant([b"%PDF-1.4"]))
report["no_pixels"] = call(from_pixels, pixels=tf.zeros([1, 0, 7, 3], tf.uint8))
report["float_pixels"] = call(from_pixels, pixels=tf.fill([1, 8, 8, 3], 0.7))
report["int32_pixels"] = call(from_pixels, pixels=tf.fill([1, 8, 8, 3], 300))
small = tf.saved_model.load(root + "/small/1").signatures["serving_default"]
report["small_budget"] = [call(small, image_bytes=tf.constant([inputs["valid"][i]]))
                          for i in range(2)]
print(json.dumps(report))
"""


def encoded(pixels, fmt, **options):
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt, **options)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("image_serving")
    source = from_arrays(np.zeros((2, SIZE, SIZE, 3), np.uint8), [0, 1], class_names=["a", "b"])
    task = ImageTask.from_source(source, tiny_backbone(seed=4), size=SIZE, hidden_units=4)
    task.export("default", root=root)
    task.metadata["max_serving_pixels"] = 900  # 30x30
    task.export("small", root=root)
    rng = np.random.default_rng(0)
    valid = [encoded(rng.integers(0, 256, (30, 30, 3), dtype=np.uint8), "PNG"),
             encoded(rng.integers(0, 256, (31, 30, 3), dtype=np.uint8), "JPEG"),
             encoded(rng.integers(0, 256, (9, 40, 3), dtype=np.uint8), "GIF"),
             encoded(rng.integers(0, 256, (20, 11, 3), dtype=np.uint8), "BMP"),
             encoded(rng.integers(0, 256, (17, 23, 3), dtype=np.uint8), "WEBP", lossless=True)]
    np.savez(root / "inputs.npz", valid=np.array(valid, dtype=object))
    (root / "png_bomb").write_bytes(png_of_zeros(10000, 10000))
    (root / "gif_frames").write_bytes(gif_of_frames(60))
    (root / "gif_first_frame").write_bytes(gif_of_frames(1))
    done = run_without_dlkeras(f"import sys; sys.argv = ['s', {str(root)!r}]\n" + SERVE)
    assert done.returncode == 0, done.stderr[-3000:]
    return task, valid, json.loads(done.stdout.strip().splitlines()[-1])


def test_valid_images_of_every_format_match_the_in_memory_model(served):
    task, valid, report = served
    pixels = [tf.io.decode_image(data, channels=3, expand_animations=False) for data in valid]
    expected = np.concatenate([task.network.predict(to_model_pixels(p[None], SIZE), verbose=0)
                               for p in pixels])
    np.testing.assert_allclose(report["valid"], expected, atol=1e-5)


def test_png_bomb_is_refused_from_its_header_with_bounded_memory(served):
    bomb = served[2]["png_bomb"]
    assert "image_bytes[0] is 10000x10000 pixels, over the serving budget of 40000000" in \
        str(bomb["result"])
    assert bomb["grown_mib"] < 100, bomb


def test_animated_gif_decodes_its_first_frame_only(served):
    frames, first = served[2]["gif_frames"], served[2]["gif_first_frame"]
    assert isinstance(frames["result"], list) and frames["result"] == first["result"]
    assert frames["grown_mib"] < 100, frames


def test_empty_batches_give_empty_outputs(served):
    assert served[2]["empty_bytes"] == [] and served[2]["empty_pixels"] == []


@pytest.mark.parametrize("case, message", [
    ("garbage", "image_bytes[1] has no pixels (0x0): an empty image or a broken header"),
    ("unknown", "image_bytes[0] is not a PNG, JPEG, GIF, BMP or WebP image"),
    ("no_pixels", "pixels (each image) has no pixels (7x0)"),
    ("float_pixels", "expected to be a uint8 tensor but is a float tensor"),
    ("int32_pixels", "expected to be a uint8 tensor but is a int32 tensor"),
])
def test_broken_inputs_get_errors_naming_the_image(served, case, message):
    result = served[2][case]
    assert isinstance(result, str) and result.startswith("InvalidArgumentError"), result
    assert message in result


def test_the_pixel_budget_is_set_at_export(served):
    fits, refused = served[2]["small_budget"]
    assert isinstance(fits, list) and len(fits) == 1  # 30x30 = 900 pixels: served
    assert "image_bytes[0] is 30x31 pixels, over the serving budget of 900 pixels" in refused


def test_python_predict_refuses_pixels_a_cast_would_change(served):
    task = served[0]
    with pytest.raises(ValueError, match=r"look like 0\.\.1 floats: multiply by 255"):
        task.predict(np.full((1, 8, 8, 3), 0.7))
    with pytest.raises(ValueError, match=r"range \[0, 300\]"):
        task.predict(np.array([[[[0, 300, 7]]]]))
    np.testing.assert_allclose(task.predict(np.full((1, 8, 8, 3), 7.0)),
                               task.predict(np.full((1, 8, 8, 3), 7, np.uint8)))


def test_predict_files_skips_files_over_the_budget(served, tmp_path):
    task = served[0]
    Image.fromarray(np.zeros((31, 30, 3), np.uint8)).save(tmp_path / "big.png")
    Image.fromarray(np.zeros((30, 30, 3), np.uint8)).save(tmp_path / "fits.png")
    (big, reason), (_, scores) = task.predict_files([tmp_path / "big.png", tmp_path / "fits.png"])
    assert reason == "error: 30x31 pixels, over the limit of 900 pixels (not decoded)"
    assert sorted(name for name, _ in scores) == ["a", "b"]
