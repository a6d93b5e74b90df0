"""Procedural "toy faces" domain (docs/methods.md, "The toy-faces domain"): images, part masks, captions and
attributes from a seed."""
from .attributes import ATTRIBUTE_PROBS, ATTRIBUTES, FaceAttributes, sample_attributes
from .captions import make_caption
from .dataset import ToyFacesDataset, image_to_tensor, tensor_to_image
from .render import EYES_BOX, MOUTH_BOX, PART_LABELS, SIZES, reduce_labels, render
from .toyfaces import HELDOUT_SEEDS, TRAIN_SEEDS, VALIDATION_SEEDS, ToyFace, toy_face

__all__ = [
    "ATTRIBUTES", "ATTRIBUTE_PROBS", "EYES_BOX", "HELDOUT_SEEDS", "MOUTH_BOX", "PART_LABELS", "SIZES",
    "TRAIN_SEEDS", "VALIDATION_SEEDS", "FaceAttributes", "ToyFace", "ToyFacesDataset", "image_to_tensor",
    "make_caption", "reduce_labels", "render", "sample_attributes", "tensor_to_image", "toy_face",
]
