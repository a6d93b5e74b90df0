"""Train the toy-faces attribute oracle: a thin command line over `linkgan.oracle.train_oracle`.

    python training/train_oracle.py --out checkpoints/toyfaces64-oracle --steps 1500 --batch-size 64
Writes config.json + model.safetensors, README.md (model card) and train_log.txt into --out.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from linkgan.oracle import train_oracle  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output folder (weights, model card, log)")
    p.add_argument("--steps", type=int, default=1500, help="optimiser steps")
    p.add_argument("--batch-size", type=int, default=64, help="faces per step")
    p.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate (cosine-decayed to 5 %%)")
    p.add_argument("--pool", type=int, default=12_000, help="training faces rendered once")
    p.add_argument("--seed", type=int, default=0, help="torch seed and training-seed window")
    p.add_argument("--log-every", type=int, default=50, help="steps between log lines")
    p.add_argument("--eval-faces", type=int, default=1000, help="held-out faces for the accuracy table")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--device", default=None, help="cpu / cuda (default: cuda when available)")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    command = "python training/train_oracle.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    run = train_oracle(out=a.out, steps=a.steps, batch_size=a.batch_size, lr=a.lr, pool=a.pool, seed=a.seed,
                       log_every=a.log_every, eval_faces=a.eval_faces, device=a.device, command=command)
    mean = sum(run.accuracy.values()) / len(run.accuracy)
    print(f"saved {run.folder}: mean held-out accuracy {mean:.3f} after {run.steps} steps, {run.wall_s / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
