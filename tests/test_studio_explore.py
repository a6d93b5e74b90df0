"""The Studio's Explore edits (linkgan.studio.Studio.explore): GANSpace / SeFa / InterFaceGAN / StyleSpace directions
on the current image, one edit per method, undo, history, latent files, and clear errors for bad input."""
import numpy as np
import pytest
import torch

from app_server import tiny_studio
from linkgan.directions import Directions, compute_directions
from linkgan.studio import MAX_EXPLORE_STRENGTH, Studio, StudioError


@pytest.fixture(scope="module")
def studio():
    return tiny_studio()


def test_menu_offers_what_the_generator_has(studio):
    methods = studio.explore_methods()
    assert list(methods) == ["ganspace", "sefa", "interfacegan", "stylespace"]
    assert methods["ganspace"] is None and methods["sefa"] is None           # computed on first use
    for m in ("interfacegan", "stylespace"):                                  # minutes and a segmenter: not here
        assert "not shipped" in methods[m] and f"python -m linkgan directions --method {m} " in methods[m]
    names = studio.explore_directions("sefa")
    assert len(names) == studio.G.config.w_dim and names[:2] == ["comp 0", "comp 1"]      # unnamed: no oracle


def test_sliders_of_one_method_make_one_edit(studio):
    s = studio.generate(3, 0.7)
    ws0 = studio.current_ws(s)
    s1 = studio.explore(s, "sefa", 0, 2.0)
    s2 = studio.explore(s1, "sefa", 3, -1.5)                  # another slider of the same method: the same edit
    assert len(s2["edits"]) == 1 and studio.history(s2)[-1] == \
        'explore: {"method": "sefa", "strengths": {"0": 2.0, "3": -1.5}}'
    assert studio.explore_strengths(s2, "sefa") == {0: 2.0, 3: -1.5} and studio.explore_strengths(s2, "ganspace") == {}
    dirs = compute_directions("sefa", studio.G)               # what "computed on first use" computes
    want = dirs.apply(dirs.apply(torch.from_numpy(ws0)[None], 0, 2.0), 3, -1.5)[0].numpy()
    np.testing.assert_allclose(studio.current_ws(s2), want, atol=1e-6)
    s3 = studio.explore(s2, "sefa", 0, 2.5)                   # moving a slider again replaces its strength
    assert studio.explore_strengths(s3, "sefa") == {0: 2.5, 3: -1.5} and len(s3["edits"]) == 1
    s4 = studio.explore(s3, "ganspace", 1, 1.0)               # another method stacks on it
    assert [e["kind"] for e in s4["edits"]] == ["explore", "explore"]
    assert not np.array_equal(np.asarray(studio.image(s4)), np.asarray(studio.image(s3)))
    assert np.array_equal(studio.current_ws(studio.undo(s4)), studio.current_ws(s3))
    back = studio.explore(studio.explore(s3, "sefa", 0, 0.0), "sefa", 3, 0.0)     # every slider back at 0
    assert back["edits"] == [] and np.array_equal(studio.current_ws(back), ws0)
    assert studio.explore(s, "sefa", 2, 0.0)["edits"] == []   # nothing moved: nothing to record
    assert s["edits"] == [] and len(s1["edits"]) == 1         # sessions are values: earlier ones are unchanged


def test_explore_after_another_edit_starts_from_it(studio):
    s = studio.region(studio.generate(4, 0.7), ["eyes"], 9, 1.0)
    e = studio.explore(s, "ganspace", 0, 1.0)
    assert [x["kind"] for x in e["edits"]] == ["region", "explore"]
    diff = studio.current_ws(e) - studio.current_ws(s)
    assert np.abs(diff).max() > 0 and np.allclose(diff, diff[0])   # the same step on every W+ row (all rows)


def test_latent_file_round_trip(studio):
    s = studio.explore(studio.explore(studio.generate(12, 0.6), "sefa", 1, -2.0), "sefa", 2, 1.25)
    back = studio.load_latent(studio.save_latent(s))
    assert np.array_equal(np.asarray(studio.image(back)), np.asarray(studio.image(s)))
    assert back["source"]["edits"] == [{"kind": "explore",
                                        "params": {"method": "sefa", "strengths": {"1": -2.0, "2": 1.25}}}]


def test_sessions_stay_apart(studio):
    a, b = studio.generate(1, 0.7), studio.generate(2, 0.7)
    a1 = studio.explore(a, "sefa", 0, 3.0)
    b1 = studio.explore(b, "sefa", 0, 3.0)
    assert studio.explore_strengths(b1, "sefa") == {0: 3.0}           # not a's edit tweaked
    assert not np.array_equal(studio.current_ws(a1), studio.current_ws(b1))
    assert np.array_equal(studio.current_ws(studio.undo(b1)), studio.current_ws(b))


