"""The app service's StyleCLIP mapper and global-direction edits (linkgan.studio.Studio.text_mapper / text_global)
on a tiny generator with tiny but real StyleCLIP artefacts (app_server.tiny_styleclip)."""
import numpy as np
import pytest
import torch

from app_server import LINKS, MAPPER_PROMPT, PRESET_TARGETS, tiny_styleclip
from linkgan.networks import Generator, GeneratorConfig
from linkgan.studio import Studio, StudioError


def _tiny_g():
    torch.manual_seed(0)
    G = Generator(GeneratorConfig(resolution=32, z_dim=32, w_dim=32, n_mlp=2, channel_base=256, channel_max=32))
    G.metadata = {"links": LINKS}
    return G


@pytest.fixture(scope="module")
def seg():
    from linkgan.segmenter import Segmenter
    return Segmenter.from_pretrained("toyfaces64-segmenter").predict


@pytest.fixture(scope="module")
def studio(tmp_path_factory, seg):
    G = _tiny_g()
    folder = tiny_styleclip(G, tmp_path_factory.mktemp("tiny") / "styleclip")
    return Studio(G, segmenter=seg, name="tiny", styleclip=folder)


def pixels(studio, s):
    return np.asarray(studio.image(s)).astype(int)


def test_mapper_prompts_are_the_shipped_ones(studio):
    assert studio.mapper_names() == ["purple_hair"]
    assert studio.mapper_prompts() == {"purple_hair": MAPPER_PROMPT}


def test_mapper_edit_tweak_undo(studio):
    s = studio.generate(3, 0.7)
    e1 = studio.text_mapper(s, MAPPER_PROMPT, 0.1)
    assert e1["edits"][0]["params"] == {"method": "mapper", "mapper": "purple_hair", "prompt": MAPPER_PROMPT,
                                        "strength": 0.1}
    assert not np.array_equal(studio.current_ws(e1), studio.current_ws(s))
    e2 = studio.text_mapper(e1, "purple_hair", 0.2)          # by name; the same mapper again: a tweak
    assert len(e2["edits"]) == 1
    m = studio._mapper("purple_hair")
    want = studio.current_ws(s) + 0.2 * m(torch.from_numpy(studio.current_ws(s))[None])[0].numpy()
    np.testing.assert_allclose(studio.current_ws(e2), want, atol=1e-5)
    zero = studio.text_mapper(s, MAPPER_PROMPT, 0.0)         # strength 0 is the identity
    assert np.array_equal(pixels(studio, zero), pixels(studio, s))
    assert np.array_equal(studio.current_ws(studio.undo(e2)), studio.current_ws(s))


def test_global_edit_tweak_and_zero_alpha(studio):
    s = studio.generate(4, 0.7)
    g1 = studio.text_global(s, "a face with purple hair", "a face", 4.0, 0.0)
    p = g1["edits"][0]["params"]
    assert p["method"] == "global" and p["channels"] > 0 and p["alpha"] == 4.0
    assert np.array_equal(studio.current_ws(g1), studio.current_ws(s))       # the edit lives in style space
    assert not np.array_equal(pixels(studio, g1), pixels(studio, s))
    g2 = studio.text_global(g1, "a face with purple hair", "a face", 6.0, 0.0)   # alpha dragged: replaces
    assert len(g2["edits"]) == 1
    np.testing.assert_allclose(studio.current_offset(g2), 1.5 * studio.current_offset(g1), rtol=1e-5, atol=1e-7)
    flat = studio.text_global(s, "a face with purple hair", "a face", 0.0, 0.0)
    assert np.array_equal(pixels(studio, flat), pixels(studio, s))
    assert studio.current_offset(studio.undo(g2)) is None


def test_automatic_beta_moves_at_least_min_channels(studio):
    s = studio.generate(4, 0.7)
    for n in (1, 7):
        g = studio.text_global(s, "a face with purple hair", "a face", 4.0, 1.0, min_channels=n)   # beta above all
        p = g["edits"][0]["params"]
        assert p["channels"] == n and p["beta"] < 1.0 and p["min_channels"] == n
        assert np.count_nonzero(studio.current_offset(g)) == n
    many = studio.text_global(s, "a face with purple hair", "a face", 4.0, 0.0, min_channels=3)   # beta passes more
    assert many["edits"][0]["params"]["channels"] > 3 and many["edits"][0]["params"]["beta"] == 0.0
    with pytest.raises(StudioError, match="min_channels must be between 0 and"):
        studio.text_global(s, "a face with purple hair", "a face", 4.0, 0.1, min_channels=10**6)


