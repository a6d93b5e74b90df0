"""A new user's walk through the app in Debian's Chromium (Playwright): generate, pick an example, look at
a region, resample it, tweak t, text edits, undo, reset, an Explore slider, a photo, prepare downloads; on the way,
the before/after slider shows both images whole and the region preview follows the ticks. Screenshots of each flow
go to SCREENSHOT_DIR (`APP_TEST_MODEL=toyfaces64-linked SCREENSHOT_DIR=docs` makes the README's)."""
from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium")                  # Debian's, not a browser Playwright downloads
DOCS = Path(os.environ.get("SCREENSHOT_DIR", Path(__file__).resolve().parent.parent / "out" / "screenshots"))
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (run.sh test installs it)")


@pytest.fixture(scope="module")
def page(app_server):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        pg = browser.new_page(viewport={"width": 1280, "height": 900})
        pg.set_default_timeout(30_000)
        sync_api.expect.set_options(timeout=20_000)      # a loaded 2-core CI machine: waits, not sleeps
        pg.goto(app_server.url)
        yield pg
        browser.close()


def history(page):
    return page.locator("#history textarea")


def shot(page, name):
    DOCS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOCS / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def photo_file(tmp_path_factory) -> Path:
    """A photo to upload: a procedural toy face, 200x160 (neither square nor the generator's size)."""
    from PIL import Image

    from linkgan.data import toy_face
    path = tmp_path_factory.mktemp("upload") / "face.png"
    Image.fromarray(toy_face(5, size=256).image).resize((200, 160)).save(path)
    return path


def displayed(page, selector: str = "#current img") -> tuple[str, "np.ndarray"]:
    """An image as the browser shows it: its src and its pixels (H, W, 3), as floats 0-255."""
    import base64
    import io

    import numpy as np
    from PIL import Image
    src = page.locator(selector).get_attribute("src")
    data = base64.b64decode(src.split(",", 1)[1]) if src.startswith("data:") else page.request.get(src).body()
    return src, np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=float)


