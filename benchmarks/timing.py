"""Shared pieces of the benchmarks: an epoch timer, a fresh process per run, shared flags.

Every run of a benchmark goes to its own process (`run_in_subprocess`), so
graph tracing, first-call costs and peak memory are counted every time.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def epoch_timer():
    """A Keras callback recording each epoch's wall and CPU seconds (validation included)."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times, self.cpu_times = [], []

        def on_epoch_begin(self, epoch, logs=None):
            self._start, self._cpu_start = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self._start)
            self.cpu_times.append(time.process_time() - self._cpu_start)

    return EpochTimer()


def peak_rss_mib():
    """This process's peak resident memory in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def call_in_subprocess(module, function, *args):
    """`module.function(*args)` run in a fresh Python (nothing left by earlier runs); its JSON result.

    Args:
        module: a module importable from the repository root (`"benchmarks.overhead"`).
        function: the name of a function of it returning something JSON-able.
        *args: its arguments (their `repr` is Python that rebuilds them).
    """
    code = (f"import json, {module} as m; "
            f"print('RESULT', json.dumps(m.{function}(*{args!r})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=ROOT)
    line = [item for item in done.stdout.splitlines() if item.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def run_in_subprocess(script, arguments, timeout=3600):
    """Runs `script --child ARGUMENTS` in a fresh Python; returns the JSON it printed last."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env["PYTHONPATH"] = os.pathsep.join([ROOT, env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, script, "--child", *map(str, arguments)],
                          capture_output=True, text=True, env=env, timeout=timeout, check=False)
    if done.returncode:
        raise RuntimeError(f"{os.path.basename(script)} {arguments} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def seeded_parser(description):
    """An `ArgumentParser` with the flags the seeded benchmarks share: `--seeds` and `--json`.

    Args:
        description: the help text (the module docstring, shown as written).
    """
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--json", help="also write the raw results to this file")
    return parser


def fastai_parser(description):
    """An `ArgumentParser` for a side-by-side run with fastai: `--fastai-python`.

    fastai lives in its own virtualenv (benchmarks/README.md); `check_fastai` refuses
    a run without it.
    """
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fastai-python", default=os.environ.get("FASTAI_PYTHON"),
                        help="python of a virtualenv with fastai (or $FASTAI_PYTHON)")
    return parser


def check_fastai(parser, python):
    """A parser error unless `python` (the `--fastai-python` value) exists."""
    if not python or not os.path.exists(python):
        parser.error("no fastai environment: pass --fastai-python PATH or set $FASTAI_PYTHON "
                     f"(see benchmarks/README.md). Received: {python!r}")


def write_results(path, results):
    """Writes `results` as JSON to `path`, if one is given (values JSON cannot hold: null).

    Benchmarks call it after every run, so a stopped one keeps what it measured.
    """
    if path:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=1, default=lambda value: None)


def markdown_table(header, rows):
    """A Markdown table of `rows` (lists of cells, formatted or not) under the `header` names.

    Example:

    >>> print(markdown_table(["seed", "acc"], [[0, "0.81"], ["median", ""]]))
    | seed | acc |
    |---|---|
    | 0 | 0.81 |
    | median |  |
    """
    def row(cells):
        return "| " + " | ".join(map(str, cells)) + " |"

    return "\n".join([row(header), "|" + "---|" * len(header), *map(row, rows)])


def alternating_main(argv, script, description, kind, choices, run, summarise):
    """The command line of a benchmark that runs every (seed, variant) in a fresh process.

    Within each seed the variants (`--<kind>s`, default all of `choices`)
    alternate, so a reference and its rival share the machine's state;
    each run prints its JSON as it ends, then `summarise(results)` prints
    the table. The child process (`--child --<kind> NAME --seeds S`) calls
    `run(name, seed)` and prints its result.

    Args:
        argv: the arguments (None: the command line).
        script: path of the benchmark (`__file__`), run again for each child.
        description: the help text (the module docstring).
        kind: what a variant is called on the command line ("config", "app").
        choices: every variant, in the order they alternate.
        run: `run(name, seed) -> dict`, in the child.
        summarise: `summarise(results) -> str`, the table.
    """
    parser = seeded_parser(description)
    parser.add_argument(f"--{kind}s", nargs="+", default=list(choices), choices=choices)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(f"--{kind}", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run(getattr(args, kind), args.seeds[0])))
        return
    print(f"load before: {os.getloadavg()[0]:.2f}", flush=True)
    results = []
    for seed in args.seeds:
        for name in getattr(args, f"{kind}s"):
            results.append(run_in_subprocess(os.path.abspath(script),
                                             [f"--{kind}", name, "--seeds", seed]))
            print(json.dumps(results[-1]), flush=True)
            write_results(args.json, results)
    print(f"load after: {os.getloadavg()[0]:.2f}")
    print(summarise(results))
