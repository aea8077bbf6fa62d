"""`python -m apps.pseudolabel`: pseudo-labelling over another app's data, on the shared CLI.

`--task image|tabular|text` picks the app whose data flags, loader, task and
export are used; its flags keep their names (`--data`, `--csv`,
`--target`, `--backbone`, `--text`...) except where two apps define one
differently (`--image-dropout`, `--tabular-task`, `--text-layers`; see
`apps.pseudolabel.flags`).
`--unlabelled PATH` names unlabelled data in that app's format, or
`--labelled-fraction F` keeps a seeded fraction of the training split's
labels and treats the rest as unlabelled (the pseudo-labels' accuracy is
then reported). The run folder and the SavedModel are the underlying
app's: `python -m apps.<task> predict` reads them as well.

No TensorFlow import here: the modules that need it load when a command runs.
"""
import functools
import importlib

from apps.cli import App, UsageError, fraction, positive_int

UNDERLYING = {"image": "apps.image.cli", "tabular": "apps.tabular.cli", "text": "apps.text.cli"}
OWN_FLAGS = {"--task", "--unlabelled", "--labelled-fraction", "--rounds", "--threshold",
             "--top-fraction", "--no-class-balance", "--soft", "--pseudo-weight",
             "--pseudo-fraction", "--student-start", "--student-steps", "--no-teacher-tta"}


@functools.lru_cache(maxsize=None)
def underlying_apps():
    """`{name: App}` of the apps pseudo-labelling can run on (their light CLI modules)."""
    return {name: importlib.import_module(module).APP for name, module in UNDERLYING.items()}


@functools.lru_cache(maxsize=None)
def borrowed_flags():
    from apps.pseudolabel.flags import BorrowedFlags

    return BorrowedFlags(underlying_apps(), reserved=OWN_FLAGS)


