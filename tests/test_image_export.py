"""The exported SavedModel serves encoded bytes and pixels without dlkeras."""
import io
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from apps.image.data import from_arrays
from apps.image.pipeline import to_model_pixels
from apps.image.serving import serving_functions
from apps.image.task import ImageTask
from dlkeras.export import new_version_dir

from test_image_support import tiny_backbone

SIZE = 24
CLASSES = ["horizontal", "vertical", "other"]


def _png_bytes(pixels):
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("saved_models")
    source = from_arrays(np.zeros((3, SIZE, SIZE, 3), np.uint8), [0, 1, 2], class_names=CLASSES)
    task = ImageTask.from_source(source, tiny_backbone(seed=3), size=SIZE, hidden_units=8)
    path = task.export("stripes", root=root)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, shape, dtype=np.uint8)
              for shape in [(30, 20, 3), (SIZE, SIZE, 3), (17, 40, 3)]]
    expected = np.concatenate([
        task.network.predict(to_model_pixels(image[None], SIZE), verbose=0) for image in images])
    np.testing.assert_allclose(np.concatenate([task.predict(image[None]) for image in images]),
                               expected, atol=1e-6)
    return root, path, images, expected


def test_versions_follow_tf_serving_layout(exported):
    root, path, _, _ = exported
    assert path == root / "stripes" / "1"
    assert (path / "saved_model.pb").is_file()
    assert new_version_dir("stripes", root=root) == root / "stripes" / "2"


def test_fresh_process_without_dlkeras_matches_in_memory_model(exported, tmp_path):
    _, path, images, expected = exported
    payload = tmp_path / "images.npz"
    np.savez(payload, *images)
    code = textwrap.dedent(f"""
        import io, json, sys
        import numpy as np, tensorflow as tf
        from PIL import Image
        loaded = tf.saved_model.load({str(path)!r})
        arrays = np.load({str(payload)!r})
        images = [arrays[f"arr_{{i}}"] for i in range(len(arrays.files))]
        def png(a):
            buffer = io.BytesIO(); Image.fromarray(a).save(buffer, format="PNG")
            return buffer.getvalue()
        out = loaded.signatures["serving_default"](image_bytes=tf.constant([png(a) for a in images]))
        pixel_out = [loaded.signatures["serve_pixels"](pixels=tf.constant(a[None]))["outputs"].numpy()
                     for a in images]
        try:
            loaded.signatures["serving_default"](image_bytes=tf.constant([b"not an image"]))
            garbage = "no error"
        except tf.errors.InvalidArgumentError as error:
            garbage = "InvalidArgumentError"
        print(json.dumps({{
            "outputs": out["outputs"].numpy().tolist(),
            "pixels": np.concatenate(pixel_out).tolist(),
            "names": [n.decode() for n in out["class_names"].numpy()[0]],
            "garbage": garbage,
            "dlkeras_loaded": "dlkeras" in sys.modules or "apps" in sys.modules}}))
    """)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH="")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, cwd=str(tmp_path), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["dlkeras_loaded"] is False
    np.testing.assert_allclose(report["outputs"], expected, atol=1e-5)
    np.testing.assert_allclose(report["pixels"], expected, atol=1e-5)
    assert report["names"] == CLASSES
    assert report["garbage"] == "InvalidArgumentError"


def test_saved_model_cli_lists_both_signatures(exported):
    _, path, _, _ = exported
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    result = subprocess.run([cli, "show", "--dir", str(path), "--tag_set", "serve"],
                            capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert '"serving_default"' in result.stdout
    assert '"serve_pixels"' in result.stdout


def test_serving_refuses_mismatched_class_names():
    source = from_arrays(np.zeros((2, SIZE, SIZE, 3), np.uint8), [0, 1], class_names=["a", "b"])
    task = ImageTask.from_source(source, tiny_backbone(), size=SIZE, hidden_units=0)
    with pytest.raises(ValueError, match=r"3 class names for a model with 2 outputs"):
        serving_functions(task.network, SIZE, ["a", "b", "c"])
