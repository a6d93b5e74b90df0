"""The app's service (linkgan.studio.Studio): sessions, stacked edits, undo, latent files, locality."""
import numpy as np
import pytest

from app_server import tiny_studio
from linkgan.studio import StudioError


@pytest.fixture(scope="module")
def studio():
    return tiny_studio()


def test_generate_edit_undo_reset(studio):
    s = studio.generate(3, 0.7)
    start = np.asarray(studio.image(s))
    s1 = studio.region(s, ["eyes"], 9, 0.5)
    s2 = studio.region(s1, ["eyes"], 9, 1.0)              # the same edit tweaked: replaces, does not stack
    assert len(s2["edits"]) == 1 and s2["edits"][0]["params"]["t"] == 1.0
    s3 = studio.region(s2, ["mouth"], 4, 1.0)             # another region: stacks
    assert len(s3["edits"]) == 2
    assert not np.array_equal(np.asarray(studio.image(s3)), start)
    assert np.array_equal(studio.current_ws(studio.undo(s3)), studio.current_ws(s2))
    assert np.array_equal(np.asarray(studio.image(studio.reset(s3))), start)
    assert len(s["edits"]) == 0                           # sessions are values: earlier ones are unchanged


def test_region_edit_moves_only_the_linked_axes(studio):
    s = studio.generate(5, 1.0)
    ws0 = studio.current_ws(s)
    ws1 = studio.current_ws(studio.region(s, ["eyes", "hair"], 8, 1.0))
    changed = np.flatnonzero(np.abs(ws1 - ws0).max(0) > 0)
    assert set(changed) <= set(range(0, 8)) | set(range(16, 24)) and len(changed) > 0
    half = studio.current_ws(studio.region(s, ["eyes", "hair"], 8, 0.5))
    np.testing.assert_allclose(half, (ws0 + ws1) / 2, atol=1e-6)


def test_latent_file_reproduces_the_image_exactly(studio):
    s = studio.region(studio.generate(12, 0.6), ["mouth"], 2, 0.8)
    data = studio.save_latent(s)
    back = studio.load_latent(data)
    assert np.array_equal(np.asarray(studio.image(back)), np.asarray(studio.image(s)))
    # the region comes from the new seed's untruncated w (RESAMPLE_PSI), whatever the face's own truncation
    assert back["source"]["edits"][0]["params"] == {"regions": ["mouth"], "new_seed": 2, "t": 1.0 - 0.2, "psi": 1.0}
    whole = studio.current_ws(studio.region(studio.generate(12, 0.6), ["mouth"], 2, 1.0))
    a0, a1 = studio.links["mouth"].axes
    np.testing.assert_array_equal(whole[:, a0:a1], studio.map_seed(2, 1.0)[0][None, a0:a1].repeat(len(whole), 0))


@pytest.mark.parametrize("call, msg", [
    (lambda st, s: st.region(s, [], 1, 1.0), "choose at least one region"),
    (lambda st, s: st.region(s, ["nose"], 1, 1.0), "unknown region"),
    (lambda st, s: st.region(s, ["eyes"], 1, 1.5), "t must be between"),
    (lambda st, s: st.region(s, ["eyes"], -1, 1.0), "seed must be between"),
    (lambda st, s: st.region(s, ["eyes"], 1.5, 1.0), "whole number"),
    (lambda st, s: st.generate("x", 0.7), "must be a number"),
    (lambda st, s: st.generate(1, float("nan")), "must be a number"),
    (lambda st, s: st.undo(s), "nothing to undo"),
    (lambda st, s: st.load_latent(b"garbage"), "not a latent file"),
    (lambda st, s: st.region(st.new_session(), ["eyes"], 1, 1.0), "no image yet"),
])
def test_user_mistakes_get_clear_errors(studio, call, msg):
    with pytest.raises(StudioError, match=msg):
        call(studio, studio.generate(1, 0.7))


def test_region_overlay_marks_the_box(studio):
    s = studio.generate(1, 0.7)
    plain, marked = np.asarray(studio.image(s)).astype(int), np.asarray(studio.region_overlay(s, ["eyes"])).astype(int)
    inside = marked[12:16, 12:20] - plain[12:16, 12:20]
    outside = marked[0:4, 0:4] - plain[0:4, 0:4]
    assert inside.mean() > outside.mean() + 20            # tinted inside, darkened outside


def test_text_optimize_moves_towards_the_text(studio):
    s = studio.generate(4, 0.7)
    steps_seen = []
    e = studio.text_optimize(s, "a face with purple hair", 6, progress=lambda i, n, l: steps_seen.append(l["clip"]))
    assert steps_seen and len(e["edits"]) == 1 and e["edits"][0]["kind"] == "text"
    assert e["edits"][0]["params"]["steps"] == len(steps_seen) and steps_seen[-1] < steps_seen[0]
    again = studio.text_optimize(e, "a face with purple hair", 3)       # the same text again: a tweak, not a stack
    assert len(again["edits"]) == 1
    with pytest.raises(StudioError, match="type what the face"):
        studio.text_optimize(s, "   ", 5)
    with pytest.raises(StudioError, match="reads at most .* shorten it"):
        studio.text_optimize(s, "purple " * 200, 5)
    kept = studio.text_optimize(s, "a face with purple hair", 3, region="hair")    # the region-content term
    assert kept["edits"][0]["params"]["region"] == "hair" and kept["edits"][0]["params"]["steps"] == 3
    with pytest.raises(StudioError, match="unknown region 'hat'"):
        studio.text_optimize(s, "a face with purple hair", 3, region="hat")


def test_a_session_holds_at_most_max_edits_and_loses_no_image(studio):
    from linkgan.studio import MAX_EDITS
    s = studio.generate(3, 0.7)
    codes = []
    for i in range(MAX_EDITS + 7):                     # distinct new seeds: every edit stacks
        s = studio.region(s, ["eyes"] if i % 2 else ["mouth"], 100 + i, 1.0)
        codes.append(studio.current_ws(s))
    assert len(s["edits"]) == MAX_EDITS and np.array_equal(studio.current_ws(s), codes[-1])
    assert np.array_equal(s["base"], codes[6])            # the 7 oldest edits folded into the start
    hist = studio.history(s)
    assert hist[0].endswith("then 7 edits (undo stops here)") and len(hist) == MAX_EDITS + 1
    back = studio.load_latent(studio.save_latent(s))
    assert np.array_equal(np.asarray(studio.image(back)), np.asarray(studio.image(s)))
    for _ in range(MAX_EDITS):
        s = studio.undo(s)
    assert np.array_equal(studio.current_ws(s), codes[6])
    with pytest.raises(StudioError, match="nothing to undo"):
        studio.undo(s)
