"""Tests of `python -m linkgan edit` (StyleCLIP from the command line) on a tiny generator and a tiny CLIP folder."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

import linkgan.hub
from app_server import tiny_generator
from linkgan import cli
from linkgan.clip import CLIPAdapter, save_project_clip
from linkgan.networks import Generator
from linkgan.styleclip import ZOO_PROMPTS, GlobalDirections, LatentMapper, MapperConfig
from linkgan.utils import to_uint8
from test_clip import TINY_CLIP_CFG, TINY_PREPROCESS, tiny_clip_model


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """A tiny generator folder, a tiny CLIP folder, its global directions and one mapper."""
    root = tmp_path_factory.mktemp("zoo")
    G = Generator.from_pretrained(tiny_generator(root / "gen")).eval()
    save_project_clip(tiny_clip_model(), root / "clip", model_cfg=TINY_CLIP_CFG, preprocess_cfg=TINY_PREPROCESS,
                      meta={"templates": "none"})
    clip = CLIPAdapter.load(root / "clip", device="cpu")
    dirs = GlobalDirections.compute(G, clip, n_stats=200, n_images=1, batch=64)
    dirs.save(root / "gen" / "styleclip" / "global_directions.safetensors")     # the generator's default place
    rel = dirs.relevance(clip.text_direction("a face", "a face with blond hair")).abs().sort(descending=True).values
    (root / "gen" / "styleclip" / "global_prompts.json").write_text(json.dumps(   # as tune_directions.py writes
        {"neutral": "a face", "prompts": {"blond_hair": {"target": "a face with blond hair", "alpha": 4.0,
                                                        "beta": float(rel[4]), "channels": 5}}}))
    LatentMapper(MapperConfig(num_ws=G.num_ws, w_dim=32, prompt="blond")).save_pretrained(
        root / "gen" / "styleclip" / "mappers" / "blond_hair")
    return root


def run(args, capsys):
    code = cli.main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def read(path):
    return np.asarray(Image.open(path))


@pytest.mark.parametrize("method_args", [
    ["--method", "global", "--target", "a face with blond hair", "--alpha", "4", "--beta", "0.0",
     "--min-channels", "5"],
    ["--method", "mapper", "--mapper", "blond_hair", "--strength", "0.5"],
    ["--method", "optimize", "--target", "a face with blond hair", "--steps", "3"],
    ["--method", "optimize", "--target", "a face with blond hair", "--steps", "3", "--region", "hair"],
])
def test_edit_writes_original_and_edited(zoo, tmp_path, capsys, method_args):
    out = tmp_path / "edit.png"
    code, stdout, err = run(["edit", "--seed", "3", "--model", str(zoo / "gen"), "--clip", str(zoo / "clip"),
                             "--out", str(out), *method_args], capsys)
    assert code == 0, err
    img = read(out)
    assert img.shape == (16, 32, 3)                               # original | edited
    assert not np.array_equal(img[:, :16], img[:, 16:])           # the edit changed the face
    assert f"edit of seed 3 to {out}" in stdout
    if method_args[1] == "global":
        assert "channels" in stdout


def test_edit_regions_match_the_library():
    """The CLI lists the regions without importing torch; they are linkgan.styleclip.EDIT_REGIONS."""
    from linkgan.cli import _build_parser
    from linkgan.styleclip import EDIT_REGIONS

    edit = _build_parser()._subparsers._group_actions[0].choices["edit"]
    region = next(a for a in edit._actions if a.dest == "region")
    assert tuple(region.choices) == tuple(EDIT_REGIONS)


def test_mapper_strength_zero_gives_the_original(zoo, tmp_path, capsys):
    out = tmp_path / "same.png"
    code, _, err = run(["edit", "--seed", "1", "--model", str(zoo / "gen"), "--method", "mapper", "--mapper",
                        "blond_hair", "--strength", "0", "--out", str(out)], capsys)
    assert code == 0, err
    img = read(out)
    assert np.array_equal(img[:, :16], img[:, 16:])


@pytest.mark.parametrize("method_args", [
    ["--method", "mapper", "--mapper", "blond_hair", "--strength", "0"],
    ["--method", "global", "--target", "a face with red hair", "--alpha", "0"],
])
def test_edit_takes_an_inverted_code(zoo, tmp_path, capsys, method_args):
    """--latent edits a W+ code from `invert` as it is: a zero-strength edit gives back the code's own face."""
    G = Generator.from_pretrained(zoo / "gen")
    ws = G.broadcast(G.map(torch.randn(1, 32, generator=torch.Generator().manual_seed(5)))) + 0.1 * torch.randn(1, 6, 32)
    np.savez(tmp_path / "code.npz", ws=ws.numpy())
    out = tmp_path / "edit.png"
    code, stdout, err = run(["edit", "--latent", str(tmp_path / "code.npz"), "--model", str(zoo / "gen"), "--clip",
                             str(zoo / "clip"), "--out", str(out), *method_args], capsys)
    assert code == 0, err
    assert f"code {tmp_path / 'code.npz'}" in stdout
    img = read(out).astype(int)
    with torch.no_grad():
        own = to_uint8(G.synthesize(ws, noise_mode="const"))[0].astype(int)
    assert np.abs(img[:, :16] - own).max() <= 1 and np.abs(img[:, 16:] - img[:, :16]).max() <= 1


