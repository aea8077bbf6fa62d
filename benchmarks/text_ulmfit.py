"""ULMFiT benchmark on the Rotten Tomatoes snippets (issue 10 protocol) for apps.text.

Protocol: the 10,605 snippets of VADER's ground truth (vaderSentiment 3.3.2
sdist), binary label `score > 0`; test = first 20 % of
`np.random.RandomState(42).permutation(n)`, training = the rest (8,484).
Test error of four models:

  (a) scratch  the same classifier (AWD-LSTM + concat pooling + head) from
               random weights, one-cycle, the same classifier epochs;
  (b) ulmfit   the cached general language model (`python -m apps.text
               pretrain`), fine-tuned on the training snippets, then the
               classifier with gradual unfreezing;
  (c) target   ULMFiT without the general stage: a language model trained on
               the training snippets only, then the same classifier recipe;
  (d) tfidf    TF-IDF (words and bigrams, sublinear tf) + logistic
               regression (scikit-learn, C chosen on a 10 % split of the
               training set).

Only training texts reach the language models (no test text, not even
unlabelled). (a) and (c) learn their WordPiece vocabulary from the training
snippets; (b) keeps the general vocabulary. Each (model, seed) runs in a
fresh process (peak RSS per run, tracing counted every time).

    python -m apps.text pretrain                     # once: the general LM (timed)
    python benchmarks/text_ulmfit.py                 # 3 seeds, the table
    python benchmarks/text_ulmfit.py --only ulmfit --seeds 0

Measured 2026-11-23 on the shared 2-core machine, load 2-12 from other jobs
(apps/text/README.md has the full account; general LM: 44 min wall,
perplexity 229):

| model | runs (seeds) | test error per seed | mean error | mean accuracy | LM fine-tune s | classifier s | LM + classifier s | peak RSS MiB | load (1 min) at end |
|---|---|---|---|---|---|---|---|---|---|
| (a) scratch | 3 (0, 1, 2) | 0.2353, 0.2301, 0.2235 | 0.2296 | 0.7704 | - | 419, 257, 164 | 419, 257, 164 | 1888, 1868, 1887 | 9.8, 4.4, 2.2 |
| (b) ULMFiT | 3 (0, 1, 2) | 0.3296, 0.3116, 0.3248 | 0.3220 | 0.6780 | 561, 734, 318 | 254, 142, 138 | 815, 876, 456 | 2694, 2556, 2552 | 11.9, 5.0, 3.7 |
| (c) target-only LM | 3 (0, 1, 2) | 0.4187, 0.3791, 0.4960 | 0.4312 | 0.5688 | 459, 310, 320 | 253, 229, 182 | 712, 539, 501 | 2372, 2357, 2354 | 3.2, 1.5, 2.7 |
| (d) TF-IDF + LR | 1 (deterministic) | 0.2098 | 0.2098 | 0.7902 | - | 20 | - | 225 | 6.8 |

(b) does NOT reach the goal: -40 % relative error reduction vs (a) (an
increase), accuracy 0.678 < 0.80. (c) was run 2026-11-23 23:51 to 11-24 00:26 UTC
(under the lock; seed 0 beside short niced unit-test runs of another
change, load 3.2 at its end; seeds 1-2 nearly alone): worse still, 0.569
mean accuracy. Its classifier underfits (training accuracy at the last
epoch 0.567, 0.589, 0.514); seed 2's language model ended at training
perplexity 548 (seeds 0-1: 188, 153: the recipe's 2e-2 peak, meant for
fine-tuning a pretrained LM, is rough on random weights) and its
classifier stayed at chance (0.504). LM + classifier took 501-539 s on
the quieter seeds (<= 600 s), 712 s beside the unit tests.

(b) again on the quiet machine (2026-11-24 01:02-01:28 UTC, under the
lock, nothing else running, load 2.1-2.4 = its own threads) with the
general LM re-trained that night (22 min 19 s, perplexity 274.6):
accuracy 0.6426, 0.6568, 0.6502 (mean 0.6499, error 0.3501: still a 52 %
error increase over (a)); LM fine-tune 311, 288, 317 s + classifier 162,
210, 174 s = 473, 499, 490 s: within the 10-minute goal on a quiet
machine; peak RSS 2521-2537 MiB. Diagnosis (2026-11-23,
accuracy-only runs, apps/text/README.md "Why ULMFiT loses to scratch"):
not the vocabulary ([UNK] rate 0.0 %; a random encoder on the general
vocabulary matches scratch), not frozen stages (each unfrozen group's
weights move); the general encoder itself is a worse start than random
weights even with scratch's recipe (test 0.718 vs 0.764 after 4 epochs;
0.728 after 2 epochs of target LM fine-tuning).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

MODELS = ("scratch", "ulmfit", "target", "tfidf")
RECIPE = {"lm_epochs": 4, "lm_lr_max": 2e-2, "classifier_epochs": 5, "classifier_lr_max": 2e-2,
          "scratch_lr_max": 1e-3, "batch_size": 64, "drop_mult": 0.5}


def run_neural(model: str, seed: int, recipe: dict) -> dict:
    """One (model, seed) run in this process: stage times, test accuracy, peak RSS."""
    import keras

    from apps.text.datasets import rotten_tomatoes_split
    from apps.text.encoder_files import default_encoder_dir, load_encoder
    from apps.text.recipe import build_classifier_task, fine_tune_language_model

    train, test = rotten_tomatoes_split()
    texts = list(train["text"])
    keras.utils.set_random_seed(seed)
    times, notes, start = {}, {}, time.perf_counter()
    encoder = load_encoder(recipe.get("encoder") or default_encoder_dir()) if model == "ulmfit" \
        else None
    if encoder is not None:
        notes["general_lm"] = {k: encoder.notes.get(k) for k in
                               ("train_tokens", "valid_perplexity", "train_s")}
    if model in ("ulmfit", "target"):
        lm = fine_tune_language_model(encoder, texts, epochs=recipe["lm_epochs"],
                                      lr_max=recipe["lm_lr_max"], seed=seed, verbose=0,
                                      **recipe.get("architecture", {}))
        times["lm_s"] = time.perf_counter() - start
        notes["lm_sample"] = lm.generate("this movie is", 12, seed=seed)
        notes["lm_train_perplexity"] = round(float(lm.evaluate(texts[:2000])["perplexity"]), 1)
        encoder = lm.encoder()
    start = time.perf_counter()
    architecture = {} if encoder is not None else recipe.get("architecture", {})
    task = build_classifier_task(encoder, ["neg", "pos"], vocabulary_texts=texts,
                                 batch_size=recipe["batch_size"], drop_mult=recipe["drop_mult"],
                                 **architecture)
    lr_max = recipe["scratch_lr_max"] if encoder is None else recipe["classifier_lr_max"]
    histories = task.train(train, epochs=recipe["classifier_epochs"], lr_max=lr_max, seed=seed,
                           verbose=0)
    times["classifier_s"] = time.perf_counter() - start
    accuracy = task.evaluate(test)["accuracy"]
    return {"model": model, "seed": seed, "accuracy": accuracy, "error": 1 - accuracy,
            **{k: round(v, 1) for k, v in times.items()},
            "fine_tune_total_s": round(sum(times.values()), 1),
            "train_accuracy_per_epoch": [round(a, 4) for h in histories
                                         for a in h.history["accuracy"]],
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "load_average_1min": os.getloadavg()[0], **notes}


def run_tfidf() -> dict:
    """(d): TF-IDF + logistic regression, C picked on a held-out tenth of the training set."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from apps.text.datasets import rotten_tomatoes_split

    train, test = rotten_tomatoes_split()
    start = time.perf_counter()
    texts, labels = np.asarray(train["text"]), (train["label"] == "pos").to_numpy()
    cut = len(texts) // 10
    best = None
    for c in (0.3, 1.0, 3.0, 10.0, 30.0):
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
        model = LogisticRegression(C=c, max_iter=5000).fit(vectorizer.fit_transform(texts[cut:]),
                                                           labels[cut:])
        score = model.score(vectorizer.transform(texts[:cut]), labels[:cut])
        best = max(best or (score, c), (score, c))
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    model = LogisticRegression(C=best[1], max_iter=5000).fit(vectorizer.fit_transform(texts),
                                                             labels)
    accuracy = model.score(vectorizer.transform(test["text"]), (test["label"] == "pos").to_numpy())
    return {"model": "tfidf", "seed": None, "accuracy": float(accuracy), "error": 1 - accuracy,
            "C": best[1], "classifier_s": round(time.perf_counter() - start, 1),
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "load_average_1min": os.getloadavg()[0]}


