"""The README runs as written: every ```python block and every command line of its ```bash blocks, on the shipped
models (each block takes seconds on a 2-core CPU), in a fresh working folder.

Skipped, and only these: `bash run.sh app` and `bash run.sh test` (they set up .venv/, start the app's server, and
run the whole test suite). Command lines run in this process through the same entry points as the console script
(`linkgan` and `python -m linkgan` -> linkgan.cli.main, `python -m benchmarks` -> benchmarks.__main__.main), which
saves a torch import per line. A README line that starts any other program fails this test until it is taught here.
"""
from __future__ import annotations

import contextlib
import io
import re
import shlex
import time
from pathlib import Path

import pytest
import torch

README = Path(__file__).resolve().parent.parent / "README.md"
SKIPPED = {("bash", "run.sh", "app"), ("bash", "run.sh", "test")}
BLOCK_SECONDS = 60                     # per block; a snippet that takes longer does not belong in the README


def blocks(lang: str) -> list[str]:
    """The bodies of the README's ```lang fences, in order."""
    return re.findall(rf"^```{lang}\n(.*?)^```", README.read_text(), flags=re.S | re.M)


def command_lines(block: str) -> list[list[str]]:
    """A bash block's commands as argv lists: continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", block)
    return [argv for line in joined.splitlines() if (argv := shlex.split(line, comments=True))]


def run_command(argv: list[str]) -> None:
    """Run one README command line in this process; fail on a non-zero exit."""
    if argv[0] == "linkgan":
        from linkgan.cli import main
        args = argv[1:]
    elif argv[:3] == ["python", "-m", "linkgan"]:
        from linkgan.cli import main
        args = argv[3:]
    elif argv[:3] == ["python", "-m", "benchmarks"]:
        from benchmarks.__main__ import main
        args = argv[3:]
    else:
        pytest.fail(f"tests/test_readme.py does not know how to run this README line: {shlex.join(argv)}")
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            rc = main(args)
    except SystemExit as e:                   # argparse's --help exits 0
        rc = e.code
    assert rc in (0, None), f"{shlex.join(argv)} exited {rc}:\n{out.getvalue()[-2000:]}"
    for flag in ("--out", "--recon"):         # what the line says it writes is there
        if flag in argv:
            path = Path(argv[argv.index(flag) + 1])
            assert path.is_file() and path.stat().st_size > 0, f"{shlex.join(argv)} did not write {path}"


def test_the_readme_has_snippets_and_the_two_set_up_commands():
    assert len(blocks("python")) >= 3
    lines = [tuple(argv) for block in blocks("bash") for argv in command_lines(block)]
    assert SKIPPED <= set(lines)
    assert len(set(lines) - SKIPPED) >= 10


@pytest.mark.parametrize("index", range(len(blocks("python"))))
def test_python_block_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": f"readme_block_{index}"}
    start = time.perf_counter()
    exec(compile(blocks("python")[index], f"README.md python block {index + 1}", "exec"), namespace)
    assert time.perf_counter() - start < BLOCK_SECONDS
    images = {k: v for k, v in namespace.items() if k.startswith("img") and isinstance(v, torch.Tensor)}
    for name, img in images.items():          # every image the block draws is a finite (B, 3, H, W) batch
        assert img.ndim == 4 and img.shape[1] == 3 and torch.isfinite(img).all(), name


@pytest.mark.parametrize("index", range(len(blocks("bash"))))
def test_bash_block_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    start = time.perf_counter()
    for argv in command_lines(blocks("bash")[index]):
        if tuple(argv) not in SKIPPED:
            run_command(argv)
    assert time.perf_counter() - start < BLOCK_SECONDS
