"""Shipped weights for the benchmark sections: a missing weight set is an error that says how to make it."""
from __future__ import annotations

BASELINE_GENERATOR = "toyfaces64-baseline"


def load(cls, name: str, how: str):
    """cls.from_pretrained(name) on CPU; WeightsNotFoundError names the command that trains it."""
    from linkgan.hub import WeightsNotFoundError

    try:
        return cls.from_pretrained(name, device="cpu")
    except WeightsNotFoundError as e:
        raise WeightsNotFoundError(f"this benchmark needs the {name!r} weights; make them with `{how}`. {e}") from e


def generator(name: str):
    from linkgan.networks import Generator
    return load(Generator, name, f"see checkpoints/README.md (training/train_gan.py, exported to checkpoints/{name})")


def segmenter():
    from linkgan.segmenter import Segmenter
    return load(Segmenter, "toyfaces64-segmenter",
                "python training/train_segmenter.py --out checkpoints/toyfaces64-segmenter")


def oracle():
    from linkgan.oracle import AttributeOracle
    return load(AttributeOracle, "toyfaces64-oracle",
                "python training/train_oracle.py --out checkpoints/toyfaces64-oracle").eval()