@pytest.mark.parametrize("preset", ["blond_hair", "a face with blond hair"])
def test_a_tuned_preset_is_the_tuned_edit(zoo, tmp_path, capsys, preset):
    common = ["edit", "--seed", "2", "--model", str(zoo / "gen"), "--clip", str(zoo / "clip")]
    code, stdout, err = run([*common, "--preset", preset, "--out", str(tmp_path / "p.png")], capsys)
    assert code == 0, err
    assert "5 channels" in stdout
    tuned = json.loads((zoo / "gen" / "styleclip" / "global_prompts.json").read_text())["prompts"]["blond_hair"]
    code, _, err = run([*common, "--target", tuned["target"], "--alpha", "4", "--beta", repr(tuned["beta"]),
                        "--out", str(tmp_path / "t.png")], capsys)
    assert code == 0, err
    assert np.array_equal(read(tmp_path / "p.png"), read(tmp_path / "t.png"))
    code, stdout, err = run([*common, "--preset", preset, "--alpha", "0", "--out", str(tmp_path / "z.png")], capsys)
    assert code == 0 and np.array_equal(read(tmp_path / "z.png")[:, :16], read(tmp_path / "z.png")[:, 16:])


def test_neutral_alternatives_edit_from_the_one_clip_reads(zoo, tmp_path, capsys):
    common = ["edit", "--seed", "3", "--model", str(zoo / "gen"), "--clip", str(zoo / "clip"), "--method", "global",
              "--target", "a face with blond hair", "--alpha", "4", "--beta", "1", "--min-channels", "5"]
    alternatives = "a face with black hair | a face with red hair | a face with grey hair"
    code, stdout, err = run([*common, "--neutral", alternatives, "--out", str(tmp_path / "a.png")], capsys)
    assert code == 0, err
    read_as = stdout.split("neutral read: ")[1].strip().strip("'")
    assert read_as in alternatives.split(" | ") and "5 channels" in stdout
    code, stdout, err = run([*common, "--neutral", read_as, "--out", str(tmp_path / "b.png")], capsys)
    assert code == 0 and "neutral read" not in stdout
    assert np.array_equal(read(tmp_path / "a.png"), read(tmp_path / "b.png"))


