"""Convert an official StyleCLIP mapper checkpoint (orpatashnik/StyleCLIP, e.g. mapper/pretrained/*.pt) into a
linkgan LatentMapper folder: a thin command line over `linkgan.styleclip.load_styleclip_mapper`.

    python training/convert_styleclip_mapper.py blond_hair.pt --out checkpoints/<generator>-styleclip/mappers/blond
Read with weights_only=True (pickled code is refused); their decoder.* tensors are skipped. Writes config.json +
model.safetensors. The mapper only makes sense on the generator it was trained for (their FFHQ StyleGAN2, w 512).
"""
from __future__ import annotations

import argparse
import sys


from linkgan.styleclip import StyleCLIPMapperError, load_styleclip_mapper


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="their mapper .pt ({'state_dict', 'opts'})")
    p.add_argument("--out", required=True, help="output folder (LatentMapper.save_pretrained)")
    p.add_argument("--num-ws", type=int, default=18, help="W+ rows of the generator it edits (FFHQ-1024: 18)")
    p.add_argument("--w-dim", type=int, default=512)
    a = p.parse_args(argv)
    try:
        mapper = load_styleclip_mapper(a.checkpoint, num_ws=a.num_ws, w_dim=a.w_dim)
    except (StyleCLIPMapperError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    mapper.save_pretrained(a.out, extra=mapper.metadata)
    print(f"wrote {a.out}: groups {list(mapper.config.groups)}, "
          f"{mapper.metadata['ignored_tensors']} decoder tensors skipped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
