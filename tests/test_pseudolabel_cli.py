"""``python -m apps.pseudolabel``: borrowed flags, train -> predict -> export, usage errors."""
import json
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from PIL import Image

from apps.cli import main as app_main
from apps.pseudolabel.cli import APP
from apps.tabular.task import TabularTask
from dlkeras.tasks import Task


def main(argv):
    return app_main(APP, argv)


def test_help_is_fast_without_tensorflow_and_borrows_the_apps_flags(capsys):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "apps.pseudolabel", "train", "--help"],
                              capture_output=True, text=True, env=env, timeout=60)
        best = min(best, time.perf_counter() - start)
        assert done.returncode == 0 and "tensorflow" not in done.stderr.lower()
    assert best < 1.0
    for flag in ("--task", "--unlabelled", "--labelled-fraction", "--data", "--backbone", "--csv",
                 "--target", "--image-task", "--tabular-task", "--image-dropout",
                 "--tabular-dropout", "--rounds", "--top-fraction", "--soft", "--lr-max"):
        assert flag in done.stdout, flag
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    assert {"--top-k", "--out", "--id-column"} <= set(capsys.readouterr().out.split())


@pytest.mark.parametrize("argv,fragment", [
    (["--task", "image", "--labelled-fraction", "0.5"], "--data required with --task image"),
    (["--task", "tabular", "--unlabelled", "x.csv", "--csv", "y.csv"],
     "--target required with --task tabular"),
])
def test_missing_flags_of_the_chosen_app_are_usage_errors(argv, fragment, capsys):
    assert main(["train", *argv, "--quiet"]) == 2
    assert fragment in capsys.readouterr().err


