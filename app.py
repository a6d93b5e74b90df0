"""LinkGAN Studio: the Gradio app. Layout and wiring only; the work is done by `linkgan.studio.Studio`.

    python app.py                                  # the embedded default, offline, http://127.0.0.1:7860
    python app.py --model my-org/my-linked-gan --host 0.0.0.0 --port 7860

Importing this module loads nothing and launches nothing: `build_app(studio)` makes the Blocks.
"""
from __future__ import annotations

import functools
import hashlib
import inspect
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback
from collections import OrderedDict
from pathlib import Path
from types import SimpleNamespace

EXAMPLE_SEEDS = [3, 11, 26, 42, 57, 71, 88, 105]
# Images are sent at the generator's resolution (a 64 px face is a 6 KB PNG) and the browser enlarges them, pixel
# for pixel rather than blurred, each fitted whole into its frame (the slider's pair too: Gradio caps its images
# at 500 px in a shorter frame, which showed a magnified part). Every component showing the generator's pixels
# carries PIXELS; !important because Gradio's rules for its own frames are more specific.
PIXELS = "pixels"
CSS = """.pixels img { image-rendering: pixelated !important; object-fit: contain !important; }
#current img, #region-view img { width: 100%; height: 100%; }
#compare img { height: 100%; max-height: 100% !important; }"""
TEXT_METHODS = ("optimize", "mapper", "global")
EXPLORE_SLIDERS = 12           # the Explore tab's sliders: a method's best directions (the rest by number)
NO_3D = ("No 3D generator is loaded. Train one with `bash training/recipes/heads3d.sh all` and start the app with "
         "`--model3d runs/exports/heads3d64-linked` (docs/3d.md).")
INTRO = """# LinkGAN Studio
Make a face, then change **one region at a time** (LinkGAN links chosen axes of the latent code to image
regions: resampling them changes only that region). Every edit stacks on the **current image** at the
left: undo, reset, compare before/after, download the PNG or the latent file (load it back to get the
same image). Start in **1 · Generate**, pick an example below, or start from a photo in **4 · Photo**.
**3D heads** does the same for a 3D-aware generator, seen from any angle."""