def child(model: str, seed: int, recipe: dict) -> dict:
    """Runs one (model, seed) in a fresh process; returns its JSON result."""
    command = [sys.executable, os.path.abspath(__file__), "--child", model, "--seeds",
               str(seed or 0), "--recipe", json.dumps(recipe)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode:
        raise SystemExit(f"{model} seed {seed} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(results: list[dict]) -> str:
    """Markdown: test error per model and seed, mean, stage times, peak RSS, load."""
    lines = ["| model | seeds | test accuracy (per seed) | mean error | LM fine-tune s | "
             "classifier s | LM + classifier s | peak RSS MiB | load avg |", "|" + "---|" * 9]
    for model in MODELS:
        rows = [r for r in results if r["model"] == model]
        if not rows:
            continue
        median = lambda key, rows=rows: statistics.median(r[key] for r in rows) if key in rows[0] else None  # noqa: E731
        shown = lambda v: "-" if v is None else f"{v:.0f}"  # noqa: E731
        accuracies = ", ".join(f"{r['accuracy']:.4f}" for r in rows)
        loads = ", ".join(f"{r['load_average_1min']:.1f}" for r in rows)
        lines.append(
            f"| {model} | {len(rows)} | {accuracies} | "
            f"{statistics.mean(r['error'] for r in rows):.4f} | {shown(median('lm_s'))} | "
            f"{shown(median('classifier_s'))} | {shown(median('fine_tune_total_s'))} | "
            f"{median('peak_rss_mib'):.0f} | {loads} |")
    errors = {m: statistics.mean(r["error"] for r in results if r["model"] == m)
              for m in MODELS if any(r["model"] == m for r in results)}
    if "ulmfit" in errors and "scratch" in errors:
        lines.append(f"\nULMFiT (b) vs scratch (a): relative error reduction "
                     f"{1 - errors['ulmfit'] / errors['scratch']:.1%} (goal: >= 20 %); "
                     f"accuracy {1 - errors['ulmfit']:.4f} (goal: >= 0.80)")
    return "\n".join(lines)


def main(argv=None) -> None:
    from benchmarks.timing import seeded_parser, write_results

    parser = seeded_parser(__doc__)
    parser.add_argument("--only", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--recipe", default="{}", help="JSON overrides of RECIPE")
    parser.add_argument("--child", choices=MODELS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    recipe = {**RECIPE, **json.loads(args.recipe)}
    if args.child:
        result = run_tfidf() if args.child == "tfidf" else run_neural(args.child, args.seeds[0],
                                                                      recipe)
        print(json.dumps(result))
        return
    results = []
    print(f"recipe: {json.dumps(recipe)}; load {os.getloadavg()[0]:.1f}", flush=True)
    for model in args.only:
        for seed in ([None] if model == "tfidf" else args.seeds):
            start = time.perf_counter()
            results.append(child(model, seed, recipe))
            print(f"{model} seed {seed}: {json.dumps(results[-1])} "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)
            write_results(args.json, results)
    print(table(results))


if __name__ == "__main__":
    main()
