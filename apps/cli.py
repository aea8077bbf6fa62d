"""The command line every app shares: same verbs, same flags, same exit codes.

    python -m apps.<app> train|lr-find|predict|export|demo ...
    dlkeras <app> train|lr-find|predict|export|demo ...

An app declares an `App` (its data flags, how to load its data, how to
build its `dlkeras.tasks.Task`, how to print predictions); this module
writes the rest once: argument parsing, seeding, the LR finder, training,
evaluation, saving the run folder, exporting, and turning user errors into
one-line messages with exit status 2.

This module imports no TensorFlow (nor the apps' heavy modules): `--help`
answers in well under a second; TensorFlow loads when a command runs. That
is why it lives here and not in `dlkeras` (importing `dlkeras` imports
Keras and TensorFlow, as it must to register its Keras objects).

Exit status: 0 success, 1 a command that ran but failed on some inputs
(e.g. unreadable files in `predict`), 2 bad usage or bad input (one line on
stderr, no traceback; set `DLKERAS_DEBUG=1` for the traceback), 130 on Ctrl-C.
"""

import argparse
import datetime
import difflib
import importlib
import json
import os
import pathlib
import sys
import tempfile

from apps.declaration import add_declared_flags, fraction, positive_float, positive_int, read_declaration

APPS = {
    "image": "apps.image.cli",
    "tabular": "apps.tabular.cli",
    "recommender": "apps.recommender.cli",
    "text": "apps.text.cli",
    "pseudolabel": "apps.pseudolabel.cli",
}
STRATEGIES = ("default", "mirrored", "multiworker")  # dlkeras.distribute.STRATEGIES, TF-free
USER_ERRORS = (ValueError, KeyError, TypeError, FileNotFoundError, FileExistsError,
               NotADirectoryError, IsADirectoryError, PermissionError)


class UsageError(Exception):
    """A user error whose message is shown as is, with exit status 2."""


def did_you_mean(name, choices):
    """`" (did you mean 'x'?)"` for the closest of `choices`, or `""`.

    Example:

    >>> did_you_mean("agee", ["age", "income"])
    " (did you mean 'age'?)"
    """
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class App:
    """What an app declares for the shared command line (one subclass per app).

    An app declares its attributes and flags as data in a `cli.toml`
    (`apps.declaration`), passed as `declaration`; its subclass writes only
    what runs (loading data, building the task, predicting). Without a
    declaration, the class attributes and the `add_*_arguments` methods say it.

    Args:
        declaration: path of the app's `cli.toml`, or None.

    Attributes:
        name: the app's name (`python -m apps.<name>`, `dlkeras <name>`).
        description: one paragraph for `--help`.
        examples: `{command: "example lines"}` shown under each command's help.
        default_epochs: `--epochs` default.
        has_demo: whether the app offers `demo`.
        demo_runs_train: whether `demo` trains through the shared `run_train`
            (then it honours `--strategy`; otherwise a strategy is refused).
        intra_op_threads: `--intra-op-threads` default: TensorFlow's threads
            per op, 0 for one per core (`dlkeras.set_cpu_threads`; 1 suits
            apps whose ops are small, measured in `benchmarks/threads.py`).
    """

    name = None
    description = ""
    examples = {}
    default_epochs = 5
    has_demo = False
    demo_runs_train = False
    intra_op_threads = 0

    def __init__(self, declaration=None):
        self.flags = {}
        if declaration is not None:
            attributes, self.flags = read_declaration(declaration)
            for key, value in attributes.items():
                if not hasattr(App, key) or callable(getattr(App, key)):
                    raise ValueError(f"{declaration}: [app] has an unknown key {key!r}.")
                setattr(self, key, value)

    def add_data_arguments(self, parser):
        """Adds the flags that say where the training data is (train, lr-find, demo)."""
        add_declared_flags(parser, self.flags.get("data", ()), default_group="data")

    def add_model_arguments(self, parser):
        """Adds flags that shape the model (train, lr-find, demo)."""
        add_declared_flags(parser, self.flags.get("model", ()), default_group="model")

    def add_predict_arguments(self, parser):
        """Adds the flags that say what to predict."""
        add_declared_flags(parser, self.flags.get("predict", ()))

    def add_demo_arguments(self, parser):
        """Adds the demo's own flags and sets its defaults (`parser.set_defaults`)."""
        add_declared_flags(parser, self.flags.get("demo", ()))

    def add_commands(self, commands):
        """Adds app-only commands (parsers must `set_defaults(handler=...)`)."""

    def train_options(self, args):
        """More keyword arguments for `task.train` (e.g. `freeze_epochs`)."""
        return {}

    def default_intra_op_threads(self, args):
        """`--intra-op-threads` when not given: `intra_op_threads` unless an app's
        flags decide it (the pseudo-labelling app takes its `--task` app's)."""
        return self.intra_op_threads

    def intra_op_threads_default_text(self):
        """How `--help` states the default of `--intra-op-threads`."""
        if self.intra_op_threads:
            return f"{self.intra_op_threads}, measured faster for this app's small ops"
        return str(self.intra_op_threads)

    def fit(self, task, train, valid, args, **train_kwargs):
        """Trains the task for `train`; default: the task's recipe, `task.train`.

        An app whose training is more than one recipe run (pseudo-labelling
        rounds) overrides this; `train_kwargs` are `epochs`, `lr_max`,
        `batch_size`, `seed`, `log_dir`, `checkpoint_dir`, `checkpoint_every`,
        `verbose` and `train_options(args)`.
        """
        return task.train(train, validation_data=valid, **train_kwargs)

    def load_data(self, args):
        """Returns `(train, valid)` in the app's data kind; imports what it needs."""
        raise NotImplementedError

    def build_task(self, args, train):
        """Returns the compiled `Task` for this data and these flags."""
        raise NotImplementedError

    def report(self, task, valid, run_dir, args):
        """Extra outputs after training (plots, ranking metrics): `{label: value}` to print."""
        return {}

    def predict(self, task, args):
        """Predicts what `args` name with a loaded task and prints or writes it; returns a status."""
        raise NotImplementedError

    def demo(self, args):
        """Runs the app's demo; returns a status."""
        raise NotImplementedError


