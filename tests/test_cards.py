"""Model cards open with the Hugging Face Hub's metadata (license, library, tags, pipeline, base model), as
huggingface_hub reads it: every shipped card, and the cards the training code writes."""
from __future__ import annotations

import pytest
from huggingface_hub import ModelCard

from linkgan.cards import front_matter
from linkgan.hub import CHECKPOINTS_DIR

# shipped weight set -> (pipeline tag, library, base model): what a Hub user filters by and what loads it
SHIPPED = {
    "toyfaces64-linked": ("unconditional-image-generation", "linkgan", None),
    "toyfaces64-baseline": ("unconditional-image-generation", "linkgan", None),
    "toyfaces64-segmenter": ("image-segmentation", "linkgan", None),
    "toyfaces64-oracle": ("image-classification", "linkgan", None),
    "heads3d64-oracle": ("image-classification", "linkgan", None),
    "toyfaces-clip": ("zero-shot-image-classification", "open_clip", None),
    "toyfaces64-encoder": ("image-feature-extraction", "linkgan", "toyfaces64-linked"),
    "toyfaces64-linked-directions": (None, "linkgan", "toyfaces64-linked"),
    "toyfaces64-linked-styleclip": (None, "linkgan", "toyfaces64-linked"),
}


def test_every_shipped_card_is_checked():
    assert sorted(p.parent.name for p in CHECKPOINTS_DIR.glob("*/README.md")) == sorted(SHIPPED)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_a_shipped_card_has_hub_metadata(name):
    card = ModelCard.load(CHECKPOINTS_DIR / name / "README.md")
    meta = card.data.to_dict()
    pipeline, library, base = SHIPPED[name]
    assert meta["license"] == "mit" and meta["library_name"] == library
    assert meta.get("pipeline_tag") == pipeline
    assert {"linkgan", "toy-faces"} <= set(meta["tags"]) and len(meta["tags"]) > 2     # and the kind's own
    assert meta.get("base_model") == base
    if base is not None:                         # a shipped weight set, and how this one uses it
        assert (CHECKPOINTS_DIR / base / "config.json").is_file()
        assert meta["base_model_relation"] in ("adapter", "finetune")
    assert card.text.lstrip().startswith(f"# {name}\n")         # the card's own text follows, unchanged


def test_front_matter_is_what_the_hub_reads():
    card = ModelCard(front_matter("generator", tags=["region-editing", "gan"], base_model="toyfaces64-baseline",
                                  base_model_relation="finetune") + "# a model\n\ntext\n")
    assert card.data.to_dict() == {
        "license": "mit", "library_name": "linkgan", "pipeline_tag": "unconditional-image-generation",
        "tags": ["linkgan", "toy-faces", "stylegan2", "gan", "region-editing"],        # each tag once
        "base_model": "toyfaces64-baseline", "base_model_relation": "finetune"}
    assert card.text == "\n# a model\n\ntext\n"
    bare = ModelCard(front_matter("directions") + "# d\n").data.to_dict()
    assert "pipeline_tag" not in bare and "base_model" not in bare       # left out, not written as null


@pytest.mark.parametrize("module, kind", [("oracle", "oracle"), ("toyclip", "clip")])
def test_the_trainers_write_cards_with_hub_metadata(module, kind, tmp_path):
    import importlib

    from linkgan.data import ATTRIBUTES
    from linkgan.runlog import TrainRun
    run = TrainRun(folder=tmp_path, steps=3, wall_s=1.0, accuracy={k: 0.5 for k in ATTRIBUTES}, params=10)
    settings = {"device": "cpu", "batch_size": 2, "eval_faces": 4, "lr": 1e-3, "pool": 8, "warmup": 1,
                "weight_decay": 0.1}
    extra = {"eval_faces": 4} if module == "toyclip" else {}
    text = importlib.import_module(f"linkgan.{module}").model_card(run, command="pytest", settings=settings, **extra)
    card = ModelCard(text)
    assert card.data.to_dict() == ModelCard(front_matter(kind)).data.to_dict()
    assert card.data.license == "mit" and card.data.pipeline_tag and "pytest" in card.text


def test_the_export_names_the_shipped_weight_set_a_run_continued_as_its_base_model(tmp_path, training_script):
    export = training_script("export_gan")
    shipped, exports = tmp_path / "checkpoints", tmp_path / "runs" / "exports"
    for folder in (shipped / "toyfaces64-baseline", shipped / "toyfaces64-linked", exports / "lX"):
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_text("{}")
    (run := tmp_path / "runs" / "lY").mkdir()
    (run / "log.jsonl").write_text("")
    (run / "metrics.json").write_text("{}")               # a run folder stays a run even beside its metrics
    assert export.base_model([], shipped) is None
    assert export.base_model([str(run), str(exports / "lX")], shipped) is None      # not shipped: no Hub name
    assert export.base_model([str(shipped / "toyfaces64-baseline"), str(shipped / "toyfaces64-linked"),
                              str(exports / "lX"), str(run)], shipped) == "toyfaces64-linked"
