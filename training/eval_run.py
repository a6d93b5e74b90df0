"""Measure a training run where it stands, on validation faces that no benchmark reads: what its card would report
(link metrics, region control, Fréchet distance, attribute coverage) and the sample and resample sheets, for the
EMA generator the run would export or for the raw one (which the EMA lags by a few hundred steps). For deciding
how a run goes; the shipped numbers come from the export's card and `python -m benchmarks`.

    python training/eval_run.py --run runs/sV                  # the EMA generator, 100 faces, FD on 1000
    python training/eval_run.py --run runs/sV --raw --eval-seeds 300 --fd-images 2000
Writes <run>/eval_<step>_<ema|raw>.json and .._samples.png / .._resample.png, and prints the JSON.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from linkgan.data import VALIDATION_SEEDS
from training.export_gan import load_run, measure, save_sheets
from training.script_args import add_device_args, parser, set_threads

# Windows of the validation seeds: the trainer's periodic eval reads the first ones (run.eval_seeds)
CONTROL_START, FD_START = 1000, 5000


def main(argv=None) -> int:
    p = parser(__doc__)
    p.add_argument("--run", required=True, help="run folder with checkpoint.pt and config.json")
    p.add_argument("--raw", action="store_true", help="the raw generator instead of its EMA")
    p.add_argument("--eval-seeds", type=int, default=100, help="faces for link metrics and region control")
    p.add_argument("--fd-images", type=int, default=1000, help="samples and procedural faces for FD and coverage")
    add_device_args(p)
    a = p.parse_args(argv)
    set_threads(a)
    device = a.device or ("cuda" if torch.cuda.is_available() else "cpu")
    run = Path(a.run)
    trainer = load_run(run, device)
    G = (trainer.G if a.raw else trainer.G_ema).eval()
    V = VALIDATION_SEEDS
    out = measure(G, trainer.links, seeds=V[CONTROL_START:CONTROL_START + a.eval_seeds],
                  fd_seeds=V[FD_START:FD_START + a.fd_images], device=device)
    name = f"eval_{trainer.step:07d}_{'raw' if a.raw else 'ema'}"
    summary = {"run": run.name, "step": trainer.step, "generator": "raw" if a.raw else "ema",
               "eval_seeds": a.eval_seeds, "fd_images": a.fd_images, **out, "fd": round(out["fd"], 4)}
    (run / f"{name}.json").write_text(json.dumps(summary, indent=2) + "\n")
    save_sheets(G, trainer.links, run, prefix=f"{name}_")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
