"""Borrowing the data, model and predict flags of the apps pseudo-labelling runs on.

Each underlying app's `add_data_arguments` / `add_model_arguments` /
`add_predict_arguments` is run against a recorder (nothing is copied); the
recorded flags are then added to the pseudolabel
parser under their own names, except where two apps (or pseudolabel itself)
use the same option: those become `--<app>-<option>` (`--image-dropout`,
`--tabular-task`). `required=True` (and a positional's `nargs="+"`) is
lifted: only the chosen app's flags are required, checked by
`missing_required`; `namespace_for`
gives an app back the argument names its own code reads.

No TensorFlow here (`--help` must answer at once).

Example:


>>> import argparse
>>> from apps.cli import App
>>> class A(App):
...     def add_data_arguments(self, parser):
...         parser.add_argument_group("data").add_argument("--csv", required=True)
...     def add_model_arguments(self, parser):
...         parser.add_argument_group("model").add_argument("--dropout", type=float, default=0.1)
>>> class B(A):
...     def add_data_arguments(self, parser):
...         parser.add_argument_group("data").add_argument("--data", required=True)
>>> borrowed = BorrowedFlags({"a": A(), "b": B()}, reserved={"--task"})
>>> parser = argparse.ArgumentParser()
>>> borrowed.add_to(parser, "data"); borrowed.add_to(parser, "model")
>>> args = parser.parse_args(["--csv", "x.csv", "--b-dropout", "0.5"])
>>> borrowed.namespace_for("b", args).dropout, borrowed.missing_required("b", args)
(0.5, ['--data'])
"""

import argparse
import collections
import dataclasses

KINDS = ("data", "model", "predict")


@dataclasses.dataclass
class Flag:
    """One borrowed flag: the app and group it comes from, its names and argparse keywords."""

    app: str
    kind: str  # "data", "model" or "predict"
    title: str
    option_strings: list
    kwargs: dict
    dest: str  # the name the app's code reads
    shown: list = None  # the option strings on the pseudolabel parser
    new_dest: str = None


class _Group:
    """Stands in for an argparse group: records `add_argument` calls."""

    def __init__(self, app, kind, title, flags):
        self.app, self.kind, self.title, self.flags = app, kind, title, flags

    def add_argument(self, *names, **kwargs):
        long_names = [n for n in names if n.startswith("--")]
        dest = kwargs.get("dest") or (long_names or list(names))[0].lstrip("-").replace("-", "_")
        kwargs = dict(kwargs)
        if not names[0].startswith("-") and kwargs.get("nargs") == "+":
            kwargs.update(nargs="*", required=True)  # a positional that needs a value
        self.flags.append(Flag(self.app, self.kind, self.title, list(names), kwargs, dest))

    def add_argument_group(self, title=None, description=None):
        return _Group(self.app, self.kind, title or self.title, self.flags)


def record(app_name, app, kind):
    """The flags `app.add_<kind>_arguments` adds, in order."""
    flags = []
    recorder = _Group(app_name, kind, kind, flags)
    getattr(app, f"add_{kind}_arguments")(recorder)
    return flags


class BorrowedFlags:
    """The data and model flags of several apps, renamed where they collide.

    Args:
        apps: `{name: App}` of the underlying apps.
        reserved: option strings the borrowing parser defines itself.
    """

    def __init__(self, apps, reserved=()):
        self.flags = [flag for name, app in apps.items() for kind in KINDS
                      for flag in record(name, app, kind)]
        owners = collections.defaultdict(set)
        for flag in self.flags:
            for option in flag.option_strings:
                owners[option].add(flag.app)
        for flag in self.flags:
            clash = any(len(owners[o]) > 1 or o in reserved for o in flag.option_strings)
            if clash and flag.option_strings[0].startswith("-"):
                flag.shown = [f"--{flag.app}-{o.lstrip('-')}" for o in flag.option_strings
                              if o.startswith("--")]
                flag.new_dest = f"{flag.app}_{flag.dest}"
            elif clash:  # a positional
                flag.shown = [f"{flag.app}_{flag.dest}"]
                flag.new_dest = flag.shown[0]
            else:
                flag.shown, flag.new_dest = list(flag.option_strings), flag.dest

    def add_to(self, parser, kind):
        """Adds every app's `kind` flags (see `KINDS`) to `parser`, one group per app."""
        groups = {}
        for flag in self.flags:
            if flag.kind != kind:
                continue
            when = (f"run folders of apps.{flag.app}" if kind == "predict"
                    else f"with --task {flag.app}")
            key = (flag.app, flag.title)
            if key not in groups:
                groups[key] = parser.add_argument_group(f"{flag.app} {flag.title} ({when})")
            kwargs = {k: v for k, v in flag.kwargs.items() if k not in ("required", "dest")}
            if flag.kwargs.get("required"):
                kwargs["help"] = f"{kwargs.get('help') or ''} (required {when})".strip()
            if flag.shown[0].startswith("-"):
                kwargs["dest"] = flag.new_dest
            groups[key].add_argument(*flag.shown, **kwargs)

    def namespace_for(self, app, args):
        """A copy of `args` where `app`'s flags have the names its own code reads."""
        namespace = argparse.Namespace(**vars(args))
        for flag in self.flags:
            if flag.app == app and hasattr(args, flag.new_dest):
                setattr(namespace, flag.dest, getattr(args, flag.new_dest))
        return namespace

    def missing_required(self, app, args):
        """The flags `app` requires that `args` lacks, as shown on the command line."""
        return [flag.shown[0] for flag in self.flags
                if flag.app == app and flag.kwargs.get("required")
                and hasattr(args, flag.new_dest) and getattr(args, flag.new_dest) in (None, [])]