def add_training_arguments(parser, app):
    """The flags every app's `train` / `lr-find` / `demo` share."""
    recipe = parser.add_argument_group("training")
    rate = recipe.add_mutually_exclusive_group()
    rate.add_argument("--lr-max", type=positive_float, default=None,
                      help="peak learning rate of the one-cycle schedule (default: the app's "
                           "documented rate, or the LR finder's suggestion with --lr-find)")
    rate.add_argument("--lr-find", action="store_true",
                      help="run the LR range test first and train at its suggestion")
    recipe.add_argument("--lr-find-steps", type=positive_int, default=100,
                        help="steps of the LR range test (default: %(default)s)")
    recipe.add_argument("--epochs", type=positive_int, default=app.default_epochs,
                        help="training epochs (default: %(default)s)")
    recipe.add_argument("--batch-size", type=positive_int, default=None,
                        help="examples per step, the global batch shared by all replicas "
                             "(default: chosen from the data size)")
    recipe.add_argument("--strategy", choices=STRATEGIES, default="default",
                        help="where to train: 'default' one device; 'mirrored' every local "
                             "GPU (tf.distribute.MirroredStrategy); 'multiworker' several "
                             "hosts, each running this same command with its own TF_CONFIG "
                             "(MultiWorkerMirroredStrategy). See docs/distributed.md "
                             "(default: %(default)s)")
    recipe.add_argument("--intra-op-threads", type=int, default=None, metavar="N",
                        help="threads TensorFlow gives one op, 0 for one per core "
                             f"(default: {app.intra_op_threads_default_text()})")
    recipe.add_argument("--seed", type=int, default=42,
                        help="seed of the split, the shuffling and the weights (default: %(default)s)")
    recipe.add_argument("--valid-pct", type=fraction, default=0.2,
                        help="validation share of a seeded random split (default: %(default)s)")
    out = parser.add_argument_group("outputs")
    out.add_argument("--name", default=app.name,
                     help="model name: saved_models/<name>/<version> (default: %(default)s)")
    out.add_argument("--run-dir", default=None,
                     help=f"run folder for model.keras, task.json, plots and logs "
                          f"(default: runs/{app.name}/<name>-<timestamp>)")
    out.add_argument("--log-dir", default=None,
                     help="TensorBoard log folder (default: <run-dir>/logs)")
    out.add_argument("--export-root", default=None,
                     help="root of exported SavedModels (default: $DLKERAS_SAVED_MODELS or "
                          "./saved_models)")
    out.add_argument("--no-export", action="store_true", help="save the run folder only")
    out.add_argument("--resume", action="store_true",
                     help="continue the interrupted run in --run-dir from its last checkpoint "
                          "(the same command otherwise): same step, schedules, freeze state "
                          "and data position")
    out.add_argument("--checkpoint-every", type=positive_int, default=500,
                     help="checkpoint every this many steps, besides every epoch end "
                          "(default: %(default)s)")
    out.add_argument("--quiet", action="store_true", help="no progress bars")


