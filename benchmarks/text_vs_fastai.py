"""Benchmark: ULMFiT in dlkeras and in fastai, side by side on the Rotten Tomatoes snippets.

The same recipe in both libraries, on the same data (`text_ulmfit.py`'s
protocol: 8,484 training and 2,121 test snippets, label `score > 0`):

1. General language model: the documents dlkeras' `python -m apps.text
   pretrain` trained on (the cached encoder's plan: same seed, the same
   4M-token sample of 20 Newsgroups, Reuters, Friends and the tweets, the
   same 1 % held out), each cut to its first 400 words for fastai (dlkeras:
   400 subword tokens); one one-cycle epoch at 1e-2, `drop_mult` 0.1, batch
   64, BPTT 70. fastai tokenizes and numericalizes with its defaults: spaCy
   words with its rules (`xxmaj`/`xxup`/`xxrep` markers), every word seen at
   least 3 times up to 60,000 (37,280 tokens on this sample;
   `TextDataLoaders.from_df` takes no vocabulary cap), where dlkeras learns a
   12,000-token WordPiece vocabulary: fastai's softmax is three times wider.
2. LM fine-tuning on the training snippets: one epoch with only the last
   layer group at 2e-2, then three with every group at 2e-3; batch 32,
   `drop_mult` 0.3, momentum 0.8 -> 0.7 -> 0.8.
3. Classifier (AWD-LSTM encoder + concat pooling + fastai's head), gradual
   unfreezing: head at 2e-2, `freeze_to(-2)` at 1e-2, `freeze_to(-3)` at 5e-3,
   then everything for two epochs at 1e-3, each rate spread down to
   `peak / 2.6**4`; batch 64, `drop_mult` 0.5.

`scratch` is the same classifier from random weights, one one-cycle at 1e-3
over every layer for the same five epochs. Both libraries use an AWD-LSTM
of dlkeras' size (embedding 256, hidden 512, 3 layers; fastai's default is
400/1152). The dlkeras rows are `text_ulmfit.py`'s `run_neural`; the
fastai side runs in its own virtualenv (`--fastai-python`, see
benchmarks/README.md) and imports nothing from dlkeras. fastai's general
LM is trained once per run (timed); dlkeras' is the cached one, whose
pretraining time comes from its notes. Each (library, model, seed) runs in
a fresh process, the libraries alternating.

Measured 2026-11-24 09:59-11:45 UTC (2-core AMD EPYC, no GPU, under the heavy-job lock,
nothing else running but niced smoke runs during fastai's pretraining; fastai 2.8.12, torch
2.15.0 CPU; details in apps/text/README.md). Test accuracy:

    library  ULMFiT (b) seed 0 / 1   scratch (a) seed 0 / 1   LM fine-tune + classifier s (seed 1)
    fastai   0.6799 / 0.6662         0.7817 / 0.7798          665 + 220
    dlkeras  0.6426* / 0.6568        0.7647* / 0.7694         314 + 199

(* from earlier runs of text_ulmfit.py, not side by side; seed 0 of fastai ran from a
first version of this script.) fastai's general LM: 3.70M tokens, 2,985 s for its epoch;
dlkeras': 4.00M tokens, 1,285 s (its cached LM, an earlier run; fastai's vocabulary has
37,280 tokens to our 12,000, so this is not a like-for-like step comparison). Both libraries' ULMFiT lose 10-11 points to their own
scratch classifier on these corpora.

Run (heavy, about 50 min for fastai's general LM, then ~10 min per
(library, model, seed) on the 2-core machine):

    flock /tmp/dlkeras-heavy.lock python benchmarks/text_vs_fastai.py \\
        --fastai-python /work/fastai-venv/bin/python --seeds 0 --json runs/text_vs_fastai.json
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

MODES = ("ulmfit", "scratch")
RECIPE = {"general_lr": 1e-2, "general_drop_mult": 0.1, "lm_lr_max": 2e-2, "lm_epochs": 4,
          "lm_batch_size": 32, "lm_drop_mult": 0.3, "classifier_lr_max": 2e-2,
          "classifier_epochs": 5, "scratch_lr_max": 1e-3, "batch_size": 64, "drop_mult": 0.5,
          "bptt": 70, "max_document_words": 400,
          "embedding_dim": 256, "hidden_units": 512, "layers": 3}
MOMENTUM = (0.8, 0.7, 0.8)


def export_data(folder: str, encoder_dir: str | None = None, limit: int = 0) -> dict:
    """Writes the general-corpus documents of the cached encoder's plan and the RT split.

    `limit` keeps only the first documents/snippets (for a quick check).
    """
    import pandas as pd

    from apps.text.datasets import GENERAL_SOURCES, rotten_tomatoes_split
    from apps.text.encoder_files import default_encoder_dir, load_encoder
    from apps.text.pretrain import PRETRAIN_DEFAULTS, corpus_plan, general_corpus
    from apps.text.tokenizer import TextTokenizer

    encoder = load_encoder(encoder_dir or default_encoder_dir())
    notes = encoder.notes or {}
    settings = {**PRETRAIN_DEFAULTS, **notes.get("settings", {})}
    texts = general_corpus(notes.get("corpus") or GENERAL_SOURCES)
    documents = TextTokenizer(encoder.vocabulary,
                              max_tokens=settings["max_document_tokens"]).tokenize(texts)
    plan = corpus_plan(documents, settings["max_tokens"], settings["max_document_tokens"],
                       seed=notes.get("seed", 0))
    train_tokens = int(sum(len(d) for d in plan.train))
    if notes.get("train_tokens") is not None and train_tokens != notes["train_tokens"]:
        raise RuntimeError(
            f"The general corpus planned here has {train_tokens} training tokens, the cached "
            f"encoder's notes {notes['train_tokens']}: not the sample it was trained on "
            "(a different corpus version or settings). Pretrain again first.")
    train_ids, valid_ids = plan.train_documents, plan.valid_documents
    if limit:
        train_ids, valid_ids = train_ids[:limit * 5], valid_ids[:limit]
    general = pd.DataFrame({"text": [texts[i] for i in train_ids + valid_ids],
                            "is_valid": [False] * len(train_ids) + [True] * len(valid_ids)})
    general.to_json(os.path.join(folder, "general.jsonl"), orient="records", lines=True)
    train, test = rotten_tomatoes_split()
    if limit:
        train, test = train.iloc[:limit], test.iloc[:limit // 4]
    for name, frame in (("rt_train", train), ("rt_test", test)):
        frame[["text", "label"]].to_json(os.path.join(folder, f"{name}.jsonl"),
                                         orient="records", lines=True)
    return {"general_documents": len(train_ids), "general_valid_documents": len(valid_ids),
            "dlkeras_general_tokens": train_tokens, "dlkeras_general": {
                k: notes.get(k) for k in ("valid_perplexity", "valid_accuracy", "train_s",
                                          "vocabulary_s", "tokenize_s")}}


# --- fastai side (runs in the fastai virtualenv: no dlkeras import) -----------------------


def _fastai_setup(seed):
    import torch
    from fastai.torch_core import set_seed

    set_seed(seed)
    return {"threads": torch.get_num_threads()}


def _awd_config(classifier):
    from fastai.text.models import awd_lstm_clas_config, awd_lstm_lm_config

    base = awd_lstm_clas_config if classifier else awd_lstm_lm_config
    return dict(base, emb_sz=RECIPE["embedding_dim"], n_hid=RECIPE["hidden_units"],
                n_layers=RECIPE["layers"])


def _lm_loaders(frame, vocab, batch_size, seed):
    from fastai.text.all import TextDataLoaders

    # fastai's default vocabulary (from_df passes no max_vocab/min_freq to its TextBlock).
    return TextDataLoaders.from_df(frame, text_col="text", is_lm=True, valid_col="is_valid",
                                   text_vocab=vocab, seq_len=RECIPE["bptt"], bs=batch_size,
                                   seed=seed)


def fastai_pretrain(data: str, seed: int) -> dict:
    """fastai's general LM on the exported documents; saves weights and vocabulary in `data`."""
    import numpy as np
    import pandas as pd
    from fastai.text.all import AWD_LSTM, Perplexity, accuracy, language_model_learner

    result = _fastai_setup(seed)
    general = pd.read_json(os.path.join(data, "general.jsonl"), lines=True)
    words = RECIPE["max_document_words"]
    general["text"] = general.text.map(lambda t: " ".join(str(t).split()[:words]))
    start = time.perf_counter()
    loaders = _lm_loaders(general, None, RECIPE["batch_size"], seed)
    result["tokenize_s"] = round(time.perf_counter() - start, 1)
    learn = language_model_learner(loaders, AWD_LSTM, config=_awd_config(False),
                                   drop_mult=RECIPE["general_drop_mult"], pretrained=False,
                                   metrics=[accuracy, Perplexity()], path=data)
    start = time.perf_counter()
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(1, RECIPE["general_lr"], moms=MOMENTUM)
        result["train_s"] = round(time.perf_counter() - start, 1)
        loss, valid_accuracy, perplexity = learn.validate()
    learn.save("general")
    with open(os.path.join(data, "fastai_vocab.json"), "w", encoding="utf-8") as handle:
        json.dump(list(loaders.vocab), handle)
    result.update(vocabulary=len(loaders.vocab), steps=len(loaders.train),
                  train_tokens=int(np.sum(np.asarray(loaders.train.lens))),
                  valid_perplexity=float(perplexity), valid_accuracy=float(valid_accuracy),
                  peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return result


def fastai_run(mode: str, data: str, seed: int) -> dict:
    """fastai's (b) ULMFiT from the general LM in `data`, or (a) the classifier from scratch."""
    import pandas as pd
    from fastai.text.all import (
        AWD_LSTM,
        TextDataLoaders,
        accuracy,
        language_model_learner,
        text_classifier_learner,
    )

    result = _fastai_setup(seed)
    train = pd.read_json(os.path.join(data, "rt_train.jsonl"), lines=True)
    test = pd.read_json(os.path.join(data, "rt_test.jsonl"), lines=True)
    vocab, times = None, {}
    if mode == "ulmfit":
        with open(os.path.join(data, "fastai_vocab.json"), encoding="utf-8") as handle:
            vocab = json.load(handle)
        # The LM sees training texts only (as dlkeras' benchmark); 200 of them also
        # give fastai the validation set it insists on.
        frame = pd.concat([pd.DataFrame({"text": train.text, "is_valid": False}),
                           pd.DataFrame({"text": train.text.iloc[:200], "is_valid": True})])
        start = time.perf_counter()
        loaders = _lm_loaders(frame, vocab, RECIPE["lm_batch_size"], seed)
        learn = language_model_learner(loaders, AWD_LSTM, config=_awd_config(False),
                                       drop_mult=RECIPE["lm_drop_mult"], pretrained=False,
                                       path=data)
        learn.load("general", with_opt=False)  # data/models/general.pth
        with learn.no_bar(), learn.no_logging():
            learn.freeze()
            learn.fit_one_cycle(1, RECIPE["lm_lr_max"], moms=MOMENTUM)
            learn.unfreeze()
            learn.fit_one_cycle(RECIPE["lm_epochs"] - 1, RECIPE["lm_lr_max"] / 10, moms=MOMENTUM)
            times["lm_s"] = time.perf_counter() - start
            # On the 200 training snippets fastai validates on: a check that the general
            # weights and vocabulary belong together (a shuffled vocabulary is far worse).
            result["lm_valid_loss"] = float(learn.validate()[0])
        learn.save_encoder(f"fine_tuned_{seed}")
        vocab = list(loaders.vocab)
    start = time.perf_counter()
    frame = pd.concat([train.assign(is_valid=False), test.assign(is_valid=True)])
    loaders = TextDataLoaders.from_df(frame, text_col="text", label_col="label",
                                      valid_col="is_valid", text_vocab=vocab,
                                      bs=RECIPE["batch_size"], seed=seed)
    learn = text_classifier_learner(loaders, AWD_LSTM, config=_awd_config(True),
                                    drop_mult=RECIPE["drop_mult"], pretrained=False,
                                    metrics=accuracy, path=data)
    with learn.no_bar(), learn.no_logging():
        if mode == "scratch":
            learn.fit_one_cycle(RECIPE["classifier_epochs"], RECIPE["scratch_lr_max"],
                                moms=MOMENTUM)
        else:
            learn.load_encoder(f"fine_tuned_{seed}")
            peak = RECIPE["classifier_lr_max"]
            stages = [(-1, 1, peak), (-2, 1, peak / 2), (-3, 1, peak / 4),
                      (None, RECIPE["classifier_epochs"] - 3, peak / 20)]
            for depth, epochs, lr in stages:
                if depth is None:
                    learn.unfreeze()
                else:
                    learn.freeze_to(depth)
                learn.fit_one_cycle(epochs, slice(lr / 2.6 ** 4, lr), moms=MOMENTUM)
        times["classifier_s"] = time.perf_counter() - start
        test_accuracy = float(learn.validate()[1])  # the test split is fastai's validation set
    return {**result, "model": mode, "accuracy": test_accuracy, "error": 1 - test_accuracy,
            **{k: round(v, 1) for k, v in times.items()},
            "fine_tune_total_s": round(sum(times.values()), 1),
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "load_average_1min": os.getloadavg()[0]}


# --- the run ------------------------------------------------------------------------------


def _fastai_child(python: str, data: str, side: str, mode: str, seed: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([python, os.path.abspath(__file__), "--child", side, "--mode", mode,
                           "--seeds", str(seed), "--data", data],
                          capture_output=True, text=True, env=env, check=False, cwd=data)
    if done.returncode:
        raise RuntimeError(f"fastai {side} {mode} seed {seed} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _dlkeras_row(mode: str, seed: int, encoder_dir: str | None) -> dict:
    from benchmarks import text_ulmfit

    recipe = dict(text_ulmfit.RECIPE, **({"encoder": encoder_dir} if encoder_dir else {}))
    return text_ulmfit.child(mode, seed, recipe)


def run_all(args) -> dict:
    from benchmarks.timing import run_in_subprocess

    data = args.data or tempfile.mkdtemp(prefix="text_vs_fastai_")
    os.makedirs(data, exist_ok=True)
    export = run_in_subprocess(os.path.abspath(__file__), [
        "export", "--data", data, "--limit", args.limit,
        *(["--encoder", args.encoder] if args.encoder else [])])
    print(f"exported to {data}: {json.dumps(export)}", flush=True)
    report = {"export": export, "rows": [], "started": time.strftime("%Y-%m-%d %H:%M:%S"),
              "load_before": os.getloadavg()[0]}

    def keep():
        if args.json:  # as it goes: a failure later keeps what was measured
            with open(args.json, "w", encoding="utf-8") as handle:
                json.dump(report, handle, indent=1)

    if "ulmfit" in args.only:
        saved = [os.path.join(data, "models", "general.pth"),
                 os.path.join(data, "fastai_vocab.json")]
        if all(os.path.exists(path) for path in saved):
            print("fastai general LM: reusing the one in --data", flush=True)
        else:
            report["fastai_general"] = _fastai_child(args.fastai_python, data, "fastai-pretrain",
                                                     "ulmfit", args.seeds[0])
            print(f"fastai general LM: {json.dumps(report['fastai_general'])}", flush=True)
            keep()
    for index, seed in enumerate(args.seeds):
        for mode in args.only:
            sides = ("dlkeras", "fastai") if index % 2 == 0 else ("fastai", "dlkeras")
            if args.limit:  # dlkeras' rows are text_ulmfit's full runs: no quick version
                sides = ("fastai",)
            for side in sides:
                row = (_dlkeras_row(mode, seed, args.encoder) if side == "dlkeras" else
                       _fastai_child(args.fastai_python, data, "fastai", mode, seed))
                row.update(library=side, model=mode, seed=seed)
                report["rows"].append(row)
                keep()
                print(f"{side} {mode} seed {seed}: accuracy {row['accuracy']:.4f} "
                      f"LM {row.get('lm_s', '-')} s classifier {row['classifier_s']} s "
                      f"load {row['load_average_1min']:.1f}", flush=True)
    report["load_after"] = os.getloadavg()[0]
    keep()
    return report


def table(report: dict) -> str:
    """Markdown: accuracy per library, model and seed; stage times; the general LMs."""
    lines = ["| library | model | seeds | test accuracy (per seed) | mean | LM fine-tune s | "
             "classifier s | peak RSS MiB |", "|" + "---|" * 8]
    rows = report["rows"]
    for library in ("dlkeras", "fastai"):
        for mode in MODES:
            chosen = [r for r in rows if r["library"] == library and r["model"] == mode]
            if not chosen:
                continue
            median = lambda key, c=chosen: (  # noqa: E731
                f"{statistics.median(r[key] for r in c):.0f}" if key in c[0] else "-")
            accuracies = ", ".join(f"{r['accuracy']:.4f}" for r in chosen)
            lines.append(
                f"| {library} | {mode} | {len(chosen)} | {accuracies} | "
                f"{statistics.mean(r['accuracy'] for r in chosen):.4f} | {median('lm_s')} | "
                f"{median('classifier_s')} | {median('peak_rss_mib')} |")
    general = report.get("fastai_general")
    ours = report["export"]["dlkeras_general"]
    lines.append("")
    perplexity = ours.get("valid_perplexity")
    lines.append(f"General LM, dlkeras (cached; from its notes): "
                 f"{report['export']['dlkeras_general_tokens']} tokens, training "
                 f"{ours.get('train_s')} s, validation perplexity "
                 f"{'-' if perplexity is None else f'{perplexity:.1f}'}")
    if general:
        lines.append(f"General LM, fastai (this run): {general['train_tokens']} tokens, "
                     f"{general['steps']} steps, training {general['train_s']} s (+ tokenizing "
                     f"{general['tokenize_s']} s), validation perplexity "
                     f"{general['valid_perplexity']:.1f} (vocabulary {general['vocabulary']}; "
                     "perplexities of different tokenizations do not compare)")
    return "\n".join(lines)


def main(argv=None) -> None:
    from benchmarks.timing import check_fastai, fastai_parser

    parser = fastai_parser(__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--only", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--encoder", help="dlkeras general encoder folder (default: the cache)")
    parser.add_argument("--data", help="working folder (default: a new temporary one); a fastai "
                        "general LM already in it (models/general.pth with fastai_vocab.json) "
                        "is reused")
    parser.add_argument("--limit", type=int, default=0,
                        help="a quick check of the fastai side: only the first N snippets and "
                        "5N general documents, and no dlkeras rows")
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument("--table", help="print the table of a --json file")
    parser.add_argument("--child", choices=("export", "fastai-pretrain", "fastai"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.limit < 0:
        parser.error(f"--limit must be >= 0. Received: {args.limit}")
    if args.child == "export":
        print(json.dumps(export_data(args.data, args.encoder, args.limit)))
        return
    if args.child == "fastai-pretrain":
        print(json.dumps(fastai_pretrain(args.data, args.seeds[0])))
        return
    if args.child == "fastai":
        print(json.dumps(fastai_run(args.mode, args.data, args.seeds[0])))
        return
    if args.table:
        with open(args.table, encoding="utf-8") as handle:
            print(table(json.load(handle)))
        return
    check_fastai(parser, args.fastai_python)
    if args.encoder and not os.path.isfile(os.path.join(args.encoder, "encoder.json")):
        parser.error(f"--encoder {args.encoder!r} holds no encoder.json")
    report = run_all(args)
    print(table(report))


if __name__ == "__main__":
    main()