def shipped(folder, G, **dirs) -> str:
    """A generator folder name whose zoo (<folder>/directions) holds the given Directions."""
    for method, d in dirs.items():
        d.save(folder / "directions" / f"{method}.safetensors")
    return str(folder)


def test_stylespace_moves_the_style_offset(studio, tmp_path):
    from linkgan.styleclip import edit_channels
    (layer_a, _), (layer_b, _) = edit_channels(studio.G)[:2]
    style = Directions(method="stylespace", vectors=torch.zeros(2, 0), scales=torch.tensor([0.5, 2.0]),
                       scores=torch.ones(2), channels=[(layer_a, 3), (layer_b, 1)], names=["hair", ""])
    st = Studio(studio.G, segmenter=studio.segmenter, name=shipped(tmp_path, studio.G, stylespace=style))
    assert st.explore_methods()["stylespace"] is None
    assert st.explore_directions("stylespace") == ["comp 0: hair", "comp 1"]
    s = st.generate(5, 0.7)
    e = st.explore(st.explore(s, "stylespace", 0, 12.0), "stylespace", 1, -1.0)     # one channel: up to 20
    assert np.array_equal(st.current_ws(e), st.current_ws(s))             # ws untouched: the styles move
    ws = torch.from_numpy(st.current_ws(s))[None]
    styles = style.apply(style.apply(st.G.ws_to_styles(ws), 0, 12.0), 1, -1.0)
    want = st.G.synthesize_styles(styles, noise_mode="const")
    torch.testing.assert_close(st._synthesize(*st.code(e)), want, atol=1e-5, rtol=0)
    with pytest.raises(StudioError, match="strength must be between -20 and 20, got 21"):
        st.explore(s, "stylespace", 0, 21)
    later = st.region(e, ["mouth"], 3, 1.0)                               # later edits carry the offset along
    assert np.array_equal(st.current_offset(later), st.current_offset(e))
    back = st.load_latent(st.save_latent(later))
    assert np.array_equal(np.asarray(st.image(back)), np.asarray(st.image(later)))


def test_another_generators_directions_are_refused(studio, tmp_path):
    foreign = Directions(method="interfacegan", vectors=torch.nn.functional.normalize(torch.randn(2, 16), dim=1),
                         scales=torch.ones(2), scores=torch.ones(2), rows=[(0, 1)] * 2)
    st = Studio(studio.G, segmenter=studio.segmenter, name=shipped(tmp_path, studio.G, interfacegan=foreign))
    assert "computed for another generator" in st.explore_methods()["interfacegan"]
    with pytest.raises(StudioError, match="computed for another generator"):
        st.explore(st.generate(1, 0.7), "interfacegan", 0, 1.0)


def test_default_generator_ships_every_method_named():
    st = Studio.load("toyfaces64-linked", clip=None)
    assert all(why is None for why in st.explore_methods().values())
    names = st.explore_directions("ganspace")
    assert len(names) == 40 and names[0].startswith("comp 0: ") and len(names[0]) > len("comp 0: ")


@pytest.mark.parametrize("args, msg", [
    (("pca", 0, 1.0), "unknown method 'pca': choose one of ganspace, sefa, interfacegan, stylespace"),
    ((["sefa"], 0, 1.0), "unknown method"),
    (("resefa", 0, 1.0), "unknown method"),               # a library method the Explore tab does not offer
    (("interfacegan", 0, 1.0), "InterFaceGAN is not offered for this generator: its directions are not shipped"),
    (("sefa", 32, 1.0), r"direction must be between 0 and 31, got 32"),
    (("sefa", -1, 1.0), "direction must be between 0 and 31"),
    (("sefa", 1.5, 1.0), "direction must be a whole number"),
    (("sefa", "3", 1.0), "direction must be a number, got '3'"),
    (("sefa", True, 1.0), "direction must be a number, got True"),
    (("sefa", 0, MAX_EXPLORE_STRENGTH["sefa"] + 1), "strength must be between -5 and 5"),
    (("sefa", 0, float("nan")), "strength must be a number"),
    (("sefa", 0, "2"), "strength must be a number, got '2'"),
    (("sefa", 0, None), "strength must be a number, got None"),
])
def test_bad_input(studio, args, msg):
    with pytest.raises(StudioError, match=msg):
        studio.explore(studio.generate(1, 0.7), *args)


def test_no_image_yet(studio):
    with pytest.raises(StudioError, match="no image yet"):
        studio.explore(studio.new_session(), "sefa", 0, 1.0)