@pytest.mark.parametrize("args, message", [
    (["--method", "global", "--preset", "purple_hair"], "no tuned preset 'purple_hair' for"),
    (["--method", "global", "--preset", "blond_hair", "--target", "a face"], "replaces --target"),
    (["--method", "mapper", "--preset", "blond_hair"], "goes with --method global"),
    (["--method", "global"], "needs --target"),
    (["--method", "global", "--target", "a face with blond hair", "--neutral", "a face |"], "empty neutral text"),
    (["--method", "mapper"], "needs --mapper"),
    (["--method", "mapper", "--mapper", "no_such"], "not trained yet"),
    (["--method", "global", "--target", "a face", "--directions", "/nonexistent/d.safetensors"], "not computed yet"),
    (["--method", "optimize", "--target", ""], "needs --target"),
    (["--method", "optimize", "--target", "blond " * 40], "tokens"),
    (["--method", "optimize", "--target", "a face", "--clip", "ViT-B-32"], "'ViT-B-32/TAG'"),   # the last --clip
])
def test_edit_user_errors(zoo, tmp_path, capsys, args, message):
    code, _, err = run(["edit", "--model", str(zoo / "gen"), "--clip", str(zoo / "clip"),
                        "--out", str(tmp_path / "x.png"), *args], capsys)
    assert code == 2 and message in err, err
    assert not (tmp_path / "x.png").exists()