class PseudoLabelApp(App):
    name = "pseudolabel"
    description = ("Semi-supervised training with pseudo-labels on another app's task: train on "
                   "the labelled data, predict the unlabelled data, keep the confident "
                   "predictions as labels, and train a student on batches that are a fixed "
                   "share pseudo-labelled; repeat for several rounds. Exports the final student "
                   "as the underlying app does.")
    default_epochs = 5
    examples = {
        "train": "  python -m apps.pseudolabel train --task image --data fashion-mnist \\\n"
                 "      --limit 3000 \\\n"
                 "      --labelled-fraction 0.1 --backbone mobilenet_v3_small --weights none \\\n"
                 "      --size 32 --rounds 2 --top-fraction 0.5\n"
                 "  python -m apps.pseudolabel train --task tabular --csv gss.csv \\\n"
                 "      --target high_income --unlabelled more_rows.csv --threshold 0.9\n"
                 "  python -m apps.pseudolabel train --task text --csv reviews.csv \\\n"
                 "      --text review --label sentiment --unlabelled more_reviews.txt",
        "predict": "  python -m apps.pseudolabel predict --run-dir runs/pseudolabel/x cat.jpg\n"
                   "  python -m apps.pseudolabel predict --run-dir runs/pseudolabel/y \\\n"
                   "      --csv new.csv",
        "export": "  python -m apps.pseudolabel export --run-dir runs/pseudolabel/x --name x",
    }

    def add_data_arguments(self, parser):
        data = parser.add_argument_group("pseudo-labelling data")
        data.add_argument("--task", required=True, choices=sorted(UNDERLYING),
                          help="the app whose data, task and export are used")
        source = data.add_mutually_exclusive_group(required=True)
        source.add_argument("--unlabelled", metavar="PATH",
                            help="unlabelled data in the app's format: image folder or CSV of "
                                 "paths (image), CSV of input columns (tabular), CSV with the "
                                 "--text column or .txt files/folder, one text per paragraph "
                                 "(text)")
        source.add_argument("--labelled-fraction", type=fraction,
                            help="keep this seeded fraction of the training split's labels and "
                                 "use the rest as unlabelled data (simulates few labels)")
        borrowed_flags().add_to(parser, "data")

    def add_model_arguments(self, parser):
        borrowed_flags().add_to(parser, "model")
        knobs = parser.add_argument_group("pseudo-labelling")
        knobs.add_argument("--rounds", type=positive_int, default=2,
                           help="student rounds after the labelled-only one (default: %(default)s)")
        knobs.add_argument("--threshold", type=float, nargs="+", default=None,
                           help="keep pseudo-labels at least this confident (0..1); one value, "
                                "or one per round")
        knobs.add_argument("--top-fraction", type=float, nargs="+", default=None,
                           help="keep at most this share of the unlabelled set, the most "
                                "confident first, in equal quotas per class; one value, or one "
                                "per round (a curriculum: 0.5 0.8 1.0)")
        knobs.add_argument("--no-class-balance", action="store_true",
                           help="rank all classes together for --top-fraction")
        knobs.add_argument("--soft", action="store_true",
                           help="train on the teacher's probabilities instead of hard labels")
        knobs.add_argument("--pseudo-weight", type=float, default=1.0,
                           help="loss weight of a pseudo-labelled example (default: %(default)s)")
        knobs.add_argument("--pseudo-fraction", type=fraction, default=0.25,
                           help="share of every batch that is pseudo-labelled "
                                "(default: %(default)s)")
        knobs.add_argument("--student-start", choices=["initial", "teacher"], default="initial",
                           help="each student starts from the initial weights (default) or "
                                "continues from its teacher's")
        knobs.add_argument("--student-steps", choices=["labelled", "all", "teacher"],
                           default="labelled",
                           help="a student epoch: one pass over the labelled examples at their "
                                "share of the batch (default), over labelled and pseudo-labelled "
                                "ones, or the labelled-only round's steps per epoch")
        knobs.add_argument("--no-teacher-tta", action="store_true",
                           help="no test-time augmentation of the teacher's predictions "
                                "(image: on by default)")

    def add_predict_arguments(self, parser):
        borrowed_flags().add_to(parser, "predict")

    # --- Commands -----------------------------------------------------------------

    def underlying(self, args):
        """`(name, App, namespace with the app's own argument names)` for `--task`."""
        flags = borrowed_flags()
        missing = flags.missing_required(args.task, args)
        if missing:
            raise UsageError(f"{', '.join(missing)} required with --task {args.task}.")
        for options in flags.conflicts(args.task, args):
            raise UsageError(f"{' and '.join(options)} exclude each other with --task "
                             f"{args.task}.")
        return args.task, underlying_apps()[args.task], flags.namespace_for(args.task, args)

    def load_data(self, args):
        from apps.pseudolabel.sources import ADAPTERS

        if getattr(args, "resume", False):  # before any data is read or model built
            raise UsageError("pseudolabel runs cannot --resume yet: each round is a fresh "
                             "recipe run; start the run again.")
        name, app, own_args = self.underlying(args)
        adapter = ADAPTERS[name]()
        train, valid = app.load_data(own_args)
        if args.labelled_fraction is not None:
            train, unlabelled = adapter.split(train, args.labelled_fraction, args.seed)
        else:
            unlabelled = adapter.read_unlabelled(args.unlabelled, own_args, train)
        print(f"{len(train)} labelled and {len(unlabelled.data)} unlabelled training examples, "
              f"{len(valid)} validation examples")
        args.unlabelled_set = unlabelled  # read by fit (same command)
        return train, valid

    def default_intra_op_threads(self, args):
        app = underlying_apps().get(getattr(args, "task", None))
        return self.intra_op_threads if app is None else app.intra_op_threads

    def intra_op_threads_default_text(self):
        return "the --task app's: " + ", ".join(
            f"{name} {app.intra_op_threads}" for name, app in sorted(underlying_apps().items()))

    def build_task(self, args, train):
        _, app, own_args = self.underlying(args)
        return app.build_task(own_args, train)

    def train_options(self, args):
        _, app, own_args = self.underlying(args)
        return app.train_options(own_args)

    def fit(self, task, train, valid, args, **train_kwargs):
        from apps.pseudolabel.training import train_with_pseudo_labels

        # Checkpoints are per recipe run; the rounds are several (not resumable yet).
        train_kwargs.pop("checkpoint_dir", None)
        train_kwargs.pop("checkpoint_every", None)
        args.pseudo_reports = train_with_pseudo_labels(task, train, valid, args, **train_kwargs)

    def report(self, task, valid, run_dir, args):
        from apps.pseudolabel.training import write_round_reports

        name, app, own_args = self.underlying(args)
        extra = app.report(task, valid, run_dir, own_args)
        return {**write_round_reports(args.pseudo_reports, task, run_dir, args), **extra}

    def predict(self, task, args):
        """Predicts with the app that wrote the run folder (its own predict flags)."""
        module = type(task).__module__
        writer = module.split(".")[1] if module.startswith("apps.") else module
        if writer not in UNDERLYING:
            raise UsageError(f"{args.run_dir!r} holds a {type(task).__name__} ({module}); "
                             f"pseudolabel runs on {', '.join(UNDERLYING)} run folders.")
        flags = borrowed_flags()
        missing = flags.missing_required(writer, args)
        if missing:
            raise UsageError(f"{', '.join(missing)} required to predict with a {writer} model.")
        for options in flags.conflicts(writer, args):
            raise UsageError(f"{' and '.join(options)} exclude each other.")
        return underlying_apps()[writer].predict(task, flags.namespace_for(writer, args))


APP = PseudoLabelApp()