def eventually(check, timeout: float = 20.0):
    """check() once it passes (it raises AssertionError until then); its last failure after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def shows(page, selector: str, want, tol: float = 0) -> None:
    """The image at selector is `want` (a PIL image), pixel for pixel (within tol of 255: renders in two processes
    with their own thread counts may differ in the last bit of a float)."""
    import numpy as np
    assert page.locator(selector).count() == 1, f"no image at {selector}"
    err = np.abs(displayed(page, selector)[1] - np.asarray(want.convert("RGB"), dtype=float)).max()
    assert err <= tol, f"{selector} is not the expected image (off by up to {err:g} of 255)"


# Where each image's picture lands on the page: object-fit 'contain' centres it, scaled to fit, in the img's box, and
# what lies outside the box of an ancestor with hidden overflow is cut off.
DRAWN = """img => {
    const box = img.getBoundingClientRect(), s = getComputedStyle(img);
    const k = Math.min(box.width / img.naturalWidth, box.height / img.naturalHeight);
    const w = img.naturalWidth * k, h = img.naturalHeight * k;
    const drawn = {left: box.left + (box.width - w) / 2, top: box.top + (box.height - h) / 2, width: w, height: h};
    let seen = {left: -1e9, top: -1e9, right: 1e9, bottom: 1e9};
    for (let e = img.parentElement; e; e = e.parentElement) {
        if (getComputedStyle(e).overflow === "visible") continue;
        const r = e.getBoundingClientRect();
        seen = {left: Math.max(seen.left, r.left), top: Math.max(seen.top, r.top),
                right: Math.min(seen.right, r.right), bottom: Math.min(seen.bottom, r.bottom)};
    }
    return {drawn, seen, fit: s.objectFit, rendering: s.imageRendering, transform: s.transform,
            natural: img.naturalWidth};
}"""


def drawn_whole(page, selector: str) -> list[dict]:
    """Each image at selector is drawn whole (nothing cut off), enlarged, pixel for pixel; their drawn rectangles."""
    out = []
    for img in page.locator(selector).all():
        g = img.evaluate(DRAWN)
        d, seen = g["drawn"], g["seen"]
        assert g["fit"] == "contain" and g["transform"] in ("none", "matrix(1, 0, 0, 1, 0, 0)"), g
        assert g["rendering"] == "pixelated", f"{selector} is blurred when enlarged: {g}"
        assert (d["left"] >= seen["left"] - 1 and d["top"] >= seen["top"] - 1
                and d["left"] + d["width"] <= seen["right"] + 1 and d["top"] + d["height"] <= seen["bottom"] + 1), \
            f"{selector} shows only part of its image: drawn {d}, visible {seen}"
        assert d["width"] >= 2 * g["natural"], f"{selector} is not enlarged: {g}"
        out.append(d)
    return out


def slider_shows(page, before, after) -> None:
    """The before/after slider shows the whole of both images, fitted to its frame, at the same place: its left
    part is `before`'s left part and its right part `after`'s right part (arrays (H, W, 3) at their resolution), as
    the screen shows them (the drag handle in the middle left out)."""
    import io

    import numpy as np
    from PIL import Image
    rects = drawn_whole(page, "#compare img")
    assert len(rects) == 2 and rects[0] == rects[1], rects
    frame = page.locator("#compare").bounding_box()
    d = rects[0]
    assert d["height"] >= 0.6 * frame["height"], f"the slider's images are not fitted to its frame: {d}, {frame}"
    x, y = page.evaluate("[window.scrollX, window.scrollY]")           # the whole page's coordinates
    shot = Image.open(io.BytesIO(page.screenshot(full_page=True, clip={
        "x": d["left"] + x, "y": d["top"] + y, "width": d["width"], "height": d["height"]}))).convert("RGB")
    n = before.shape[0]
    seen = np.asarray(shot.resize((n, n), Image.Resampling.NEAREST), dtype=float)   # each source pixel's middle
    left, right = slice(0, 3 * n // 8), slice(5 * n // 8, n)
    for part, want, name in ((left, before, "before"), (right, after, "after")):
        err = np.abs(seen[4:-4, part] - want[4:-4, part]).max(-1)     # the frame's label may cover an edge
        assert np.mean(err <= 12) > 0.97, f"the slider's {name} side is not the whole {name} image"


def box_change(before, after, box) -> float:
    """Share of the pixels inside a box (x0, y0, x1, y1) in [0, 1] that change visibly (by more than 24 of 255 in
    some channel) between two displayed images."""
    h, w = before.shape[:2]
    x0, y0, x1, y1 = box
    region = slice(round(y0 * h), round(y1 * h)), slice(round(x0 * w), round(x1 * w))
    return float((abs(after[region] - before[region]).max(-1) > 24).mean())


def test_new_user_walkthrough(page, photo_file, expected):
    expect = sync_api.expect
    # 1. Generate
    page.locator("#seed input").fill("42")
    page.locator("#generate-btn").click()
    expect(history(page)).to_have_value('0. start: {"kind": "seed", "seed": 42, "psi": 0.7}')
    expect(page.locator("#current img")).to_be_visible()
    shot(page, "flow-generate")
    # examples gallery: enlarged without blur; clicking one starts from it
    from app import EXAMPLE_SEEDS
    expect(page.locator("#examples img")).to_have_count(len(EXAMPLE_SEEDS))
    for img in page.locator("#examples img").all():
        assert img.evaluate("e => getComputedStyle(e).imageRendering") == "pixelated"
    page.locator("#examples .thumbnail-item").nth(1).click()
    expect(history(page)).to_have_value('0. start: {"kind": "seed", "seed": 11, "psi": 0.7}')
    expect(page.locator("#seed input")).to_have_value("11")
    # 2. Region edit: the preview shows the ticked regions on the current image when the tab opens, follows each
    # tick at once, and follows the resampled image
    face = expected.generate(11, 0.7)
    page.get_by_role("tab", name="2 · Region edit").click()
    eventually(lambda: shows(page, "#region-view img", expected.region_overlay(face, ["eyes"])))
    page.locator("#regions").get_by_label("mouth").check()
    eventually(lambda: shows(page, "#region-view img", expected.region_overlay(face, ["eyes", "mouth"])))
    page.locator("#new-seed input").fill("7")
    src, before = displayed(page)
    page.locator("#region-btn").click()
    expect(history(page)).to_have_value(re.compile(re.escape('1. region: {"regions": ["eyes", "mouth"], "new_seed": 7, "t": 1.0')))
    # the edit shows: the displayed image changes visibly inside the resampled regions (the eyes and mouth lie in
    # these boxes in every face). The first shipped generator changed 0.2 % / 0.4 % of these pixels here.
    expect(page.locator("#current img")).not_to_have_attribute("src", src)
    _, after = displayed(page)
    from linkgan.data import EYES_BOX, MOUTH_BOX
    assert max(box_change(before, after, EYES_BOX), box_change(before, after, MOUTH_BOX)) > 0.03, "no visible change"
    edited = expected.region(face, ["eyes", "mouth"], 7, 1.0)
    eventually(lambda: shows(page, "#region-view img", expected.region_overlay(edited, ["eyes", "mouth"])))
    # the before/after slider: the whole starting face and the whole edited one, enlarged without blur, as are
    # the current image, the preview and the examples
    eventually(lambda: slider_shows(page, before, after))
    for selector in ("#current img", "#region-view img"):
        drawn_whole(page, selector)
    shot(page, "flow-region")
    # tweak t: the same edit is replaced, not stacked
    page.locator("#t input[type=number]").fill("0.5")
    page.locator("#t input[type=number]").press("Enter")
    page.locator("#region-btn").click()
    expect(history(page)).to_have_value(re.compile(r'"t": 0\.5'))
    expect(history(page)).not_to_have_value(re.compile("2. region"))
    # text edit (StyleCLIP latent optimisation): a few steps, then undo it
    page.get_by_role("tab", name="3 · Text edit").click()
    page.locator("#opt-steps input[type=number]").fill("5")
    page.locator("#opt-steps input[type=number]").press("Enter")
    page.locator("#text-btn").click()
    expect(history(page)).to_have_value(re.compile(re.escape('2. text: {"method": "optimize", "target": "a face with purple hair"')),
                                        timeout=60_000)
    shot(page, "flow-text")
    # the other two StyleCLIP methods: global directions (a tuned preset fills target, alpha, beta and the channel
    # count and applies them; then alpha is changed, which replaces that edit), then a shipped mapper on top
    page.locator("#text-method").get_by_label("global").check()
    expect(page.locator("#global-btn")).to_be_visible()
    presets = expected.global_presets()                  # the shipped zoo's blond hair has neutral alternatives
    target = "a face with blond hair" if "a face with blond hair" in presets else list(presets)[-1]
    preset = presets[target]
    edit = re.escape(f'3. text: {{"method": "global", "target": "{target}", "neutral": {json.dumps(preset["neutral"])}')
    edit += ', "neutral_read": "[^"|]+"' if "|" in preset["neutral"] else ""     # the alternative CLIP read
    page.locator("#global-preset input").click()
    page.get_by_role("option", name=target).click()
    expect(page.locator("#global-target").get_by_role("textbox")).to_have_value(target)
    expect(page.locator("#alpha input[type=number]")).to_have_value(re.compile(f"^{preset['alpha']:g}(\\.0)?$"))
    expect(page.locator("#global-neutral").get_by_role("textbox")).to_have_value(preset["neutral"])
    expect(page.locator("#min-channels input[type=number]")).to_have_value(str(preset["min_channels"]))
    expect(history(page)).to_have_value(re.compile(             # applied to the current image at once
        edit + re.escape(f', "alpha": {preset["alpha"]!r}')))
    other = float(preset["alpha"]) + (1 if preset["alpha"] < 20 else -1)      # the slider ends at 20
    page.locator("#alpha input[type=number]").fill(f"{other:g}")
    page.locator("#alpha input[type=number]").press("Enter")
    page.locator("#global-btn").click()
    expect(history(page)).to_have_value(re.compile(edit + re.escape(f', "alpha": {other!r}')))
    expect(history(page)).to_have_value(re.compile(re.escape(f'"min_channels": {preset["min_channels"]}}}')))
    shot(page, "flow-text-global")
    page.locator("#text-method").get_by_label("mapper").check()
    expect(page.locator("#mapper-btn")).to_be_visible()
    page.locator("#mapper-prompt input").click()
    page.get_by_role("option", name="a face with purple hair").click()
    page.locator("#mapper-btn").click()
    expect(history(page)).to_have_value(re.compile(re.escape('4. text: {"method": "mapper", "mapper": "purple_hair"')))
    shot(page, "flow-text-mapper")
    for n in (4, 3, 2):
        page.locator("#undo").click()
        expect(history(page)).not_to_have_value(re.compile(f"{n}. text"))
    page.get_by_role("tab", name="2 · Region edit").click()
    # undo and reset
    page.locator("#undo").click()
    expect(history(page)).to_have_value('0. start: {"kind": "seed", "seed": 11, "psi": 0.7}')
    page.locator("#region-btn").click()
    expect(history(page)).to_have_value(re.compile("1. region"))
    page.locator("#reset").click()
    expect(history(page)).to_have_value('0. start: {"kind": "seed", "seed": 11, "psi": 0.7}')
    # 5. Explore: a method's directions as named sliders; moving one applies it on release
    page.get_by_role("tab", name="5 · Explore").click()
    page.locator("#explore-method").get_by_label("SeFa").check()
    names = expected.explore_directions("sefa")
    expect(page.locator("#explore-of")).to_contain_text("directions of SeFa")  # the sliders are SeFa's now
    expect(page.locator("#explore-1")).to_contain_text(names[1])
    src, _ = displayed(page)
    page.locator("#explore-1 input[type=number]").fill("1.5")
    page.locator("#explore-1 input[type=number]").blur()                # leaving the box releases the slider
    expect(history(page)).to_have_value('0. start: {"kind": "seed", "seed": 11, "psi": 0.7}\n'
                                        '1. explore: {"method": "sefa", "strengths": {"1": 1.5}}')
    expect(page.locator("#current img")).not_to_have_attribute("src", src)
    shot(page, "flow-explore")
    page.locator("#undo").click()
    expect(history(page)).to_have_value('0. start: {"kind": "seed", "seed": 11, "psi": 0.7}')
    expect(page.locator("#explore-1 input[type=number]")).to_have_value("0")     # the sliders follow the undo
    # 4. Photo: upload a picture, invert it (optimisation on the tiny test generator, which has no encoder), edit it
    page.get_by_role("tab", name="4 · Photo").click()
    page.locator("#photo input[type=file]").set_input_files(str(photo_file))
    method = "hybrid" if os.environ.get("APP_TEST_MODEL") else "optimize"    # the shipped model has an encoder
    page.locator("#photo-method").get_by_label(method).check()
    page.locator("#photo-steps input[type=number]").fill("20")
    page.locator("#photo-steps input[type=number]").press("Enter")
    page.locator("#photo-btn").click()
    space = "w+" if method == "hybrid" else "w"
    expect(history(page)).to_have_value(re.compile(re.escape(f'0. start: {{"kind": "photo", "method": "{method}", '
                                                             f'"space": "{space}", "steps": 20')), timeout=60_000)
    # the slider: the photo as the generator sees it, and its inversion
    import numpy as np
    target = np.asarray(expected.photo_image(str(photo_file)).convert("RGB"), dtype=float)
    eventually(lambda: slider_shows(page, target, displayed(page)[1]))
    from linkgan.perceptual import load_lpips
    if "random" in load_lpips("vgg").backbone_name:      # no ImageNet VGG here (offline): the page says so
        expect(page.get_by_text("RANDOM backbone").first).to_be_visible()
    shot(page, "flow-photo")
    page.get_by_role("tab", name="2 · Region edit").click()
    page.locator("#region-btn").click()
    expect(history(page)).to_have_value(re.compile(r'^0\. start: \{"kind": "photo".*\n1\. region', re.S))
    # download: PNG and latent file links appear
    page.get_by_text("Download / load").click()
    page.locator("#prepare").click()
    expect(page.locator("#png-file a")).to_have_attribute("download", "linkgan.png")
    expect(page.locator("#npz-file a")).to_have_attribute("download", "linkgan-latent.npz")
    shot(page, "flow-download")
    with page.expect_download() as dl:
        page.locator("#png-file a").click()
    assert Path(dl.value.path()).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"      # PNG, not lossy WebP


def test_a_mistake_shows_a_message(page):
    page.get_by_role("tab", name="2 · Region edit").click()
    for box in page.locator("#regions input[type=checkbox]").all():
        box.uncheck()
    page.locator("#region-btn").click()
    sync_api.expect(page.get_by_text("choose at least one region").first).to_be_visible(timeout=20_000)


def test_the_3d_tab_turns_the_head_and_resamples_a_region(page, expected3d):
    """The 3D heads page: generate a head, turn it with the yaw slider, its turntable (a looping GIF over the yaw range),
    a region resample that the turntable then shows beside the start."""
    import io

    from PIL import Image, ImageSequence

    from linkgan.render3d import TURNTABLE_FRAMES
    expect = sync_api.expect
    for close in page.locator(".toast-close").all():        # messages left by the walk above cover the tabs
        close.click()
    page.get_by_role("tab", name="3D heads").click()
    page.locator("#seed3d input").fill("4")
    page.locator("#generate3d-btn").click()
    expect(page.locator("#history3d textarea")).to_have_value('0. start: {"kind": "seed", "seed": 4, "psi": 0.7}')
    head = expected3d.generate(4, 0.7)
    eventually(lambda: shows(page, "#head img", expected3d.view(head), tol=4))

    def turntable_width(width: int):
        def check():
            src = page.locator("#turntable img").get_attribute("src") or ""
            assert src.split("?")[0].endswith(".gif"), src
            with Image.open(io.BytesIO(page.request.get(src).body())) as im:
                assert im.info.get("loop") == 0 and im.size == (width, expected3d.resolution)
                assert sum(1 for _ in ImageSequence.Iterator(im)) == TURNTABLE_FRAMES
        eventually(check)

    turntable_width(expected3d.resolution)                                     # the head alone
    page.locator("#yaw input[type=number]").fill("-30")
    page.locator("#yaw input[type=number]").blur()                     # leaving the box releases the slider
    eventually(lambda: shows(page, "#head img", expected3d.view(head, -30, 0), tol=4))  # the camera turned
    with pytest.raises(AssertionError):                      # (the tolerance tells the two views apart)
        shows(page, "#head img", expected3d.view(head), tol=4)
    page.locator("#new-seed3d input").fill("9")
    page.locator("#region3d-btn").click()
    expect(page.locator("#history3d textarea")).to_have_value(re.compile(r'1\. region: \{"regions": \["mouth"\]'))
    edited = expected3d.region(head, ["mouth"], 9, 1.0)
    eventually(lambda: shows(page, "#head img", expected3d.view(edited, -30, 0), tol=4))
    turntable_width(2 * expected3d.resolution)                                 # start | now
    drawn_whole(page, "#head img")
    shot(page, "flow-3d")
    page.locator("#undo3d").click()
    expect(page.locator("#history3d textarea")).to_have_value('0. start: {"kind": "seed", "seed": 4, "psi": 0.7}')
