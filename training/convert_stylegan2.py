"""Convert a StyleGAN2 checkpoint of rosinality/stylegan2-pytorch (.pt) into a linkgan weight set.

    python training/convert_stylegan2.py stylegan2-ffhq-config-f.pt --size 1024 --out checkpoints/ffhq1024
    HF_HUB_OFFLINE=0 python training/convert_stylegan2.py stylegan2-ffhq-config-f.pt \\
        --hub-repo akhaliq/jojogan-stylegan2-ffhq-config-f --size 1024 --out checkpoints/ffhq1024

Writes <out>/config.json + model.safetensors (the EMA generator, g_ema) and, when the file holds one, the
discriminator in <out>/discriminator/. The file is read with torch.load(weights_only=True); every tensor is
checked against the options, and a mismatch is reported by name (exit code 2).
"""
from __future__ import annotations

import argparse
import sys


from linkgan.convert import ConversionError, convert_file, download_rosinality


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="the .pt file (a file name inside the repo with --hub-repo)")
    p.add_argument("--out", required=True, help="folder to write the weight set into")
    p.add_argument("--size", type=int, required=True, help="output resolution (1024 for FFHQ config-f)")
    p.add_argument("--style-dim", type=int, default=512, help="z and w size (default 512)")
    p.add_argument("--n-mlp", type=int, default=8, help="mapping network depth (default 8)")
    p.add_argument("--channel-multiplier", type=int, default=2, help="2 for config-f, 1 for config-e (default 2)")
    p.add_argument("--channel-max", type=int, default=512,
                   help="channels up to 32 px: 512 in that code; change only for a reduced copy (default 512)")
    p.add_argument("--hub-repo", default=None, help="Hugging Face Hub repo id holding the file")
    p.add_argument("--revision", default=None, help="Hub revision (branch, tag or commit)")
    a = p.parse_args(argv)
    try:
        path = download_rosinality(a.hub_repo, a.checkpoint, revision=a.revision) if a.hub_repo else a.checkpoint
        out = convert_file(path, a.out, size=a.size, style_dim=a.style_dim, n_mlp=a.n_mlp,
                           channel_multiplier=a.channel_multiplier, channel_max=a.channel_max)
    except (ConversionError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out}" + (f" and {out / 'discriminator'}" if (out / "discriminator").is_dir() else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
