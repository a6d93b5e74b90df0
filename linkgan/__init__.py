"""LinkGAN Studio: controllable GAN image editing. StyleGAN2 generators whose latent axes are linked to image
regions (LinkGAN), text edits (StyleCLIP's three methods), photo inversion, and the Hugging Face Hub weights
they run on. The public API is importable from here; names load their module on first use, so `import linkgan`
(and the command line's argument parsing) stays fast and imports no network code.

    from linkgan import Generator, generator_links, resample
    G = Generator.from_pretrained("toyfaces64-linked")
"""
from __future__ import annotations

import importlib

# name -> module that defines it (relative to this package)
_EXPORTS = {
    # networks and weights
    "Generator": "networks", "GeneratorConfig": "networks", "Discriminator": "networks",
    "DiscriminatorConfig": "networks",
    "DEFAULT_GENERATOR": "hub", "WeightsNotFoundError": "hub", "WeightsFormatError": "hub",
    # LinkGAN
    "Link": "links", "links_from_specs": "links", "generator_links": "links", "validate_links": "links",
    "resample": "links", "resample_strip": "links", "link_regularizer": "links", "link_metrics": "links",
    "editing_precision": "links", "leakage": "links", "RESAMPLE_PSI": "links", "region_control": "control",
    # training
    "Trainer": "train", "TrainConfig": "train", "LinkConfig": "train", "OptimConfig": "train", "RunConfig": "train",
    # StyleCLIP
    "CLIPAdapter": "clip", "GlobalDirections": "styleclip", "LatentMapper": "styleclip",
    "global_edit": "styleclip", "edit_neutral_text": "styleclip", "optimize_latent": "styleclip",
    "train_mapper": "styleclip", "load_mapper": "styleclip", "load_directions": "styleclip",
    "edit_global": "styleclip", "edit_mapper": "styleclip", "edit_optimize": "styleclip",
    "TEXT_EDIT_DEFAULTS": "styleclip", "tuned_presets": "styleclip",
    # latent directions (GANSpace, SeFa, InterFaceGAN, StyleSpace, ReSeFa)
    "Directions": "directions", "compute_directions": "directions", "load_zoo_directions": "directions",
    "name_directions": "directions",
    # inversion
    "project": "inversion", "invert": "inversion", "ProjectConfig": "inversion", "MapperTrainConfig": "styleclip", "Encoder": "encoder", "load_photo": "photos",
    # models that read images
    "Segmenter": "segmenter", "AttributeOracle": "oracle", "edit_score": "oracle",
    # the toy-faces domain
    "ToyFacesDataset": "data", "toy_face": "data", "ATTRIBUTES": "data", "PART_LABELS": "data",
    # the app's service object
    "Studio": "studio", "StudioError": "studio",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'linkgan' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value          # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
