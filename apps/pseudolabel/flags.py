"""Borrowing the data, model and predict flags of the apps pseudo-labelling runs on.

Each underlying app's `add_data_arguments` / `add_model_arguments` /
`add_predict_arguments` is run against a recorder (nothing is copied); the
recorded flags are then added to the pseudolabel parser under their own
names. An option several apps define alike (same type, default, choices,
nargs and action: `--csv`, `--out`) is one flag that each app reads; where
the definitions differ, or pseudolabel itself uses the option, each app's
becomes `--<app>-<option>` (`--image-dropout`, `--tabular-task`,
`--text-layers`). `required=True` and required mutually exclusive groups
(and a positional's `nargs="+"`) are lifted: only the chosen app's are
required, checked by `missing_required` (and `conflicts` for the groups);
`namespace_for` gives an app back the argument names its own code reads.

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
...     def add_model_arguments(self, parser):
...         parser.add_argument_group("model").add_argument("--dropout", type=float, default=0.5)
>>> borrowed = BorrowedFlags({"a": A(), "b": B()}, reserved={"--task"})
>>> parser = argparse.ArgumentParser()
>>> borrowed.add_to(parser, "data"); borrowed.add_to(parser, "model")
>>> args = parser.parse_args(["--csv", "x.csv", "--b-dropout", "0.7"])
>>> b = borrowed.namespace_for("b", args)
>>> b.csv, b.dropout, borrowed.namespace_for("a", args).dropout
('x.csv', 0.7, 0.1)
>>> borrowed.missing_required("a", parser.parse_args([]))
['--csv']
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
    one_of: object = None  # the app's mutually exclusive group, if any
    shown: list = None  # the option strings on the pseudolabel parser
    new_dest: str = None
    shared_by: list = None  # the apps that read this one option (alike definitions)


@dataclasses.dataclass(eq=False)
class OneOf:
    """A mutually exclusive group of one app: at most one member (exactly one if required)."""

    required: bool


class _Group:
    """Stands in for an argparse group: records `add_argument` calls."""

    def __init__(self, app, kind, title, flags, one_of=None):
        self.app, self.kind, self.title, self.flags = app, kind, title, flags
        self.one_of = one_of

    def add_argument(self, *names, **kwargs):
        long_names = [n for n in names if n.startswith("--")]
        dest = kwargs.get("dest") or (long_names or list(names))[0].lstrip("-").replace("-", "_")
        kwargs = dict(kwargs)
        if not names[0].startswith("-") and kwargs.get("nargs") == "+":
            kwargs.update(nargs="*", required=True)  # a positional that needs a value
        self.flags.append(Flag(self.app, self.kind, self.title, list(names), kwargs, dest,
                               self.one_of))

    def add_argument_group(self, title=None, description=None):
        return _Group(self.app, self.kind, title or self.title, self.flags, self.one_of)

    def add_mutually_exclusive_group(self, required=False):
        return _Group(self.app, self.kind, self.title, self.flags, OneOf(required))


def record(app_name, app, kind):
    """The flags `app.add_<kind>_arguments` adds, in order."""
    flags = []
    recorder = _Group(app_name, kind, kind, flags)
    getattr(app, f"add_{kind}_arguments")(recorder)
    return flags


def _alike(flags):
    """Whether the flags define one option the same way (help and requiredness aside)."""
    def signature(flag):
        kwargs = {k: v for k, v in flag.kwargs.items() if k not in ("help", "required")}
        return flag.option_strings, flag.dest, sorted(kwargs.items(), key=str)

    first = signature(flags[0])
    return flags[0].option_strings[0].startswith("-") and all(
        signature(f) == first for f in flags[1:])


def _is_set(value):
    return value not in (None, [], False)


class BorrowedFlags:
    """The data, model and predict flags of several apps, renamed where they collide.

    Args:
        apps: `{name: App}` of the underlying apps.
        reserved: option strings the borrowing parser defines itself.
    """

    def __init__(self, apps, reserved=()):
        self.flags = [flag for name, app in apps.items() for kind in KINDS
                      for flag in record(name, app, kind)]
        by_option = collections.defaultdict(list)  # per parser: train (data, model) or predict
        for flag in self.flags:
            for option in flag.option_strings:
                by_option[flag.kind == "predict", option].append(flag)
        for flag in self.flags:
            sharers = [by_option[flag.kind == "predict", o] for o in flag.option_strings]
            clash = any(len({f.app for f in group}) > 1 for group in sharers)
            if any(o in reserved for o in flag.option_strings) or (
                    clash and not all(_alike(group) for group in sharers)):
                self._rename(flag)
            else:
                flag.shown, flag.new_dest = list(flag.option_strings), flag.dest
                flag.shared_by = sorted({f.app for group in sharers for f in group})

    @staticmethod
    def _rename(flag):
        if flag.option_strings[0].startswith("-"):
            flag.shown = [f"--{flag.app}-{o.lstrip('-')}" for o in flag.option_strings
                          if o.startswith("--")]
            flag.new_dest = f"{flag.app}_{flag.dest}"
        else:  # a positional
            flag.shown = [f"{flag.app}_{flag.dest}"]
            flag.new_dest = flag.shown[0]
        flag.shared_by = [flag.app]

    def add_to(self, parser, kind):
        """Adds every app's `kind` flags (see `KINDS`) to `parser`, one group per app(s)."""
        groups, added = {}, set()
        for flag in self.flags:
            if flag.kind != kind or flag.shown[0] in added:
                continue
            added.update(flag.shown)
            apps = " or ".join(flag.shared_by)
            when = (f"run folders of apps.{apps}" if kind == "predict"
                    else f"with --task {apps}")
            key = (apps, flag.title)
            if key not in groups:
                groups[key] = parser.add_argument_group(f"{apps} {flag.title} ({when})")
            kwargs = {k: v for k, v in flag.kwargs.items() if k not in ("required", "dest")}
            if flag.kwargs.get("required") or (flag.one_of and flag.one_of.required):
                others = [f.shown[0] for f in self.flags if f.one_of is not None
                          and f.one_of is flag.one_of and f is not flag]
                either = f", or {' or '.join(others)}," if others and flag.one_of else ""
                kwargs["help"] = f"{kwargs.get('help') or ''} (required{either} {when})".strip()
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

    def _parsed(self, app, args):
        """`app`'s flags on the parser that read `args` (`predict`'s, or `train`'s)."""
        kinds = ("predict",) if getattr(args, "command", None) == "predict" else ("data", "model")
        return [flag for flag in self.flags if flag.app == app and flag.kind in kinds
                and hasattr(args, flag.new_dest)]

    def _groups(self, app, args):
        """`{OneOf: [(shown option, is set)]}` of `app`'s exclusive groups on this parser."""
        groups = collections.defaultdict(list)
        for flag in self._parsed(app, args):
            if flag.one_of is not None:
                groups[flag.one_of].append((flag.shown[0], _is_set(getattr(args,
                                                                           flag.new_dest))))
        return groups

    def missing_required(self, app, args):
        """The flags `app` requires that `args` lacks, as shown on the command line."""
        missing = [flag.shown[0] for flag in self._parsed(app, args)
                   if flag.kwargs.get("required") and not _is_set(getattr(args, flag.new_dest))]
        for one_of, members in self._groups(app, args).items():
            if one_of.required and not any(is_set for _, is_set in members):
                missing.append("one of " + "/".join(option for option, _ in members))
        return missing

    def conflicts(self, app, args):
        """Options of one of `app`'s mutually exclusive groups given together."""
        return [[option for option, is_set in members if is_set]
                for members in self._groups(app, args).values()
                if sum(is_set for _, is_set in members) > 1]
