"""Global-direction preprocessing for one generator (StyleCLIP Sec. 6): style statistics + channel relevance fs3.

    python training/compute_directions.py --generator toyfaces64-linked \\
        --out checkpoints/toyfaces64-linked-styleclip/global_directions.safetensors --n-images 100
Resumable: the running relevance sum is kept in <out>.partial.safetensors; re-run the same command to continue.
"""
from __future__ import annotations

from pathlib import Path


from tqdm import tqdm

from training.script_args import add_model_args, load_models, parser
from linkgan.styleclip import GlobalDirections


def main(argv=None) -> int:
    p = parser(__doc__)
    add_model_args(p)
    p.add_argument("--out", required=True, help="output .safetensors")
    p.add_argument("--n-stats", type=int, default=100_000, help="sampled w for the style statistics (paper 100k)")
    p.add_argument("--psi", type=float, default=0.7, help="truncation of the sampled w (paper 0.7)")
    p.add_argument("--n-images", type=int, default=100, help="images per channel relevance (paper 100)")
    p.add_argument("--batch", type=int, default=64, help="perturbed renders per forward pass")
    a = p.parse_args(argv)
    G, clip = load_models(a)
    out = Path(a.out)
    bars: dict[str, tqdm] = {}

    def progress(stage, done, total):
        bar = bars.setdefault(stage, tqdm(total=total, desc=stage))
        bar.update(done - bar.n)

    dirs = GlobalDirections.compute(G, clip, n_stats=a.n_stats, psi=a.psi, n_images=a.n_images, batch=a.batch,
                                    resume=out.with_name(out.stem + ".partial.safetensors"),
                                    meta={"generator": str(a.generator)}, progress=progress)
    dirs.save(out)
    print(f"saved {out}: {dirs.fs3.shape[0]} channels x {dirs.fs3.shape[1]} CLIP dims, {dirs.meta['wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
