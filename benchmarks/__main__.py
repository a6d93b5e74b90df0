"""`python -m benchmarks --json [--only SECTION[,SECTION]] [--markdown] [--out report.json] [--quick]`.

BENCH_QUICK=1 in the environment is the same as --quick (fewer runs, smaller sizes; for tests).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def main(argv=None) -> int:
    from . import UnknownSectionError, run, select, to_markdown

    p = argparse.ArgumentParser(prog="python -m benchmarks", description="LinkGAN Studio benchmarks.")
    p.add_argument("--json", action="store_true", help="print one JSON object (the default output)")
    p.add_argument("--markdown", action="store_true", help="print a README table instead of JSON")
    p.add_argument("--only", default="", help="comma-separated sections (default: all)")
    p.add_argument("--out", type=Path, default=None, help="also write the JSON report to this file")
    p.add_argument("--quick", action="store_true", help="fewer runs and smaller sizes (also BENCH_QUICK=1)")
    args = p.parse_args(argv)
    quick = args.quick or os.environ.get("BENCH_QUICK", "") not in ("", "0")
    try:
        names = select(args.only.split(","))
    except UnknownSectionError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    report = run(names, quick=quick)
    text = json.dumps(report, indent=2)
    if args.out is not None:
        try:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(text + "\n")
        except OSError as e:
            print(f"error: cannot write {args.out}: {e.strerror or e}", file=sys.stderr)
            return 2
    print(to_markdown(report) if args.markdown else text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