def build_parser(app, prog=None):
    """The argument parser of one app."""
    parser = argparse.ArgumentParser(prog=prog or f"python -m apps.{app.name}",
                                     description=app.description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, help_text, description):
        epilog = app.examples.get(name)
        return commands.add_parser(name, help=help_text, description=description,
                                   epilog=f"example:\n{epilog}" if epilog else None,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)

    train = command("train", "train, evaluate, save the run folder and export",
                    "Trains with the app's recipe (one-cycle, or fine-tuning for pretrained "
                    "bodies), evaluates on the validation split, saves the run folder and "
                    "exports a SavedModel; prints where everything went.")
    app.add_data_arguments(train)
    app.add_model_arguments(train)
    add_training_arguments(train, app)
    train.set_defaults(handler=run_train)

    finder = command("lr-find", "run the LR range test and save its plot",
                     "Sweeps the learning rate up exponentially, prints the suggestions and "
                     "saves the loss curve; the model is not kept.")
    app.add_data_arguments(finder)
    app.add_model_arguments(finder)
    add_training_arguments(finder, app)
    finder.add_argument("--plot", default="lr_find.png", help="where to save the plot")
    finder.set_defaults(handler=run_lr_find)

    predict = command("predict", "predict with a trained run folder",
                      "Loads the run folder written by `train` and predicts.")
    predict.add_argument("--run-dir", required=True, help="run folder written by `train`")
    app.add_predict_arguments(predict)
    predict.set_defaults(handler=run_predict)

    export = command("export", "export a run folder as a SavedModel again",
                     "Writes saved_models/<name>/<version>/ from a run folder.")
    export.add_argument("--run-dir", required=True, help="run folder written by `train`")
    export.add_argument("--name", default=None, help="model name (default: the run's)")
    export.add_argument("--export-root", default=None, help="root of exported SavedModels")
    export.add_argument("--version", type=positive_int, default=None,
                        help="version number (default: the next free one)")
    export.set_defaults(handler=run_export)

    if app.has_demo:
        demo = command("demo", "the app's offline demo", "Runs the app's demo end to end.")
        app.add_model_arguments(demo)
        add_training_arguments(demo, app)
        app.add_demo_arguments(demo)
        demo.set_defaults(handler=lambda app_, args: app_.demo(args))
    app.add_commands(commands)
    return parser


def default_run_dir(app, args):
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return pathlib.Path("runs") / app.name / f"{args.name}-{stamp}"


def seed_everything(seed):
    """Seeds Python, NumPy and TensorFlow (weights, dropout, shuffling)."""
    import keras

    keras.utils.set_random_seed(seed)


def prepared_task(app, args):
    """Seeds, loads the data and builds the task: `(task, train, valid)`.

    The task is built inside the `--strategy` scope, so its variables are
    replicated and every verb trains under that strategy. The strategy is
    created first: TensorFlow wants a multi-worker strategy to exist before
    it runs anything else.
    """
    from dlkeras.distribute import create_strategy

    strategy = create_strategy(getattr(args, "strategy", "default"))
    seed_everything(args.seed)
    train, valid = app.load_data(args)
    with strategy.scope():
        task = app.build_task(args, train)
    return task, train, valid