def test_edit_missing_default_generator_says_not_trained(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(linkgan.hub, "CHECKPOINTS_DIR", tmp_path)
    code, _, err = run(["edit", "--target", "a face with blond hair", "--out", str(tmp_path / "x.png")], capsys)
    assert code == 2 and "toyfaces64-linked" in err and "not trained yet" in err, err


def test_training_scripts_write_what_the_cli_reads(zoo, tmp_path, capsys, training_script):
    directions, train_mapper = training_script("compute_directions").main, training_script("train_mapper").main
    common = ["--generator", str(zoo / "gen"), "--clip", str(zoo / "clip"), "--device", "cpu"]
    out = tmp_path / "gd.safetensors"
    assert directions(common + ["--out", str(out), "--n-stats", "100", "--n-images", "2"]) == 0
    assert GlobalDirections.load(out).meta["n_images"] == 2
    mapper = tmp_path / "m"
    assert train_mapper(common + ["--prompt", "a face with blond hair", "--out", str(mapper),
                                  "--steps", "2", "--batch-size", "2", "--log-every", "1"]) == 0
    assert LatentMapper.from_pretrained(mapper).config.prompt == "a face with blond hair"
    assert "step      2/2" in (mapper / "train_log.txt").read_text()
    gen = shutil.copytree(zoo / "gen", tmp_path / "gen")     # a default-zoo prompt, into the generator's folder
    assert train_mapper([*common[:1], str(gen), *common[2:], "--zoo", "blue_background", "--id", "0", "--steps", "2",
                         "--batch-size", "2"]) == 0
    saved = json.loads((gen / "styleclip" / "mappers" / "blue_background" / "config.json").read_text())
    z = next(z for z in ZOO_PROMPTS if z.name == "blue_background")
    assert saved["config"]["prompt"] == z.target and saved["config"]["groups"] == ["fine"]
    assert saved["train"]["l2_weight"] == z.mapper_l2 and saved["train"]["id_weight"] == 0   # a flag still wins
    code, _, err = run(["edit", "--model", str(zoo / "gen"), "--clip", str(zoo / "clip"), "--method", "global",
                        "--target", "a face with red hair", "--directions", str(out), "--beta", "0", "--out",
                        str(tmp_path / "e.png")], capsys)
    assert code == 0, err


def test_tune_directions_check_scores_the_saved_settings_on_the_faces_asked_for(zoo, tmp_path, capsys,
                                                                              training_script):
    from linkgan.oracle import AttributeOracle, OracleConfig, edit_score
    from linkgan.styleclip import global_edit, load_directions, passes, seed_ws
    torch.manual_seed(0)
    oracle = AttributeOracle(OracleConfig(resolution=16, channels=(8, 16))).eval()       # untrained: any judge will do,
    with torch.no_grad():                                    # but a sure one, so that each face's reads count
        for head in oracle.heads.values():
            head.weight.mul_(300.0)
    oracle.save_pretrained(tmp_path / "oracle")
    check = training_script("tune_directions").main
    assert check(["--generator", str(zoo / "gen"), "--clip", str(zoo / "clip"), "--oracle", str(tmp_path / "oracle"),
                  "--device", "cpu", "--check", "--first-seed", "123", "--seeds", "3",
                  "--prompts", "blond_hair,red_hair"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["seeds"] == "123..+3" and report["prompts"]["red_hair"] == "not in the saved settings"
    G, clip = Generator.from_pretrained(zoo / "gen"), CLIPAdapter.load(zoo / "clip", device="cpu")
    beta = json.loads((zoo / "gen" / "styleclip" / "global_prompts.json").read_text())["prompts"]["blond_hair"]["beta"]

    def score(first_seed):
        ws = torch.cat([seed_ws(G, first_seed + i, 0.7) for i in range(3)])
        with torch.no_grad():
            after = global_edit(G, load_directions(zoo / "gen"), clip, ws, "a face with blond hair", 4.0, beta, 5)
            return edit_score(AttributeOracle.from_pretrained(tmp_path / "oracle").eval(),
                              G.synthesize(ws, noise_mode="const"), after, "hair_color", "blond")
    expected = score(123)
    assert report["prompts"]["blond_hair"] == expected != score(7)     # these faces, these settings
    assert report["passing"].startswith(f"{int(passes(expected))}/2")


def test_the_command_line_and_the_app_make_the_same_edit(zoo, tmp_path, capsys):
    """One edit path: a command-line edit and the app's (Studio) with the same settings give the same image, the
    defaults and a tuned preset's settings included."""
    from linkgan.studio import Studio

    studio = Studio(Generator.from_pretrained(zoo / "gen"), name=str(zoo / "gen"), clip=str(zoo / "clip"))
    s = studio.generate(3, 0.7)
    cases = [(["--target", "a face with red hair"], lambda: studio.text_global(s, "a face with red hair")),
             (["--preset", "blond_hair"], lambda: studio.text_global(s, "a face with blond hair")),
             (["--method", "mapper", "--mapper", "blond_hair", "--strength", "0.2"],
              lambda: studio.text_mapper(s, "blond_hair", 0.2)),
             (["--method", "optimize", "--target", "a face with red hair", "--steps", "3"],
              lambda: studio.text_optimize(s, "a face with red hair", 3))]
    for args, app_edit in cases:
        out = tmp_path / "cli.png"
        code, _, err = run(["edit", "--seed", "3", "--model", str(zoo / "gen"), "--clip", str(zoo / "clip"),
                            "--out", str(out), *args], capsys)
        assert code == 0, err
        edited = app_edit()
        assert not np.array_equal(np.asarray(studio.image(edited)), np.asarray(studio.image(s)))
        assert np.array_equal(read(out)[:, 16:], np.asarray(studio.image(edited))), args


def test_unset_global_settings_come_from_the_tuned_preset_then_the_table():
    from linkgan.styleclip import TEXT_EDIT_DEFAULTS as D, GlobalPreset, global_settings

    presets = {"blond_hair": GlobalPreset("a face with blond hair", "a face | a man", 6.0, 0.3, 5)}
    tuned = global_settings("a face with blond hair", presets, alpha=2.0)
    assert tuned == {"target": "a face with blond hair", "neutral": "a face | a man", "alpha": 2.0, "beta": 0.3,
                     "min_channels": 5}
    assert global_settings("a face with red hair", presets, min_channels=0) == {
        "target": "a face with red hair", "neutral": D.neutral, "alpha": D.alpha, "beta": D.beta, "min_channels": 0}
