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


def test_pixel_exact_reference_recolours_only_the_named_part():
    """The benchmark's ideal edit (pixel_exact) on rendered toy faces: hair, background and eye colour land on the
    named colour as the shipped oracle reads it, and no pixel outside the part (eye colour: the iris) moves."""
    import dataclasses

    import numpy as np
    import torch

    from benchmarks._weights import oracle
    from benchmarks.styleclip import pixel_exact
    from linkgan.data import PART_LABELS, sample_attributes
    from linkgan.data.render import render
    from linkgan.oracle import edit_score
    from linkgan.styleclip import region_mask

    attrs = [dataclasses.replace(sample_attributes(s), eyes="open", glasses="none", hair_style="long",
                                 eye_color="green", hair_color="black", background="white") for s in range(8)]
    rendered = [render(a, size=64) for a in attrs]
    x = torch.from_numpy(np.stack([img for img, _ in rendered])).permute(0, 3, 1, 2).float() / 127.5 - 1
    parts = torch.from_numpy(np.stack([m for _, m in rendered])).long()
    orc = oracle()
    for attribute, value, region in [("hair_color", "purple", "hair"), ("background", "blue", "background"),
                                     ("eye_color", "blue", "eyes")]:
        y = pixel_exact(x, attribute, value, region)
        moved = (y - x).abs().amax(1) > 1e-6
        grown = torch.nn.functional.max_pool2d(region_mask(parts, region), 3, 1, 1)[:, 0]   # segmenter edges: 1 px
        assert moved.any() and not (moved & (grown == 0)).any(), attribute
        if attribute == "eye_color":                        # the white of the eye keeps its colour
            white = (x.amin(1) > 0.8) & (parts == PART_LABELS.index("eyes"))
            assert white.any() and not (moved & white).any()
        score = edit_score(orc, x, y, attribute, value)
        assert score["success"] >= 0.75 and score["preservation"] >= 0.9, (attribute, score)


def test_explore_section_times_every_shipped_method_of_the_default():
    """The Explore timing runs the app's own path (Studio.explore + render) for each method the default zoo ships."""
    from benchmarks import explore

    out = explore.run(quick=True)
    assert out["render_ms"] > 0
    for method in ("ganspace", "sefa", "interfacegan", "stylespace"):
        assert out[method]["slider_move_ms"] > 0, method
