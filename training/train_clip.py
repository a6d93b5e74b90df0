"""Train the project's small CLIP on toy faces: a thin command line over `linkgan.toyclip.train_toy_clip`.

    python training/train_clip.py --out checkpoints/toyfaces-clip --run-dir runs/clip --steps 1200 --batch-size 128
Writes open_clip_config.json + open_clip_model.safetensors, README.md (model card) and train_log.txt into --out;
--run-dir keeps the log and a resumable checkpoint (re-run the same command to continue an interrupted run).
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from linkgan.toyclip import train_toy_clip  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output folder (weights, open_clip config, model card, log)")
    p.add_argument("--run-dir", default="runs/clip", help="log + resumable checkpoint (default runs/clip)")
    p.add_argument("--steps", type=int, default=1200, help="optimiser steps")
    p.add_argument("--batch-size", type=int, default=128, help="image-caption pairs per step")
    p.add_argument("--lr", type=float, default=1e-3, help="AdamW peak learning rate")
    p.add_argument("--pool", type=int, default=20_000, help="training faces rendered once")
    p.add_argument("--seed", type=int, default=0, help="torch seed and training-seed window")
    p.add_argument("--log-every", type=int, default=25, help="steps between log lines")
    p.add_argument("--ckpt-every", type=int, default=100, help="steps between resumable checkpoints")
    p.add_argument("--eval-faces", type=int, default=500, help="held-out faces for zero-shot accuracy")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--device", default=None, help="cpu / cuda (default: cuda when available)")
    p.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint in --run-dir")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    command = "python training/train_clip.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    run = train_toy_clip(out=a.out, run_dir=a.run_dir, steps=a.steps, batch_size=a.batch_size, lr=a.lr, pool=a.pool,
                         seed=a.seed, log_every=a.log_every, ckpt_every=a.ckpt_every, eval_faces=a.eval_faces,
                         device=a.device, command=command, resume=not a.fresh)
    mean = sum(run.accuracy.values()) / len(run.accuracy)
    print(f"saved {run.folder}: mean held-out zero-shot accuracy {mean:.3f} after {run.steps} steps, "
          f"{run.wall_s / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
