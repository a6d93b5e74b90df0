"""Train the project's small CLIP on toy faces: a thin command line over `linkgan.toyclip.train_toy_clip`.

    python training/train_clip.py --out checkpoints/toyfaces-clip --run-dir runs/clip --steps 1200 --batch-size 128
Writes open_clip_config.json + open_clip_model.safetensors, README.md (model card) and train_log.txt into --out;
--run-dir keeps the log and a resumable checkpoint (re-run the same command to continue an interrupted run).
"""
from __future__ import annotations


from training.script_args import add_device_args, add_loop_args, command_line, parser, set_threads
from linkgan.toyclip import train_toy_clip


def main(argv=None) -> int:
    p = parser(__doc__)
    add_loop_args(p, out="output folder (weights, open_clip config, model card, log)", steps=1200, batch_size=128,
                  batch_help="image-caption pairs per step", lr=1e-3, lr_help="AdamW peak learning rate", log_every=25)
    p.add_argument("--run-dir", default="runs/clip", help="log + resumable checkpoint (default runs/clip)")
    p.add_argument("--pool", type=int, default=20_000, help="training faces rendered once")
    p.add_argument("--ckpt-every", type=int, default=100, help="steps between resumable checkpoints")
    p.add_argument("--eval-faces", type=int, default=500, help="held-out faces for zero-shot accuracy")
    p.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint in --run-dir")
    add_device_args(p)
    a = p.parse_args(argv)
    set_threads(a)
    command = command_line(__file__, argv)
    run = train_toy_clip(out=a.out, run_dir=a.run_dir, steps=a.steps, batch_size=a.batch_size, lr=a.lr, pool=a.pool,
                         seed=a.seed, log_every=a.log_every, ckpt_every=a.ckpt_every, eval_faces=a.eval_faces,
                         device=a.device, command=command, resume=not a.fresh)
    mean = sum(run.accuracy.values()) / len(run.accuracy)
    print(f"saved {run.folder}: mean held-out zero-shot accuracy {mean:.3f} after {run.steps} steps, "
          f"{run.wall_s / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
