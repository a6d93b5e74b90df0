"""Train the toy-faces part segmenter (a tiny U-Net): a thin command line over `linkgan.segmenter.train_segmenter`.

    python training/train_segmenter.py --out checkpoints/toyfaces64-segmenter --steps 4000 --batch-size 32
Writes config.json + model.safetensors, README.md (model card), samples.png and train_log.txt into --out.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from linkgan.segmenter import train_segmenter  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output folder (weights, model card, samples, log)")
    p.add_argument("--steps", type=int, default=4000, help="optimiser steps")
    p.add_argument("--batch-size", type=int, default=32, help="faces per step")
    p.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate (cosine-decayed to 5 %%)")
    p.add_argument("--seed", type=int, default=0, help="torch seed and start of the training-seed window")
    p.add_argument("--log-every", type=int, default=50, help="steps between log lines")
    p.add_argument("--device", default=None, help="cpu / cuda (default: cuda when available)")
    p.add_argument("--no-augment", action="store_true", help="train on clean faces only")
    p.add_argument("--eval-faces", type=int, default=500, help="held-out faces for the final mIoU")
    a = p.parse_args(argv)
    command = "python training/train_segmenter.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    run = train_segmenter(out=a.out, steps=a.steps, batch_size=a.batch_size, lr=a.lr, seed=a.seed,
                          log_every=a.log_every, device=a.device, augmentation=not a.no_augment,
                          eval_faces=a.eval_faces, command=command)
    print(f"saved {run.folder}: held-out mIoU {run.miou:.4f} after {run.steps} steps, {run.wall_s / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
