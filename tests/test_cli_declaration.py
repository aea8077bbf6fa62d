"""Apps declare their command line in `cli.toml`; `apps.declaration` turns it into argparse flags."""

import argparse

import pytest

from apps.cli import APPS, App, app_named, positive_int
from apps.declaration import add_declared_flags, argparse_keywords


@pytest.mark.parametrize("name", sorted(APPS))
def test_every_app_is_declared_under_its_own_name(name):
    assert app_named(name).name == name


def test_flags_become_argparse_arguments_with_their_types_groups_and_one_ofs():
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_declared_flags(parser, [
        {"flag": "--size", "type": "positive_int", "default": 128, "group": "model"},
        {"flag": "--y-range", "type": "float", "nargs": 2, "metavar": ["LOW", "HIGH"]},
        {"flag": "--csv", "group": "data", "one_of": "source", "one_of_required": True},
        {"flag": "--folder", "group": "data", "one_of": "source"}])
    args = parser.parse_args(["--csv", "a.csv", "--size", "7", "--y-range", "0", "5.5"])
    assert (args.csv, args.folder, args.size, args.y_range) == ("a.csv", None, 7, [0.0, 5.5])
    assert [g.title for g in parser._action_groups][-2:] == ["model", "data"]
    assert "--y-range LOW HIGH" in parser.format_help()
    with pytest.raises((SystemExit, argparse.ArgumentError)):
        parser.parse_args(["--csv", "a.csv", "--folder", "b"])  # exclusive
    with pytest.raises((SystemExit, argparse.ArgumentError)):
        parser.parse_args([])  # one of --csv / --folder is required
    with pytest.raises(argparse.ArgumentError):
        parser.parse_args(["--csv", "a.csv", "--size", "0"])
    assert argparse_keywords({"flag": "-k", "type": "positive_int"})["type"] is positive_int


def test_flags_without_a_group_go_under_the_default_one():
    parser = argparse.ArgumentParser()
    add_declared_flags(parser, [{"flag": "--a"}, {"flag": "--b", "group": "other"}],
                       default_group="data")
    titles = {g.title: [a.dest for a in g._group_actions] for g in parser._action_groups}
    assert titles["data"] == ["a"] and titles["other"] == ["b"]


def test_unknown_types_keys_and_tables_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown type 'posint'"):
        argparse_keywords({"flag": "--size", "type": "posint"})
    bad_key = tmp_path / "key.toml"
    bad_key.write_text('[app]\nname = "x"\nload_data = 1\n')
    with pytest.raises(ValueError, match="unknown key 'load_data'"):
        App(bad_key)
    bad_table = tmp_path / "table.toml"
    bad_table.write_text('[[modle]]\nflag = "--x"\n')
    with pytest.raises(ValueError, match=r"unknown tables \['modle'\]"):
        App(bad_table)