def choose_lr_max(task, train, args, run_dir):
    """`--lr-max`, the LR finder's suggestion with `--lr-find`, or the app's default."""
    if args.lr_max is not None:
        return args.lr_max, "given with --lr-max"
    if not args.lr_find:
        return task.default_lr_max, "the app's default (use --lr-find to search)"
    finder = task.lr_find(train, batch_size=args.batch_size, seed=args.seed,
                          total_steps=args.lr_find_steps, verbose=0)
    plot = pathlib.Path(run_dir) / "lr_find.png"
    plot.parent.mkdir(parents=True, exist_ok=True)
    if finder.lrs:
        finder.plot().savefig(plot)
    shown = ", ".join(f"{k} {v:.2e}" for k, v in finder.suggestions.items())
    print(f"LR finder: {shown or 'no suggestion'} (plot: {plot})")
    if finder.suggestion is None:
        reason = getattr(finder, "no_suggestion_reason", None) or "no usable descent"
        print(f"LR finder has no trustworthy suggestion ({reason}); training at the app's "
              f"default lr_max={task.default_lr_max:g}")
        return task.default_lr_max, "the app's default (LR finder had no suggestion)"
    return float(finder.suggestion), "the LR finder's suggestion"


def worker_writes_outputs(task):
    """False on a non-chief worker of a multi-worker run (it trains, the chief writes)."""
    from dlkeras.distribute import is_chief, model_strategy

    return is_chief(model_strategy(task.network))


def strategy_note(task, args):
    """`", global over N replicas (strategy S)"` when training under a strategy, else `""`."""
    from dlkeras.distribute import replica_count

    if getattr(args, "strategy", "default") == "default":
        return ""
    return f" (global, over {replica_count(task.network)} replica(s); --strategy {args.strategy})"


def checkpoint_dir_of(args):
    """`<run-dir>/checkpoint`, checked against `--resume`."""
    if args.resume and not args.run_dir:
        raise UsageError("--resume needs the --run-dir of the interrupted run.")
    if not args.run_dir:
        return None
    folder = pathlib.Path(args.run_dir) / "checkpoint"
    interrupted = (folder / "latest").exists() or (folder / "previous").exists()
    if args.resume and not interrupted:
        raise UsageError(f"--resume: there is no interrupted run in {args.run_dir!r}.")
    if interrupted and not args.resume:
        raise UsageError(f"{args.run_dir!r} holds an interrupted run: add --resume to continue "
                         "it, or choose another --run-dir.")
    return folder


