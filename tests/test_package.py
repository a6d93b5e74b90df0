"""The installable package: its public API resolves, the console script runs, and nothing edits sys.path."""
import re
import shutil
import subprocess
from pathlib import Path

import linkgan

ROOT = Path(__file__).resolve().parent.parent


def test_every_public_name_resolves():
    for name in linkgan.__all__:
        assert getattr(linkgan, name) is not None, name
    assert "Generator" in dir(linkgan)


def test_an_unknown_name_is_an_attribute_error():
    try:
        linkgan.NoSuchThing  # noqa: B018
    except AttributeError as e:
        assert "NoSuchThing" in str(e)
    else:
        raise AssertionError("no AttributeError")


def test_no_file_of_the_project_edits_sys_path():
    pattern = re.compile(r"sys\.path\.(insert|append)|sys\.path\s*=")
    offenders = [str(p.relative_to(ROOT)) for d in ("linkgan", "training", "tests", "benchmarks") for p in
                 (ROOT / d).rglob("*.py") if pattern.search(p.read_text()) and p.name != "test_package.py"]
    offenders += [p for p in ("app.py",) if pattern.search((ROOT / p).read_text())]
    assert not offenders


def test_the_console_script_runs():
    exe = shutil.which("linkgan") or str(Path(__import__("sys").executable).parent / "linkgan")
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "resample" in out.stdout
