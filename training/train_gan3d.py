"""Train the 3D-aware (tri-plane) generator of the toy heads, optionally with LinkGAN links on its views: the command
line of training/train_gan.py over `linkgan.train3d.Trainer3D`.

    python training/train_gan3d.py --out runs/heads3d-base run.steps=20000
    python training/train_gan3d.py --out runs/heads3d-base --resume        # continue a stopped run exactly
    python training/train_gan3d.py --out runs/heads3d-linked run.segmenter=checkpoints/heads3d64-segmenter \\
        'link.links=[{"name": "mouth", "axes": [0, 32], "parts": ["mouth"], "follow": true}]'
    torchrun --nproc_per_node 2 training/train_gan3d.py --out runs/ddp3d    # data-parallel (gloo on CPU)

Overrides are `section.field=value` for the sections generator (linkgan.networks3d.TriplaneGeneratorConfig),
discriminator (CameraDiscriminatorConfig), optim, link and run (linkgan.train3d); values are JSON where they parse.
3D links take semantic regions only (parts of the segmenter, which follow the view).
"""
from __future__ import annotations

from linkgan.train3d import Trainer3D
from training import train_gan


def main(argv=None) -> int:
    return train_gan.main(argv, trainer=Trainer3D, doc=__doc__, data_help="'heads3d', the 3D toy heads (the default)")


if __name__ == "__main__":
    raise SystemExit(main())
