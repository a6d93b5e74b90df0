"""Train the toy-faces attribute oracle (or one that reads the 3D toy heads): a thin command line over
`linkgan.oracle.train_oracle`.

    python training/train_oracle.py --out checkpoints/toyfaces64-oracle --steps 1500 --batch-size 64
    python training/train_oracle.py --data heads3d --out runs/exports/heads3d64-oracle --steps 1500
Writes config.json + model.safetensors, README.md (model card) and train_log.txt into --out.
"""
from __future__ import annotations


from training.script_args import add_device_args, add_loop_args, command_line, parser, set_threads
from linkgan.oracle import ORACLE_DATA, train_oracle


def main(argv=None) -> int:
    p = parser(__doc__)
    add_loop_args(p, out="output folder (weights, model card, log)", steps=1500, batch_size=64,
                  batch_help="faces per step", lr=2e-3, lr_help="Adam learning rate (cosine-decayed to 5 %%)")
    p.add_argument("--pool", type=int, default=12_000, help="training faces rendered once")
    p.add_argument("--eval-faces", type=int, default=1000, help="held-out faces for the accuracy table")
    p.add_argument("--data", choices=sorted(ORACLE_DATA), default="toyfaces",
                   help="toyfaces (default) or heads3d (renders of the 3D toy heads, each from its own view)")
    add_device_args(p)
    a = p.parse_args(argv)
    set_threads(a)
    command = command_line(__file__, argv)
    run = train_oracle(out=a.out, steps=a.steps, batch_size=a.batch_size, lr=a.lr, pool=a.pool, seed=a.seed,
                       log_every=a.log_every, eval_faces=a.eval_faces, device=a.device, command=command,
                       data=a.data)
    mean = sum(run.accuracy.values()) / len(run.accuracy)
    print(f"saved {run.folder}: mean held-out accuracy {mean:.3f} after {run.steps} steps, {run.wall_s / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
