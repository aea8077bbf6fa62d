"""Benchmark: the LR finder's suggestions against a grid of one-cycle runs, on five tasks.

For each task (`benchmarks/lr_tasks.py`: tabular gss_wages, MovieLens dot model,
MNIST-5k CNN from scratch, EfficientNet-Lite0 fine-tuning, diamonds log-price
regression with `y_range`) and each seed: a fresh model runs `lr_find`; every
rule's suggestion is recorded, plus fastai's `valley` rule applied to the same
recorded curve; the task's recipe trains a fresh model at the default
suggestion (`margin`) and at every rate of the grid {1e-4, 3e-4, 1e-3, 3e-3,
1e-2, 3e-2, 1e-1}. When the grid's best rate is its top rate, 3e-1 and 1 are
run too (a best at the edge of a grid is not a best). Metrics are the final
validation metric, averaged over seeds.

Goal (issue 9): the metric at the default suggestion within 1 % (relative) of
the grid's best, and the suggestion within 3x of the best rate; or the finder
says it has no trustworthy suggestion.

With no suggestion, the task trains at its app's documented fallback
(`default_lr_max`) and the table shows that metric.

Run (1 seed: 6.4 min for the four small tasks, 29 min for Lite0, on 2 shared
CPU cores at load 6-12; hold the heavy lock; `--grid-from` an earlier
`--json` file reuses its grids, `--recorded-grid` compares with the grid
means recorded below (`RECORDED_GRIDS`); both only sweep and train at the
suggestion; `--curves-only FILE` only sweeps, and writes every curve;
`--offline FILE` scores the default rule on such a file against the
recorded grids, metrics interpolated, in seconds: `lr_curves.json` holds
the 18:50 UTC sweeps below, and a test checks the goal on them):
    flock /tmp/dlkeras-heavy.lock .venv/bin/python benchmarks/lr_suggestions.py --seeds 0
    .venv/bin/python benchmarks/lr_suggestions.py --tasks tabular diamonds --seeds 0
    flock /tmp/dlkeras-heavy.lock .venv/bin/python benchmarks/lr_suggestions.py \
        --recorded-grid --seeds 0 1 2 --lite0-seeds 0 1
    .venv/bin/python benchmarks/lr_suggestions.py --offline benchmarks/lr_curves.json

Measured 2026-11-23 on the shared 2-core AMD EPYC CPU machine (no GPU).

The default rule now (`margin` with `RECIPE_SETTINGS`): for
`fit_one_cycle`, the lower of divergence / 10 and the first rate at which
the lag-free smoothed loss is within 5 % of its lowest; for `fine_tune`
(Lite0, swept on its unfrozen phase), divergence / 7. Measured 19:01-19:16
UTC, each run under the heavy lock, 1-min load 1.6 before / 2.1 after the
small tasks (19:01-19:03) and 2.0 after Lite0 (19:12-19:16; the lead's
test suite ran under the lock between the two). Metrics are measured (a
fresh model trained at each seed's suggestion), the grid is the recorded
one below (`--recorded-grid`); gap and 3x are against the 7-rate grid
(against the extended grid where it differs):

| task (metric) | grid best | suggestion per seed | metric there (measured, mean) | gap | 3x |
|---|---|---|---|---|---|
| tabular gss_wages (acc) | 1e-2: 0.7806 (3e-2: 0.7806) | 1.3e-2 1.9e-2 1.9e-2 | 0.7797 0.7805 0.7801: 0.7801 | -0.06 % | yes (1.7x) |
| collab dot (rmse) | 3e-3: 0.8675 | none (1), 3 seeds | fallback 5e-3: 0.8655 | +0.23 % | - |
| mnist-5k cnn (acc) | 1e-1: 0.9590 (3e-1: 0.9650) | 1.0e-1 5.8e-2 4.8e-2 | 0.9610 0.9490 0.9620: 0.9573 | -0.17 % (-0.79 %) | yes, 1.5x (no, 4.6x) |
| lite0 fine-tune (acc) | 1e-1: 0.9580 | 7.5e-2 9.0e-2 (seeds 0, 1) | 0.9630 0.9520: 0.9575 | -0.05 % | yes (1.2x) |
| diamonds log price (rmse) | 1e-1: 0.1208 | 1.1e-1 6.9e-2 9.1e-2 | 0.1192 0.1219 0.1212: 0.1207 | +0.05 % | yes (1.1x) |

Goal met on all five tasks against the 7-rate grid (collab by declining).
Not met against mnist's extended grid (3e-1 best: the suggestion is 4.6x
below it, -0.79 %). Seeds: the grid is seed 0 only for mnist, collab and
Lite0 (seeds 0-2 for tabular and diamonds), the suggestions' metrics are
per seed; Lite0 seed 1 at 1e-1 was 0.9560 (below), so seeds 0-1 at 1e-1
average 0.9570 against 0.9575 at the suggestion. Lite0's sweep is not
bit-reproducible: seed 0 diverged at 0.52 here and at 0.63 in the
`--curves-only` run (18:50 UTC), suggesting 7.5e-2 or 9.0e-2.

Why this rule (from `--curves-only` sweeps of all five tasks, seeds 0-2,
18:50-18:52 UTC under the lock, load 1.3-2.5; landmarks of the lag-free
smoothed curve, D = divergence rate):
- No constant margin below D fits: D / best is 21-110 on tabular (vs 3e-2
  / 1e-2), 19 on mnist (6 vs its extended best), 9-23 on diamonds, 5-6 on
  Lite0. Within-3x for all needs a margin >= 21-37 (tabular) and <= 10
  (Lite0). Evaluated offline (metric interpolated log-linearly between
  grid rates), D / m for one m in 4..80 always misses one task; basin
  shapes do not tell tabular from Lite0 either: both fall half-way by
  2-5e-3, diverge at 0.5-1.1 and have basins 2.3-3.4 decades wide.
- Where the best sits on the curve does differ by recipe. From-scratch
  `fit_one_cycle` (tabular, mnist, diamonds): at or left of where the loss
  first reaches its floor (tabular's floor starts at 1.3-2e-2 and is flat
  to 0.25; higher rates buy no lower loss in the sweep, only less room to
  D). `fine_tune`'s unfrozen sweep (Lite0): 2-4x *right* of the lowest
  point (2.3e-2-5.8e-2), 5-6x below D. A likely reason, not tested: the
  swept loss is dominated by the head (at lr/2, the body at lr/200), so
  the sweep's minimum is not where the body stops gaining. A different
  explanation, that the random head makes the sweep diverge early, was
  checked and does not hold: after one frozen epoch at lr_max 1e-1 the
  unfrozen sweep diverged at 0.25 and 0.52 (seeds 0-1, 18:55-18:57 UTC,
  under the lock), not later. One fine-tuning task is thin evidence for a
  recipe setting: the image demo (below) is the only other check.
- Robustness (offline, the five tasks): the floor tolerance meets the goal
  for any value from 3 % to 15 % (2 % misses tabular's 3x by a hair); the
  fine_tune margin for 5-10 (interpolated metric -0.99 % at 5); the old
  rule with a one-cycle-only margin needed 26-39, too narrow to trust.
- Cost, on a sixth task not used to choose it (Fashion-MNIST small ResNet
  of `benchmarks/super_convergence.py`, seed 0, 10 epochs one-cycle, under
  the lock 19:16-19:19 UTC, load 1.9-2.4): the new suggestion 1.6e-2 (the
  floor starts there; seeds 1-2: 1.9e-2) gives 0.8870, the old rule's
  1.91e-1 0.8917 (-0.53 %), 6e-2 0.8883. So on curves with a wide floor
  the rule errs 10x low at a cost within 1 %; the old rule erred high on
  tabular at no cost. `RECIPE_SETTINGS["fit_one_cycle"]["floor"] = None`
  restores it.

Measured earlier (09:00-12:42 UTC, old default `margin` = D / 10 for every
recipe): still valid are the grids, i.e. the means below (grid training
does not depend on the finder), the other rules' suggestions (the sweeps
are unchanged) and the timings; the old rule's table follows for
comparison. Grids, and the four small tasks: 08:30-09:30 UTC, 1-min load
6-12, beside another heavy job (not under the lock), so no timing here is
comparable, the metrics are. Lite0 row: 11:26-11:33 UTC under the heavy
lock, 1-min load 10.2 before / 22.1 after (other engineers' unlocked
jobs), grid reused from the 09:00 run (`--grid-from`, same seed, same
training code). Old rule (D / 10), per seed:

| task (metric) | grid best | old margin (D / 10) | metric there | gap | 3x |
|---|---|---|---|---|---|
| tabular gss_wages (acc) | 1e-2: 0.7806 | 7.6e-2 6.3e-2 1.1e-1 | 0.7811 | +0.06 % | no (8.1x) |
| collab dot (rmse) | 3e-3: 0.8675 | none (1) | fallback 5e-3: 0.8653 | +0.25 % | - |
| mnist-5k cnn (acc) | 1e-1: 0.9590 (3e-1: 0.9650) | 1.9e-1 | 0.9630 | +0.42 % (-0.21 %) | yes |
| lite0 fine-tune (acc) | 1e-1: 0.9580 | 5.2e-2 (2) | 0.9460 | -1.25 % | yes (1.9x) |
| diamonds log price (rmse) | 1e-1: 0.1208 | 1.1e-1 2.3e-1 9.1e-2 | 0.1210 | -0.15 % | yes |

(1) "diverged before the loss fell: the loss rose from 1.1 to 8.1 by
lr=1.1 without falling first" (100 steps of batch 256 are a third of an
epoch; the dot model starts at the mean rating and does not learn
within them). (2) Sweeping the frozen model (the head alone, as first
measured) suggested 2.5e-2: 0.9350 (-2.40 %, 4.0x); a one-off hand check
of the unfrozen sweep suggested 6.0e-2: 0.9540 (-0.42 %, 1.7x). Lite0
seed 1 (accuracy only, 12:39-12:42 UTC, nice -n 10, not under the lock):
unfrozen sweep 6.3e-2: 0.9500, 1e-1: 0.9560. Tabular's grid is flat and
its best is not resolved by 3 seeds: per-seed paired differences 1e-2
minus 3e-2 are +0.0001, -0.0008, +0.0008 (a third of one of the 7,577
validation rows on average); 3e-2 does beat 1e-1 on every seed (+0.0008,
+0.0007, +0.0003). Diamonds on seed 0 alone failed (best 1e-2: 0.1171,
old margin 0.1192, -1.75 %); seeds 1-2 put the best at 1e-1.

Grid means: tabular 1e-4 .6906, 3e-4 .7564, 1e-3 .7799, 3e-3 .7792, 1e-2
.7806, 3e-2 .7806, 1e-1 .7800; collab 1.0440, 1.0142, .9079, .8675, .8749,
.9018, 1.1951; mnist .4910, .6320, .8150, .9150, .9420, .9520, .9590, 3e-1
.9650, 1 .9600; lite0 .4130, .5440, .6670, .7420, .8830, .9390, .9580, 3e-1
.9130, 1 .8720; diamonds .2558, .2168, .1448, .1277, .1214, .1214, .1208
(seeds 1-2 only: 3e-1 .1276, 1 1.4356). Other rules (seed 0, 09:00 UTC;
the 18:50 sweeps agree): valley
5.8e-4 / - / 4.8e-4 / 2.5e-3 / 4.8e-4, steep 2.3e-2 / - / 1.0e-1 / 2.3e-2 /
2.3e-4, minimum 6.3e-2 / - / 3.0e-2 / 3.0e-2 / 5.2e-2, fastai's valley on
our curve 2.5e-3 / 1.3e-2 / 2.1e-3 / 4.4e-3 / 8.3e-4 (tabular / collab /
mnist / lite0 unfrozen / diamonds). The Lite0 unfrozen sweep took 135 s
(90 steps; the frozen one: 40 s at load 6-12), its training 229 s; at load
2 (19:12 UTC) 26-27 s and 65-77 s.

Image demo (`python -m apps.image demo`, Lite0 on 3,000 MNIST-5k digits at
64 px, 500 validation), before = 378de06 (frozen sweep) / after = the
unfrozen sweep with the old D / 10: seed 42 after 3.98e-2: 0.978 (under
the lock, 547 s wall, load 6.9 before / 10.1 after), before 2.51e-2:
0.962; seed 7 after 6.31e-2: 0.970, before 3.98e-2: 0.974 (these three
accuracy only, nice -n 10, not under the lock, load 10-17). Earlier
today: 0.950 at the suggestion 1.58e-2, 0.944 at a fixed 1e-2.

Image demo with the fine_tune settings (divergence / 7), each run under the
heavy lock, 19:33-19:48 UTC, 1-min load 0.4-4.2 (others' unlocked jobs at
times): seed 42 suggests 1.43e-1: 0.980 (161 s wall, load 2.0 before / 2.2
after; was 0.978 at 3.98e-2); seed 7 suggests 9.01e-2: 0.962, and again at
9.01e-2 (`--lr-max`): 0.972, against the old suggestion 6.31e-2 re-run now:
0.974 (0.970 before). The same seed and rate differ by up to 1 point (5 of
the 500 validation digits) from run to run, so seed 7's 0.967 (mean of 2)
against 0.972 is within that noise; the demo does not lose accuracy that
these runs can resolve.
"""
from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

