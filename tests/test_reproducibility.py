"""The same seed trains every app to the same weights in another process.

Two bugs this catches: an initializer made at import (its seed drawn before
`keras.utils.set_random_seed`, so every process started the recommender's
factor tables differently), and augmentation drawn from a seed generator
that `tf.data`'s parallel map advances in thread order (no two image runs
alike).
"""

import json
import os
import pathlib
import subprocess
import sys

RUN = pathlib.Path(__file__).with_name("reproducibility_run.py")


def _digests(seed, hash_seed):
    env = dict(os.environ, PYTHONHASHSEED=str(hash_seed), TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run([sys.executable, str(RUN), str(seed)], capture_output=True, text=True,
                          timeout=600, env=env, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_same_seed_same_weights_in_fresh_processes():
    first, second, other = _digests(0, 0), _digests(0, 1), _digests(1, 0)
    assert sorted(first) == ["image", "recommender", "tabular", "text"]
    assert first == second
    assert all(other[app] != first[app] for app in first)  # the seed reaches every app
