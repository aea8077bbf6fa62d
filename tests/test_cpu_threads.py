"""`dlkeras.cpu_threads`: TensorFlow's thread pools, set before TensorFlow starts."""
import json
import os
import subprocess
import sys

import pytest

from dlkeras.cpu_threads import cpu_threads, set_cpu_threads

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _fresh_python(code, **env):
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    environment.pop("TF_NUM_INTRAOP_THREADS", None)
    environment.pop("TF_NUM_INTEROP_THREADS", None)
    environment.update(env)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=environment, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_set_before_tensorflow_starts_takes_effect_and_a_change_after_is_refused():
    result = _fresh_python(
        "import json, dlkeras, tensorflow as tf\n"
        "before = dlkeras.set_cpu_threads(intra_op=1, inter_op=2)\n"
        "tf.constant([1.0, 2.0]) * 2.0  # starts TensorFlow\n"
        "kept = dlkeras.set_cpu_threads(intra_op=1)  # the same value: allowed\n"
        "try:\n"
        "    dlkeras.set_cpu_threads(intra_op=2)\n"
        "    refused = None\n"
        "except RuntimeError as error:\n"
        "    refused = str(error)\n"
        "print(json.dumps({'before': before, 'kept': kept, 'refused': refused,\n"
        "                  'tf': tf.config.threading.get_intra_op_parallelism_threads()}))\n")
    assert result["before"] == {"intra_op": 1, "inter_op": 2}
    assert result["kept"] == {"intra_op": 1, "inter_op": 2}
    assert result["tf"] == 1
    assert "TF_NUM_INTRAOP_THREADS=2" in result["refused"]
    assert "intra_op=1" in result["refused"]


def test_the_environment_variable_counts_as_the_setting_in_force():
    result = _fresh_python(
        "import json, dlkeras, tensorflow as tf\n"
        "tf.constant(1.0) + 1.0\n"
        "print(json.dumps(dlkeras.set_cpu_threads(intra_op=1)))\n",
        TF_NUM_INTRAOP_THREADS="1")
    assert result["intra_op"] == 1


@pytest.mark.parametrize("bad", [-1, 1.5, "2", True])
def test_bad_thread_counts_are_refused_by_name(bad):
    with pytest.raises(ValueError, match="`intra_op` must be a whole number"):
        set_cpu_threads(intra_op=bad)
    with pytest.raises(ValueError, match="`inter_op` must be a whole number"):
        set_cpu_threads(inter_op=bad)


def test_leaving_both_alone_reports_the_settings():
    assert set_cpu_threads() == cpu_threads()


def test_the_tabular_command_line_trains_on_one_thread_per_op_unless_told_otherwise(tmp_path):
    # The command fails on the missing CSV after the thread setting is applied.
    code = (
        "import json, sys\n"
        "from apps.cli import app_named, main\n"
        "data = {'tabular': ['lr-find', '--csv', sys.argv[2], '--target', 'y'],\n"
        "        'image': ['lr-find', '--data', sys.argv[2]],\n"
        "        'pseudolabel': ['train', '--labelled-fraction', '0.1', '--task', 'tabular',\n"
        "                        '--csv', sys.argv[2], '--target', 'y']}[sys.argv[1]]\n"
        "status = main(app_named(sys.argv[1]), [*data, *sys.argv[3:]], app_threads=True)\n"
        "import dlkeras\n"
        "print(json.dumps({'status': status, **dlkeras.cpu_threads()}))\n")
    missing = str(tmp_path / "missing.csv")

    def run(*argv, **env):
        environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
        environment.pop("TF_NUM_INTRAOP_THREADS", None)
        environment.update(env)
        done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True,
                              text=True, env=environment, timeout=300, check=False)
        return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr

    default, stderr = run("tabular", missing)
    assert default["status"] == 2 and "missing.csv" in stderr  # the data error, after
    assert default["intra_op"] == 1
    image, stderr = run("image", missing)
    assert image["status"] == 2 and "missing.csv" in stderr
    assert image["intra_op"] == 0  # image keeps TensorFlow's default
    assert run("tabular", missing, "--intra-op-threads", "2")[0]["intra_op"] == 2
    assert run("tabular", missing, TF_NUM_INTRAOP_THREADS="2")[0]["intra_op"] == 2
    pseudo, stderr = run("pseudolabel", missing)  # --task tabular: the tabular app's default
    assert pseudo["status"] == 2 and "missing.csv" in stderr
    assert pseudo["intra_op"] == 1


def test_a_program_calling_main_keeps_its_threads_unless_it_passes_the_flag(tmp_path):
    code = (
        "import json\n"
        "from apps.cli import app_named, main\n"
        "status = main(app_named('tabular'), ['lr-find', '--csv', 'missing.csv', '--target', 'y'])\n"
        "import dlkeras\n"
        "print(json.dumps({'status': status, **dlkeras.cpu_threads()}))\n")
    result = _fresh_python(code)
    assert result["status"] == 2 and result["intra_op"] == 0


def test_a_thread_count_that_can_no_longer_apply_is_a_usage_error(capsys):
    import tensorflow as tf

    from apps.cli import app_named, main

    tf.constant(1.0) + 1.0  # TensorFlow runs in this process
    now = cpu_threads()["intra_op"]
    other = 3 if now != 3 else 4
    assert main(app_named("tabular"), ["lr-find", "--csv", "x.csv", "--target", "y",
                                       "--intra-op-threads", str(other)]) == 2
    assert "TensorFlow has already started" in capsys.readouterr().err
    # The app's own default is skipped quietly: the command goes on to the data.
    assert main(app_named("tabular"), ["lr-find", "--csv", "x.csv", "--target", "y"],
                app_threads=True) == 2
    assert "x.csv" in capsys.readouterr().err
    assert cpu_threads()["intra_op"] == now
