"""Tests of the benchmark runner (benchmarks/): JSON shape, section selection, markdown, errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "BENCH_QUICK": "1"}
    return subprocess.run([sys.executable, "-m", "benchmarks", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_data_section_json(tmp_path):
    out = tmp_path / "report.json"
    proc = _run("--json", "--only", "data", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)                     # exactly one JSON object on stdout
    assert set(report) == {"data", "meta"}
    assert {"images_per_s", "images_per_s_2workers"} <= set(report["data"])
    assert report["data"]["images_per_s"] > 0 and report["data"]["images_per_s_2workers"] > 0
    assert {"torch", "threads", "cpu", "date"} <= set(report["meta"])
    assert json.loads(out.read_text()) == report


def test_unknown_section():
    proc = _run("--json", "--only", "data,bogus")
    assert proc.returncode != 0
    assert "bogus" in proc.stderr and "generator" in proc.stderr and "data" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_markdown_table():
    from benchmarks import to_markdown

    report = {"x": {"fid": 12.3456, "n": 3, "paper": {"fid": 4.5}}, "meta": {"torch": "t", "threads": 1}}
    lines = to_markdown(report).splitlines()
    assert lines[0] == "| section | key | ours | paper |"
    assert "| x | fid | 12.35 | 4.5 |" in lines and "| x | n | 3 |  |" in lines
    assert not any("| paper |" in line and line.startswith("| x") for line in lines)


def test_registry_is_lazy():
    """Importing benchmarks runs nothing; every registered section is callable with quick=."""
    import inspect

    import benchmarks

    for name, fn in benchmarks.SECTIONS.items():
        assert "quick" in inspect.signature(fn).parameters, name


def test_styleclip_score_counts_success_preservation_and_what_changed():
    """The StyleCLIP benchmark's judge: success over faces that lacked the target (and could show it), preservation
    over the other visible attributes, and which of them changed."""
    import torch

    from benchmarks.styleclip import score

    keys = ("hair_color", "hair_style", "glasses", "eyes", "beard", "mouth")
    before = [("black", "short", "none", "open", "none", "smile"),
              ("purple", "short", "none", "open", "none", "neutral"),     # already has the target: not eligible
              ("black", "bald", "none", "open", "none", "neutral")]       # bald, no full beard: colour hidden
    after = [("purple", "short", "none", "open", "none", "neutral"),      # hit, but the mouth changed
             ("purple", "long", "none", "open", "none", "neutral"),       # the hair style changed
             ("purple", "bald", "none", "open", "none", "neutral")]

    class Oracle:        # reads the table of the images' marker (0: before, 1: after)
        def predict(self, images):
            rows = before if float(images[0, 0, 0, 0]) == 0 else after
            return {k: [r[j] for r in rows] for j, k in enumerate(keys)}

    out = score(Oracle(), torch.zeros(3, 3, 4, 4), torch.ones(3, 3, 4, 4), "hair_color", "purple")
    assert out["eligible"] == 1 and out["success"] == 1.0
    assert out["preservation"] == round(13 / 15, 3)
    assert out["changed"] == {"mouth": "1/3", "hair_style": "1/3"}
