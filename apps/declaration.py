"""An app's command line as data: `cli.toml` beside its `cli.py`, read by `apps.cli.App`.

The file has an `[app]` table (the `App` attributes: `name`, `description`,
`default_epochs`, `has_demo`, `demo_runs_train`, `intra_op_threads`, and
`[app.examples]`, one help epilog per command) and one array of tables per
kind of flag: `[[data]]`
(train, lr-find), `[[model]]` (train, lr-find, demo), `[[predict]]`,
`[[demo]]`. Each flag table holds `flag` (an option string, a list of them,
or a positional's name) and `argparse` keywords as they are, except:

- `type`: a name from `TYPES` (`"positive_int"`, `"float"`, ...);
- `group`: the title of the argument group the flag is shown under
  (default: `"data"` for data flags, `"model"` for model flags, none for the
  others: the command's own options);
- `one_of`: the name of a mutually exclusive group (within `group`), and
  `one_of_required = true` on one member when one of them must be given.

No TensorFlow here: `--help` reads these files.

Example:

>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> add_declared_flags(parser, [
...     {"flag": "--size", "type": "positive_int", "default": 128, "group": "model"},
...     {"flag": "--csv", "one_of": "source", "one_of_required": True},
...     {"flag": "--folder", "one_of": "source"}])
>>> parser.parse_args(["--folder", "texts/"])
Namespace(size=128, csv=None, folder='texts/')
"""

import argparse
import tomllib


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text}")
    return value


def positive_float(text):
    value = float(text)
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def fraction(text):
    value = float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be strictly between 0 and 1, got {text}")
    return value


TYPES = {"int": int, "float": float, "positive_int": positive_int,
         "positive_float": positive_float, "fraction": fraction}
KINDS = ("data", "model", "predict", "demo")
_OURS = ("flag", "group", "one_of", "one_of_required")


def read_declaration(path):
    """`(app attributes, {kind: [flag tables]})` of an app's `cli.toml`."""
    with open(path, "rb") as file:
        declaration = tomllib.load(file)
    unknown = sorted(set(declaration) - {"app", *KINDS})
    if unknown:
        raise ValueError(f"{path}: unknown tables {unknown}; expected [app] and {list(KINDS)}.")
    return declaration.get("app", {}), {kind: declaration.get(kind, []) for kind in KINDS}


def add_declared_flags(parser, flags, default_group=None):
    """Adds the declared `flags` (flag tables, in order) to an argparse `parser`.

    Args:
        parser: anything with argparse's `add_argument`, `add_argument_group`
            and `add_mutually_exclusive_group` (the pseudolabel app records
            the flags through such a stand-in).
        flags: the flag tables.
        default_group: the group title of flags that name none.
    """
    groups, one_ofs = {None: parser}, {}
    for flag in flags:
        title, one_of = flag.get("group", default_group), flag.get("one_of")
        if title not in groups:
            groups[title] = parser.add_argument_group(title)
        target = groups[title]
        if one_of is not None:
            if (title, one_of) not in one_ofs:
                required = any(f.get("one_of_required") for f in flags if f.get("one_of") == one_of
                               and f.get("group", default_group) == title)
                one_ofs[title, one_of] = target.add_mutually_exclusive_group(required=required)
            target = one_ofs[title, one_of]
        names = [flag["flag"]] if isinstance(flag["flag"], str) else flag["flag"]
        target.add_argument(*names, **argparse_keywords(flag))


def argparse_keywords(flag):
    """The `add_argument` keywords of one flag table (`type` by name, `metavar` lists as tuples)."""
    keywords = {key: value for key, value in flag.items() if key not in _OURS}
    if "type" in keywords:
        if keywords["type"] not in TYPES:
            raise ValueError(f"Flag {flag['flag']!r}: unknown type {keywords['type']!r}; "
                             f"known: {sorted(TYPES)}.")
        keywords["type"] = TYPES[keywords["type"]]
    if isinstance(keywords.get("metavar"), list):
        keywords["metavar"] = tuple(keywords["metavar"])
    return keywords
