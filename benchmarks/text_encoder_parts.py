"""Which part of the general encoder makes ULMFiT lose to random weights here (issue 10).

The text classifier (AWD-LSTM + concat pooling + head) is trained with the
from-scratch recipe (one one-cycle over every layer, `--epochs` at
`--lr-max`, batch 64, `drop_mult` 0.5) on the Rotten Tomatoes training
snippets and scored on the test snippets (`apps.text.rotten_tomatoes_split`;
`--drop-mult` scales the classifier's dropouts),
from five starts that share the general vocabulary, each in a fresh process:

  random            every encoder weight random (Keras' initialisers)
  general           the general language model's encoder as it is
  random_embedding  the general LSTM layers, a random embedding
  random_lstm       the general embedding, random LSTM layers
  scaled_embedding  the general encoder with its embedding rows scaled so
                    their mean norm is the random embedding's

Each run also reports a linear probe: logistic regression (C = 10) on the
mean of each snippet's token vectors (the encoder's embedding, before any
training), and the encoder's perplexity on the test snippets.

`--extend OUT` first trains the encoder (`--encoder`, default the cached
general model) for one more one-cycle epoch at `--extend-lr` on another
4M-token sample of the general corpus (`corpus_plan` with seed 1) and saves
it to OUT: how much a second pretraining epoch, i.e. twice the 30-minute
budget, buys downstream.

    python benchmarks/text_encoder_parts.py                       # the five starts, seed 0
    python benchmarks/text_encoder_parts.py --only general --encoder DIR
    python benchmarks/text_encoder_parts.py --extend /tmp/lm2 --only    # extend only

Measured 2026-11-24 (2-core AMD EPYC, no GPU, under the heavy-job lock, nothing
else running; seed 0, one run each, so differences of 1-2 points are noise):
see apps/text/README.md, "More pretraining, and which part of the encoder
hurts".
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

VARIANTS = ("random", "general", "random_embedding", "random_lstm", "scaled_embedding")


def starting_weights(variant, encoder):
    """The encoder weights of `variant` (see the module docstring)."""
    import numpy as np

    from apps.text.network import build_classifier, encoder_weights

    weights = dict(encoder.weights)
    if variant == "general":
        return weights
    fresh = encoder_weights(build_classifier(encoder.config, 2))
    if variant == "random":
        return fresh
    if variant == "random_embedding":
        return {k: fresh[k] if k.startswith("embedding/") else v for k, v in weights.items()}
    if variant == "random_lstm":
        return {k: fresh[k] if k.startswith("rnn_") else v for k, v in weights.items()}
    if variant == "scaled_embedding":
        key = "embedding/embeddings"
        norm = lambda a: np.linalg.norm(a, axis=1).mean()  # noqa: E731
        return {**weights, key: weights[key] * (norm(fresh[key]) / norm(weights[key]))}
    raise ValueError(f"Unknown variant {variant!r}; known: {VARIANTS}")


def run_variant(variant, encoder_dir, epochs, lr_max, seed, drop_mult=0.5):
    """One start, trained and scored in this process."""
    import keras
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from apps.text.classifier_task import TextClassifierTask
    from apps.text.datasets import rotten_tomatoes_split
    from apps.text.encoder_files import PretrainedEncoder, load_encoder
    from apps.text.lm_task import LanguageModelTask
    from dlkeras.freezing import unfreeze

    train, test = rotten_tomatoes_split()
    keras.utils.set_random_seed(seed)
    general = load_encoder(encoder_dir)
    encoder = PretrainedEncoder(general.vocabulary, general.config,
                                starting_weights(variant, general), general.output_bias,
                                general.notes)
    task = TextClassifierTask.create(classes=["neg", "pos"], encoder=encoder, batch_size=64,
                                     drop_mult=drop_mult)
    table = encoder.weights["embedding/embeddings"]
    mean_vectors = [np.stack([table[ids].mean(0) for ids in task.tokenizer.tokenize(list(t))])
                    for t in (train["text"], test["text"])]
    labels = [(d["label"] == "pos").to_numpy() for d in (train, test)]
    probe = LogisticRegression(C=10, max_iter=3000).fit(mean_vectors[0], labels[0])
    lm = LanguageModelTask.create(encoder=encoder, batch_size=4)
    perplexity = lm.evaluate(list(test["text"]))["perplexity"]
    unfreeze(task.network, task.layer_groups)
    start = time.perf_counter()
    history = task.fit_one_cycle(train, epochs=epochs, lr_max=lr_max, seed=seed, verbose=0)
    return {"variant": variant, "seed": seed, "drop_mult": drop_mult,
            "test_accuracy": task.evaluate(test)["accuracy"],
            "train_accuracy_per_epoch": [round(a, 4) for a in history.history["accuracy"]],
            "probe_accuracy": float(probe.score(mean_vectors[1], labels[1])),
            "test_perplexity": float(perplexity),
            "embedding_mean_norm": float(np.linalg.norm(table, axis=1).mean()),
            "fit_s": round(time.perf_counter() - start, 1),
            "load_average_1min": os.getloadavg()[0]}


def extend_pretraining(encoder_dir, out, lr_max):
    """One more general-corpus epoch from `encoder_dir`, saved to `out`; returns its notes."""
    import keras

    from apps.text.encoder_files import load_encoder
    from apps.text.lm_task import TEXT_MOMS, LanguageModelTask
    from apps.text.pretrain import PRETRAIN_DEFAULTS, corpus_plan, general_corpus
    from apps.text.tokenizer import TextTokenizer
    from dlkeras.freezing import unfreeze

    settings = PRETRAIN_DEFAULTS
    keras.utils.set_random_seed(1)
    encoder = load_encoder(encoder_dir)
    documents = TextTokenizer(encoder.vocabulary,
                              max_tokens=settings["max_document_tokens"]).tokenize(general_corpus())
    plan = corpus_plan(documents, settings["max_tokens"], settings["max_document_tokens"], seed=1)
    held_out = corpus_plan(documents, settings["max_tokens"], settings["max_document_tokens"],
                           seed=0).valid
    task = LanguageModelTask.create(encoder=encoder, batch_size=settings["batch_size"],
                                    bptt=settings["bptt"], drop_mult=settings["drop_mult"],
                                    name="general_lm_extended")
    before = task.evaluate(held_out)["perplexity"]
    unfreeze(task.network, task.layer_groups)
    start = time.perf_counter()
    task.fit_one_cycle(plan.train, epochs=1, lr_max=lr_max, moms=TEXT_MOMS, seed=1, verbose=1)
    notes = {"extended_from": encoder_dir, "extend_lr_max": lr_max,
             "extend_train_s": round(time.perf_counter() - start, 1),
             "extend_train_tokens": int(sum(len(d) for d in plan.train)),
             "held_out_perplexity_before": float(before),
             # The first run's validation documents; the new sample may contain some of them.
             "held_out_perplexity_after": float(task.evaluate(held_out)["perplexity"])}
    task.metadata["notes"] = {**encoder.notes, **notes}
    task.save_encoder(out)
    return notes


def main(argv=None) -> None:
    from apps.text.encoder_files import DESCRIPTION_FILE, default_encoder_dir

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--encoder", default=None, help="encoder folder (default: the cache)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--lr-max", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--drop-mult", type=float, default=0.5)
    parser.add_argument("--extend", metavar="OUT", help="first train one more epoch, save to OUT")
    parser.add_argument("--extend-lr", type=float, default=5e-3)
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    encoder_dir = str(args.encoder or default_encoder_dir())
    if not args.only and not args.extend:
        parser.error("nothing to do: give variants to --only, or --extend OUT")
    if args.epochs < 1 or args.lr_max <= 0 or args.extend_lr <= 0 or not 0 <= args.drop_mult < 2:
        parser.error("--epochs must be >= 1, --lr-max and --extend-lr > 0, --drop-mult in "
                     f"[0, 2). Received: --epochs {args.epochs} --lr-max {args.lr_max} "
                     f"--extend-lr {args.extend_lr} --drop-mult {args.drop_mult}")
    if not os.path.isfile(os.path.join(encoder_dir, DESCRIPTION_FILE)):
        parser.error(f"{encoder_dir!r} holds no pretrained encoder ({DESCRIPTION_FILE}): run "
                     "`python -m apps.text pretrain` or pass --encoder DIR")
    if args.child:
        print(json.dumps(run_variant(args.child, encoder_dir, args.epochs, args.lr_max,
                                     args.seed, args.drop_mult)))
        return
    if args.extend:
        print(json.dumps(extend_pretraining(encoder_dir, args.extend, args.extend_lr)), flush=True)
        encoder_dir = args.extend
    for variant in args.only:
        command = [sys.executable, os.path.abspath(__file__), "--child", variant, "--encoder",
                   encoder_dir, "--epochs", str(args.epochs), "--lr-max", str(args.lr_max),
                   "--seed", str(args.seed), "--drop-mult", str(args.drop_mult)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode:
            raise SystemExit(f"{variant} failed:\n{done.stderr[-3000:]}")
        print(done.stdout.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