def test_global_offset_is_carried_by_later_edits_and_saved(studio):
    s = studio.text_global(studio.generate(5, 0.7), "a face with a blue background", "a face", 5.0, 0.05)
    r = studio.region(s, ["eyes"], 9, 1.0)
    np.testing.assert_array_equal(studio.current_offset(r), studio.current_offset(s))
    m = studio.text_mapper(r, MAPPER_PROMPT, 0.1)
    np.testing.assert_array_equal(studio.current_offset(m), studio.current_offset(s))
    back = studio.load_latent(studio.save_latent(m))
    assert np.array_equal(pixels(studio, back), pixels(studio, m))
    assert np.array_equal(pixels(studio, studio.undo(studio.undo(m))), pixels(studio, s))
    g = studio.text_global(m, "a face with blond hair", "a face", 3.0, 0.05)    # a second direction stacks
    assert len(g["edits"]) == 4 and not np.allclose(studio.current_offset(g), studio.current_offset(m))


@pytest.mark.parametrize("call, msg", [
    (lambda st, s: st.text_mapper(s, "", 0.1), "choose a mapper: a face with purple hair"),
    (lambda st, s: st.text_mapper(s, "a face with a beard", 0.1), "no mapper for 'a face with a beard'"),
    (lambda st, s: st.text_mapper(s, MAPPER_PROMPT, 0.9), "strength must be between 0 and 0.3"),
    (lambda st, s: st.text_global(s, "  ", "a face", 4, 0.1), "the target text is empty"),
    (lambda st, s: st.text_global(s, "a face with blond hair", "", 4, 0.1), "the neutral text is empty"),
    (lambda st, s: st.text_global(s, "purple " * 200, "a face", 4, 0.1), "reads at most .* shorten it"),
    (lambda st, s: st.text_global(s, "a face", "a face", 4, 0.1), "give the same text embedding"),
    (lambda st, s: st.text_global(s, "a face with blond hair", "a face", 40, 0.1), "alpha must be between -20 and 20"),
    (lambda st, s: st.text_global(s, "a face with blond hair", "a face", 4, 1.0, 0), "above the relevance of every.*minimum number of channels"),
    (lambda st, s: st.text_mapper(st.new_session(), MAPPER_PROMPT, 0.1), "no image yet"),
])
def test_user_mistakes_get_clear_errors(studio, call, msg):
    with pytest.raises(StudioError, match=msg):
        call(studio, studio.generate(1, 0.7))


def test_neutral_alternatives_use_the_one_clip_reads_in_the_face(studio, monkeypatch):
    alternatives = ["a face with black hair", "a face with red hair", "a face with blond hair"]
    s = studio.generate(5, 0.7)
    with torch.no_grad():
        texts = torch.stack([studio.clip.text_embedding(t) for t in alternatives])
        read_as = alternatives[int((studio.clip.encode_image(studio._synthesize(studio.current_ws(s))) @ texts.T)
                                   .argmax())]
    target = next(t for t in ("a face with purple hair", "a face with grey hair") if t != read_as)
    out = studio.text_global(s, target, " | ".join(alternatives), 4, 1.0, 5)
    p = out["edits"][0]["params"]
    assert p["neutral_read"] == read_as and p["channels"] == 5
    alone = studio.text_global(s, target, read_as, 4, 1.0, 5)
    assert "neutral_read" not in alone["edits"][0]["params"]
    assert np.array_equal(pixels(studio, out), pixels(studio, alone))
    # a face CLIP reads as the target already: nothing to move towards, said so, the session kept
    with pytest.raises(StudioError, match=f"CLIP already reads this face as '{read_as}': nothing to move towards"):
        studio.text_global(s, read_as, " | ".join(alternatives), 4, 1.0, 5)
    with pytest.raises(StudioError, match="empty neutral text"):
        studio.text_global(s, target, "a face | ", 4, 1.0, 5)
    assert s["edits"] == []


def test_tuned_presets_move_exactly_the_tuned_channels(studio):
    from linkgan.styleclip import PROMPTS_FILE, load_global_settings
    tuned = {p["target"]: p for p in load_global_settings("tiny", studio.styleclip_dir / PROMPTS_FILE)["prompts"]
             .values()}
    presets = studio.global_presets()
    assert list(presets) == list(PRESET_TARGETS) == list(tuned)
    s = studio.generate(4, 0.7)
    for target, preset in presets.items():
        t = tuned[target]
        assert preset["neutral"] == "a face" and preset["alpha"] == t["alpha"]
        assert 0 <= preset["beta"] - t["beta"] < 0.01 and round(preset["beta"], 2) == preset["beta"]   # slider step
        p = studio.text_global(s, target, **preset)["edits"][0]["params"]
        assert p["channels"] == t["channels"] and p["beta"] == round(t["beta"], 4)


