"""Benchmark: TensorFlow's intra-op threads per app, 1 against TensorFlow's default.

Each run is a fresh process (`benchmarks.timing.run_in_subprocess`) that
sets the intra-op thread count before TensorFlow starts
(`dlkeras.cpu_threads.set_cpu_threads`; 0 = TensorFlow's default, one per
core), builds the app's task and trains a one-cycle of 3 epochs. It
reports the first epoch (tracing included) and the median of epochs 2-3.
Runs alternate (for each repeat: every app, every setting, the order
flipped every other repeat), so a change in the machine's load hits both
sides; the table gives medians over repeats. The workloads are
`benchmarks/mixed_precision.py`'s (float32): tabular gss_wages at batch
1024, MovieLens dot at batch 64, EfficientNet-Lite0 at 64 px batch 32,
a text classifier from scratch at batch 64.

Run: `flock /tmp/dlkeras-heavy.lock .venv/bin/python benchmarks/threads.py`
(`--repeats 3`, `--apps tabular recommender image text`, `--threads 0 1`).
"""
import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.timing import epoch_timer, run_in_subprocess  # noqa: E402

EPOCHS = 3


def child(args):
    """One run in this process: prints the measurements as JSON."""
    from dlkeras.cpu_threads import set_cpu_threads

    set_cpu_threads(intra_op=args.intra_op or None)  # before anything starts TensorFlow
    import keras

    from benchmarks.mixed_precision import APPS

    keras.utils.set_random_seed(0)
    task, data, fit_args, steps = APPS[args.app](args)
    timer = epoch_timer()
    start = time.perf_counter()
    task.fit_one_cycle(data, epochs=EPOCHS, callbacks=[timer], verbose=0, **fit_args)
    fit_s = time.perf_counter() - start
    print(json.dumps({"app": args.app, "intra_op": args.intra_op, "epoch_s": timer.times,
                      "fit_s": fit_s, "steady_epoch_s": statistics.median(timer.times[1:]),
                      "steps": steps, "load": os.getloadavg()[0]}))


def table(results, apps, settings):
    names = ["default" if s == 0 else f"{s} thread" for s in settings]
    lines = [f"{'app':12s} {'steps/epoch':>11s}  " + "  ".join(
        f"{n + ' steady s':>16s} {n + ' fit s':>13s}" for n in names) + "  steady ratio"]
    for app in apps:
        cells, steady = [], []
        for setting in settings:
            runs = [r for r in results if r["app"] == app and r["intra_op"] == setting]
            if not runs:
                break
            steady.append(statistics.median(r["steady_epoch_s"] for r in runs))
            fit = statistics.median(r["fit_s"] for r in runs)
            cells.append(f"{steady[-1]:16.3f} {fit:13.2f}")
        if len(steady) != len(settings):
            continue
        steps = next(r["steps"] for r in results if r["app"] == app)
        ratio = " ".join(f"{s / steady[0]:.2f}x" for s in steady[1:])
        lines.append(f"{app:12s} {steps:11d}  " + "  ".join(cells) + f"  {ratio}")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--apps", nargs="*", default=["tabular", "recommender", "image", "text"])
    parser.add_argument("--threads", type=int, nargs="+", default=[0, 1],
                        help="intra-op thread counts to compare (0: TensorFlow's default)")
    parser.add_argument("--ratings", type=int, default=0, help="recommender ratings (0: all)")
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--app")
    parser.add_argument("--intra-op", type=int, default=0)
    args = parser.parse_args()
    if args.child:
        return child(args)
    print(f"load average before: {open('/proc/loadavg').read().strip()}", flush=True)
    results, start = [], time.perf_counter()
    for repeat in range(args.repeats):
        settings = args.threads if repeat % 2 == 0 else args.threads[::-1]
        for app in args.apps:
            for setting in settings:
                result = run_in_subprocess(os.path.abspath(__file__), [
                    "--app", app, "--intra-op", setting, "--ratings", args.ratings])
                results.append(result)
                print(f"repeat {repeat} {app:12s} intra-op {setting}: epochs "
                      f"{[round(t, 3) for t in result['epoch_s']]} load {result['load']:.2f}",
                      flush=True)
    print(f"load average after: {open('/proc/loadavg').read().strip()}; "
          f"{time.perf_counter() - start:.0f} s\n")
    print(table(results, args.apps, args.threads))


if __name__ == "__main__":
    main()
