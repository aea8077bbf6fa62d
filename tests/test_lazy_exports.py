"""App packages export their modules' `__all__` lazily: listing imports nothing, each name resolves."""

import importlib
import subprocess
import sys

import pytest

from apps import declared_all, lazy_exports
from apps.cli import APPS


@pytest.mark.parametrize("name", sorted(APPS))
def test_listing_an_app_imports_no_tensorflow(name):
    code = (f"import sys, apps.{name} as p; names = p.__all__; assert names == dir(p), names; "
            "print(len(names), any(m.startswith(('tensorflow', 'keras')) for m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    count, heavy = done.stdout.split()
    assert int(count) >= 3 and heavy == "False", done.stderr


@pytest.mark.parametrize("name", sorted(APPS))
def test_every_exported_name_is_its_module_s(name):
    package = importlib.import_module(f"apps.{name}")
    for exported in package.__all__:
        assert getattr(package, exported) is not None
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        _ = package.nope


def test_a_module_without_all_or_a_name_exported_twice_is_refused(tmp_path, monkeypatch):
    with pytest.raises(ImportError, match="declares no __all__"):
        declared_all("apps.cli")
    (tmp_path / "twice").mkdir()
    (tmp_path / "twice" / "__init__.py").write_text("")
    for module in ("one", "two"):
        (tmp_path / "twice" / f"{module}.py").write_text('__all__ = ["f"]\n\n\ndef f():\n    pass\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    getattr_, _ = lazy_exports("twice", ["one", "two"])
    with pytest.raises(ImportError, match="'f' from both twice.one and twice.two"):
        getattr_("f")
