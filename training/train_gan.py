"""Train a StyleGAN2 generator on toy faces: a thin command line over `linkgan.train`.

    python training/train_gan.py --out runs/baseline64 run.steps=20000
    python training/train_gan.py --out runs/baseline64 --resume        # continue a stopped run exactly
Overrides are `section.field=value` for the sections generator / discriminator / optim / run.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from linkgan.train import TrainConfig, Trainer, replace_config  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="run folder (config, log, checkpoints, samples)")
    p.add_argument("--resume", action="store_true", help="continue from <out>/checkpoint.pt")
    p.add_argument("--device", default=None, help="cpu / cuda (default: cuda when available)")
    p.add_argument("overrides", nargs="*", help="section.field=value, e.g. optim.batch_size=16")
    a = p.parse_args(argv)
    try:
        pairs = dict(kv.split("=", 1) for kv in a.overrides)
    except ValueError:
        p.error("overrides look like section.field=value")
    cfg = replace_config(TrainConfig(), {**pairs, "run.out": json.dumps(a.out)})
    print(json.dumps(cfg.to_dict(), indent=2))
    trainer = Trainer(cfg, device=a.device)
    ckpt = Path(a.out) / "checkpoint.pt"
    if a.resume:
        if not ckpt.is_file():
            print(f"error: --resume given but {ckpt} does not exist", file=sys.stderr)
            return 2
        trainer.load_checkpoint(ckpt)
        print(f"resumed at step {trainer.step}")
    trainer.train()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
