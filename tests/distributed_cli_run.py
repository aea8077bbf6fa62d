"""Runs app commands in one process with 2 logical CPU devices configured.

Used by `tests/test_distributed_cli.py`: logical devices must be configured
before TensorFlow initialises its devices. Usage:

    python tests/distributed_cli_run.py APP 'ARGV AS JSON LIST' ['MORE ARGV' ...]

Exits with the first non-zero exit status of the commands.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0],
    [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])

from apps.cli import app_named, main  # noqa: E402


def run(app_name, argv_lists):
    app = app_named(app_name)
    for argv in argv_lists:
        status = main(app, argv)
        if status:
            return status
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1], [json.loads(text) for text in sys.argv[2:]]))
