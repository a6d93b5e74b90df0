"""Model cards: the YAML front matter the Hugging Face Hub reads ahead of a card's text (license, library, tags,
pipeline, base model; https://huggingface.co/docs/hub/model-cards), one table for every kind of weight set the
project ships, so that the writers and the shipped cards say the same."""
from __future__ import annotations

LICENSE = "mit"               # the project's licence (pyproject.toml); the weights are trained on procedural faces
LIBRARY = "linkgan"           # what loads them: linkgan's from_pretrained (the CLIP: open_clip itself)
TAGS = ("linkgan", "toy-faces")

# kind -> the Hub's pipeline tag (None: no Hub task fits) and the kind's own tags
KINDS: dict[str, dict] = {
    "generator": {"pipeline_tag": "unconditional-image-generation", "tags": ["stylegan2", "gan"]},
    "segmenter": {"pipeline_tag": "image-segmentation", "tags": ["u-net", "face-parsing"]},
    "clip": {"pipeline_tag": "zero-shot-image-classification", "tags": ["clip", "open_clip"],
             "library_name": "open_clip"},      # the folder is open_clip's Hub layout
    "oracle": {"pipeline_tag": "image-classification", "tags": ["attribute-classifier"]},
    "encoder": {"pipeline_tag": "image-feature-extraction", "tags": ["gan-inversion", "e4e", "stylegan2"]},
    "directions": {"pipeline_tag": None, "tags": ["latent-directions", "ganspace", "sefa", "interfacegan",
                                                  "stylespace", "resefa"]},
    "styleclip": {"pipeline_tag": None, "tags": ["styleclip", "text-guided-image-editing", "clip"]},
}


def front_matter(kind: str, *, tags=(), base_model: str | None = None, base_model_relation: str | None = None) -> str:
    """The '---' block that opens the card of a weight set of `kind` (a key of KINDS). tags: more, after the kind's;
    base_model: the shipped weight set it derives from, by name; base_model_relation: the Hub's word for how
    ("finetune": trained further from it; "adapter": used on top of it, e.g. edits in its latent space)."""
    from huggingface_hub import ModelCardData

    spec = KINDS[kind]
    data = ModelCardData(license=LICENSE, library_name=spec.get("library_name", LIBRARY),
                         tags=list(dict.fromkeys([*TAGS, *spec["tags"], *tags])), pipeline_tag=spec["pipeline_tag"],
                         base_model=base_model)
    if base_model_relation is not None:
        data.base_model_relation = base_model_relation
    return f"---\n{data.to_yaml()}\n---\n\n"