GRID = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
EXTENSION = (3e-1, 1.0)
RULES = ("margin", "valley", "steep", "minimum")
RECORDED_GRIDS = {  # mean final validation metric per lr_max, measured 2026-11-23 (docstring)
    "tabular": dict(zip(GRID, (.6906, .7564, .7799, .7792, .7806, .7806, .7800))),
    "collab": dict(zip(GRID, (1.0440, 1.0142, .9079, .8675, .8749, .9018, 1.1951))),
    "mnist_cnn": dict(zip(GRID + EXTENSION,
                          (.4910, .6320, .8150, .9150, .9420, .9520, .9590, .9650, .9600))),
    "lite0": dict(zip(GRID + EXTENSION,
                      (.4130, .5440, .6670, .7420, .8830, .9390, .9580, .9130, .8720))),
    "diamonds": dict(zip(GRID + EXTENSION,
                         (.2558, .2168, .1448, .1277, .1214, .1214, .1208, .1276, 1.4356))),
}
"""Grid means from the docstring (seeds 0-2 for tabular and diamonds, 0 for the others;
diamonds' 3e-1 and 1 from seeds 1-2); `--recorded-grid` compares against them."""
LOWER_IS_BETTER = frozenset({"collab", "diamonds"})
OFFLINE_RECIPES = {"lite0": "fine_tune"}  # the others train with fit_one_cycle