@pytest.mark.parametrize("text, msg", [
    ('{"prompts": {"x": {"target": "a face"}}}', "global_prompts.json is not a tuned-settings file.*alpha"),
    ('{"prompts": {"x": {"target": "a", "alpha": 50, "beta": 0.1}}}', "json: a tuned alpha must be between -20 and 20"),
    ('{"prompts": {"x": {"target": "a", "alpha": 5, "beta": 0.1, "channels": "many"}}}', "json: invalid literal"),
    ("[1, 2", "not a tuned-settings file"),
])
def test_a_broken_settings_file_is_reported(seg, studio, tmp_path, capsys, text, msg):
    import shutil
    folder = shutil.copytree(studio.styleclip_dir, tmp_path / "styleclip")
    (folder / "global_prompts.json").write_text(text)
    broken = Studio(_tiny_g(), segmenter=seg, name="tiny", styleclip=folder)
    with pytest.raises(StudioError, match=msg):
        broken.global_presets()
    s = broken.text_global(broken.generate(1, 0.7), "a face with blond hair", "a face", 4, 0.0)   # edits still work
    assert s["edits"][0]["params"]["channels"] > 0
    import app                                        # the app starts without the presets menu and says why
    assert app.global_presets(broken) == {}
    assert "no tuned global-direction presets:" in capsys.readouterr().err
    app.build_app(broken)


def test_generator_without_styleclip_artefacts_says_so(seg, tmp_path):
    bare = Studio(_tiny_g(), segmenter=seg, name="tiny", styleclip=tmp_path / "none")
    s = bare.generate(1, 0.7)
    assert bare.mapper_prompts() == {} and bare.global_presets() == {}
    with pytest.raises(StudioError, match="no latent mappers are shipped for tiny: train one with"):
        bare.text_mapper(s, MAPPER_PROMPT, 0.1)
    with pytest.raises(StudioError, match="no global directions are shipped for tiny: compute them with"):
        bare.text_global(s, "a face with blond hair", "a face", 4, 0.1)


def test_a_clip_that_cannot_load_is_a_clear_message_and_the_session_is_kept(seg):
    bad = Studio(_tiny_g(), segmenter=seg, name="tiny", clip="ViT-B-32")     # an architecture with no weights named
    s = bad.generate(1, 0.7)
    with pytest.raises(StudioError, match="the CLIP 'ViT-B-32' could not be loaded: .*'ViT-B-32/TAG'.*openai"):
        bad.text_optimize(s, "a face with blond hair", 2)
    assert bad.history(s) == bad.history(bad.generate(1, 0.7))


def test_the_apps_preset_menu_fills_the_controls_and_applies_them_to_an_image(studio):
    import app
    presets = studio.global_presets()
    pick = app._handlers(studio, presets)["global_preset"]
    target, p = next(iter(presets.items()))
    controls = (target, p["neutral"], p["alpha"], p["beta"], p["min_channels"])
    out = pick(target, studio.new_session())                   # no image yet: the controls only
    assert tuple(out[:5]) == controls and out[7]["base"] is None and out[7]["edits"] == []
    s = studio.generate(2, 0.7)
    out = pick(target, s)
    assert tuple(out[:5]) == controls
    assert out[7]["edits"][-1]["params"] == studio.text_global(s, *controls)["edits"][-1]["params"]
    assert '1. text: {"method": "global"' in out[6]


def test_the_shipped_zoo_loads_whole():
    """The default generator's shipped StyleCLIP folder serves every zoo prompt: a mapper each, and a tuned preset
    each whose alpha the app's slider can show."""
    from linkgan.studio import MAX_ALPHA
    from linkgan.styleclip import ZOO_PROMPTS

    shipped = Studio.load("toyfaces64-linked")
    assert shipped.mapper_prompts() == {z.name: z.target for z in ZOO_PROMPTS}
    presets = shipped.global_presets()
    assert set(presets) == {z.target for z in ZOO_PROMPTS}
    assert all(abs(p["alpha"]) <= MAX_ALPHA and p["min_channels"] >= 1 for p in presets.values())
