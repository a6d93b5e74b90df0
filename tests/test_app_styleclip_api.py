"""The StyleCLIP mapper and global-direction endpoints of the running app (/text_mapper, /text_global) through
gradio_client, against the app_server fixture (a tiny generator with tiny StyleCLIP artefacts)."""
from __future__ import annotations

import numpy as np
import pytest

gradio_client = pytest.importorskip("gradio_client")
from app_server import MAPPER_PROMPT, client, pixels  # noqa: E402


def test_named_apis(app_server):
    names = set(client(app_server).view_api(print_info=False, return_format="dict")
                ["named_endpoints"])
    assert {"/text_mapper", "/text_global"} <= names


def test_mapper_and_global_end_to_end(app_server, expected):
    c = client(app_server)
    img, _ = c.predict(6, 0.7, api_name="/generate")
    img_m, hist = c.predict(MAPPER_PROMPT, 0.1, api_name="/text_mapper")
    assert '1. text: {"method": "mapper", "mapper": "purple_hair"' in hist
    want = expected.text_mapper(expected.generate(6, 0.7), MAPPER_PROMPT, 0.1)
    assert np.array_equal(pixels(img_m), np.asarray(expected.image(want)))
    img_m2, hist = c.predict(MAPPER_PROMPT, 0.2, api_name="/text_mapper")      # strength tweak replaces
    assert "2. text" not in hist and '"strength": 0.2' in hist
    img_g, hist = c.predict("a face with blond hair", "a face", 5.0, 0.0, 0, api_name="/text_global")
    assert '2. text: {"method": "global", "target": "a face with blond hair", "neutral": "a face"' in hist
    want = expected.text_global(expected.text_mapper(expected.generate(6, 0.7), MAPPER_PROMPT, 0.2),
                                "a face with blond hair", "a face", 5.0, 0.0)
    assert np.array_equal(pixels(img_g), np.asarray(expected.image(want)))
    _, hist = c.predict("a face with blond hair", "a face", 2.0, 0.0, 0, api_name="/text_global")   # alpha tweak
    assert "3. text" not in hist and '"alpha": 2.0' in hist
    img_u, _ = c.predict(api_name="/undo")
    assert np.array_equal(pixels(img_u), pixels(img_m2))


@pytest.mark.parametrize("args, api, msg", [
    (("", 0.1), "/text_mapper", "choose a mapper"),
    (("a face with a beard", 0.1), "/text_mapper", "no mapper for"),
    ((MAPPER_PROMPT, 2.0), "/text_mapper", "strength must be between 0 and 0.3, got 2"),   # the Studio checks sliders
    (([MAPPER_PROMPT], 0.1), "/text_mapper", "the mapper must be text, got list"),   # was "unhashable type"
    (("", "a face", 4.0, 0.1, 0), "/text_global", "target text is empty"),
    (("a face with blond hair", "a face", "4", 0.1, 0), "/text_global", "alpha must be a number, got '4'"),
    (("a face with blond hair", "a face", 4.0, 0.1, 2.5), "/text_global", "min_channels must be a whole number"),
    (("a face with blond hair", " ", 4.0, 0.1, 0), "/text_global", "neutral text is empty"),
    (("purple " * 100, "a face", 4.0, 0.1, 0), "/text_global", "shorten it"),
    (("a face with blond hair", "a face", 4.0, 1.0, 0), "/text_global", "above the relevance of every channel"),
])
def test_bad_input_gives_a_clear_error_and_the_server_keeps_serving(app_server, args, api, msg):
    c = client(app_server)
    c.predict(1, 0.7, api_name="/generate")
    with pytest.raises(Exception, match=msg) as e:
        c.predict(*args, api_name=api)
    assert "Traceback" not in str(e.value)
    assert app_server.alive()
