"""Tests of the three StyleCLIP methods (linkgan/styleclip/) on a tiny Generator and a tiny random open_clip model:
optimisation lowers the CLIP loss and can be cancelled, the mapper at strength 0 is the identity, and global
directions touch exactly the channels they report (none when beta is above every relevance)."""
from __future__ import annotations

import json

import open_clip
import pytest
import torch

from linkgan.clip import CLIPAdapter, clip_loss
from linkgan.networks import Generator
from linkgan.runlog import ramped_lr
from linkgan.data import PART_LABELS
from linkgan.styleclip import (PROMPTS_FILE, GlobalDirections, LatentMapper, MapperConfig, RegionContent,
                               channel_relevance, clip_identity, compute_style_stats, edit_channels, global_edit,
                               load_global_settings, mapper_groups, optimize_latent, train_mapper, tune_global)
from linkgan.styleclip.tuning import cell_value
from test_clip import tiny_clip_model


@pytest.fixture(scope="module")
def clip() -> CLIPAdapter:
    tok = open_clip.get_tokenizer("ViT-B-32", context_length=16)
    return CLIPAdapter(tiny_clip_model(), tok, name="tiny", templates="none").to("cpu")


@pytest.fixture
def G(tiny_g_config) -> Generator:
    torch.manual_seed(0)
    return Generator(tiny_g_config).eval().requires_grad_(False)


def sample_ws(G, n=2, seed=0):
    z = torch.randn(n, G.config.z_dim, generator=torch.Generator().manual_seed(seed))
    return G.broadcast(G.map(z, psi=0.7)).detach()


# --- latent optimization --------------------------------------------------------------------------------

def test_lr_schedule_matches_the_official_shape():
    assert ramped_lr(0.0, 0.1) == 0.0
    assert abs(ramped_lr(0.025, 0.1) - 0.05) < 1e-9             # half-way through the 5 % warm-up
    assert ramped_lr(0.5, 0.1) == pytest.approx(0.1)
    assert ramped_lr(0.875, 0.1) == pytest.approx(0.05)          # half-way down the last 25 %
    assert ramped_lr(1.0, 0.1) == pytest.approx(0.0)


def test_optimization_reduces_the_clip_loss(G, clip):
    ws0 = sample_ws(G)
    t = clip.text_embedding("a face with blond hair")
    with torch.no_grad():
        before = clip_loss(clip, G.synthesize(ws0, noise_mode="const"), t)
    seen = []
    res = optimize_latent(G, clip, ws0, "a face with blond hair", steps=30, l2=0.0,
                          progress=lambda s, n, rec: seen.append(s))
    after = clip_loss(clip, res.images, t)
    assert res.steps == 30 and seen == list(range(1, 31)) and res.stopped == ""
    assert bool((after < before - 0.01).all()), (before, after)
    assert res.ws.shape == ws0.shape and not res.ws.requires_grad


def test_optimization_l2_and_identity_terms(G, clip):
    ws0 = sample_ws(G)
    free = optimize_latent(G, clip, ws0, "a smiling face", steps=15, l2=0.0)
    tied = optimize_latent(G, clip, ws0, "a smiling face", steps=15, l2=5.0, id_weight=1.0)
    assert (tied.ws - ws0).norm() < (free.ws - ws0).norm()
    assert all(h["id"] >= -1e-6 for h in tied.history) and tied.history[-1]["id"] > 0
    ident = clip_identity(clip)
    img = G.synthesize(ws0, noise_mode="const")
    assert float(ident(img, ident.reference(img)).abs().max()) < 1e-5


def test_optimization_can_be_cancelled_and_stops_early(G, clip):
    calls = []
    res = optimize_latent(G, clip, sample_ws(G), "a face", steps=50, should_stop=lambda: len(calls) >= 3,
                          progress=lambda s, n, rec: calls.append(s))
    assert res.stopped == "cancelled" and res.steps == 3
    assert res.images.shape == (2, 3, 16, 16)
    res = optimize_latent(G, clip, sample_ws(G), "a face", steps=50, patience=2, min_delta=10.0)
    assert res.stopped == "early" and res.steps == 3          # no step improves by 10: stop after 2 more


