"""Fuzzing every serving signature of every app against its exported SavedModel (issue 12).

Each app's tiny model is exported with the app's own `Task.export`; a worker
process that imports TensorFlow only (no dlkeras, as a model server would)
loads the SavedModels and calls each signature on generated inputs, sent as
tensors that keep the generator's dtype (what TensorFlow Serving receives).
The worker reports every call; if it dies (a crash: a signal, an abort, a
hang past `--timeout`, or a call that grows its peak memory by more than
1 GiB) the case is recorded as a crash and a new worker goes on with the
next case. The parent (which imports dlkeras) judges each result:

- valid output: an input that must be answered was answered correctly
  (each signature defines "correctly": e.g. equal to the in-memory Keras
  model on the same input, probabilities summing to 1, rated items last);
- clean error: an input that must be refused was refused, with a message
  holding the phrase the contract promises (naming the column, the image,
  the budget, the dtype...);
- unclear error: an error without that phrase, or a valid input refused;
- silent wrong answer: outputs for an input that must be refused, or
  outputs that break the signature's definition of correct (NaN, a label
  for NaN probabilities, a wrong value);
- crash: see above.

Signatures are entries of `SIGNATURES` (`benchmarks.fuzz_cases_*`); a new
app adds one `Signature` subclass and one entry.

Run: `flock /tmp/dlkeras-heavy.lock python benchmarks/fuzz_serving.py`
(`--cases 1000` per signature by default; `--numpy-binding` also sends the
wrong-dtype cases as NumPy arrays, which TensorFlow's Python binding casts
before any graph runs, and reports them in a table of their own).
"""
import argparse
import collections
import dataclasses
import json
import os
import pathlib
import pickle
import selectors
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
CATEGORIES = ("valid", "clean", "unclear", "silent", "crash")
MEMORY_LIMIT_MIB = 1024
WORKER = r"""
import importlib, json, pickle, resource, sys
import numpy as np, tensorflow as tf
paths, cases_file, start = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
for module in json.loads(sys.argv[4]):  # ops a model needs (e.g. tensorflow_text), no dlkeras
    importlib.import_module(module)
loaded = {key: tf.saved_model.load(path) for key, (path, _) in paths.items()}
functions = {key: loaded[key].signatures[name] for key, (_, name) in paths.items()}
cases = pickle.load(open(cases_file, "rb"))
def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
def plain(tensor):
    array = tensor.numpy()
    if array.dtype == object:
        return np.vectorize(lambda b: b.decode("utf-8", "replace"), otypes=[object])(array).tolist()
    return array.tolist()
print(json.dumps({"ready": True}), flush=True)
for index in range(start, len(cases)):
    key, inputs, via = cases[index]
    print(json.dumps({"start": index}), flush=True)
    before = peak_mib()
    try:
        arguments = inputs if via == "numpy" else {k: tf.constant(v) for k, v in inputs.items()}
        result = {"outputs": {k: plain(v) for k, v in functions[key](**arguments).items()}}
    except Exception as error:
        result = {"error": type(error).__name__ + ": " + str(error)[-2000:]}
    result["grown_mib"] = peak_mib() - before
    print(json.dumps({"index": index, **result}), flush=True)
"""


@dataclasses.dataclass
class Case:
    """One generated call: its inputs, what the contract says must happen, and why.

    Attributes:
        kind: the generator's name (a row of `--details`).
        inputs: `{argument: numpy array}` (the array's dtype is the tensor's).
        expect: "valid" (must be answered), "refuse" (must be refused) or
            "either" (an answer that passes the checks, or a clean error).
        phrases: a clean error's message holds one of these.
        via: "tensor" (sent as `tf.constant(array)`) or "numpy" (given as is).
    """

    kind: str
    inputs: dict
    expect: str
    phrases: tuple = ()
    via: str = "tensor"


class Signature:
    """One serving signature under fuzz; subclasses fill in the four methods."""

    app = None
    signature = None
    serving_imports = ()  # modules the server must import for the model's ops

    @property
    def key(self):
        return f"{self.app}/{self.signature}"

    def export(self, root):
        """Builds the app's tiny task, exports it under `root`; returns the SavedModel path."""
        raise NotImplementedError

    def cases(self, rng, n):
        """`n` generated `Case`s."""
        raise NotImplementedError

    def wrong_answer(self, case, outputs):
        """Why `outputs` (lists, strings decoded) are a wrong answer to `case`, or None."""
        raise NotImplementedError


def run_worker(paths, calls, timeout, imports=()):
    """Runs `calls` (`(key, inputs, via)`) in worker processes; `{index: result}`.

    `imports` are modules the worker imports before loading (e.g. `tensorflow_text`).
    """
    folder = pathlib.Path(tempfile.mkdtemp())
    (folder / "cases.pkl").write_bytes(pickle.dumps(calls))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("PYTHONPATH", None)
    results, start = {}, 0
    while start < len(calls):
        with open(folder / "stderr.txt", "w+") as stderr:  # a file: a full pipe would block
            process = subprocess.Popen(
                [sys.executable, "-c", WORKER, json.dumps(paths), str(folder / "cases.pkl"),
                 str(start), json.dumps(sorted(imports))], stdout=subprocess.PIPE, stderr=stderr, text=True, env=env,
                cwd="/")
            started, why = _read_results(process, results, timeout, stderr)
        if started is None:
            break
        results[started] = {"crash": why}
        start = started + 1
    return results


