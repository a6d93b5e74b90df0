"""Train the toy-faces part segmenter (a tiny U-Net): a thin command line over `linkgan.segmenter.train_segmenter`.

    python training/train_segmenter.py --out checkpoints/toyfaces64-segmenter --steps 4000 --batch-size 32
    python training/train_segmenter.py --data heads3d --out checkpoints/heads3d64-segmenter   # the 3D heads' parts
Writes config.json + model.safetensors, README.md (model card), samples.png and train_log.txt into --out.
"""
from __future__ import annotations


from training.script_args import add_device_args, add_loop_args, command_line, parser, set_threads
from linkgan.segmenter import SEGMENTER_DATA, train_segmenter


def main(argv=None) -> int:
    p = parser(__doc__)
    add_loop_args(p, out="output folder (weights, model card, samples, log)", steps=4000, batch_size=32,
                  batch_help="faces per step", lr=2e-3, lr_help="Adam learning rate (cosine-decayed to 5 %%)",
                  seed_help="torch seed and start of the training-seed window")
    p.add_argument("--no-augment", action="store_true", help="train on clean faces only")
    p.add_argument("--eval-faces", type=int, default=500, help="held-out faces for the final mIoU")
    p.add_argument("--data", default="toyfaces", choices=list(SEGMENTER_DATA),
                   help="toy faces, or renders of the 3D toy heads from views across their camera range")
    add_device_args(p, threads=None, threads_help="torch CPU threads (default: torch's own)")
    a = p.parse_args(argv)
    set_threads(a)
    command = command_line(__file__, argv)
    run = train_segmenter(out=a.out, steps=a.steps, batch_size=a.batch_size, lr=a.lr, seed=a.seed,
                          log_every=a.log_every, device=a.device, augmentation=not a.no_augment,
                          eval_faces=a.eval_faces, command=command, data=a.data)
    print(f"saved {run.folder}: held-out mIoU {run.miou:.4f} after {run.steps} steps, {run.wall_s / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