def run_train(app, args):
    from dlkeras.callbacks import NonFiniteLossError

    if args.resume and getattr(args, "strategy", "default") == "multiworker":
        raise UsageError("--resume is not supported with --strategy multiworker: only the "
                         "chief keeps its checkpoints. Start the run again.")
    checkpoint_dir = checkpoint_dir_of(args)
    task, train, valid = prepared_task(app, args)
    run_dir = pathlib.Path(args.run_dir) if args.run_dir else default_run_dir(app, args)
    if not worker_writes_outputs(task):
        # Another worker is the chief: this one trains alongside, writes privately.
        run_dir, checkpoint_dir, args.no_export, args.log_dir = \
            pathlib.Path(tempfile.mkdtemp(prefix="dlkeras-worker-")), None, True, None
    checkpoint_dir = checkpoint_dir or run_dir / "checkpoint"
    log_dir = args.log_dir or str(run_dir / "logs")
    lr_max, why = choose_lr_max(task, train, args, run_dir)
    print(f"{'resuming' if args.resume else 'training'} {args.epochs} epoch(s) at "
          f"lr_max={lr_max:.3g} ({why}), batch size {args.batch_size or task.batch_size}"
          f"{strategy_note(task, args)}")
    try:
        app.fit(task, train, valid, args, epochs=args.epochs, lr_max=lr_max,
                batch_size=args.batch_size, seed=args.seed, log_dir=log_dir,
                checkpoint_dir=str(checkpoint_dir), checkpoint_every=args.checkpoint_every,
                verbose=0 if args.quiet else 2, **app.train_options(args))
    except NonFiniteLossError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    metrics = task.evaluate(valid, batch_size=args.batch_size) if valid is not None else {}
    print("validation: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    extra = app.report(task, valid, run_dir, args)
    print(f"run folder: {task.save(run_dir)}")
    numbers = {k: v for k, v in {**metrics, **extra}.items() if isinstance(v, (int, float))}
    (run_dir / "metrics.json").write_text(json.dumps({"lr_max": lr_max, **numbers}, indent=1))
    print(f"TensorBoard logs: {log_dir}")
    for label, value in extra.items():
        print(f"{label}: {value}")
    if not args.no_export:
        print(f"SavedModel: {task.export(args.name, root=args.export_root)}")
    return 0


def run_lr_find(app, args):
    task, train, _ = prepared_task(app, args)
    finder = task.lr_find(train, batch_size=args.batch_size, seed=args.seed,
                          total_steps=args.lr_find_steps, verbose=0 if args.quiet else 1)
    for name, value in finder.suggestions.items():
        print(f"{name}: {value:.3e}")
    if finder.suggestion is None:
        reason = getattr(finder, "no_suggestion_reason", None) or "no usable descent"
        print(f"no trustworthy suggestion: {reason}")
    if finder.lrs:
        path = pathlib.Path(args.plot)
        path.parent.mkdir(parents=True, exist_ok=True)
        finder.plot().savefig(path)
        print(f"plot: {path}")
    return 0


def load_run(app, args):
    from dlkeras.tasks import Task

    try:
        return Task.load(args.run_dir, compile=False)
    except FileNotFoundError as error:
        raise UsageError(f"{error} (see `python -m apps.{app.name} train --help`)") from None


def run_predict(app, args):
    return app.predict(load_run(app, args), args)


def run_export(app, args):
    task = load_run(app, args)
    print(task.export(args.name, root=args.export_root, version=args.version))
    return 0


def apply_thread_setting(app, args, app_default=True):
    """Sets TensorFlow's intra-op threads for a training command before TensorFlow starts.

    `--intra-op-threads` always applies; a value that cannot apply any more
    (TensorFlow already runs in this process) is a usage error. The app's
    own default applies only with `app_default` (the process's own command
    line), gives way to `TF_NUM_INTRAOP_THREADS` where that is set, and is
    skipped quietly where TensorFlow is already running.
    """
    if not hasattr(args, "intra_op_threads"):  # predict / export
        return
    given = args.intra_op_threads
    if given is None and (not app_default or os.environ.get("TF_NUM_INTRAOP_THREADS")):
        return
    if given is not None and given < 0:
        raise UsageError(f"--intra-op-threads must be 0 (one per core) or more; got {given}")
    from dlkeras.cpu_threads import set_cpu_threads

    try:
        set_cpu_threads(intra_op=app.default_intra_op_threads(args) if given is None else given)
    except RuntimeError as error:
        if given is not None:
            raise UsageError(str(error)) from error


def main(app, argv=None, prog=None, app_threads=None):
    """Parses `argv` for `app` and runs the command; returns the exit status.

    `app_threads`: whether the app's default `--intra-op-threads` applies
    (default: only when `argv` is None, i.e. this process's own command
    line; a program that calls `main` keeps its own thread settings).
    """
    args = build_parser(app, prog).parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        apply_thread_setting(app, args, argv is None if app_threads is None else app_threads)
        if args.command == "demo" and getattr(args, "strategy", "default") != "default" \
                and not app.demo_runs_train:
            raise UsageError(f"`{app.name} demo` does not support --strategy {args.strategy}; "
                             f"use `{app.name} train --strategy {args.strategy}`.")
        return int(args.handler(app, args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (UsageError,) + USER_ERRORS as error:
        if os.environ.get("DLKERAS_DEBUG"):
            raise
        message = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
        print(f"error: {str(message).strip().splitlines()[0] if str(message).strip() else type(error).__name__}",
              file=sys.stderr)
        return 2


def app_named(name):
    """The `App` of `apps.<name>` (imports only its light command-line module)."""
    if name not in APPS:
        raise UsageError(f"unknown app {name!r}{did_you_mean(name, APPS)}; apps: {', '.join(APPS)}")
    return importlib.import_module(APPS[name]).APP


def dlkeras_main(argv=None):
    """The `dlkeras` console script: `dlkeras <app> <command> ...`."""
    own_command_line = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: dlkeras APP COMMAND ...\n\napps: " + ", ".join(APPS)
              + "\n\n`dlkeras APP --help` lists an app's commands.")
        return 0 if argv else 2
    try:
        app = app_named(argv[0])
    except (UsageError, ModuleNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return main(app, argv[1:], prog=f"dlkeras {app.name}", app_threads=own_command_line)
