"""Train a StyleGAN2 generator (optionally with LinkGAN links): a thin command line over `linkgan.train`.

    python training/train_gan.py --out runs/baseline64 run.steps=20000
    python training/train_gan.py --out runs/baseline64 --resume        # continue a stopped run exactly
    python training/train_gan.py --out runs/linked64 --init runs/baseline64/checkpoint.pt \\
        'link.links=[{"name": "eyes", "axes": [0, 32], "box": [0.25, 0.33, 0.75, 0.58]}]'
    torchrun --nproc_per_node 2 training/train_gan.py --out runs/ddp64    # data-parallel (gloo on CPU)

Overrides are `section.field=value` for the sections generator / discriminator / optim / link / run / parts
(values are JSON where they parse as JSON). `--init` fine-tunes from a run checkpoint or a weight set
(registry name, folder, Hub repo id): the paper's recipe; `--data` trains on a folder of images.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


import torch

from training.script_args import add_device_args, add_run_args, parse_overrides, parser, run_base, set_threads
from linkgan.train import TrainConfig, Trainer, config_from_dict, replace_config


def init_distributed() -> str | None:
    """Under torchrun (WORLD_SIZE > 1): join the process group; returns this process's device."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    import torch.distributed as dist
    cuda = torch.cuda.is_available()
    dist.init_process_group(backend="nccl" if cuda else "gloo")
    if cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return f"cuda:{local}"
    return "cpu"


def close_distributed() -> None:
    """Leave the process group together: a process that exits while the others still run (rank 0 evaluates
    and writes after the last step) would tear down gloo's connections under them and abort."""
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def main(argv=None, *, trainer: type[Trainer] = Trainer, doc: str | None = __doc__,
         data_help: str = "'toyfaces' (default) or a folder of images") -> int:
    """The command line of `trainer` (training/train_gan3d.py runs it with the 3D trainer)."""
    p = parser(doc)
    add_run_args(p, out="run folder (config, log, checkpoints, samples)", example="optim.batch_size=16")
    p.add_argument("--init", default=None, help="fine-tune from a checkpoint.pt or a weight set (= run.init)")
    p.add_argument("--data", default=None, help=f"{data_help} (= run.data)")
    add_device_args(p, threads=None, threads_help="torch CPU threads per process")
    a = p.parse_args(argv)
    set_threads(a)
    pairs = parse_overrides(p, a)
    for key, value in (("run.init", a.init), ("run.data", a.data)):
        if value is not None:
            pairs[key] = json.dumps(value)
    # an exception is left to torchrun, which stops the other processes
    base = run_base(a, trainer.config_class(), lambda d: config_from_dict(d, trainer.config_class))
    rc = _run(a, base, pairs, trainer)
    close_distributed()
    return rc


def _run(a: argparse.Namespace, base: TrainConfig, pairs: dict, trainer_class: type[Trainer]) -> int:
    try:
        cfg = replace_config(base, pairs)
        device = init_distributed() or a.device
        torch.backends.cudnn.benchmark = True      # fixed shapes: let cuDNN pick its fastest kernels
        trainer = trainer_class(cfg, device=device, load_init=not a.resume)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    trainer.log(json.dumps(trainer.cfg.to_dict(), indent=2))
    ckpt = Path(a.out) / "checkpoint.pt"
    if a.resume:
        if not ckpt.is_file():
            print(f"error: --resume given but {ckpt} does not exist", file=sys.stderr)
            return 2
        trainer.load_checkpoint(ckpt)
        trainer.log(f"resumed at step {trainer.step}")
    trainer.train()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