class HalfSegmenter:
    """Reads the left half of every image as hair, the right half as background."""

    def predict(self, images):
        labels = torch.full((len(images), *images.shape[2:]), PART_LABELS.index("background"), dtype=torch.long)
        labels[..., : images.shape[3] // 2] = PART_LABELS.index("hair")
        return labels


def test_region_content_counts_only_the_change_outside_the_region():
    """StyleCLIP's pluggable identity term as a region keeper: a change inside the (dilated) hair region costs
    nothing, the same change outside it does."""
    src = torch.zeros(2, 3, 8, 8)
    term = RegionContent(HalfSegmenter(), ["hair"], grow=1)
    ref = term.reference(src)
    inside, outside = src.clone(), src.clone()
    inside[..., :, :5] = 1.0           # the hair half (columns 0-3) and the one-pixel border the region may grow into
    outside[..., :, 6:] = 1.0
    assert torch.equal(term(src, ref), torch.zeros(2))
    assert torch.equal(term(inside, ref), torch.zeros(2))
    assert torch.allclose(term(outside, ref), torch.full((2,), 2 / 3))   # 2 of the 3 columns outside, squared 1
    assert term.name == "region:hair"
    with pytest.raises(ValueError, match="part labels"):
        RegionContent(HalfSegmenter(), ["hat"])


# --- latent mapper --------------------------------------------------------------------------------------

def test_mapper_groups_scale_the_official_split():
    official = mapper_groups(18)
    assert (official["coarse"], official["medium"], official["fine"]) == (range(0, 4), range(4, 8), range(8, 18))
    for n in (6, 10, 12, 14):
        g = mapper_groups(n)
        rows = [r for k in ("coarse", "medium", "fine") for r in g[k]]
        assert rows == list(range(n)) and all(len(g[k]) >= 1 for k in g)


def test_mapper_strength_zero_is_identity_and_groups_switch_off(G, tmp_path):
    torch.manual_seed(1)
    m = LatentMapper(MapperConfig(num_ws=G.num_ws, w_dim=G.config.w_dim, groups=("coarse", "medium")))
    ws = sample_ws(G, 3)
    assert torch.equal(m.edit(ws, 0.0), ws)
    edited = m.edit(ws, 0.1)
    fine = mapper_groups(G.num_ws)["fine"]
    assert torch.equal(edited[:, fine.start:], ws[:, fine.start:])          # fine group off: untouched
    assert not torch.equal(edited[:, :fine.start], ws[:, :fine.start])
    assert len(m.mlps["coarse"]) == 5                                       # PixelNorm + 4 EqualLinear
    assert all(layer.lr_mul == 0.01 for layer in list(m.mlps["coarse"])[1:])
    m.save_pretrained(tmp_path / "mapper")
    loaded = LatentMapper.from_pretrained(tmp_path / "mapper")
    assert loaded.config == m.config and torch.equal(loaded.edit(ws, 0.1), edited)
    with pytest.raises(ValueError, match="groups"):
        MapperConfig(num_ws=10, w_dim=8, groups=("hair",))


def test_train_mapper_runs_saves_and_can_be_stopped(G, clip, tmp_path):
    losses = []
    m = train_mapper(G, clip, "a face with blond hair", steps=4, batch_size=2, out=tmp_path / "m", save_every=2,
                     progress=lambda s, n, rec: losses.append(rec))
    assert len(losses) == 4 and all({"clip", "l2", "id", "loss"} <= set(r) for r in losses)
    loaded = LatentMapper.from_pretrained(tmp_path / "m")
    assert loaded.config.prompt == "a face with blond hair" and loaded.metadata["steps_done"] == 4
    ws = sample_ws(G)
    assert torch.allclose(loaded.edit(ws, 0.1), m.edit(ws, 0.1))
    stopped = []
    train_mapper(G, clip, "a face", steps=50, batch_size=2, should_stop=lambda: len(stopped) >= 2,
                 progress=lambda s, n, rec: stopped.append(s))
    assert stopped == [1, 2]


def test_mapper_training_settings_are_grouped_and_saved_with_the_weights(G, clip, tmp_path):
    from linkgan.styleclip import MapperTrainConfig

    cfg = MapperTrainConfig().replace(steps=2, batch_size=2, id_weight=0.0, out=tmp_path / "m")
    assert (cfg.optim.steps, cfg.loss.l2_weight, cfg.run.out) == (2, 0.8, tmp_path / "m")
    train_mapper(G, clip, "a face", cfg, fp16=True)                    # a setting by name on top of the config
    saved = json.loads((tmp_path / "m" / "config.json").read_text())
    assert saved["train"]["steps"] == 2 and saved["train"]["id_weight"] == 0.0
    assert LatentMapper.from_pretrained(tmp_path / "m").metadata["weights_dtype"] == "float16"


# --- global directions ----------------------------------------------------------------------------------

@pytest.fixture
def directions(G, clip) -> GlobalDirections:
    stats = compute_style_stats(G, n=256, psi=0.7, batch=100)
    fs3 = channel_relevance(G, clip, stats, n_images=2, batch=64)
    return GlobalDirections(fs3, stats, edit_channels(G), {"clip": "tiny"})


def test_relevance_covers_every_conv_channel_but_torgb(G, clip, directions):
    chans = edit_channels(G)
    assert all(not name.endswith("torgb") for name, _ in chans)
    assert {n for n, _ in chans} == {n for n, _, _ in G.synthesis.style_layers() if not n.endswith("torgb")}
    total = sum(c for _, c in chans)
    assert directions.fs3.shape == (total, 24)
    assert torch.allclose(directions.fs3.norm(dim=1), torch.ones(total), atol=1e-4)
    stats = directions.stats
    assert set(stats.std) == {n for n, _, _ in G.synthesis.style_layers()} and stats.n == 256


def test_relevance_resumes_after_cancellation(G, clip, directions, tmp_path):
    stats = directions.stats
    ckpt = tmp_path / "fs3_partial.safetensors"
    done = []
    out = channel_relevance(G, clip, stats, n_images=2, batch=64, resume=ckpt, progress=lambda d, n: done.append(d),
                            should_stop=lambda: len(done) >= 1)
    assert out is None and ckpt.is_file() and done == [1]
    out = channel_relevance(G, clip, stats, n_images=2, batch=64, resume=ckpt, progress=lambda d, n: done.append(d))
    assert done == [1, 2]
    assert torch.allclose(out, directions.fs3, atol=1e-5)                   # same as an uninterrupted run
    # GlobalDirections.compute on a stopped run: the same directions, the partial file removed once done, and the
    # wall time counting the earlier run too
    from safetensors.torch import load_file, save_file
    channel_relevance(G, clip, stats, n_images=2, batch=64, resume=ckpt, should_stop=lambda: len(done) >= 3,
                      progress=lambda d, n: done.append(d))
    state = load_file(str(ckpt))
    save_file({**state, "wall_s": torch.tensor(1000.0, dtype=torch.float64)}, str(ckpt))   # an earlier hour-long run
    dirs = GlobalDirections.compute(G, clip, n_stats=256, n_images=2, batch=64, resume=ckpt)
    assert torch.allclose(dirs.fs3, directions.fs3, atol=1e-5)
    assert not ckpt.exists() and dirs.meta["wall_s"] >= 1000


def test_beta_above_max_relevance_changes_nothing(G, clip, directions):
    styles = G.ws_to_styles(sample_ws(G))
    delta_t = clip.text_direction("a face", "a face with blond hair")
    top = float(directions.relevance(delta_t).abs().max())
    e = directions.edit(styles, delta_t, alpha=5.0, beta=top + 1e-3)
    assert e.num_channels == 0 and e.channels == []
    assert all(torch.equal(e.styles[k], styles[k]) for k in styles)


def test_edit_touches_exactly_the_channels_it_reports(G, clip, directions):
    styles = G.ws_to_styles(sample_ws(G))
    delta_t = clip.text_direction("a face", "a face with blond hair")
    r = directions.relevance(delta_t).abs()
    beta = float(r.quantile(0.9))
    e = directions.edit(styles, delta_t, alpha=4.0, beta=beta)
    assert e.num_channels == int((r >= beta).sum()) == len(e.channels) == sum(e.per_layer.values())
    changed = {(name, c) for name in styles for c in range(styles[name].shape[1])
               if not torch.equal(e.styles[name][:, c], styles[name][:, c])}
    assert changed == set(e.channels)
    assert all(torch.equal(e.styles[n], styles[n]) for n in styles if n.endswith("torgb"))
    # the most relevant channel moves by alpha * std, in the sign of its relevance
    name, c = e.channels[0]
    flat = [(n, i) for n, k in directions.channels for i in range(k)].index((name, c))
    step = (e.styles[name][:, c] - styles[name][:, c]).abs()
    assert torch.allclose(step, 4.0 * directions.std_flat[flat].expand_as(step), rtol=1e-4)
    # alpha 0 is the identity; min_channels lowers beta to keep at least that many channels
    assert all(torch.equal(v, styles[k]) for k, v in directions.edit(styles, delta_t, 0.0, beta).styles.items())
    auto = directions.edit(styles, delta_t, alpha=4.0, beta=10.0, min_channels=20)
    assert auto.num_channels >= 20 and auto.beta < 10.0
    img = G.synthesize_styles(auto.styles, noise_mode="const")
    assert img.shape == (2, 3, 16, 16) and torch.isfinite(img).all()


def test_tuning_moves_k_channels_per_cell_and_keeps_the_best(G, clip, directions):
    """tune_global: each grid cell moves the k most relevant channels at its alpha, every cell is judged on the
    same before images, the best is the argmax of success x preservation, and its (alpha, beta) re-create it."""
    ws = sample_ws(G, n=3)
    seen = []

    def judge(before, after):            # prefers small changes, so the best cell has the lowest alpha and k
        seen.append(before)
        change = float((after - before).abs().mean())
        return {"success": 1.0, "preservation": 1.0 / (1.0 + 100 * change)}

    res = tune_global(G, directions, clip, ws, "a face with blond hair", judge, alphas=[2.0, 8.0], channels=[1, 4, 16])
    grid = res["grid"]
    assert [(c["channels"], c["alpha"]) for c in grid] == [(k, a) for k in (1, 4, 16) for a in (2.0, 8.0)]
    assert all(c["num_channels"] == c["channels"] for c in grid)    # no ties among random relevances
    assert all(torch.equal(b, seen[0]) for b in seen)
    assert res["best"] is max(grid, key=cell_value) and (res["best"]["alpha"], res["best"]["channels"]) == (2.0, 1)
    styles = G.ws_to_styles(ws)
    delta_t = clip.text_direction("a face", "a face with blond hair")
    for cell in grid:
        assert directions.edit(styles, delta_t, cell["alpha"], cell["beta"]).num_channels == cell["channels"]
    again = global_edit(G, directions, clip, ws, "a face with blond hair", res["best"]["alpha"], res["best"]["beta"])
    assert judge(seen[0], again)["preservation"] == res["best"]["preservation"]
    with pytest.raises(ValueError, match="channel counts"):
        tune_global(G, directions, clip, ws, "a face with blond hair", judge, alphas=[1.0], channels=[0])


def test_tuned_settings_load_and_bad_files_say_what_to_do(tmp_path):
    path = tmp_path / PROMPTS_FILE
    with pytest.raises(FileNotFoundError, match="tune_directions.py"):
        load_global_settings("some-generator", path)
    path.write_text(json.dumps({"neutral": "a face", "prompts": {"blond_hair": {"target": "a face with blond hair",
                                                                               "alpha": 5.0, "beta": 0.49}}}))
    assert load_global_settings("some-generator", path)["prompts"]["blond_hair"]["alpha"] == 5.0
    for bad in ("{not json", json.dumps({"prompts": {"blond_hair": {"alpha": "five", "beta": 0.1, "target": "x"}}}),
                json.dumps({"neutral": "a face"})):
        path.write_text(bad)
        with pytest.raises(ValueError, match="not a tuned-settings file"):
            load_global_settings("some-generator", path)


def test_directions_save_load_round_trip(directions, tmp_path):
    path = directions.save(tmp_path / "global_directions.safetensors")
    loaded = GlobalDirections.load(path)
    assert torch.equal(loaded.fs3, directions.fs3) and loaded.channels == directions.channels
    assert loaded.meta == {"clip": "tiny"} and loaded.stats.psi == directions.stats.psi
    assert all(torch.equal(loaded.stats.std[k], directions.stats.std[k]) for k in directions.stats.std)
    with pytest.raises(FileNotFoundError, match="not computed yet"):
        GlobalDirections.load(tmp_path / "missing.safetensors")


# --- neutral alternatives: each face edited from the description CLIP reads in it -------------------------------
ALTERNATIVES = ["a face with black hair", "a face with red hair", "a face with blond hair"]


def _reading(clip, monkeypatch, picks):
    """Make the CLIP read image i as the alternative picks[i] (its image embedding = that text's embedding)."""
    emb = torch.stack([clip.text_embedding(ALTERNATIVES[i]) for i in picks])
    monkeypatch.setattr(clip, "encode_image", lambda images: emb[:len(images)])


def test_alternatives_are_picked_per_face_and_each_face_moves_along_its_own_text_direction(G, clip, directions,
                                                                                         monkeypatch):
    from linkgan.styleclip import edit_from_neutrals, pick_neutrals
    neutral = " | ".join(ALTERNATIVES)
    target = "a face with blond hair"
    _reading(clip, monkeypatch, [1, 0, 2, 1])
    ws = sample_ws(G, n=4)
    styles = G.ws_to_styles(ws)
    picked = pick_neutrals(clip, G.synthesize(ws, noise_mode="const"), neutral)
    assert picked == [ALTERNATIVES[i] for i in (1, 0, 2, 1)]
    assert pick_neutrals(clip, G.synthesize(ws, noise_mode="const"), "a face") == ["a face"] * 4
    edited, edits = edit_from_neutrals(directions, clip, styles, picked, target, 4.0, 1.0, min_channels=5)
    assert set(edits) == {ALTERNATIVES[0], ALTERNATIVES[1]} and all(e.num_channels == 5 for e in edits.values())
    for i, text in enumerate(picked):
        row = {k: v[i:i + 1] for k, v in styles.items()}
        if text == target:                   # read as the target already: nothing to move towards, left as it is
            assert all(torch.equal(edited[k][i:i + 1], row[k]) for k in styles)
            continue
        alone = directions.edit(row, clip.text_direction(text, target), 4.0, 1.0, min_channels=5).styles
        assert all(torch.allclose(edited[k][i:i + 1], alone[k]) for k in styles)
    # the red and the black face move along different directions
    assert not torch.equal(edited["b4.conv"][0] - styles["b4.conv"][0], edited["b4.conv"][1] - styles["b4.conv"][1])
    # the batch helper gives the same images
    images = global_edit(G, directions, clip, ws, target, 4.0, 1.0, 5, neutral=neutral)
    assert torch.allclose(images, G.synthesize_styles(edited, noise_mode="const"), atol=1e-6)


def test_one_neutral_text_is_the_papers_edit_and_must_differ_from_the_target(G, clip, directions):
    from linkgan.styleclip import edit_neutral_text
    styles = G.ws_to_styles(sample_ws(G, n=3))
    rendered = []
    edited, edits, neutrals = edit_neutral_text(directions, clip, styles, " a face ", "a face with blond hair", 4.0,
                                                0.1, render=rendered.append)
    assert neutrals == ["a face"] * 3 and rendered == []          # one text: no image needs reading
    paper = directions.edit(styles, clip.text_direction("a face", "a face with blond hair"), 4.0, 0.1).styles
    assert all(torch.allclose(edited[k], paper[k]) for k in styles) and edits["a face"].num_channels > 0
    with pytest.raises(ValueError):
        edit_neutral_text(directions, clip, styles, "a face with blond hair", "a face with blond hair", 4.0, 0.1,
                          render=rendered.append)


@pytest.mark.parametrize("neutral", ["a face | ", "|", "a face || a face with hair"])
def test_an_empty_alternative_is_refused(G, clip, directions, neutral):
    with pytest.raises(ValueError, match="empty neutral text"):
        global_edit(G, directions, clip, sample_ws(G), "a face with blond hair", 4.0, 0.1, neutral=neutral)


def test_tuning_tries_each_neutral_and_prefers_a_cell_that_meets_both_bars(G, clip, directions, monkeypatch):
    from linkgan.styleclip import best_cell
    _reading(clip, monkeypatch, [0, 1, 2])
    ws = sample_ws(G, n=3)
    alternatives = " | ".join(ALTERNATIVES)

    def judge(before, after):            # success grows with the change, preservation falls with it
        change = float((after - before).abs().mean())
        return {"success": min(1.0, 20 * change), "preservation": 1.0 / (1.0 + 5 * change)}

    res = tune_global(G, directions, clip, ws, "a face with blond hair", judge, alphas=[1.0, 8.0], channels=[2, 8],
                      neutrals=["a face", alternatives])
    grid = res["grid"]
    assert [(c["neutral"], c["channels"], c["alpha"]) for c in grid] == [
        (n, k, a) for n in ("a face", alternatives) for k in (2, 8) for a in (1.0, 8.0)]
    assert all(c["beta"] == 1.0 for c in grid if c["neutral"] == alternatives)
    assert all(c["num_channels"] == c["channels"] for c in grid)
    ok = [c for c in grid if c["success"] >= 0.8 and c["preservation"] >= 0.9]
    assert res["best"] is (max(ok, key=cell_value) if ok else max(grid, key=cell_value))
    # the rule itself, on cells made up for it: a passing cell beats a larger product that misses a bar
    cells = [{"success": 1.0, "preservation": 0.89}, {"success": 0.8, "preservation": 0.9}, {"success": 0.5}]
    assert best_cell(cells) is cells[1] and best_cell(cells[:1] + cells[2:]) is cells[0]
