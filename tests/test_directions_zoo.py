"""The shipped directions of the default generator (checkpoints/toyfaces64-linked-directions), the part-colour
labeller behind InterFaceGAN's boundaries, and the baselines benchmark's choice rule."""
from __future__ import annotations

import torch

from linkgan.directions import METHODS, PartColourLabeller, compute_directions, directions_folder, load_zoo_directions
from linkgan.hub import DEFAULT_GENERATOR


def test_every_method_ships_under_a_megabyte_and_renders():
    from linkgan.networks import Generator

    folder = directions_folder(DEFAULT_GENERATOR)
    assert sum(f.stat().st_size for f in folder.iterdir()) < 1_000_000
    G = Generator.from_pretrained(DEFAULT_GENERATOR, device="cpu").eval()
    ws = G.broadcast(G.map(G.z_from_seeds([3]), psi=0.7))
    for method in METHODS:
        dirs = load_zoo_directions(DEFAULT_GENERATOR, method)
        assert dirs.method == method and dirs.meta["model"] == DEFAULT_GENERATOR and len(dirs) >= 5
        assert any(dirs.names), method                                   # named by the oracle
        assert dirs.render(G, ws, 0, 2.0).shape == (1, 3, 64, 64)


def test_shipped_sefa_is_what_the_command_computes():
    """SeFa needs no sampling but its scales: the closed form recomputed here matches the file exactly."""
    from linkgan.networks import Generator

    G = Generator.from_pretrained(DEFAULT_GENERATOR, device="cpu").eval()
    shipped = load_zoo_directions(DEFAULT_GENERATOR, "sefa")
    fresh = compute_directions("sefa", G)
    assert torch.allclose(fresh.vectors.abs(), shipped.vectors.abs(), atol=1e-5)    # eigenvectors up to sign
    assert torch.allclose(fresh.scales, shipped.scales, rtol=1e-4)
    assert torch.allclose(fresh.scores, shipped.scores, rtol=1e-5)


def test_part_colour_labeller_reads_rendered_faces():
    from benchmarks._weights import segmenter
    from linkgan.data import HELDOUT_SEEDS
    from linkgan.data.pool import render_faces, to_float

    images, attrs = render_faces(HELDOUT_SEEDS[:24])
    read = PartColourLabeller(segmenter().eval()).read(to_float(images))
    for attr in ("hair_color", "background", "skin_tone", "eye_color"):
        pairs = [(v, getattr(a, attr)) for v, a in zip(read[attr], attrs) if v and attr not in a.hidden_attributes()]
        assert len(pairs) >= 8 and sum(v == t for v, t in pairs) / len(pairs) >= 0.85, attr     # eyes: 14/16


def test_baselines_pick_the_best_success_that_preserves():
    from benchmarks.baselines import _pick

    tried = [({"success": 1.0, "preservation": 0.5}, "a"), ({"success": 0.6, "preservation": 0.95}, "b"),
             ({"success": 0.4, "preservation": 0.99}, "c")]
    assert _pick(tried)[1] == "b"
    assert _pick([tried[0], ({"success": 0.2, "preservation": 0.8}, "d")])[1] == "a"   # none preserves: success x pres.
