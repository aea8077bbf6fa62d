"""Peak memory of a serving process on hostile-but-valid requests (issue 12).

Exports a small image model and a small recommender with the checkout's
code, then serves each request in a fresh process that imports TensorFlow
only (as a model server would) and reports how much that process's peak
resident memory grew during the call (after a warm-up call), its wall time
and its outcome:

- `png_bomb`: a 0.29 MB PNG of 10000x10000 zeros;
- `gif_frames`: a 6 KB GIF of 60 2000x2000 frames;
- `recommend_1e6`: `recommend(k=10)` for 10^6 user ids (50 items, 3 factors);
- `recommend_1e6_movielens`: the same with MovieLens-small's sizes
  (671 users, 9,066 items, 50 factors), `--movielens-users` ids (default 10^4:
  10^6 of them is 9x10^9 scores, memory-bounded but minutes of work).

Run: `flock /tmp/dlkeras-heavy.lock python benchmarks/serving_memory.py`
(to compare with an older checkout, copy this file into its `benchmarks/`
and `tests/hostile_images.py` into its `tests/`, and run it there).
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from hostile_images import gif_of_frames, png_of_zeros  # noqa: E402

SERVE = r"""
import json, resource, sys, time
import numpy as np, tensorflow as tf
path, signature, request = sys.argv[1], sys.argv[2], sys.argv[3]
function = tf.saved_model.load(path).signatures[signature]
def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
def arguments(spec):
    if spec["kind"] == "bytes":
        return {"image_bytes": tf.constant([open(spec["file"], "rb").read()])}
    users = np.random.default_rng(0).integers(1, spec["users"], spec["n"])
    return {"user_ids": tf.constant(users, tf.int64), "k": tf.constant(spec["k"])}
spec = json.loads(request)
function(**arguments(spec["warm"]))
inputs = arguments(spec["call"])
before, start = peak_mib(), time.perf_counter()
try:
    out = function(**inputs)
    outcome = "outputs " + str({k: list(v.shape) for k, v in out.items()})
except tf.errors.InvalidArgumentError as error:
    lines = str(error).splitlines()
    outcome = "error: " + next((l for l in lines if "assertion failed" in l), lines[0])[:160]
print(json.dumps({"grown_mib": round(peak_mib() - before, 1),
                  "seconds": round(time.perf_counter() - start, 2), "outcome": outcome}))
"""


def export_models(folder):
    """Exports the image model and two recommenders; returns their SavedModel paths."""
    sys.path.insert(0, str(ROOT))
    import keras
    import numpy as np

    from apps.image.data import from_arrays
    from apps.image.task import ImageTask
    from apps.recommender.models import build_scorer
    from apps.recommender.task import RecommenderTask
    from dlkeras.backbones import create_backbone

    keras.utils.set_random_seed(0)
    source = from_arrays(np.zeros((2, 32, 32, 3), np.uint8), [0, 1])
    backbone = create_backbone("mobilenet_v3_small", weights=None, input_shape=(None, None, 3))
    image = ImageTask.from_source(source, backbone, size=32, hidden_units=8)
    paths = {"image": image.export("image", root=folder)}
    for name, users, items, factors in [("small", 400, 50, 3), ("movielens", 671, 9066, 50)]:
        scorer = build_scorer(users + 1, items + 1, n_factors=factors)
        task = RecommenderTask(scorer, metadata={
            "name": name, "kind": "dot", "users": list(range(1, users + 1)),
            "items": list(range(1, items + 1)), "y_range": [0.0, 5.5], "weight_decay": 0.1,
            "weight_decay_mode": "l2", "batch_size": 64,
            "rated": {"user_index": [1, 2], "item_index": [1, 2]}})
        paths[name] = task.export(name, root=folder)
    return paths


def serve(path, signature, request):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("PYTHONPATH", None)
    done = subprocess.run([sys.executable, "-c", SERVE, str(path), signature,
                           json.dumps(request)], capture_output=True, text=True, env=env,
                          cwd="/", timeout=3600)
    if done.returncode:
        return {"outcome": f"process died: exit status {done.returncode}",
                "stderr": done.stderr[-300:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--movielens-users", type=int, default=10_000)
    parser.add_argument("--skip", nargs="*", default=[], help="cases to leave out")
    args = parser.parse_args()
    folder = pathlib.Path(tempfile.mkdtemp())
    paths = export_models(folder)
    (folder / "bomb.png").write_bytes(png_of_zeros(10000, 10000))
    (folder / "frames.gif").write_bytes(gif_of_frames(60))
    (folder / "small.png").write_bytes(png_of_zeros(40, 30))
    warm_image = {"kind": "bytes", "file": str(folder / "small.png")}
    cases = {
        "png_bomb": (paths["image"], "serving_default",
                     {"warm": warm_image,
                      "call": {"kind": "bytes", "file": str(folder / "bomb.png")}}),
        "gif_frames": (paths["image"], "serving_default",
                       {"warm": warm_image,
                        "call": {"kind": "bytes", "file": str(folder / "frames.gif")}}),
        "recommend_1e6": (paths["small"], "recommend",
                          {"warm": {"kind": "ids", "users": 400, "n": 2, "k": 10},
                           "call": {"kind": "ids", "users": 400, "n": 10 ** 6, "k": 10}}),
        "recommend_1e6_movielens": (paths["movielens"], "recommend", {
            "warm": {"kind": "ids", "users": 671, "n": 2, "k": 10},
            "call": {"kind": "ids", "users": 671, "n": args.movielens_users, "k": 10}}),
    }
    print(f"load average before: {open('/proc/loadavg').read().split()[0]}")
    for name, (path, signature, request) in cases.items():
        if name not in args.skip:
            print(f"{name:26s} {json.dumps(serve(path, signature, request))}", flush=True)
    print(f"load average after: {open('/proc/loadavg').read().split()[0]}")


if __name__ == "__main__":
    main()
