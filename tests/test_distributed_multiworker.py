"""The core recipes under `MultiWorkerMirroredStrategy`: 2 worker processes on loopback.

Each worker is a process started here with its own `TF_CONFIG` (a cluster
of two workers on 127.0.0.1 ports picked free by the test); both are
stopped at the end, whatever happens, and each run is bounded in time. The
reference runs the same script on one device. Same global batch (16 rows:
8 per worker), same initial weights, unshuffled data, so the only
differences are float32 summation order: measured up to 1.3e-7 relative on
weights and losses; the tolerance is 1e-5, while every recipe moves the
weights by more than 1e-3.

Keras 3.15.1's own `fit` fails under this strategy before the first step
(tensorflow/tensorflow#72388); the recipes run because they call
`dlkeras.distribute.prepare_for_fit` (see `dlkeras.keras_internals.enable_multi_worker_fit`).
Wall time: ~70-110 s on the shared 2-core machine at load 6-11 (three
TensorFlow processes start and trace), ~25 s of CPU.
"""

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = os.path.join(ROOT, "tests", "distributed_worker_run.py")
RECIPES = ["one_cycle", "lr_find", "fine_tune"]
WEIGHTS = ["body/kernel", "body/bias", "head/kernel", "head/bias"]
RTOL, ATOL = 1e-5, 1e-7
TIMEOUT = 240


def free_ports(count):
    """Ports on 127.0.0.1 that nothing listens on now (held open together, so distinct)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _env(tf_config=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
    env.pop("TF_CONFIG", None)
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return env


def start(out, tf_config=None):
    return subprocess.Popen([sys.executable, RUN, str(out), *RECIPES], env=_env(tf_config),
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(processes, deadline):
    """Waits for every process until `deadline`; kills them all, whatever happens."""
    outputs = []
    try:
        for process in processes:
            out, _ = process.communicate(timeout=max(deadline - time.monotonic(), 1))
            outputs.append(out)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()
    return outputs


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("multiworker")
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    deadline = time.monotonic() + TIMEOUT
    processes = [start(out, {"cluster": {"worker": workers},
                             "task": {"type": "worker", "index": index}})
                 for index in range(2)]
    processes.append(start(out))  # the one-device reference
    try:
        outputs = finish(processes, deadline)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the 2-worker run did not finish in {TIMEOUT} s (both workers killed)")
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output[-4000:]
    return {name: dict(np.load(out / f"{name}.npz")) for name in ("0", "1", "single")}


def test_both_workers_are_replicas_of_one_model(runs):
    for recipe in RECIPES:
        assert runs["0"][f"{recipe}/replicas"] == runs["1"][f"{recipe}/replicas"] == 2
        assert runs["single"][f"{recipe}/replicas"] == 1
        for name in WEIGHTS:
            key = f"{recipe}/{name}" if recipe != "lr_find" else f"lr_find/initial/{name}"
            np.testing.assert_array_equal(runs["0"][key], runs["1"][key])


@pytest.mark.parametrize("recipe", ["one_cycle", "fine_tune"])
def test_trained_weights_equal_the_single_device_run(runs, recipe):
    single = runs["single"]
    moved = 0.0
    for name in WEIGHTS:
        np.testing.assert_allclose(runs["0"][f"{recipe}/{name}"], single[f"{recipe}/{name}"],
                                   rtol=RTOL, atol=ATOL, err_msg=name)
        moved = max(moved, float(np.max(np.abs(single[f"{recipe}/{name}"]
                                                - single[f"lr_find/initial/{name}"]))))
    assert moved > 1e-3
    np.testing.assert_allclose(runs["0"][f"{recipe}/loss"], single[f"{recipe}/loss"], rtol=RTOL)


def test_one_cycle_logs_the_same_schedule(runs):
    for key in ("one_cycle/lr/body", "one_cycle/momentum/head"):
        np.testing.assert_allclose(runs["0"][key], runs["single"][key], rtol=1e-6)


def test_lr_find_sweeps_the_same_curve_and_restores(runs):
    for key in ("lr_find/lrs", "lr_find/losses"):
        np.testing.assert_allclose(runs["0"][key], runs["single"][key], rtol=RTOL)
    assert runs["0"]["lr_find/restore_error"] == 0.0


def test_tabular_cli_under_multiworker_equals_one_device_and_the_chief_writes(tmp_path):
    """`--strategy multiworker`: two CLI processes train one model; worker 0 writes it."""
    from test_distributed_cli import rule_csv

    from apps.cli import app_named, main
    from dlkeras.tasks import Task

    csv = rule_csv(tmp_path / "rule.csv")
    common = ["train", "--csv", str(csv), "--target", "y", "--cat", "shop", "--cont", "x",
              "noise", "--layers", "8", "--epochs", "2", "--batch-size", "32", "--lr-max",
              "0.02", "--seed", "0", "--quiet", "--export-root", str(tmp_path / "saved")]
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    processes = [subprocess.Popen(
        [sys.executable, "-m", "apps.tabular", *common, "--strategy", "multiworker",
         "--run-dir", str(tmp_path / "multi")],
        env=_env({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}),
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for index in range(2)]
    try:
        outputs = finish(processes, time.monotonic() + TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the 2-worker CLI run did not finish in {TIMEOUT} s (both killed)")
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output[-3000:]
        assert "over 2 replica(s); --strategy multiworker" in output
    assert f"run folder: {tmp_path / 'multi'}" in outputs[0]  # the chief
    assert "run folder: /" in outputs[1] and "dlkeras-worker-" in outputs[1]
    assert "SavedModel:" in outputs[0] and "SavedModel:" not in outputs[1]
    assert sorted(p.name for p in (tmp_path / "saved" / "tabular").iterdir()) == ["1"]

    assert main(app_named("tabular"), common + ["--run-dir", str(tmp_path / "single"),
                                                "--no-export"]) == 0
    single = Task.load(tmp_path / "single", compile=False).network.weights
    multi = Task.load(tmp_path / "multi", compile=False).network.weights
    for a, b in zip(single, multi):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-4, atol=1e-5, err_msg=a.path)
