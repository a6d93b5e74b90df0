"""The Explore tab's named APIs through gradio_client on the running app: /explore_directions lists a method's
directions, /explore moves the current image along one; the sliders of a method make one edit (undo, history,
latent file); bad input gets a message while the server keeps serving; concurrent users keep their own edits."""
from __future__ import annotations

import concurrent.futures as cf

import numpy as np
import pytest

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import handle_file  # noqa: E402

from app_server import client, pixels, slider_images  # noqa: E402


def test_explore_apis_are_named(app_server):
    names = set(client(app_server).view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/explore", "/explore_directions"} <= names


def test_explore_end_to_end(app_server, expected):
    c = client(app_server)
    names = c.predict("sefa", api_name="/explore_directions")
    assert names == expected.explore_directions("sefa") and len(names) == expected.G.config.w_dim
    img0, _ = c.predict(6, 0.7, api_name="/generate")
    img1, hist = c.predict("sefa", 2, 1.5, api_name="/explore")
    assert hist.splitlines()[-1] == '1. explore: {"method": "sefa", "strengths": {"2": 1.5}}'
    img2, hist = c.predict("sefa", 5, -2.0, api_name="/explore")          # another slider: the same edit
    assert hist.splitlines()[-1] == '1. explore: {"method": "sefa", "strengths": {"2": 1.5, "5": -2.0}}'
    s = expected.explore(expected.explore(expected.generate(6, 0.7), "sefa", 2, 1.5), "sefa", 5, -2.0)
    assert np.array_equal(pixels(img2), np.asarray(expected.image(s)))
    assert not np.array_equal(pixels(img1), pixels(img0)) and not np.array_equal(pixels(img2), pixels(img1))
    before, after = slider_images(c.predict(api_name="/compare"))
    assert np.array_equal(pixels(before), pixels(img0)) and np.array_equal(pixels(after), pixels(img2))
    img3, hist = c.predict("ganspace", 0, 1.0, api_name="/explore")      # another method stacks
    assert hist.splitlines()[-1] == '2. explore: {"method": "ganspace", "strengths": {"0": 1.0}}'
    png, npz = c.predict(api_name="/download")
    img4, hist = c.predict(api_name="/undo")
    assert np.array_equal(pixels(img4), pixels(img2)) and "2. explore" not in hist
    img5, hist = c.predict(handle_file(npz), api_name="/load_latent")
    assert np.array_equal(pixels(img5), pixels(img3)) and '"method": "ganspace"' in hist


@pytest.mark.parametrize("args, api, message", [
    (("pca", 0, 1.0), "/explore", "unknown method 'pca': choose one of ganspace, sefa, interfacegan, stylespace"),
    ((["sefa"], 0, 1.0), "/explore", "unknown method"),
    (("interfacegan", 0, 1.0), "/explore", "InterFaceGAN is not offered for this generator"),
    (("sefa", 32, 1.0), "/explore", "direction must be between 0 and 31, got 32"),
    (("sefa", 1.5, 1.0), "/explore", "direction must be a whole number, got 1.5"),
    (("sefa", None, 1.0), "/explore", "direction must be a number, got None"),
    (("sefa", 0, 9.0), "/explore", "strength must be between -5 and 5, got 9"),
    (("sefa", 0, "big"), "/explore", "strength must be a number, got 'big'"),
    (("sefa", 0, True), "/explore", "strength must be a number, got True"),
    (("stylespace",), "/explore_directions", "StyleSpace is not offered for this generator"),
    (("pca",), "/explore_directions", "unknown method 'pca'"),
])
def test_bad_explore_input_gets_a_message(app_server, args, api, message):
    c = client(app_server)
    c.predict(1, 0.7, api_name="/generate")
    with pytest.raises(Exception, match=message) as e:
        c.predict(*args, api_name=api)
    assert "Could not preprocess" not in str(e.value) and "went wrong" not in str(e.value)
    assert app_server.alive()
    _, hist = c.predict("sefa", 0, 1.0, api_name="/explore")             # the session is unchanged and usable
    assert hist == ('0. start: {"kind": "seed", "seed": 1, "psi": 0.7}\n'
                    '1. explore: {"method": "sefa", "strengths": {"0": 1.0}}')


def test_explore_before_any_image(app_server):
    with pytest.raises(Exception, match="no image yet"):
        client(app_server).predict("sefa", 0, 1.0, api_name="/explore")


def test_concurrent_users_keep_their_own_explore_edits(app_server, expected):
    n_clients, rounds = 6, 4
    want = {i: [np.asarray(expected.image(expected.explore(expected.generate(200 + i, 0.7), "ganspace", i % 3,
                                                           0.5 * (r + 1)))) for r in range(rounds)]
            for i in range(n_clients)}

    def user(i):
        c = client(app_server)
        c.predict(200 + i, 0.7, api_name="/generate")
        for r in range(rounds):
            img, hist = c.predict("ganspace", i % 3, 0.5 * (r + 1), api_name="/explore")
            assert np.array_equal(pixels(img), want[i][r]), f"client {i} got another image"
            assert f'"seed": {200 + i}' in hist and f'{{"{i % 3}": {0.5 * (r + 1)}}}' in hist and "\n2. " not in hist
        return rounds

    with cf.ThreadPoolExecutor(n_clients) as pool:
        assert sum(pool.map(user, range(n_clients))) == n_clients * rounds
