"""Benchmarks of LinkGAN Studio: `python -m benchmarks --json [--only SECTION,...] [--markdown]`.

Each section is a function `fn(*, quick: bool = False) -> dict` registered in SECTIONS. A section may
put the paper's numbers under the key "paper" ({key: value}); `to_markdown` shows them beside ours.
To add a section: write `benchmarks/<name>.py` with a `run(*, quick)` and add one line to SECTIONS.
"""
from __future__ import annotations

import datetime
import json
import platform
from typing import Callable, Iterable

from linkgan.utils import cpu_model

from . import (app, baselines, data, explore, generator, inversion, linkage, linkage3d, quality, segmenter, styleclip,
               training)

SECTIONS: dict[str, Callable[..., dict]] = {
    "generator": generator.run,
    "data": data.run,
    "segmenter": segmenter.run,
    "linkage": linkage.run,
    "linkage3d": linkage3d.run,
    "quality": quality.run,
    "training": training.run,
    "app": app.run,
    "inversion": inversion.run,
    "styleclip": styleclip.run,
    "baselines": baselines.run,
    "explore": explore.run,
}


class UnknownSectionError(ValueError):
    """A section name not in SECTIONS; the message lists the known ones."""


def select(names: Iterable[str] | None) -> list[str]:
    """Validate section names (None or empty: all of them, in registry order)."""
    names = [n.strip() for n in (names or []) if n.strip()]
    if not names:
        return list(SECTIONS)
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        raise UnknownSectionError(f"unknown section(s) {', '.join(unknown)}; known sections: "
                                  f"{', '.join(SECTIONS)}")
    return list(dict.fromkeys(names))




def meta() -> dict:
    import torch

    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def run(names: Iterable[str] | None = None, *, quick: bool = False) -> dict:
    """Run the selected sections; returns {section: {...}, "meta": {...}}."""
    report = {name: SECTIONS[name](quick=quick) for name in select(names)}
    report["meta"] = {**meta(), "quick": quick}
    return report


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return "`" + json.dumps(value, separators=(",", ":")) + "`"
    return str(value)


def to_markdown(report: dict) -> str:
    """A README table: section | key | ours | paper (blank where the section gives no paper number)."""
    lines = ["| section | key | ours | paper |", "| --- | --- | --- | --- |"]
    for section, results in report.items():
        if section == "meta":
            continue
        paper = results.get("paper", {})
        for key, value in results.items():
            if key == "paper":
                continue
            lines.append(f"| {section} | {key} | {_fmt(value)} | {_fmt(paper[key]) if key in paper else ''} |")
    m = report.get("meta", {})
    lines.append("")
    lines.append(f"torch {m.get('torch')}, {m.get('threads')} threads, {m.get('cpu')}, {m.get('date')}"
                 + (" (quick run)" if m.get("quick") else ""))
    return "\n".join(lines)