def fastai_valley(lrs, raw_losses, num_it=100, beta=0.98):
    """fastai 2.8's `valley` rule, applied to a curve we recorded (written from its behaviour).

    fastai smooths the loss with a debiased EMA (`beta`), keeps the points from
    `num_it // 10` to the sixth from the end and up to the first NaN, takes the
    longest decreasing subsequence of the smoothed loss, counts its length back
    from where it ends, and suggests the rate half way along that span (at a
    third plus a sixth of it).
    """
    raw = np.asarray(raw_losses, dtype="float64")
    smoothed, average = [], 0.0
    for count, loss in enumerate(raw, start=1):
        average = beta * average + (1 - beta) * loss
        smoothed.append(average / (1 - beta ** count))
    lrs, smoothed = np.asarray(lrs)[num_it // 10:-5], np.asarray(smoothed)[num_it // 10:-5]
    bad = np.flatnonzero(~np.isfinite(smoothed))
    if bad.size:
        lrs, smoothed = lrs[:bad[0]], smoothed[:bad[0]]
    if len(smoothed) < 2:
        return None
    length = np.ones(len(smoothed), dtype=int)
    for i in range(1, len(smoothed)):
        earlier = smoothed[:i] > smoothed[i]
        if earlier.any():
            length[i] = length[:i][earlier].max() + 1
    end = int(np.argmax(length))
    start = end - int(length[end])
    third = (end - start) / 3
    return float(lrs[start + int(third) + int(third / 2)])


def sweep(task, seed, curves_dir=None, keep_curve=False):
    """Runs the LR finder on a fresh model; returns every rule's suggestion (and the curve)."""
    start = time.perf_counter()
    finder = task.find(task.build(seed))
    seconds = time.perf_counter() - start
    if curves_dir:
        os.makedirs(curves_dir, exist_ok=True)
        np.savez(os.path.join(curves_dir, f"{task.name.split()[0]}_s{seed}.npz"),
                 lrs=np.array(finder.lrs), raw=np.array(finder.raw_losses),
                 smooth=np.array(finder.losses))
    found = {"seconds": seconds, "steps": len(finder.lrs), "suggestion": finder.suggestion,
             "reason": finder.no_suggestion_reason,
             "rules": {rule: finder.suggestions.get(rule) for rule in RULES},
             "fastai_valley": fastai_valley(finder.lrs, finder.raw_losses)}
    if keep_curve:  # NaN/inf become null in JSON
        found["lrs"] = [float(lr) for lr in finder.lrs]
        found["raw_losses"] = [float(v) if np.isfinite(v) else None for v in finder.raw_losses]
    return found


def sweep_only(tasks, seeds_of, path):
    """`--curves-only`: sweeps each task and seed, writes {task: {seed: sweep}} to `path`."""
    curves = {}
    for name, task in tasks.items():
        curves[name] = {}
        for seed in seeds_of(name):
            found = sweep(task, seed, keep_curve=True)
            curves[name][str(seed)] = found
            print(f"{task.name} seed {seed}: {found['steps']} steps in {found['seconds']:.0f}s, "
                  f"suggestion {found['suggestion']}, reason {found['reason']}", flush=True)
            with open(path, "w") as handle:  # after every sweep: a crash keeps the others
                json.dump(curves, handle)
    return curves


def train_at(task, seed, lr):
    start = time.perf_counter()
    metric = float(task.train(task.build(seed), lr))
    print(f"  {task.name} seed {seed} lr {lr:.3g}: {task.metric} {metric:.4f} "
          f"({time.perf_counter() - start:.0f}s)", flush=True)
    return metric


def earlier_grid(path, task, seeds):
    """The grid of `task` from an earlier run's `--json` file, if it ran the same seeds."""
    if not path:
        return None
    with open(path) as handle:
        for result in json.load(handle):
            if result["name"] == task.name and sorted(map(int, result["seeds"])) == sorted(seeds):
                return {float(lr): metrics for lr, metrics in result["grid"].items()}
    raise SystemExit(f"{path} has no grid of {task.name!r} with seeds {seeds}")


def run_task(task, seeds, curves_dir=None, grid=None):
    """Sweeps, trains at each seed's suggestion, and runs the grid (extended if needed).

    With `grid` (from `earlier_grid`), the grid runs are not repeated.
    """
    result = {"name": task.name, "metric": task.metric, "higher_is_better": task.higher_is_better,
              "seeds": {}, "grid": dict(grid or {})}
    for seed in seeds:
        found = sweep(task, seed, curves_dir)
        print(f"{task.name} seed {seed}: {found}", flush=True)
        if found["suggestion"] is not None:
            found["metric"] = train_at(task, seed, found["suggestion"])
        else:  # what the app does then: train at its documented default
            found["fallback"] = {"lr": task.fallback_lr,
                                 "metric": train_at(task, seed, task.fallback_lr)}
        result["seeds"][seed] = found
    if grid:
        return result
    rates = list(GRID)
    for lr in rates:
        result["grid"][lr] = [train_at(task, seed, lr) for seed in seeds]
    if best_rate(result) == GRID[-1]:
        for lr in EXTENSION:
            result["grid"][lr] = [train_at(task, seed, lr) for seed in seeds]
    return result


def best_rate(result, rates=None):
    sign = 1.0 if result["higher_is_better"] else -1.0
    rates = rates or list(result["grid"])
    return max(rates, key=lambda lr: sign * float(np.mean(result["grid"][lr])))


def verdict(result):
    """Whether the goal is met, against the 7-rate grid and the extended one."""
    found = list(result["seeds"].values())
    suggested = [f["suggestion"] for f in found if f["suggestion"] is not None]
    if not suggested:
        fallback = [f["fallback"]["metric"] for f in found]
        return {"ok": True, "why": f"no suggestion ({found[0]['reason']}); at the app's fallback "
                                   f"{found[0]['fallback']['lr']:g}: {np.mean(fallback):.4f}"}
    metric = float(np.mean([f["metric"] for f in found if f["suggestion"] is not None]))
    rate = float(np.exp(np.mean(np.log(suggested))))
    out = {"metric": metric, "rate": rate}
    for label, rates in (("grid", list(GRID)), ("extended", list(result["grid"]))):
        best = best_rate(result, rates)
        best_metric = float(np.mean(result["grid"][best]))
        gap = (metric - best_metric) / best_metric * (1 if result["higher_is_better"] else -1)
        out[label] = {"best": best, "best_metric": best_metric, "gap": gap,
                      "ok": gap >= -0.01 and best / 3 <= rate <= best * 3}
    out["ok"] = out["grid"]["ok"]
    return out


def interpolated(grid, lr):
    """The grid's metric at `lr`, interpolated linearly in log10(lr) (clamped at the ends)."""
    rates = sorted(grid)
    return float(np.interp(np.log10(lr), np.log10(rates), [np.mean(grid[r]) for r in rates]))


def offline(path, settings=None):
    """`--offline`: the default rule on recorded curves (`--curves-only`) against RECORDED_GRIDS.

    Metrics are interpolated between grid rates, not measured. `settings`
    replaces `RECIPE_SETTINGS` (to try others). Returns one line per task.
    """
    from dlkeras.lr_suggestions import RECIPE_SETTINGS, NoSuggestion, suggest_margin

    settings = settings or RECIPE_SETTINGS
    with open(path) as handle:
        curves = json.load(handle)
    lines = []
    for name, seeds in curves.items():
        suggested = []
        for found in seeds.values():
            losses = [np.nan if v is None else v for v in found["raw_losses"]]
            try:
                suggested.append(suggest_margin(found["lrs"], losses,
                                                **settings[OFFLINE_RECIPES.get(name, "fit_one_cycle")]))
            except NoSuggestion:
                suggested.append(None)
        rates = [lr for lr in suggested if lr is not None]
        if not rates:
            lines.append(f"{name}: no suggestion on any seed")
            continue
        grid, sign = RECORDED_GRIDS[name], 1.0 if name not in LOWER_IS_BETTER else -1.0
        best = max(GRID, key=lambda lr: sign * grid[lr])
        metric = float(np.mean([interpolated(grid, lr) for lr in rates]))
        rate = float(np.exp(np.mean(np.log(rates))))
        gap = sign * (metric - grid[best]) / grid[best]
        lines.append(f"{name}: {_rates(suggested)} -> {metric:.4f} (interpolated), best {best:g}: "
                     f"{grid[best]:.4f}, gap {100 * gap:+.2f} %, {max(rate / best, best / rate):.1f}x "
                     f"from best, goal {'yes' if gap >= -0.01 and best / 3 <= rate <= 3 * best else 'no'}")
    return lines


def _rates(values):
    values = [v for v in values if v is not None]
    return "/".join(f"{v:.1e}" for v in values) if values else "none"


def table(results):
    """One Markdown table: grid, each rule's suggestions, the metric at the default."""
    head = ("| task (metric) | grid: mean metric per lr_max | best (grid / extended) | "
            "margin (default) per seed | metric at margin | gap to best | within 3x | "
            "valley | steep | minimum | fastai valley | goal |")
    lines = [head, "|" + "---|" * 12]
    for result in results:
        check = verdict(result)
        found = list(result["seeds"].values())
        grid = " ".join(f"{lr:g}:{np.mean(v):.4f}" for lr, v in result["grid"].items())
        rules = [_rates(f["rules"][rule] for f in found) for rule in ("valley", "steep", "minimum")]
        fastai = _rates(f["fastai_valley"] for f in found)
        if "grid" not in check:
            lines.append(f"| {result['name']} ({result['metric']}) | {grid} | "
                         f"{best_rate(result, list(GRID)):g} / {best_rate(result):g} | "
                         f"{check['why']} | | | | {' | '.join(rules)} | {fastai} | yes |")
            continue
        g, e = check["grid"], check["extended"]
        lines.append(
            f"| {result['name']} ({result['metric']}) | {grid} | {g['best']:g} / {e['best']:g} | "
            f"{_rates(f['suggestion'] for f in found)} | {check['metric']:.4f} | "
            f"{100 * g['gap']:+.2f} % / {100 * e['gap']:+.2f} % | "
            f"{'yes' if g['best'] / 3 <= check['rate'] <= g['best'] * 3 else 'no'} / "
            f"{'yes' if e['best'] / 3 <= check['rate'] <= e['best'] * 3 else 'no'} | "
            f"{' | '.join(rules)} | {fastai} | "
            f"{'yes' if g['ok'] else 'no'} / {'yes' if e['ok'] else 'no'} |")
    return "\n".join(lines)


def main(argv=None):
    from benchmarks.lr_tasks import TASKS
    from benchmarks.timing import seeded_parser, write_results

    parser = seeded_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--lite0-seeds", type=int, nargs="+", default=[0],
                        help="seeds of the (slow) fine-tuning task")
    parser.add_argument("--curves", help="save each sweep's (lrs, raw losses) here as .npz")
    parser.add_argument("--curves-only", metavar="JSON", help="only sweep (no training): write "
                        "each task's and seed's lrs, raw losses and suggestions to this file")
    parser.add_argument("--grid-from", help="take the grids from this earlier --json file "
                        "(same tasks and seeds) instead of training them again")
    parser.add_argument("--offline", metavar="JSON", help="no training: the default rule on the "
                        "curves of a --curves-only file (e.g. benchmarks/lr_curves.json), "
                        "metrics interpolated in RECORDED_GRIDS")
    parser.add_argument("--recorded-grid", action="store_true", help="compare with the grid "
                        "means recorded in this file (RECORDED_GRIDS) instead of training them")
    args = parser.parse_args(argv)
    if args.offline:
        print("\n".join(offline(args.offline)))
        return
    start, results = time.perf_counter(), []
    seeds_of = lambda name: args.lite0_seeds if name == "lite0" else args.seeds  # noqa: E731
    if args.curves_only:
        sweep_only({name: TASKS[name]() for name in args.tasks}, seeds_of, args.curves_only)
        print(f"sweeps in {(time.perf_counter() - start) / 60:.1f} min, "
              f"load average {os.getloadavg()[0]:.1f}")
        return
    for name in args.tasks:
        seeds = args.lite0_seeds if name == "lite0" else args.seeds
        task = TASKS[name]()
        grid = earlier_grid(args.grid_from, task, seeds)
        if args.recorded_grid:
            grid = {lr: [metric] for lr, metric in RECORDED_GRIDS[name].items()}
        results.append(run_task(task, seeds, args.curves, grid))
        print(table(results[-1:]), flush=True)
    print(f"\n{len(results)} tasks in {(time.perf_counter() - start) / 60:.1f} min, "
          f"load average {os.getloadavg()[0]:.1f}\n")
    print(table(results))
    write_results(args.json, results)


if __name__ == "__main__":
    main()
