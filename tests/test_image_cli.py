"""``python -m apps.image``: help, train -> predict -> export on a real tiny backbone."""
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from apps.cli import main as app_main
from apps.image.cli import APP


def main(argv):
    return app_main(APP, argv)


@pytest.mark.parametrize("command,flags", [
    ("train", ["--data", "--backbone", "--size", "--epochs", "--freeze-epochs", "--lr-max",
               "--lr-find", "--tta", "--export-root", "--label-column", "--no-flip", "example:"]),
    ("demo", ["--train-examples", "--valid-examples", "--backbone", "--size"]),
    ("predict", ["--run-dir", "--top-k", "images"]),
    ("export", ["--run-dir", "--name", "--version"]),
])
def test_help_documents_every_command(command, flags, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in flags:
        assert flag in text, flag


def test_module_help_runs_as_a_program():
    result = subprocess.run([sys.executable, "-m", "apps.image", "--help"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0
    for command in ("train", "predict", "export", "demo", "lr-find"):
        assert command in result.stdout


def test_demo_trains_at_the_finders_suggestion_unless_given_a_rate():
    from apps.cli import build_parser

    parser = build_parser(APP)
    args = parser.parse_args(["demo"])
    assert (args.lr_find, args.lr_max) == (True, None)
    args = parser.parse_args(["demo", "--lr-max", "0.01"])
    assert args.lr_max == 0.01  # a given rate wins over the finder (choose_lr_max)


def test_missing_data_is_a_clear_error(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "nowhere"), "--quiet"]) == 2
    assert "nowhere" in capsys.readouterr().err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    for name, channel in [("red", 0), ("blue", 2)]:
        (root / "data" / name).mkdir(parents=True)
        for index in range(12):
            pixels = rng.integers(0, 60, (36, 36, 3), dtype=np.uint8)
            pixels[..., channel] = rng.integers(180, 256, (36, 36))
            Image.fromarray(pixels).save(root / "data" / name / f"{index}.png")
    (root / "data" / "red" / "corrupt.png").write_bytes(b"\x89PNG broken")
    args = ["train", "--data", str(root / "data"), "--backbone", "mobilenet_v3_small",
            "--weights", "none", "--size", "32", "--batch-size", "8", "--epochs", "1",
            "--freeze-epochs", "1", "--lr-find", "--lr-find-steps", "5", "--hidden-units", "8",
            "--name", "colors", "--run-dir", str(root / "run"),
            "--export-root", str(root / "saved"), "--quiet"]
    return root, main(args)


def test_train_reports_skips_and_writes_everything(trained):
    root, status = trained
    assert status == 0
    run = root / "run"
    for name in ("lr_find.png", "grad_cam.png", "confusion_matrix.png", "model.keras",
                 "task.json", "metrics.json"):
        assert (run / name).is_file(), name
    assert (root / "saved" / "colors" / "1" / "saved_model.pb").is_file()


def test_predict_prints_classes_and_reports_garbage(trained, capsys):
    root, _ = trained
    good = root / "data" / "blue" / "0.png"
    garbage = root / "garbage.jpg"
    garbage.write_bytes(b"nope")
    status = main(["predict", "--run-dir", str(root / "run"), "--top-k", "2", str(good),
                   str(garbage)])
    lines = capsys.readouterr().out.strip().splitlines()
    assert status == 1
    assert lines[0].startswith(f"{good}: ") and {"red", "blue"} <= set(lines[0].split())
    assert lines[1].startswith(f"{garbage}: error:")


def test_export_from_run_folder_gives_same_outputs(trained, capsys):
    root, _ = trained
    assert main(["export", "--run-dir", str(root / "run"), "--export-root",
                 str(root / "saved")]) == 0
    assert "colors/2" in capsys.readouterr().out
    pixels = tf.constant(np.random.default_rng(1).integers(0, 256, (3, 40, 30, 3), dtype=np.uint8))
    first, second = [tf.saved_model.load(str(root / "saved" / "colors" / v)).signatures[
        "serve_pixels"](pixels=pixels)["outputs"].numpy() for v in ("1", "2")]
    np.testing.assert_allclose(first, second, atol=1e-6)