def _read_results(process, results, timeout, stderr):
    """Collects a worker's results; `(index, why)` of the case it died on, or `(None, None)`."""
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    started, ready = None, False
    while True:
        if not selector.select(timeout if ready else max(timeout, 600)):
            process.kill()
            process.wait()
            return started, f"no answer within {timeout} s"
        line = process.stdout.readline()
        if not line:
            status = process.wait()
            if status == 0:
                return None, None
            if started is None:
                stderr.seek(0)
                raise RuntimeError(f"The fuzz worker failed to start:\n{stderr.read()[-3000:]}")
            stderr.seek(0)
            return started, f"worker died: exit status {status}: {stderr.read()[-300:]}"
        record = json.loads(line)
        ready = ready or "ready" in record
        if "start" in record:
            started = record["start"]
        elif "index" in record:
            results[record["index"]] = record
            if record["grown_mib"] > MEMORY_LIMIT_MIB:
                grown = record["grown_mib"]
                results[record["index"]] = {"crash": f"peak memory grew {grown:.0f} MiB"}


def judge(signature, case, result):
    """`(category, detail)` of one result (see the module docstring)."""
    if "crash" in result:
        return "crash", result["crash"]
    if "error" in result:
        message = result["error"]
        if case.expect == "valid":
            return "unclear", f"refused a valid input: {message[-300:]}"
        if any(phrase in message for phrase in case.phrases):
            return "clean", None
        return "unclear", message[-300:]
    if case.expect == "refuse":
        return "silent", "answered an input that must be refused"
    why = signature.wrong_answer(case, result["outputs"])
    return ("silent", why) if why else ("valid", None)


def fuzz(signatures, n, seed=0, timeout=120, numpy_binding=False, root=None):
    """Exports, generates, runs and judges every case.

    Returns:
        `(tables, details, examples)`: `{"tensors" or "numpy binding": {signature:
        Counter of categories}}`, the same per generator, and one example of
        each category but "clean" per signature.
    """
    root = pathlib.Path(root or tempfile.mkdtemp())
    rng = np.random.default_rng(seed)
    paths, cases = {}, []
    for signature in signatures:
        paths[signature.key] = (str(signature.export(root / signature.app)), signature.signature)
        for case in signature.cases(rng, n):
            cases.append((signature, case))
            if numpy_binding and case.kind.startswith("dtype"):
                cases.append((signature, dataclasses.replace(case, via="numpy")))
    imports = {module for signature in signatures for module in signature.serving_imports}
    results = run_worker(paths, [(s.key, c.inputs, c.via) for s, c in cases], timeout, imports)
    tables = collections.defaultdict(lambda: collections.defaultdict(collections.Counter))
    details = collections.defaultdict(collections.Counter)
    examples = {}
    for index, (signature, case) in enumerate(cases):
        result = results.get(index, {"crash": "no result"})
        category, why = judge(signature, case, result)
        table = "numpy binding" if case.via == "numpy" else "tensors"
        tables[table][signature.key][category] += 1
        details[(signature.key, case.via, case.kind)][category] += 1
        if why and category != "clean":
            examples.setdefault((signature.key, category), (case.kind, why))
    return tables, details, examples


def format_table(rows):
    """The table: inputs / valid outputs / clean errors / unclear / silent wrong / crashes."""
    header = ["signature", "inputs", "valid outputs", "clean errors", "unclear errors",
              "silent wrong answers", "crashes"]
    lines = [header]
    for name, counts in rows.items():
        lines.append([name, sum(counts.values())] + [counts[c] for c in CATEGORIES])
    total = collections.Counter()
    for counts in rows.values():
        total.update(counts)
    lines.append(["total", sum(total.values())] + [total[c] for c in CATEGORIES])
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(str(v).rjust(w) if i else str(v).ljust(w)
                               for i, (v, w) in enumerate(zip(line, widths))) for line in lines)


def all_signatures(image_backbone=None):
    """Every app's serving signatures (the text classifier single- and multi-label)."""
    from benchmarks.fuzz_cases_image import ImageBytes, ImagePixels
    from benchmarks.fuzz_cases_tables import RecommenderPredict, RecommenderRecommend, TabularServe
    from benchmarks.fuzz_cases_text import TextServe

    image = ImageBytes(image_backbone)
    return [TabularServe(), image, ImagePixels(image), RecommenderPredict(),
            RecommenderRecommend(), TextServe(), TextServe(multi_label=True)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1000, help="inputs per signature")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=120, help="seconds per call")
    parser.add_argument("--numpy-binding", action="store_true")
    parser.add_argument("--details", action="store_true", help="a row per generator too")
    parser.add_argument("--apps", nargs="*", help="only these apps (default: all)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    load = open("/proc/loadavg").read().split()[0]
    start = time.perf_counter()
    signatures = [s for s in all_signatures() if not args.apps or s.app in args.apps]
    tables, details, examples = fuzz(signatures, args.cases, args.seed, args.timeout,
                                     args.numpy_binding)
    print(f"load average before: {load}, after: {open('/proc/loadavg').read().split()[0]}; "
          f"{time.perf_counter() - start:.0f} s")
    for name, rows in tables.items():
        print(f"\n{name}:\n{format_table(rows)}")
    if args.details:
        print("\nper generator:")
        for (key, via, kind), counts in sorted(details.items()):
            print(f"  {key:30s} {via:6s} {kind:22s} {dict(counts)}")
    for (key, category), (kind, why) in sorted(examples.items()):
        print(f"example {category} in {key} ({kind}): {why}")


if __name__ == "__main__":
    main()