def test_unlabelled_and_labelled_fraction_exclude_each_other(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--task", "tabular", "--unlabelled", "a.csv", "--labelled-fraction", "0.1"])
    assert exit_info.value.code == 2 and "not allowed with" in capsys.readouterr().err


def test_resume_is_refused_before_any_training(tmp_path, capsys):
    assert main(["train", "--task", "tabular", "--csv", "x.csv", "--target", "y",
                 "--labelled-fraction", "0.5", "--resume", "--run-dir", str(tmp_path)]) == 2
    assert "--resume" in capsys.readouterr().err
    (tmp_path / "checkpoint").mkdir()
    (tmp_path / "checkpoint" / "latest").write_text("another app's interrupted run")
    assert main(["train", "--task", "tabular", "--csv", "x.csv", "--target", "y",
                 "--labelled-fraction", "0.5", "--resume", "--run-dir", str(tmp_path)]) == 2
    assert "pseudolabel runs cannot --resume" in capsys.readouterr().err


def signal_frame(count, seed):
    """A table whose label depends on a category and a number; 'noise' is irrelevant."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"shop": rng.choice(["a", "b", "c"], count), "x": rng.normal(size=count),
                          "noise": rng.normal(size=count)})
    frame["bought"] = np.where((frame["x"] + (frame["shop"] == "a") * 1.5) > 0.5, "yes", "no")
    return frame


@pytest.fixture(scope="module")
def tabular_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("tabular")
    signal_frame(600, 0).to_csv(root / "shop.csv", index=False)
    args = ["train", "--task", "tabular", "--csv", str(root / "shop.csv"), "--target", "bought",
            "--labelled-fraction", "0.2", "--rounds", "1", "--top-fraction", "0.6",
            "--epochs", "2", "--batch-size", "16", "--tabular-layers", "16", "--lr-max", "0.02",
            "--run-dir", str(root / "run"), "--export-root", str(root / "saved"), "--quiet"]
    return root, main(args)


def test_tabular_train_writes_rounds_run_folder_and_savedmodel(tabular_run, capsys):
    root, status = tabular_run
    assert status == 0
    run = root / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    rounds = json.loads((run / "pseudo_labels.json").read_text())
    assert [r["round"] for r in rounds] == [0, 1]
    # 480 training rows: 96 keep their label, 384 are unlabelled; quota 0.6 * 384 / 2 per class.
    assert rounds[1]["num_unlabelled"] == 384 and rounds[1]["num_pseudo"] <= 230
    assert max(rounds[1]["class_counts"]) <= 115
    assert metrics["pseudo_label_accuracy"] == rounds[1]["pseudo_accuracy"] > 0.5
    assert metrics["pseudo_labelled_accuracy"] == pytest.approx(metrics["accuracy"])
    with Image.open(run / "pseudo_labels.png") as picture:
        assert picture.format == "PNG"
    assert list((run / "logs" / "pseudo_labels").glob("events.out.tfevents*"))
    task = Task.load(run)
    assert isinstance(task, TabularTask)
    assert task.metadata["pseudo_labelling"]["top_fraction"] == 0.6
    assert len(task.metadata["pseudo_labelling"]["rounds"]) == 2
    served = tf.saved_model.load(str(root / "saved" / "pseudolabel" / "1")).signatures["serve"]
    rows = signal_frame(4, 9)
    outputs = served(shop=tf.constant(rows["shop"]), x=tf.constant(rows["x"], tf.float32),
                     noise=tf.constant(rows["noise"], tf.float32))
    np.testing.assert_allclose(outputs["probabilities"].numpy(),
                               task.predict(rows.drop(columns=["bought"])), atol=1e-5)


def test_tabular_predict_and_export_go_through_the_tabular_app(tabular_run, tmp_path, capsys):
    root, _ = tabular_run
    signal_frame(5, 3).drop(columns=["bought"]).to_csv(tmp_path / "new.csv", index=False)
    assert main(["predict", "--run-dir", str(root / "run"), "--csv", str(tmp_path / "new.csv"),
                 "--out", str(tmp_path / "p.csv")]) == 0
    assert list(pd.read_csv(tmp_path / "p.csv").columns) == ["row", "p_no", "p_yes", "bought"]
    assert main(["predict", "--run-dir", str(root / "run")]) == 2
    assert "--csv required" in capsys.readouterr().err
    assert main(["export", "--run-dir", str(root / "run"), "--name", "again", "--export-root",
                 str(tmp_path)]) == 0
    assert (tmp_path / "again" / "1" / "saved_model.pb").is_file()


def test_tabular_unlabelled_csv_with_and_without_labels(tmp_path, capsys):
    signal_frame(300, 1).to_csv(tmp_path / "labelled.csv", index=False)
    signal_frame(200, 2).to_csv(tmp_path / "more.csv", index=False)
    signal_frame(200, 2).drop(columns=["bought"]).to_csv(tmp_path / "bare.csv", index=False)
    for name, known in (("more.csv", True), ("bare.csv", False)):
        assert main(["train", "--task", "tabular", "--csv", str(tmp_path / "labelled.csv"),
                     "--target", "bought", "--unlabelled", str(tmp_path / name), "--rounds", "1",
                     "--top-fraction", "0.5", "--epochs", "1", "--batch-size", "32",
                     "--tabular-layers", "8", "--run-dir", str(tmp_path / f"run_{name}"),
                     "--no-export", "--quiet"]) == 0
        rounds = json.loads((tmp_path / f"run_{name}" / "pseudo_labels.json").read_text())
        assert rounds[1]["num_unlabelled"] == 200 and rounds[1]["num_pseudo"] > 0
        assert (rounds[1]["pseudo_accuracy"] is not None) == known
    capsys.readouterr()


@pytest.mark.parametrize("flags,expected", [
    ([], {"threshold": None, "top_fraction": None, "steps_per_epoch": "labelled"}),
    (["--top-fraction", "0.6", "--threshold", "0.9"],
     {"threshold": 0.9, "top_fraction": 0.6, "steps_per_epoch": "labelled"}),
    (["--top-fraction", "0.5", "1.0", "--student-steps", "teacher"],
     {"threshold": None, "top_fraction": [0.5, 1.0], "steps_per_epoch": "teacher"}),
])
def test_selection_flags_take_one_value_or_one_per_round(flags, expected):
    from apps.cli import build_parser
    from apps.pseudolabel.training import trainer_from_args

    args = build_parser(APP).parse_args(["train", "--task", "tabular", "--csv", "x.csv",
                                         "--target", "y", "--labelled-fraction", "0.1",
                                         "--rounds", "2", *flags])
    config = trainer_from_args(args).get_config()
    assert {key: config[key] for key in expected} == expected