class OutputFiles:
    """The files the app hands to Gradio (images shown, downloads), each written once under a name of its own inside
    Gradio's cache folder, so Gradio serves it as it is.

    Returning a PIL image instead lets Gradio encode it and write it to a file named by the hash of its bytes,
    truncating and rewriting that file on every request that produces the same picture (two users on the same
    seed) while another request may be streaming it: truncated downloads. A file here is never rewritten, and is
    removed max_age_s after it was written (clients fetch their outputs right after the response)."""

    def __init__(self, root: str | Path, *, max_age_s: float = 600.0, memo_size: int = 1024):
        self.root, self.max_age_s, self.memo_size = Path(root), max_age_s, memo_size
        self._pruned = 0.0
        self._memo: OrderedDict[bytes, str] = OrderedDict()        # key -> path, least recently used first
        self._lock = threading.Lock()                               # requests run in several threads

    def png(self, img, *, key: bytes | None = None) -> str:
        """A PIL image (or a function that makes it) as a PNG file; its path. key: what alone determines the image
        (e.g. the bytes of its latent code): while the file written for a key exists, it is handed out again (its
        age restarts) without calling the function: no render for a picture already sent."""
        def write(f):
            (img() if callable(img) else img).save(f, format="PNG")
        return self._write(write, ".png", key)

    def gif(self, data, *, key: bytes | None = None) -> str:
        """GIF bytes (or a function that makes them) as a file; its path. key: as for png."""
        def write(f):
            f.write(data() if callable(data) else data)
        return self._write(write, ".gif", key)

    def _write(self, write, suffix: str, key: bytes | None) -> str:
        if key is not None:
            key = suffix.encode() + key
            with self._lock:                                        # pruning holds it too: no removal in between
                path = self._memo.get(key)
                if path is not None:
                    try:
                        os.utime(path)
                        self._memo.move_to_end(key)
                        return path
                    except FileNotFoundError:                      # removed by Gradio's cache sweep
                        del self._memo[key]
        self.root.mkdir(parents=True, exist_ok=True)
        fd, path = tempfile.mkstemp(suffix=suffix, dir=self.root)
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
        except BaseException:
            os.unlink(path)
            raise
        if key is not None:
            with self._lock:
                self._memo[key] = path
                while len(self._memo) > self.memo_size:
                    self._memo.popitem(last=False)
        self.prune()
        return path

    def folder(self) -> Path:
        """A new empty folder (for files whose names the user sees, e.g. downloads)."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.prune()
        return Path(tempfile.mkdtemp(dir=self.root))

    def prune(self, *, now: float | None = None) -> int:
        """Remove what is older than max_age_s (at most once a second: it lists the folder); the number removed."""
        now = time.time() if now is None else now
        if abs(now - self._pruned) < 1.0:
            return 0
        self._pruned = now
        with self._lock:
            return self._prune(now)

    def _prune(self, now: float) -> int:
        removed = 0
        for entry in os.scandir(self.root):
            try:
                if now - entry.stat(follow_symlinks=False).st_mtime <= self.max_age_s:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
                removed += 1
            except FileNotFoundError:              # another request pruned it first
                continue
        return removed


def guard(fn):
    """The handler fn as the app runs it: a user's mistake (StudioError) shown as it is; a bug logged with its
    traceback and answered in words, the session kept."""
    import gradio as gr

    from linkgan.studio import StudioError

    @functools.wraps(fn)              # keeps the signature: gradio injects gr.SelectData by annotation
    def wrapped(*args):
        try:
            return fn(*args)
        except StudioError as e:
            raise gr.Error(str(e)) from None
        except gr.Error:
            raise
        except Exception:  # noqa: BLE001 - a bug: the traceback to the log, words to the user, session kept
            traceback.print_exc()
            raise gr.Error("something went wrong on the server (it is logged); your image and history are "
                           "unchanged") from None
    return wrapped


class EditOrder:
    """One user's edits, run one at a time, each on the session the edit before it left.

    Gradio hands every event the user's session (gr.State) as it is when the event starts, and runs events of
    different listeners side by side. Two edits of one user sent close together (a region edit, then undo) would both
    start from the same session, and whichever finished last would win, dropping the other. Here each user's edits
    (by Gradio's session hash) take a lock of that user's, and an edit that was handed an older session than the
    last one an edit of that user returned runs on that one instead. Edits of different users still run side by
    side. Sessions carry a revision number ("rev") for that comparison. The last `capacity` users are remembered
    (Gradio keeps as many sessions: --max-sessions)."""

    def __init__(self, capacity: int = 1000):
        self.capacity = capacity
        self._lock = threading.Lock()
        self._users: OrderedDict[str, list] = OrderedDict()        # session hash -> [lock, last session returned]

    def _user(self, key: str) -> list:
        with self._lock:
            entry = self._users.get(key)
            if entry is None:
                entry = self._users[key] = [threading.Lock(), None]
                while len(self._users) > self.capacity:
                    self._users.popitem(last=False)
            self._users.move_to_end(key)
            return entry

    def wrap(self, fn):
        """fn(..., session, ...) -> (*outputs, new session), run in order per user. fn names its session input
        `session`. Gradio passes the request (for its session hash) to the wrapper as a last argument, found by its
        annotation like gr.SelectData."""
        import gradio as gr

        signature = inspect.signature(fn)
        if "session" not in signature.parameters:
            raise TypeError(f"{fn.__name__} has no parameter named 'session' to keep in order")
        request = inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                                    annotation=gr.Request)
        with_request = signature.replace(parameters=[*signature.parameters.values(), request])

        @functools.wraps(fn)
        def ordered(*args, **kwargs):
            given = with_request.bind(*args, **kwargs).arguments      # in parameter order: passed on positionally
            key = getattr(given.pop("request", None), "session_hash", None)
            if key is None:                              # called without a browser session (tests, scripts)
                return fn(*given.values())
            user = self._user(key)
            with user[0]:
                last = user[1]
                if _rev(last) > _rev(given["session"]):
                    given["session"] = last              # an edit of this user finished after this one was sent
                out = fn(*given.values())
                new = out[-1]
                if isinstance(new, dict):
                    new["rev"] = max(_rev(last), _rev(given["session"])) + 1
                    user[1] = new
                return out
        ordered.__signature__ = with_request
        ordered.__annotations__ = {**getattr(fn, "__annotations__", {}), "request": gr.Request}
        return ordered


def _rev(session) -> int:
    return session.get("rev", 0) if isinstance(session, dict) else 0


def _history_text(studio, session) -> str:
    return "\n".join(f"{i}. {line}" for i, line in enumerate(studio.history(session)))


def _latent_upload(file) -> bytes:
    """The bytes of an uploaded latent file (gr.File's value), read up to one byte over the limit: enough for the
    Studio to refuse a larger one without reading it all."""
    from linkgan.latentfile import MAX_FILE_BYTES
    from linkgan.studio import StudioError

    if file is None:
        raise StudioError("choose a latent file (.npz) saved by LinkGAN Studio")
    path = file if isinstance(file, str) else getattr(file, "name", None)
    if path is None or not os.path.isfile(path):
        raise StudioError("the uploaded latent file could not be read")
    with open(path, "rb") as f:
        return f.read(MAX_FILE_BYTES + 1)


def _download(files: OutputFiles, image, latent: bytes) -> tuple[str, str]:
    """The current image as PNG and its latent file, under the names the user downloads (in a folder of their own,
    removed with it)."""
    folder = files.folder()
    png, npz = folder / "linkgan.png", folder / "linkgan-latent.npz"
    image.save(png, format="PNG")
    npz.write_bytes(latent)
    return str(png), str(npz)


def default_output_files() -> OutputFiles:
    """The app's output files: a folder "linkgan" in Gradio's cache, which Gradio serves without copying."""
    from gradio.utils import get_upload_folder
    return OutputFiles(Path(get_upload_folder()).resolve() / "linkgan")


def _handlers(studio, presets: dict, files: OutputFiles | None = None):
    """The app's callbacks: each takes the user's session (gr.State) and returns outputs plus the new session.
    presets: the Studio's tuned global-direction settings (global_presets); files: where output images are written
    (None: a folder "linkgan" in Gradio's cache, which Gradio then serves without copying). Images go to Gradio as
    files of `files`, never as PIL images (OutputFiles says why)."""
    import gradio as gr
    from linkgan.studio import MAX_EXPLORE_STRENGTH, PHOTO_STEPS, StudioError

    files = files or default_output_files()

    def shown(img) -> str:
        """A PIL image as a file for Gradio, at its own resolution: the page enlarges it (CSS), so a 64 px face is
        a 6 KB PNG encoded in 1 ms rather than a 256 px copy of it."""
        return files.png(img)

    def picture(session, which: str = "current") -> str:
        """The current (or starting) image of a session as a file: rendered once per code, then handed out again
        (the "before" of every edit, the same seed for many users, undo to an image already seen)."""
        ws, offset = studio.code(session, which)
        key = hashlib.blake2b(ws.tobytes() + (b"" if offset is None else b"|" + offset.tobytes()),
                              digest_size=20).digest()
        return files.png(lambda: studio.render(ws, offset), key=key)

    def view(session):
        """(current image, history text, session): what the named APIs return. One picture per answer: the
        before/after slider is filled by `compare` right after, in the browser, from files already written."""
        return picture(session), _history_text(studio, session), session

    @guard
    def compare(session):
        """The before/after pair of the session: its starting image and its current one."""
        return picture(session, "start"), picture(session)

    @guard
    def generate(seed, psi, session):
        """Start from the face of a seed (truncation psi in [0, 1])."""
        return view(studio.generate(seed, psi))

    @guard
    def random_seed():
        """A random seed."""
        import random
        return random.randint(0, 2**31 - 1)

    def pick_example(evt: gr.SelectData, psi, session):
        """Start from an example's seed (the gallery's index)."""
        return (EXAMPLE_SEEDS[evt.index], *view(studio.generate(EXAMPLE_SEEDS[evt.index], psi)))
    pick_example.__annotations__["evt"] = gr.SelectData    # a class, not the string of postponed annotations
    pick_example = guard(pick_example)

    @guard
    def region(regions, new_seed, t, session):
        """Resample the chosen regions towards the face of new_seed by t in [0, 1]."""
        return view(studio.region(session, regions, new_seed, t))

    @guard
    def show_regions(regions, session):
        """The current image with the chosen regions highlighted; nothing (the preview cleared) while there is no
        image yet or no region is ticked: the preview follows every tick and every new image without messages."""
        if not regions or not (isinstance(session, dict) and session.get("base") is not None):
            return None
        return shown(studio.region_overlay(session, regions))

    @guard
    def text_optimize(target, steps, region, session, progress=gr.Progress()):
        """Edit by text with StyleCLIP latent optimisation (W+): the current image moves towards the target; region
        (anywhere, hair, background, skin, eyes, mouth) keeps the change inside that part of the face."""
        def report(step, total, losses):
            progress((step, total), desc=f"CLIP loss {losses['clip']:.3f}")
        return view(studio.text_optimize(session, target, steps, region=region, progress=report))

    @guard
    def text_mapper(prompt, strength, session):
        """Edit by text with a shipped StyleCLIP latent mapper (one per prompt): ws + strength * M(ws)."""
        return view(studio.text_mapper(session, prompt, strength))

    @guard
    def text_global(target, neutral, alpha, beta, min_channels, session):
        """Edit by text with StyleCLIP global directions: style channels relevant to target - neutral (|R| >= beta)
        move by alpha; min_channels > 0 lowers beta automatically until at least that many channels move."""
        return view(studio.text_global(session, target, neutral, alpha, beta, min_channels))

    @guard
    def global_preset(target, session):
        """A shipped prompt's tuned settings (global_prompts.json) into the global-direction controls, applied to the
        current image when there is one."""
        p = presets.get(target) if isinstance(target, str) else None
        if p is None:
            return [gr.update()] * 8
        controls = (target, p["neutral"], p["alpha"], p["beta"], p["min_channels"])
        if not (isinstance(session, dict) and session.get("base") is not None):      # no image yet: fill only
            return (*controls, gr.update(), gr.update(), session)
        return (*controls, *view(studio.text_global(session, *controls)))

    def text_method(method):
        """Show the controls of the chosen text-edit method."""
        return [gr.update(visible=method == m) for m in TEXT_METHODS]

    @guard
    def explore(method, direction, strength, session):
        """Move the current image along one direction of a method (ganspace, sefa, interfacegan, stylespace) by
        strength standard deviations; the method's other directions keep the strengths they have."""
        return view(studio.explore(session, method, direction, strength))

    def explore_slider(direction: int):
        """The handler of one direction's slider: explore(method, direction, the slider's strength)."""
        def moved(method, strength, session):
            return view(studio.explore(session, method, direction, strength))
        return guard(moved)

    @guard
    def explore_directions(method):
        """The directions of a method, best first, each named by what it changes ('comp 3: hair colour ...')."""
        return studio.explore_directions(method)

    @guard
    def explore_method(method, session):
        """The sliders of a method: its best directions, named, at the strengths of the current image's edit."""
        names = studio.explore_directions(method)
        strengths = studio.explore_strengths(session, method)
        top = MAX_EXPLORE_STRENGTH[method]
        return [gr.update(visible=i < len(names), label=names[i] if i < len(names) else "", minimum=-top, maximum=top,
                          value=strengths.get(i, 0.0)) for i in range(EXPLORE_SLIDERS)] + [sliders_of(method, names)]

    def explore_refresh(method, session):
        """explore_method after undo, reset, a loaded file or opening the tab: sliders left as they are, without a
        message, when the method has no directions (the user saw why on choosing it)."""
        try:
            return explore_method.__wrapped__(method, session)
        except StudioError:
            return [gr.update()] * (EXPLORE_SLIDERS + 1)

    @guard
    def invert_photo(photo, method, steps, session, progress=gr.Progress()):
        """Start from a photo (any image file): invert it into the generator's latent space by the encoder (one
        pass), optimisation or hybrid (encoder, then optimisation); the edit tabs then edit it."""
        def report(step, total, loss):
            progress((step, total), desc=f"loss {loss:.4f}")
        new = studio.invert_photo(session, photo, method, steps, progress=report)
        if studio.perceptual_warning(new):
            gr.Warning(studio.perceptual_warning(new), duration=None)        # stays until the user closes it
        return view(new)

    @guard
    def photo_compare(photo, session):
        """The before/after pair of an inverted photo: the photo as the generator sees it, and its inversion."""
        return shown(studio.photo_image(photo)), picture(session)

    def photo_method(method):
        """The steps slider: hidden for the encoder (one pass), the method's default otherwise."""
        return gr.update(visible=method != "encoder", value=PHOTO_STEPS.get(method, 50) if isinstance(method, str)
                         else 50)

    @guard
    def undo(session):
        """Undo the last edit."""
        return view(studio.undo(session))

    @guard
    def reset(session):
        """Drop every edit: back to the starting image."""
        return view(studio.reset(session))

    @guard
    def download(session):
        """The current image as PNG (native resolution) and its latent file (.npz)."""
        return _download(files, studio.image(session), studio.save_latent(session))

    @guard
    def load_latent(file, session):
        """Continue from a latent file saved by this app."""
        return view(studio.load_latent(_latent_upload(file)))

    return dict(generate=generate, random_seed=random_seed, pick_example=pick_example, region=region,
                text_optimize=text_optimize, text_mapper=text_mapper, text_global=text_global,
                global_preset=global_preset, text_method=text_method, show_regions=show_regions, compare=compare,
                explore=explore, explore_slider=explore_slider, explore_directions=explore_directions,
                explore_method=explore_method, explore_refresh=explore_refresh,
                photo_compare=photo_compare,
                invert_photo=invert_photo, photo_method=photo_method, undo=undo, reset=reset, download=download,
                load_latent=load_latent)


def global_presets(studio) -> dict[str, dict]:
    """The Studio's tuned global-direction settings; a broken settings file is reported and leaves the app without
    presets rather than stopping it."""
    from linkgan.studio import StudioError

    try:
        return studio.global_presets()
    except StudioError as e:
        print(f"warning: no tuned global-direction presets: {e}", file=sys.stderr)
        return {}


def sliders_of(method: str, names: list[str]) -> str:
    """The line above the Explore sliders: whose directions they are."""
    from linkgan.studio import EXPLORE_METHODS
    return f"The {min(len(names), EXPLORE_SLIDERS)} best directions of {EXPLORE_METHODS[method]}:" if names else ""


def explore_names(studio, method: str) -> list[str]:
    """The names of a method's directions for the Explore sliders at start-up; a method that fails to load (a damaged
    file) is reported and shows no sliders rather than stopping the app (choosing it again shows the message)."""
    from linkgan.studio import StudioError

    try:
        return studio.explore_directions(method)
    except StudioError as e:
        print(f"warning: Explore: {e}", file=sys.stderr)
        return []


def _values_as_sent(demo) -> None:
    """Every value control (number, slider, text, choice) hands its handler the value exactly as the client sent it.
    Gradio's own preprocessing rounds (seed 1.5 became 2, True became 1), turns a list into text, and answers a string
    or None in a number with "Could not preprocess input component at index N"; the Studio checks every value
    itself and says what is wrong (linkgan.studio._check_number, _check_text)."""
    import gradio as gr

    for block in demo.blocks.values():
        if isinstance(block, (gr.Number, gr.Slider, gr.Textbox, gr.Dropdown, gr.CheckboxGroup, gr.Radio)):
            block.preprocess = lambda payload: payload


def _photo_input(**kw):
    """A gr.Image whose upload reaches Studio.invert_photo as the file itself, not decoded by Gradio first: then
    linkgan.photos checks it (non-image, truncated, huge, any mode, EXIF) and every bad upload gets its message.
    The instance's preprocess is replaced rather than subclassing gr.Image (a subclass makes Gradio write an
    app.pyi stub next to this file); browsers and API clients see a plain Image."""
    import gradio as gr

    image = gr.Image(**kw)
    decode = image.preprocess

    def preprocess(payload):
        if payload is not None and payload.path and not (payload.url or "").startswith("data:"):
            return payload.path
        return decode(payload)

    image.preprocess = preprocess
    return image


class _Page:
    """What every tab wires to: the Studio, the handlers, the user's session (gr.State) and the components an edit
    updates: the current image and history at the left, and the before/after slider below the tabs."""

    def __init__(self, studio, handlers: dict, session, current, history, compare, order: EditOrder | None = None):
        self.studio, self.h, self.session = studio, handlers, session
        self.order = order or EditOrder()
        self.current, self.history, self.compare = current, history, compare
        self.shown = [current, history, session]          # what every edit handler returns

    def edit(self, listener, fn, inputs, api_name=False, outputs=None, compare_api=False):
        """An event whose handler returns a new session (`shown`); once it succeeds, the browser fills the
        before/after slider with a second, cheap call (the images are files already written).
        A slider's release runs "always_last": the browser releases a slider again when its number box gains focus
        and when a number is typed, and Gradio's default for such events drops a release that comes while the last
        one runs, so the typed value could be lost and the earlier one applied last. Edits of one user run one at a
        time, each on the session the one before left (EditOrder)."""
        mode = "always_last" if getattr(listener, "event_name", "") == "release" else None
        event = listener(self.order.wrap(fn), inputs, outputs or self.shown, api_name=api_name,
                         **({"trigger_mode": mode} if mode else {}))
        event.success(self.h["compare"], [self.session], self.compare, api_name=compare_api, show_progress="hidden",
                      concurrency_limit=None)
        return event


def _refresh(fn, inputs, outputs) -> dict:
    """The arguments of an event that redraws a view after something else changed (`.success(**...)`,
    `.select(**...)`): no API of its own, no spinner."""
    return dict(fn=fn, inputs=inputs, outputs=outputs, api_name=False, show_progress="hidden", concurrency_limit=None)


def _current_panel():
    """The left column: the current image, undo / reset, the history, downloads and loading a latent file."""
    import gradio as gr

    current = gr.Image(label="Current image", type="pil", format="png", interactive=False, height=280,
                       elem_id="current", elem_classes=PIXELS)
    with gr.Row():
        undo_btn = gr.Button("Undo", size="sm", elem_id="undo")
        reset_btn = gr.Button("Reset", size="sm", elem_id="reset")
    history = gr.Textbox(label="History", lines=4, interactive=False, elem_id="history")
    with gr.Accordion("Download / load", open=False):
        save_btn = gr.Button("Prepare downloads", size="sm", elem_id="prepare")
        png_file = gr.File(label="PNG", interactive=False, elem_id="png-file")
        latent_file = gr.File(label="Latent + parameters (.npz)", interactive=False, elem_id="npz-file")
        latent_in = gr.File(label="Load a latent file", file_types=[".npz"], elem_id="latent-in")
    return SimpleNamespace(current=current, history=history, undo_btn=undo_btn, reset_btn=reset_btn,
                           save_btn=save_btn, png_file=png_file, latent_file=latent_file, latent_in=latent_in)


def _wire_current_panel(page: _Page, panel, refreshes: list[dict]) -> None:
    """Undo, reset, downloads and loading a file; refreshes: what follows a changed current image made from any tab
    (the Explore sliders, the region preview)."""
    h = page.h
    for event in (page.edit(panel.undo_btn.click, h["undo"], [page.session], "undo"),
                  page.edit(panel.reset_btn.click, h["reset"], [page.session], "reset"),
                  page.edit(panel.latent_in.upload, h["load_latent"], [panel.latent_in, page.session], "load_latent")):
        for refresh in refreshes:
            event.success(**refresh)
    panel.save_btn.click(h["download"], [page.session], [panel.png_file, panel.latent_file], api_name="download")


def _generate_tab(page: _Page) -> None:
    """1 · Generate: a seed and a truncation, or one of the example faces."""
    import gradio as gr

    from linkgan.studio import MAX_SEED

    studio, h = page.studio, page.h
    with gr.Tab("1 · Generate", id="generate"):
        gr.Markdown("Pick a seed (each seed is one face) and a truncation: lower psi gives more typical faces.")
        with gr.Row():
            seed = gr.Number(label="Seed", value=3, precision=0, minimum=0, maximum=MAX_SEED, elem_id="seed")
            rand_btn = gr.Button("Random seed", elem_id="random-seed")
        psi = gr.Slider(0.0, 1.0, value=0.7, step=0.05, label="Truncation psi", elem_id="psi")
        gen_btn = gr.Button("Generate", variant="primary", elem_id="generate-btn")
        gallery = gr.Gallery(value=[(studio.render(studio.map_seed(s, 0.7)), f"seed {s}") for s in EXAMPLE_SEEDS],
                             format="png", label="Examples (click one to start from it)", columns=8, height=180,
                             object_fit="contain", allow_preview=False, elem_id="examples", elem_classes=PIXELS)
    page.edit(gen_btn.click, h["generate"], [seed, psi, page.session], "generate", compare_api="compare")
    rand_btn.click(h["random_seed"], None, seed, api_name="random_seed")
    page.edit(gallery.select, h["pick_example"], [psi, page.session], outputs=[seed, *page.shown])


def _region_tab(page: _Page) -> dict:
    """2 · Region edit: resample the ticked regions towards another seed's face. Returns the refresh of the region
    preview, for edits made from the panel at the left."""
    import gradio as gr

    from linkgan.studio import MAX_SEED

    links, h = page.studio.link_names(), page.h
    with gr.Tab("2 · Region edit", id="region") as tab:
        gr.Markdown("Choose regions, a face to borrow them from (new seed) and how far to go (t). Only the chosen "
                    "regions change. Moving t tweaks the same edit.")
        regions = gr.CheckboxGroup(links, value=links[:1], label="Regions", elem_id="regions")
        preview = gr.Image(label="Where the chosen regions are", type="pil", format="png", interactive=False,
                           height=200, elem_id="region-view", elem_classes=PIXELS)
        with gr.Row():
            new_seed = gr.Number(label="New seed", value=7, precision=0, minimum=0, maximum=MAX_SEED,
                                 elem_id="new-seed")
            rand_btn = gr.Button("Random", elem_id="random-new-seed")
        t = gr.Slider(0.0, 1.0, value=1.0, step=0.05, label="t (0 = unchanged, 1 = new seed's)", elem_id="t")
        region_btn = gr.Button("Resample regions", variant="primary", elem_id="region-btn")
    # the preview is of the current image: drawn when the tab opens (the image may have changed on another tab),
    # on every tick and after every change of the image made here
    refresh = _refresh(h["show_regions"], [regions, page.session], preview)
    regions.change(h["show_regions"], [regions, page.session], preview, api_name="show_regions",
                   show_progress="hidden")
    tab.select(**refresh)
    rand_btn.click(h["random_seed"], None, new_seed, api_name=False)
    page.edit(region_btn.click, h["region"], [regions, new_seed, t, page.session], "region").success(**refresh)
    page.edit(t.release, h["region"], [regions, new_seed, t, page.session]).success(**refresh)
    return refresh


def _text_tab(page: _Page, presets: dict) -> None:
    """3 · Text edit: StyleCLIP's three methods (latent optimisation, a mapper, global directions), one shown at a
    time."""
    import gradio as gr

    from linkgan.studio import MAX_ALPHA, MAX_MAPPER_STRENGTH
    from linkgan.styleclip import EDIT_REGIONS, TEXT_EDIT_DEFAULTS

    studio, h, session = page.studio, page.h, page.session
    with gr.Tab("3 · Text edit", id="text"):
        gr.Markdown("Describe the face you want (CLIP: the toy CLIP by default, which knows colours and hair styles "
                    "best). StyleCLIP's three methods: **optimize** moves the latent towards the text (seconds; Stop "
                    "discards the running edit), **mapper** applies a network trained for one prompt (instant), "
                    "**global** moves the style channels relevant to target minus neutral text by alpha (instant; "
                    "higher beta touches fewer channels).")
        method = gr.Radio(list(TEXT_METHODS), value="optimize", label="Method", elem_id="text-method")
        with gr.Column(visible=True) as opt_box:
            target = gr.Textbox(label="Target text", value="a face with purple hair", elem_id="target")
            opt_steps = gr.Slider(5, 200, value=TEXT_EDIT_DEFAULTS.optimize_steps, step=5, label="Steps", elem_id="opt-steps")
            opt_region = gr.Dropdown(["anywhere", *EDIT_REGIONS], value="anywhere", label="Keep the edit inside",
                                     info="a part of the face: the change elsewhere is penalised (read by the part "
                                          "segmenter) instead of the distance in W+", elem_id="opt-region")
            with gr.Row():
                text_btn = gr.Button("Edit by text", variant="primary", elem_id="text-btn")
                stop_btn = gr.Button("Stop", elem_id="stop-btn")
        mapper_prompts = list(studio.mapper_prompts().values())
        with gr.Column(visible=False) as mapper_box:
            mapper_prompt = gr.Dropdown(mapper_prompts, value=(mapper_prompts or [None])[0],
                                        label="Mapper (one per shipped prompt)",
                                        allow_custom_value=True,      # the Studio explains
                                        info=None if mapper_prompts else "none shipped for this generator",
                                        elem_id="mapper-prompt")
            strength = gr.Slider(0.0, MAX_MAPPER_STRENGTH, value=TEXT_EDIT_DEFAULTS.mapper_strength, step=0.01,
                                 label=f"Strength (trained at {TEXT_EDIT_DEFAULTS.mapper_strength})",
                                 elem_id="mapper-strength")
            mapper_btn = gr.Button("Apply mapper", variant="primary", elem_id="mapper-btn")
        d = TEXT_EDIT_DEFAULTS
        g0 = {"target": "a face with purple hair", "neutral": d.neutral, "alpha": d.alpha, "beta": d.beta,
              "min_channels": d.min_channels}
        if presets:                 # start on the first tuned prompt
            g0 = {"target": next(iter(presets)), **next(iter(presets.values()))}
        with gr.Column(visible=False) as global_box:
            preset = gr.Dropdown(list(presets), value=g0["target"] if presets else None,
                                 label="Tuned settings (fill the controls below and apply them)",
                                 visible=bool(presets), elem_id="global-preset")
            global_target = gr.Textbox(label="Target text", value=g0["target"], elem_id="global-target")
            neutral = gr.Textbox(label="Neutral text", value=g0["neutral"], elem_id="global-neutral",
                                 info="the face as it is; alternatives separated by | (CLIP uses the one it reads in "
                                      "the face, shown in the history)")
            alpha = gr.Slider(-MAX_ALPHA, MAX_ALPHA, value=g0["alpha"], step=0.5, label="alpha (strength)",
                              elem_id="alpha")
            beta = gr.Slider(0.0, 1.0, value=g0["beta"], step=0.01,
                             label="beta (relevance threshold: higher touches fewer channels)", elem_id="beta")
            min_channels = gr.Slider(0, max([100, *(p["min_channels"] for p in presets.values())]),
                                     value=g0["min_channels"], step=1,
                                     label="Automatic beta: at least this many channels (0 = off)",
                                     elem_id="min-channels")
            global_btn = gr.Button("Apply global direction", variant="primary", elem_id="global-btn")
    text_event = page.edit(text_btn.click, h["text_optimize"], [target, opt_steps, opt_region, session],
                           "text_optimize")
    stop_btn.click(None, None, None, cancels=[text_event], api_name=False)
    method.change(h["text_method"], method, [opt_box, mapper_box, global_box], api_name=False)
    page.edit(mapper_btn.click, h["text_mapper"], [mapper_prompt, strength, session], "text_mapper")
    page.edit(strength.release, h["text_mapper"], [mapper_prompt, strength, session])
    global_in = [global_target, neutral, alpha, beta, min_channels, session]
    page.edit(preset.input, h["global_preset"], [preset, session], outputs=[*global_in[:-1], *page.shown])
    page.edit(global_btn.click, h["text_global"], global_in, "text_global")
    for slider in (alpha, beta, min_channels):
        page.edit(slider.release, h["text_global"], global_in)


def _photo_tab(page: _Page) -> None:
    """4 · Photo: invert an uploaded photo (encoder, optimisation or both); it becomes the current image."""
    import gradio as gr

    from linkgan.studio import PHOTO_STEPS

    h, session = page.h, page.session
    no_encoder = page.studio.encoder_problem()
    with gr.Tab("4 · Photo", id="photo"):
        gr.Markdown("Start from a photo: it is cropped to a square and inverted into the generator's latent space, "
                    "then it is the current image for the edit tabs. **encoder** is one pass (instant, rough), "
                    "**optimize** fits the code by LPIPS + MSE (seconds), **hybrid** refines the encoder's code per "
                    "layer (better than optimize in a quarter of the steps)."
                    + (f"\n\n*{no_encoder}*" if no_encoder else ""))
        photo = _photo_input(label="Photo", sources=["upload", "webcam"], type="filepath", format="png", height=220,
                             elem_id="photo")
        method = gr.Radio(["encoder", "optimize", "hybrid"], value="optimize" if no_encoder else "hybrid",
                          label="Method", elem_id="photo-method")
        steps = gr.Slider(10, 1000, value=PHOTO_STEPS["optimize" if no_encoder else "hybrid"], step=10,
                          label="Optimisation steps", elem_id="photo-steps")
        with gr.Row():
            invert_btn = gr.Button("Invert", variant="primary", elem_id="photo-btn")
            stop_btn = gr.Button("Stop", elem_id="photo-stop")
    # not `page.edit`: the "before" of an inverted photo is the photo itself, not the starting image
    event = invert_btn.click(page.order.wrap(h["invert_photo"]), [photo, method, steps, session], page.shown,
                             api_name="invert_photo")
    event.success(h["photo_compare"], [photo, session], page.compare, api_name="photo_compare",
                  show_progress="hidden", concurrency_limit=None)
    stop_btn.click(None, None, None, cancels=[event], api_name=False)
    method.change(h["photo_method"], method, steps, api_name=False)


def _explore_tab(page: _Page) -> dict:
    """5 · Explore: a method's latent directions (GANSpace, SeFa, InterFaceGAN, StyleSpace) as named sliders.
    Returns the refresh of the sliders, for edits made from the panel at the left."""
    import gradio as gr

    from linkgan.studio import EXPLORE_METHODS, MAX_EXPLORE_STRENGTH

    studio, h, session = page.studio, page.h, page.session
    with gr.Tab("5 · Explore", id="explore") as tab:
        offered = studio.explore_methods()         # method -> None, or why it is left out
        missing = [why for why in offered.values() if why]
        usable = [m for m, why in offered.items() if why is None]
        gr.Markdown("Move the current image along the generator's own latent directions, found without any text: "
                    "**GANSpace** (principal components of W), **SeFa** (from the weights), **InterFaceGAN** (one "
                    "boundary per attribute value), **StyleSpace** (one style channel of one part). Each slider is a "
                    "direction, named by what the attribute oracle sees it change; strengths are in standard "
                    "deviations. Applied on release; the sliders of one method make one edit."
                    + "".join(f"\n\n*{why}*" for why in missing))
        method = gr.Radio([(EXPLORE_METHODS[m], m) for m in usable], value=usable[0] if usable else None,
                          label="Method", elem_id="explore-method")
        names = explore_names(studio, usable[0]) if usable else []
        top = MAX_EXPLORE_STRENGTH[usable[0]] if usable else 5.0
        shown = gr.Markdown(sliders_of(usable[0], names) if usable else "", elem_id="explore-of")
        sliders = [gr.Slider(-top, top, value=0.0, step=0.25, label=names[i] if i < len(names) else "",
                             visible=i < len(names), elem_id=f"explore-{i}") for i in range(EXPLORE_SLIDERS)]
        with gr.Accordion("Any direction, by number", open=False):
            with gr.Row():
                direction = gr.Number(label="Direction", value=0, precision=0, minimum=0, elem_id="explore-direction")
                strength = gr.Number(label="Strength", value=2.0, elem_id="explore-strength")
            apply_btn = gr.Button("Apply", elem_id="explore-btn")
            directions = gr.JSON(label="Directions of this method", visible=False)
    # Two events redraw the sliders: choosing a method, and the refresh below. They share one queue, so they finish
    # in the order they were sent: a slow refresh of the method shown before cannot land after the choice of another
    # and put back the old method's names and strengths.
    in_order = dict(concurrency_id="explore-sliders", concurrency_limit=1)
    method.change(h["explore_method"], [method, session], [*sliders, shown], api_name=False, **in_order)
    method.change(h["explore_directions"], method, directions, api_name="explore_directions")
    for i, slider in enumerate(sliders):
        page.edit(slider.release, h["explore_slider"](i), [method, slider, session])
    page.edit(apply_btn.click, h["explore"], [method, direction, strength, session], "explore")
    # the sliders show the current image's Explore edit: refreshed when the tab opens (edits made elsewhere) and
    # after undo, reset and loading a latent file, which can be done from any tab
    refresh = {**_refresh(h["explore_refresh"], [method, session], [*sliders, shown]), **in_order}
    tab.select(**refresh)
    return refresh


def _handlers3d(studio3d, files: OutputFiles):
    """The 3D tab's callbacks (named APIs ending in 3d): the head's session is a gr.State of its own, the camera
    (yaw, pitch) an input of every call that shows the head; images and turntables go to Gradio as files."""
    import struct

    def picture(session, yaw, pitch) -> str:
        yaw, pitch = studio3d.check_view(yaw, pitch)
        ws = studio3d.current_ws(session)
        key = hashlib.blake2b(ws.tobytes() + struct.pack("<2d", yaw, pitch), digest_size=20).digest()
        return files.png(lambda: studio3d.view(session, yaw, pitch), key=key)

    def view(session, yaw, pitch):
        """(the head from (yaw, pitch), history text, session)."""
        return picture(session, yaw, pitch), _history_text(studio3d, session), session

    @guard
    def generate3d(seed, psi, yaw, pitch, session):
        """Start from the head of a seed (truncation psi in [0, 1]), seen from yaw, pitch (degrees)."""
        return view(studio3d.generate(seed, psi), yaw, pitch)

    @guard
    def view3d(yaw, pitch, session):
        """The current head seen from yaw, pitch (degrees, inside the model's camera range)."""
        return picture(session, yaw, pitch)

    @guard
    def region3d(regions, new_seed, t, yaw, pitch, session):
        """Resample the chosen linked regions of the head towards the head of new_seed by t in [0, 1]."""
        return view(studio3d.region(session, regions, new_seed, t), yaw, pitch)

    @guard
    def undo3d(yaw, pitch, session):
        """Undo the last edit of the head."""
        return view(studio3d.undo(session), yaw, pitch)

    @guard
    def turntable3d(pitch, session):
        """A looping GIF of the camera sweeping the yaw range at pitch: the starting head beside the current one
        once there are edits."""
        pitch = studio3d.check_view(0.0, pitch)[1]
        codes = studio3d.turntable_codes(session)
        key = hashlib.blake2b(b"|".join(c.tobytes() for c in codes) + struct.pack("<d", pitch),
                              digest_size=20).digest()
        return files.gif(lambda: studio3d.turntable_gif(session, pitch=pitch), key=key)

    @guard
    def download3d(yaw, pitch, session):
        """The head as seen now (PNG) and its latent file (.npz)."""
        return _download(files, studio3d.view(session, yaw, pitch), studio3d.save_latent(session))

    @guard
    def load_latent3d(file, yaw, pitch, session):
        """Continue from a latent file saved by the 3D tab for this generator."""
        return view(studio3d.load_latent(_latent_upload(file)), yaw, pitch)

    return dict(generate3d=generate3d, view3d=view3d, region3d=region3d, undo3d=undo3d, turntable3d=turntable3d,
                download3d=download3d, load_latent3d=load_latent3d)


def _heads_tab(studio3d, files: OutputFiles, missing: str | None, order: EditOrder) -> None:
    """3D heads: a tri-plane generator's head from any camera of its range, its turntable, region resampling
    that shows from every angle, undo and latent files. Its own session: a 3D code is not a 2D one. missing: why no
    3D generator is loaded (the tab then says so)."""
    import gradio as gr

    from linkgan.studio import MAX_SEED

    with gr.Tab("3D heads", id="heads"):
        if studio3d is None:
            gr.Markdown(f"*{missing}*", elem_id="heads-missing")
            return
        h = _handlers3d(studio3d, files)
        r, links = studio3d.camera_range, studio3d.link_names()
        session = gr.State(studio3d.new_session())
        gr.Markdown("A 3D-aware generator (tri-plane, after EG3D) of toy heads: turn the camera, watch the turntable, "
                    "and resample a linked region: it changes in every view, the rest of the head stays. The "
                    "turntable shows the starting head at the left and the current one at the right.")
        with gr.Row():
            with gr.Column():
                head = gr.Image(label="Head", type="filepath", interactive=False, height=280, elem_id="head",
                                elem_classes=PIXELS)
                yaw = gr.Slider(-r.yaw_deg, r.yaw_deg, value=0.0, step=2.5, label="Yaw (degrees)", elem_id="yaw")
                pitch = gr.Slider(-r.pitch_deg, r.pitch_deg, value=0.0, step=2.5, label="Pitch (degrees)",
                                  elem_id="pitch")
            with gr.Column():
                turn = gr.Image(label="Turntable", type="filepath", interactive=False, height=280,
                                elem_id="turntable", elem_classes=PIXELS)
                history = gr.Textbox(label="History", lines=3, interactive=False, elem_id="history3d")
        with gr.Row():
            seed = gr.Number(label="Seed", value=3, precision=0, minimum=0, maximum=MAX_SEED, elem_id="seed3d")
            psi = gr.Slider(0.0, 1.0, value=0.7, step=0.05, label="Truncation psi", elem_id="psi3d")
            gen_btn = gr.Button("Generate head", variant="primary", elem_id="generate3d-btn")
        with gr.Row():
            regions = gr.CheckboxGroup(links, value=links[:1], label="Regions", elem_id="regions3d")
            new_seed = gr.Number(label="New seed", value=7, precision=0, minimum=0, maximum=MAX_SEED,
                                 elem_id="new-seed3d")
            t = gr.Slider(0.0, 1.0, value=1.0, step=0.05, label="t", elem_id="t3d")
        with gr.Row():
            region_btn = gr.Button("Resample regions", variant="primary", elem_id="region3d-btn")
            undo_btn = gr.Button("Undo", elem_id="undo3d")
        with gr.Accordion("Download / load", open=False):
            save_btn = gr.Button("Prepare downloads", size="sm", elem_id="prepare3d")
            png_file = gr.File(label="PNG (this view)", interactive=False, elem_id="png-file3d")
            latent_file = gr.File(label="Latent + parameters (.npz)", interactive=False, elem_id="npz-file3d")
            latent_in = gr.File(label="Load a latent file", file_types=[".npz"], elem_id="latent-in3d")
    shown = [head, history, session]
    spin = _refresh(h["turntable3d"], [pitch, session], turn)
    edit = order.wrap                    # the head's edits in order per user, as the faces' (EditOrder)
    gen_btn.click(edit(h["generate3d"]), [seed, psi, yaw, pitch, session], shown,
                  api_name="generate3d").success(**spin)
    region_in = [regions, new_seed, t, yaw, pitch, session]
    region_btn.click(edit(h["region3d"]), region_in, shown, api_name="region3d").success(**spin)
    undo_btn.click(edit(h["undo3d"]), [yaw, pitch, session], shown, api_name="undo3d").success(**spin)
    latent_in.upload(edit(h["load_latent3d"]), [latent_in, yaw, pitch, session], shown,
                     api_name="load_latent3d").success(**spin)
    for slider in (yaw, pitch):      # always_last: the view of the camera the sliders end at (see _Page.edit)
        slider.release(h["view3d"], [yaw, pitch, session], head, api_name="view3d" if slider is yaw else False,
                       show_progress="hidden", trigger_mode="always_last")
    pitch.release(h["turntable3d"], [pitch, session], turn, api_name="turntable3d", trigger_mode="always_last")
    save_btn.click(h["download3d"], [yaw, pitch, session], [png_file, latent_file], api_name="download3d")


def build_app(studio, studio3d=None, missing3d: str | None = None, *, max_sessions: int = 1000):
    """The Blocks for a loaded Studio: the panel of the current image at the left, one tab per way to change it, and
    the before/after slider below the tabs; the 3D tab on studio3d (a Studio3D), or saying missing3d when None.
    max_sessions: the users whose edits are kept in order (as many as Gradio keeps sessions of)."""
    import gradio as gr

    presets = global_presets(studio)
    files = default_output_files()
    handlers = _handlers(studio, presets, files)
    # Gradio's cache (uploads, and the files OutputFiles writes there) is swept every 10 minutes of what is older than
    # an hour; Gradio deletes the rest when the server stops
    with gr.Blocks(title="LinkGAN Studio", delete_cache=(600, 3600)) as demo:
        session = gr.State(studio.new_session())            # per user: nothing is shared between users
        gr.Markdown(INTRO)
        # made before the tabs that fill it, placed below them
        compare = gr.ImageSlider(label="Before / after (drag)", type="pil", format="png", height=280,
                                 interactive=False, elem_id="compare", elem_classes=PIXELS, render=False)
        with gr.Tabs():
            with gr.Tab("Faces", id="faces"):
                with gr.Row():
                    with gr.Column(scale=1, min_width=300):
                        panel = _current_panel()
                    page = _Page(studio, handlers, session, panel.current, panel.history, compare,
                                 EditOrder(max_sessions))
                    with gr.Column(scale=2):
                        with gr.Tabs():
                            _generate_tab(page)
                            region_refresh = _region_tab(page)
                            _text_tab(page, presets)
                            _photo_tab(page)
                            explore_refresh = _explore_tab(page)
                        compare.render()
            _heads_tab(studio3d, files, missing3d or NO_3D,      # a page of its own: a head is not a face's code
                       EditOrder(max_sessions))
        _wire_current_panel(page, panel, [explore_refresh, region_refresh])
    _values_as_sent(demo)
    return demo


def load_studio3d(model3d: str, device: str):
    """(Studio3D or None, why none): --model3d 'none' loads nothing, 'auto' the default 3D generator if it is there;
    a named one that cannot be loaded is an error the user sees in the 3D tab (the 2D app still serves)."""
    from linkgan.hub import WeightsFormatError, WeightsNotFoundError
    from linkgan.studio.heads import DEFAULT_GENERATOR3D, Studio3D

    if model3d == "none":
        return None, "The 3D tab is off (--model3d none)."
    try:
        return Studio3D.load(DEFAULT_GENERATOR3D if model3d == "auto" else model3d, device=device), None
    except WeightsNotFoundError as e:
        if model3d == "auto":
            return None, None
        return None, f"The 3D generator {model3d!r} was not found: {e}"
    except (WeightsFormatError, ValueError) as e:
        return None, f"The 3D generator {model3d!r} cannot be used: {e}"


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(description="LinkGAN Studio: controllable GAN image editing in the browser")
    p.add_argument("--model", default=None, help="generator: registry name, folder or Hub repo id "
                                                 "(default: the embedded toyfaces64-linked)")
    p.add_argument("--clip", default="toyfaces-clip",
                   help="CLIP for text edits: a project CLIP, an open_clip 'hf-hub:' id (e.g. "
                        "hf-hub:timm/vit_base_patch32_clip_224.openai for ViT-B-32 openai), an open_clip "
                        "architecture/tag (ViT-B-32/openai), or 'none'")
    p.add_argument("--encoder", default="auto",
                   help="photo encoder (Photo tab): registry name, folder or Hub repo id, 'none', or 'auto' (the "
                        "shipped toyfaces64-encoder for the default generator, none for any other)")
    p.add_argument("--model3d", default="auto",
                   help="3D generator of the 3D tab (TriplaneGenerator): folder, registry name or Hub repo id, 'none', "
                        "or 'auto' (heads3d64-linked when it is there; none ships yet)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (cuda when there is a GPU). Default cpu: the "
                                                   "app's CUDA path has not been run end to end yet")
    p.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                   help="address to serve on (default GRADIO_SERVER_NAME, which a Space sets to 0.0.0.0, else "
                        "127.0.0.1)")
    p.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    p.add_argument("--concurrency", type=int, default=2, help="requests processed at once (default 2)")
    p.add_argument("--max-upload-mb", type=float, default=20.0,
                   help="the largest upload (photo or latent file) Gradio accepts, in MB (default 20)")
    p.add_argument("--max-sessions", type=int, default=1000,
                   help="users whose session the server keeps (the oldest is dropped beyond; default 1000); each "
                        "holds at most linkgan.studio.MAX_EDITS edits")
    a = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from linkgan.hub import DEFAULT_GENERATOR, WeightsNotFoundError
    from linkgan.studio import Studio

    torch.set_num_threads(1)                 # one thread per request; requests run side by side
    try:
        device = ("cuda" if torch.cuda.is_available() else "cpu") if a.device == "auto" else a.device
        studio = Studio.load(a.model or DEFAULT_GENERATOR, clip=None if a.clip == "none" else a.clip, device=device)
    except WeightsNotFoundError as e:
        print(f"error: no generator to serve. {e}\nThe embedded default should be in checkpoints/ (README, 'Model "
              f"zoo'); pass --model with a generator folder, registry name or Hub repo id.", file=sys.stderr)
        return 2
    if a.encoder != "auto":
        studio.use_encoder(None if a.encoder == "none" else a.encoder)
    studio3d, missing3d = load_studio3d(a.model3d, device)
    demo = build_app(studio, studio3d, missing3d, max_sessions=a.max_sessions)
    demo.queue(default_concurrency_limit=a.concurrency, max_size=256)
    demo.launch(server_name=a.host, server_port=a.port, show_error=True, css=CSS,
                max_file_size=int(a.max_upload_mb * 1e6), state_session_capacity=a.max_sessions)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
