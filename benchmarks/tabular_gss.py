"""Benchmark: the tabular app on gss_wages, on the protocol shared with fastai.

Protocol: `apps.tabular.gss.load_gss_wages` (rows with `realrinc` kept,
`high_income = realrinc > median`); validation = first 20 % of
`np.random.RandomState(42).permutation(n)` (`dlkeras.data.random_split`);
layers [200, 100], batch size 1024, LR finder (100 steps), then
`fit_one_cycle` 5 epochs at lr_max=1e-2 with AdamW weight decay 0.01. Each
seed runs in a fresh process, so graph tracing and first-call costs are
counted every time. The task is built (`build_s`) and the data prepared
(`prepare_s`: the seeded training stream and the validation batches, which
the finder and the fit then share) before the finder's and the fit's timers
start, as fastai's `TabularPandas` and `DataLoaders` are.

Run:
    python benchmarks/tabular_gss.py                 # 3 seeds, table
    python benchmarks/tabular_gss.py --seeds 0 --steps-per-execution 1   # default: auto
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import epoch_timer, markdown_table, peak_rss_mib, run_in_subprocess, seeded_parser, write_results  # noqa: E402

FASTAI = {"fit_s": 1.35, "epoch_s": 0.27, "steps_per_s": 123, "val_acc": 0.782,
          "lr_find_s": 0.94, "peak_rss_mb": 720}


def run_seed(seed: int, steps_per_execution, jit_compile: bool, batch_size: int = 1024,
             lr_max: float | None = 1e-2) -> dict:
    """One full protocol run in this process; returns the measurements.

    `lr_max=None` trains at the LR finder's suggestion (1e-2 when it has none);
    `benchmarks/vs_fastai.py` runs batch 64 that way.
    """
    import keras

    from apps.tabular.gss import GSS_CAT_NAMES, GSS_CONT_NAMES, GSS_TARGET, load_gss_wages
    from apps.tabular.task import TabularTask
    from dlkeras.data import random_split_frame

    train, valid = random_split_frame(load_gss_wages(), 0.2, seed=42)
    keras.utils.set_random_seed(seed)
    start = time.perf_counter()
    task = TabularTask.from_frame(
        train, GSS_TARGET, GSS_CAT_NAMES, GSS_CONT_NAMES, layers=[200, 100], batch_size=batch_size,
        weight_decay=0.01, steps_per_execution=steps_per_execution, jit_compile=jit_compile)
    build_s = time.perf_counter() - start
    # The data prepared before the timers, as fastai's TabularPandas and DataLoaders are: the
    # seeded training stream (the finder's and the fit's batches) and the validation batches.
    start = time.perf_counter()
    train_stream = task.dataset(train, training=True, seed=seed)
    valid_batches = task.dataset(valid, training=False)
    prepare_s = time.perf_counter() - start
    start = time.perf_counter()
    finder = task.lr_find(train_stream, verbose=0)
    lr_find_s = time.perf_counter() - start
    timer = epoch_timer()
    start, cpu_start = time.perf_counter(), time.process_time()
    rate = lr_max or finder.suggestion or 1e-2
    history = task.fit_one_cycle(train_stream, epochs=5, lr_max=rate,
                                 validation_data=valid_batches, callbacks=[timer], verbose=0)
    fit_s, fit_cpu_s = time.perf_counter() - start, time.process_time() - cpu_start
    steps = len(train) // batch_size
    steady = statistics.median(timer.times[1:])
    return {
        "seed": seed, "build_s": build_s, "prepare_s": prepare_s, "lr_find_s": lr_find_s,
        "suggestion": finder.suggestion or float("nan"), "lr_max": rate, "fit_s": fit_s, "epoch_s": timer.times,
        "fit_cpu_s": fit_cpu_s, "epoch_cpu_s": timer.cpu_times,
        "steady_epoch_cpu_s": statistics.median(timer.cpu_times[1:]),
        "load_average_1min": os.getloadavg()[0],
        "steady_epoch_s": steady, "steps_per_s": steps / steady,
        "val_acc": float(history.history["val_accuracy"][-1]),
        "peak_rss_mb": peak_rss_mib(),
        "train_steps_per_epoch": steps, "n_valid": len(valid),
    }


def table(results: list[dict]) -> str:
    """Markdown table: one row per seed, the median, and fastai's numbers."""
    rows = [[r["seed"], f"{r['lr_find_s']:.2f}", f"{r['suggestion']:.1e}",
             f"{r['fit_s']:.2f} ({r['fit_cpu_s']:.2f})", f"{r['epoch_s'][0]:.2f}",
             f"{r['steady_epoch_s']:.3f} ({r['steady_epoch_cpu_s']:.3f})",
             f"{r['steps_per_s']:.0f}", f"{r['val_acc']:.4f}", f"{r['peak_rss_mb']:.0f}",
             f"{r['load_average_1min']:.1f}"] for r in results]
    med = {k: statistics.median(r[k] for r in results)
           for k in ("lr_find_s", "fit_s", "steady_epoch_s", "steps_per_s", "val_acc", "peak_rss_mb")}
    first = statistics.median(r["epoch_s"][0] for r in results)
    rows.append(["median", f"{med['lr_find_s']:.2f}", "", f"{med['fit_s']:.2f}", f"{first:.2f}",
                 f"{med['steady_epoch_s']:.3f}", f"{med['steps_per_s']:.0f}",
                 f"{med['val_acc']:.4f}", f"{med['peak_rss_mb']:.0f}", ""])
    f = FASTAI
    rows.append(["fastai 2.8.12 (given)", f"{f['lr_find_s']:.2f}", "1e-03", f"{f['fit_s']:.2f}", "",
                 f"{f['epoch_s']:.3f}", f["steps_per_s"], f"{f['val_acc']:.3f}", f["peak_rss_mb"], ""])
    return markdown_table(["seed", "LR find s", "suggestion", "fit s (CPU s)", "epoch 1 s",
                           "epochs 2-5 s median (CPU s)", "train steps/s", "val acc",
                           "peak RSS MB", "load avg"], rows)


def main(argv=None) -> None:
    parser = seeded_parser(__doc__)
    parser.add_argument("--steps-per-execution", type=lambda v: v if v == "auto" else int(v),
                        default="auto", help="an int, or auto (the app's default)")
    parser.add_argument("--jit-compile", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run_seed(args.seeds[0], args.steps_per_execution, args.jit_compile)))
        return
    results = []
    for seed in args.seeds:
        arguments = ["--seeds", seed, "--steps-per-execution", args.steps_per_execution]
        arguments += ["--jit-compile"] if args.jit_compile else []
        results.append(run_in_subprocess(os.path.abspath(__file__), arguments))
        print(f"seed {seed}: " + json.dumps({k: v for k, v in results[-1].items()
                                              if k != "epoch_s"}), flush=True)
    print(table(results))
    write_results(args.json, results)


if __name__ == "__main__":
    main()
