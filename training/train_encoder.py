"""Train the e4e-style encoder for a generator: a thin command line over `linkgan.encoder_train`.

    python training/train_encoder.py --out runs/encoder64 run.steps=5000
    python training/train_encoder.py --out runs/encoder64 --resume          # continue a stopped run exactly
    python training/train_encoder.py --generator runs/linked64/export --out runs/enc optim.lpips='"alex"'

Overrides are `section.field=value` for the sections model / optim / loss / run (values are JSON where they
parse as JSON). The weights land in <out>/encoder (config.json + model.safetensors); copy that folder to
checkpoints/toyfaces64-encoder to ship it (`--half` writes it in float16, as shipped).
"""
from __future__ import annotations

import json
import sys


import torch

from training.script_args import add_device_args, add_run_args, parse_overrides, parser, run_base, set_threads
from linkgan.encoder_train import EncoderTrainConfig, train_encoder
from linkgan.hub import DEFAULT_GENERATOR, WeightsFormatError, WeightsNotFoundError
from linkgan.networks import Generator
from linkgan.train import replace_config


def main(argv=None) -> int:
    p = parser(__doc__)
    p.add_argument("--generator", default=None,
                   help=f"generator to invert: registry name, folder or Hub repo id (default {DEFAULT_GENERATOR}; "
                        f"with --resume the run's own)")
    add_run_args(p, out="run folder (config, log, checkpoint, encoder/)", example="optim.batch_size=8 run.steps=2000")
    add_device_args(p, threads=None)
    p.add_argument("--half", action="store_true",
                   help="write the exported weights in float16 (half the size; w_avg stays exact)")
    a = p.parse_args(argv)
    set_threads(a)
    pairs = parse_overrides(p, a)
    if a.generator is not None:
        pairs["run.generator"] = json.dumps(a.generator)
    try:
        cfg = replace_config(run_base(a, EncoderTrainConfig(), EncoderTrainConfig.from_dict), pairs)
        a.generator = cfg.run.generator
        G = Generator.from_pretrained(a.generator, device=a.device)
    except WeightsNotFoundError as e:
        print(f"error: generator {a.generator!r} is not trained yet or not found: {e}", file=sys.stderr)
        return 2
    except (ValueError, WeightsFormatError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        folder = train_encoder(G, cfg, resume=a.resume, device=a.device)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if a.half:
        from linkgan.encoder import Encoder
        E = Encoder.from_pretrained(folder)
        E.save_pretrained(folder, extra=E.metadata, dtype=torch.float16)
    print(f"encoder weights in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
