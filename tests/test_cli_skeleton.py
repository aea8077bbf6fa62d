"""The shared command line: fast help, the same flags everywhere, the dlkeras script."""
import os
import subprocess
import sys
import time

import pytest

from apps.cli import APPS, app_named, build_parser, did_you_mean, dlkeras_main

PORTED = ["image", "tabular", "recommender"]
SHARED_TRAIN_FLAGS = ["--lr-max", "--lr-find", "--lr-find-steps", "--epochs", "--batch-size",
                      "--seed", "--valid-pct", "--name", "--run-dir", "--log-dir",
                      "--export-root", "--no-export", "--quiet"]


def fresh_help_seconds(module):
    """Wall seconds of `python -m <module> --help` in a fresh process (best of 3)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True,
                              text=True, env=env, timeout=60)
        best = min(best, time.perf_counter() - start)
        assert done.returncode == 0, done.stderr
        assert "tensorflow" not in done.stderr.lower()
    return best


@pytest.mark.parametrize("name", PORTED)
def test_help_answers_in_under_a_second_without_tensorflow(name):
    assert fresh_help_seconds(f"apps.{name}") < 1.0
    code = (f"import sys; import apps.{name}.cli, apps.cli; "
            "print(any(m.startswith(('tensorflow', 'keras')) for m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.strip() == "False"


@pytest.mark.parametrize("name", PORTED)
def test_every_app_has_the_shared_verbs_and_flags(name):
    parser = build_parser(app_named(name))
    commands = parser._subparsers._group_actions[0].choices  # argparse's registry of verbs
    assert {"train", "lr-find", "predict", "export"} <= set(commands)
    train_flags = {option for action in commands["train"]._actions
                   for option in action.option_strings}
    assert set(SHARED_TRAIN_FLAGS) <= train_flags
    for verb in ("predict", "export"):
        flags = {option for action in commands[verb]._actions for option in action.option_strings}
        assert "--run-dir" in flags


def test_dlkeras_console_script_dispatches_to_apps(capsys):
    assert dlkeras_main(["--help"]) == 0
    printed = capsys.readouterr().out
    assert all(name in printed for name in APPS)
    assert dlkeras_main(["tabulr", "train"]) == 2
    assert "did you mean 'tabular'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        dlkeras_main(["tabular", "train", "--help"])
    assert exit_info.value.code == 0 and "--csv" in capsys.readouterr().out


def test_epochs_zero_and_bad_numbers_are_usage_errors(capsys):
    parser = build_parser(app_named("tabular"))
    for bad in (["--epochs", "0"], ["--lr-max", "-1"], ["--valid-pct", "1.5"]):
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args(["train", "--csv", "x.csv", "--target", "y", *bad])
        assert exit_info.value.code == 2
        assert bad[0] in capsys.readouterr().err


def test_did_you_mean():
    assert did_you_mean("agee", ["age", "income"]) == " (did you mean 'age'?)"
    assert did_you_mean("zzz", ["age"]) == ""


@pytest.mark.parametrize("suggestion, expected", [(None, 3e-3), (2e-2, 2e-2)])
def test_lr_find_without_a_suggestion_trains_at_the_default_and_says_why(
        suggestion, expected, tmp_path, capsys):
    """A sweep that diverged at once must not hand its start rate to training (issue 12)."""
    import argparse
    import types

    from apps.cli import choose_lr_max

    finder = types.SimpleNamespace(
        suggestion=suggestion, suggestions={} if suggestion is None else {"margin": suggestion},
        no_suggestion_reason="diverged at once" if suggestion is None else None, lrs=[])
    task = types.SimpleNamespace(default_lr_max=3e-3, lr_find=lambda *a, **k: finder)
    args = argparse.Namespace(lr_max=None, lr_find=True, batch_size=None, seed=0,
                              lr_find_steps=10)
    lr_max, why = choose_lr_max(task, None, args, tmp_path)
    assert lr_max == expected
    if suggestion is None:
        assert why == "the app's default (LR finder had no suggestion)"
        assert "no trustworthy suggestion (diverged at once)" in capsys.readouterr().out
