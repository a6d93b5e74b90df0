"""Command-line face of LinkGAN Studio: `linkgan SUBCOMMAND ...` (the installed console script) or
`python -m linkgan SUBCOMMAND ...`.

Argument parsing and error reporting only; every subcommand calls a library function
(see linkgan/utils.py). Add a subcommand with `_add_<name>(subparsers)` and register it in `_build_parser`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence


class CLIError(Exception):
    """A user error: reported as one `error:` line on stderr, exit code 2."""


# linkgan.directions.METHODS, spelled out so that argument parsing imports none of the method code
DIRECTION_METHODS = ("ganspace", "sefa", "interfacegan", "stylespace", "resefa")


def _seeds(text: str) -> list[int]:
    from .utils import parse_seeds
    try:
        return parse_seeds(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _save_image(image, out: Path) -> None:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        image.save(out, format="PNG")
    except OSError as e:
        raise CLIError(f"cannot write {out}: {e.strerror or e}") from None


# The generator classes by config.json model type, with the commands that take them: a 2D model given to a 3D
# command (or the reverse) is told which commands fit, not just that the type is wrong.
GENERATOR_COMMANDS = {"Generator": ("2D", "sample / resample"), "TriplaneGenerator": ("3D", "sample3d / resample3d")}


def _load_generator(cls, model: str, **kw):
    """cls.from_pretrained(model, **kw), a folder of the other generator kind reported as a CLIError naming the
    commands for it. Errors of finding or loading the weights propagate (each command words them its own way)."""
    from .hub import read_config, resolve

    folder = resolve(model)
    kind = read_config(folder)["model_type"]
    if kind != cls.__name__ and kind in GENERATOR_COMMANDS:
        dim, commands = GENERATOR_COMMANDS[kind]
        want = GENERATOR_COMMANDS.get(cls.__name__, (cls.__name__, ""))[0]
        raise CLIError(f"{model} is a {dim} generator ({kind}); this command needs a {want} one: use {commands}")
    return cls.from_pretrained(folder, **kw)


# --- sample -----------------------------------------------------------------------------------------
def _add_sample(sub) -> None:
    from .hub import DEFAULT_GENERATOR

    p = sub.add_parser("sample", help="write a PNG grid of generator images for a list of seeds")
    p.add_argument("--seeds", type=_seeds, default="0-15", help="seeds, e.g. '0-15,20' (default 0-15)")
    p.add_argument("--psi", type=float, default=0.7, help="truncation psi (1 = none, 0 = w_avg; default 0.7)")
    p.add_argument("--out", type=Path, required=True, help="output PNG path (folders are created)")
    p.add_argument("--model", default=DEFAULT_GENERATOR,
                   help=f"registered weight-set name, local folder or Hub repo id (default {DEFAULT_GENERATOR})")
    p.add_argument("--noise", choices=("const", "random", "none"), default="const", help="noise mode (default const)")
    p.add_argument("--cols", type=_positive_int, default=None, help="images per row (default: about square)")
    p.add_argument("--batch-size", type=_positive_int, default=16, help="seeds per forward pass (default 16)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.set_defaults(func=_run_sample)


def _run_sample(args) -> int:
    from .hub import WeightsFormatError, WeightsNotFoundError
    from .networks import Generator
    from .utils import generate_images, make_grid

    try:
        G = _load_generator(Generator, args.model, device=args.device)
    except (WeightsNotFoundError, WeightsFormatError) as e:
        raise CLIError(str(e)) from None
    except (RuntimeError, AssertionError) as e:  # torch reports an unusable device this way
        raise CLIError(f"cannot use device {args.device!r}: {str(e).splitlines()[0]}") from None
    images = generate_images(G, args.seeds, psi=args.psi, noise_mode=args.noise, batch_size=args.batch_size)
    _save_image(make_grid(images, cols=args.cols), args.out)
    print(f"wrote {len(args.seeds)} images ({args.model}, psi={args.psi}) to {args.out}")
    return 0


# --- dataset ----------------------------------------------------------------------------------------
def _add_dataset(sub) -> None:
    p = sub.add_parser("dataset", help="write a PNG sample sheet of procedural toy faces")
    p.add_argument("--seeds", type=_seeds, default="0-15", help="seeds, e.g. '0-15,20' (default 0-15)")
    p.add_argument("--size", type=_positive_int, default=64, help="face size in pixels (default 64)")
    p.add_argument("--out", type=Path, required=True, help="output PNG path (folders are created)")
    p.add_argument("--masks", action="store_true", help="show each face's colourised part mask beside it")
    p.add_argument("--cols", type=_positive_int, default=None, help="faces per row (default: about square)")
    p.set_defaults(func=_run_dataset)


def _run_dataset(args) -> int:
    from .utils import dataset_sheet

    if args.size < 16:
        raise CLIError(f"--size must be at least 16, got {args.size}")
    _save_image(dataset_sheet(args.seeds, size=args.size, masks=args.masks, cols=args.cols), args.out)
    print(f"wrote {len(args.seeds)} toy faces to {args.out}")
    return 0


# --- resample (LinkGAN) -----------------------------------------------------------------------------
def _add_resample(sub) -> None:
    from .hub import DEFAULT_GENERATOR

    p = sub.add_parser("resample", help="resample linked latent axes: a strip over interpolation steps t")
    p.add_argument("--link", action="append", required=True, help="link name (repeat for several at once)")
    p.add_argument("--seed", type=int, default=0, help="seed of the face to edit")
    p.add_argument("--new-seed", type=int, required=True, help="seed whose linked axes are moved towards")
    p.add_argument("--t", type=float, nargs="+", default=[0.0, 0.5, 1.0], help="interpolation steps in [0, 1]")
    p.add_argument("--psi", type=float, default=0.7, help="truncation psi of the face (default 0.7)")
    p.add_argument("--new-psi", type=float, default=None,
                   help="truncation psi of the face the region comes from (default 1: untruncated)")
    p.add_argument("--model", default=DEFAULT_GENERATOR, help="linked generator: name, folder or Hub repo id")
    p.add_argument("--latent", type=Path, default=None,
                   help="edit an inverted photo: a code .npz from `invert` (replaces --seed)")
    p.add_argument("--out", type=Path, required=True, help="output PNG path")
    p.set_defaults(func=_run_resample)


def _run_resample(args) -> int:
    from .hub import WeightsFormatError, WeightsNotFoundError
    from .links import generator_links, resample_strip
    from .networks import Generator
    from .utils import make_grid

    bad_t = [t for t in args.t if not 0.0 <= t <= 1.0]
    if bad_t:
        raise CLIError(f"--t values must be in [0, 1], got {bad_t}")
    try:
        G = _load_generator(Generator, args.model)
        links = generator_links(G)
    except (WeightsNotFoundError, WeightsFormatError, ValueError) as e:
        raise CLIError(str(e)) from None
    _check_links(args, links)
    ws = _latent_ws(args.latent, G) if args.latent is not None else None
    images = resample_strip(G, [links[n] for n in args.link], seed=args.seed, new_seed=args.new_seed,
                            ts=args.t, psi=args.psi, w=ws,
                            **({} if args.new_psi is None else {"new_psi": args.new_psi}))
    _save_image(make_grid(images, cols=len(args.t)), args.out)
    source = f"code {args.latent}" if args.latent is not None else f"seed {args.seed}"
    print(f"wrote {len(args.t)} images (links {args.link}, {source} -> {args.new_seed}) to {args.out}")
    return 0


def _check_links(args, links: dict) -> None:
    unknown = [n for n in args.link if n not in links]
    if unknown:
        raise CLIError(f"{args.model} has no link(s) {unknown}; its links: {sorted(links) or 'none'}")


def _latent_ws(path: Path, G):
    """The ws (1, num_ws, w_dim) of an `invert` code (its first image), exactly as inverted (W or W+): links move
    their axes in every row, StyleCLIP edits take W+ as it is. Shared by every subcommand that edits a photo."""
    from .inversion import load_code

    try:
        code = load_code(path, G)                                    # ws (1, num_ws, w_dim)
    except ValueError as e:
        raise CLIError(f"{e} (invert the photo, or save the latent in the app, with the same --model)") from None
    if code["s_offset"] is not None:
        raise CLIError(f"{path} carries a global text edit's style offset (space S), which the command line's edits "
                       f"of W+ codes cannot carry on: continue editing it in the app")
    return code["ws"]


# --- sample3d / resample3d (turntables of the tri-plane generator) ------------------------------------
def _add_turntable_args(p) -> None:
    """The arguments both 3D commands share: the model (no default: no 3D model ships yet) and the turntable."""
    from .render3d import GIF_FRAME_MS, TURNTABLE_FRAMES

    p.add_argument("--model", required=True,
                   help="3D generator (TriplaneGenerator): folder, registered name or Hub repo id; none ships yet, "
                        "train one with training/recipes/heads3d.sh")
    p.add_argument("--seed", type=int, default=0, help="seed of the head (default 0)")
    p.add_argument("--psi", type=float, default=0.7, help="truncation psi of the head (default 0.7)")
    p.add_argument("--frames", type=_positive_int, default=TURNTABLE_FRAMES,
                   help=f"frames of the sweep from the range's yaw -max to +max, both ends included (default "
                        f"{TURNTABLE_FRAMES})")
    p.add_argument("--pitch", type=float, default=0.0, help="camera pitch in degrees, inside the model's range "
                                                            "(default 0; + looks down on the head)")
    p.add_argument("--frame-ms", type=_positive_int, default=GIF_FRAME_MS,
                   help=f"milliseconds each frame shows, in steps of 10 (default {GIF_FRAME_MS})")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--out", type=Path, required=True, help="output GIF path (folders are created)")


def _add_sample3d(sub) -> None:
    p = sub.add_parser("sample3d", help="turntable GIF of a seed's head from a 3D generator")
    _add_turntable_args(p)
    p.set_defaults(func=_run_sample3d)


def _add_resample3d(sub) -> None:
    from .links import RESAMPLE_PSI

    p = sub.add_parser("resample3d", help="turntable GIF of a head beside its linked region resampled (3D)")
    _add_turntable_args(p)
    p.add_argument("--link", action="append", required=True, help="link name (repeat for several at once)")
    p.add_argument("--new-seed", type=int, required=True, help="seed whose linked axes are moved towards")
    p.add_argument("--t", type=float, nargs="+", default=[1.0],
                   help="interpolation steps in [0, 1], one head each beside the original (default 1)")
    p.add_argument("--new-psi", type=float, default=RESAMPLE_PSI,
                   help=f"truncation psi of the head the region comes from (default {RESAMPLE_PSI:g}: untruncated)")
    p.set_defaults(func=_run_resample3d)


def _load_generator3d(args):
    """The 3D generator of --model; a name that finds nothing says that none ships yet and how to train one."""
    from .hub import WeightsFormatError, WeightsNotFoundError
    from .networks3d import TriplaneGenerator

    try:
        return _load_generator(TriplaneGenerator, args.model, device=args.device)
    except WeightsNotFoundError as e:
        raise CLIError(f"no 3D generator found for {args.model!r}: no 3D model ships yet. Train one with "
                       f"`bash training/recipes/heads3d.sh all` (it exports runs/exports/heads3d64-linked) and pass "
                       f"its folder to --model. ({e})") from None
    except WeightsFormatError as e:
        raise CLIError(str(e)) from None
    except (RuntimeError, AssertionError) as e:  # torch reports an unusable device this way
        raise CLIError(f"cannot use device {args.device!r}: {str(e).splitlines()[0]}") from None


def _write_turntable(G, ws, args, what: str) -> None:
    from .render3d import save_gif, turntable

    try:
        frames = turntable(G, ws, frames=args.frames, pitch_deg=args.pitch)
        save_gif(frames, args.out, frame_ms=args.frame_ms)
    except ValueError as e:
        raise CLIError(str(e)) from None
    except OSError as e:
        raise CLIError(f"cannot write {args.out}: {e.strerror or e}") from None
    yaw = G.config.camera_range.yaw_deg
    print(f"wrote a {args.frames}-frame turntable (yaw -{yaw:g} to +{yaw:g}, pitch {args.pitch:g}) of {what} "
          f"to {args.out}")


def _run_sample3d(args) -> int:
    G = _load_generator3d(args)
    ws = G.map(G.z_from_seeds([args.seed]), psi=args.psi)
    _write_turntable(G, ws, args, f"seed {args.seed} ({args.model}, psi={args.psi})")
    return 0


def _run_resample3d(args) -> int:
    import torch

    from .links import generator_links, resample_codes

    bad_t = [t for t in args.t if not 0.0 <= t <= 1.0]
    if bad_t:
        raise CLIError(f"--t values must be in [0, 1], got {bad_t}")
    G = _load_generator3d(args)
    try:
        links = generator_links(G)
    except ValueError as e:
        raise CLIError(str(e)) from None
    _check_links(args, links)
    w = G.map(G.z_from_seeds([args.seed]), psi=args.psi)
    edited = resample_codes(G, [links[n] for n in args.link], seed=args.seed, new_seed=args.new_seed, ts=args.t,
                            new_psi=args.new_psi, w=w)
    _write_turntable(G, torch.cat([w, edited]), args,
                     f"seed {args.seed} | links {args.link} towards seed {args.new_seed} at t={args.t}")
    return 0


# --- invert (photo -> latent code) ------------------------------------------------------------------
def _add_invert(sub) -> None:
    from .hub import DEFAULT_ENCODER, DEFAULT_GENERATOR

    p = sub.add_parser("invert", help="invert a photo into the generator's latent space: writes a code .npz")
    p.add_argument("photo", type=Path, help="image file (any format Pillow reads)")
    p.add_argument("--method", choices=("encoder", "optimize", "hybrid"), default="hybrid",
                   help="encoder (one pass), optimize (StyleGAN2 projector) or hybrid (encoder, then optimise; default)")
    p.add_argument("--out", type=Path, required=True, help="output latent file (.npz, the app's format)")
    p.add_argument("--recon", type=Path, default=None, help="also write the reconstruction as a PNG")
    p.add_argument("--model", default=DEFAULT_GENERATOR, help="generator: name, folder or Hub repo id")
    p.add_argument("--encoder", default=DEFAULT_ENCODER, help="encoder (encoder, hybrid): name, folder or Hub repo id")
    p.add_argument("--steps", type=_positive_int, default=None, help="optimisation steps (default 1000; hybrid 250)")
    p.add_argument("--space", choices=("w", "w+"), default=None,
                   help="optimise in W (edits best; optimize's default) or W+ (hybrid's default: refines the encoder's "
                        "W+ code)")
    p.add_argument("--lpips", choices=("vgg", "alex", "none"), default="vgg", help="perceptual loss backbone")
    p.add_argument("--fit", choices=("crop", "pad"), default="crop", help="non-square photos: centre crop or pad")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.set_defaults(func=_run_invert)


def _run_invert(args) -> int:
    from tqdm import tqdm

    from .encoder import Encoder
    from .hub import WeightsFormatError, WeightsNotFoundError
    from .inversion import invert, save_code
    from .networks import Generator
    from .photos import PhotoError, load_photo

    try:
        G = Generator.from_pretrained(args.model, device=args.device)
    except (WeightsNotFoundError, WeightsFormatError) as e:
        raise CLIError(str(e)) from None
    try:
        x = load_photo(args.photo, G.config.resolution, mode=args.fit)
    except PhotoError as e:
        raise CLIError(f"{args.photo}: {e}") from None
    encoder = None
    if args.method != "optimize":
        try:
            encoder = Encoder.from_pretrained(args.encoder, device=args.device)
        except WeightsNotFoundError as e:
            raise CLIError(f"encoder not trained yet: {args.encoder} ({e}); use --method optimize, or train one "
                           f"with training/train_encoder.py") from None
        except WeightsFormatError as e:
            raise CLIError(str(e)) from None
    bar = tqdm(desc=f"invert ({args.method})", unit="step", disable=args.method == "encoder")
    try:
        res = invert(G, x, method=args.method, encoder=encoder, steps=args.steps, space=args.space,
                     lpips=None if args.lpips == "none" else args.lpips,
                     callback=lambda step, loss, _img: (bar.update(1), bar.set_postfix(loss=f"{loss:.4f}")))
    finally:
        bar.close()
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        save_code(args.out, res, model=args.model)
    except OSError as e:
        raise CLIError(f"cannot write {args.out}: {e.strerror or e}") from None
    if args.recon is not None:
        from .utils import make_grid
        _save_image(make_grid(res.images, cols=1), args.recon)
    loss = f", loss {res.losses[-1]['loss']:.4f}" if res.losses else ""
    print(f"wrote the {res.method} code of {args.photo} ({res.space}, {res.steps} steps{loss}) to {args.out}")
    return 0


# --- edit (StyleCLIP) -------------------------------------------------------------------------------
def _add_edit(sub) -> None:
    from .hub import DEFAULT_GENERATOR
    from .styleclip import EDIT_REGIONS, TEXT_EDIT_DEFAULTS as D

    p = sub.add_parser("edit", help="text-driven edit of a seed's face (StyleCLIP): writes original | edited")
    p.add_argument("--seed", type=int, default=0, help="seed of the face to edit (default 0)")
    p.add_argument("--psi", type=float, default=0.7, help="truncation psi of the face (default 0.7)")
    p.add_argument("--method", choices=("global", "mapper", "optimize") + DIRECTION_METHODS, default="global",
                   help="global directions in S (instant), a trained latent mapper, or latent optimisation in W+; "
                        "or one direction of GANSpace, SeFa, InterFaceGAN, StyleSpace or ReSeFa (see `directions`)")
    p.add_argument("--target", help="text of the edit, e.g. 'a face with blond hair' (global, optimize); global: a "
                                    "target the generator's zoo has tuned takes its tuned settings for those not given")
    p.add_argument("--neutral", default=None,
                   help=f"global: the face as it is (default {D.neutral!r}, or the tuned one); alternatives separated "
                        f"by '|' let CLIP pick the one it reads in the face")
    p.add_argument("--preset", default=None,
                   help="global: a tuned prompt of the generator's zoo (its name, e.g. blond_hair, or its text): "
                        "target, neutral, alpha, beta and channels from global_prompts.json; --neutral / --alpha / "
                        "--beta / --min-channels override")
    p.add_argument("--alpha", type=float, default=None,
                   help=f"global: edit strength (default {D.alpha:g}, or the tuned one; paper range -10..10)")
    p.add_argument("--beta", type=float, default=None,
                   help=f"global: disentanglement threshold (default {D.beta:g}, or the tuned one)")
    p.add_argument("--min-channels", type=int, default=None,
                   help=f"global: lower beta to touch at least this many channels (default {D.min_channels}, or the "
                        f"tuned number; 0: beta alone)")
    p.add_argument("--directions", default=None,
                   help="global: statistics file (default: the generator's styleclip folder); direction methods: a "
                        "file of `directions` (default: the generator's zoo file for --method)")
    p.add_argument("--direction", type=int, default=0, help="direction methods: index of the direction (default 0)")
    p.add_argument("--mapper", help="mapper: a name (the generator's styleclip/mappers/NAME) or a folder")
    p.add_argument("--strength", type=float, default=None,
                   help=f"mapper: ws + strength * M(ws) (default {D.mapper_strength:g}); direction methods: steps of "
                        f"one standard deviation along the direction (default linkgan.directions.EDIT_STRENGTH, 2)")
    p.add_argument("--steps", type=_positive_int, default=None,
                   help=f"optimize: Adam steps, stopping early once the loss stops improving (default "
                        f"{D.optimize_steps}; {D.region_steps} with --region; paper 300)")
    p.add_argument("--l2", type=float, default=None,
                   help=f"optimize: weight of ||ws - ws_src||^2 (default {D.optimize_l2:g}; {D.region_l2:g} with "
                        f"--region)")
    p.add_argument("--id", type=float, default=None,
                   help=f"optimize: weight of the identity term (default {D.optimize_id:g}; {D.region_weight:g} for "
                        f"the region term of --region)")
    p.add_argument("--region", choices=tuple(EDIT_REGIONS), default=None,
                   help=f"optimize: keep the edit inside this part of the face (the identity term becomes the pixel "
                        f"change outside it, read by the toyfaces64-segmenter; lr {D.region_lr:g})")
    p.add_argument("--model", default=DEFAULT_GENERATOR, help="generator: name, folder or Hub repo id")
    p.add_argument("--latent", type=Path, default=None,
                   help="edit an inverted photo: a code .npz from `invert` (replaces --seed)")
    p.add_argument("--clip", default="toyfaces-clip", help="CLIP: project name/folder, hf-hub:org/name or open_clip "
                                                           "architecture/tag such as ViT-B-32/openai")
    p.add_argument("--out", type=Path, required=True, help="output PNG path")
    p.set_defaults(func=_run_edit)


def _presets(args) -> dict:
    """The generator's tuned global presets when the edit needs them (a --preset, or settings not given); {}."""
    from .styleclip import tuned_presets

    given = (args.neutral, args.alpha, args.beta, args.min_channels)
    if args.preset is None and None not in given:
        return {}
    try:
        return tuned_presets(args.model)
    except FileNotFoundError as e:
        if args.preset is not None:
            raise CLIError(str(e)) from None
        return {}
    except ValueError as e:
        raise CLIError(str(e)) from None


def _run_edit(args) -> int:
    if args.method in DIRECTION_METHODS:
        return _run_direction_edit(args)
    import torch

    from .clip import CLIPAdapter
    from .hub import WeightsFormatError, WeightsNotFoundError
    from .networks import Generator
    from .styleclip import (edit_global, edit_mapper, edit_optimize, find_preset, global_settings, load_directions,
                            load_mapper)
    from .styles import render_with_offset

    if args.preset is not None and (args.method != "global" or args.target):
        raise CLIError("--preset goes with --method global and replaces --target")
    if args.method == "mapper" and not args.mapper:
        raise CLIError("--method mapper needs --mapper NAME_OR_FOLDER")
    presets = _presets(args) if args.method == "global" else {}
    if args.preset is not None:
        preset = find_preset(presets, args.preset)
        if preset is None:
            raise CLIError(f"no tuned preset {args.preset!r} for {args.model}; the tuned ones: {', '.join(presets)}")
        args.target = preset.target
    if args.method in ("global", "optimize") and not (args.target or "").strip():
        raise CLIError(f"--method {args.method} needs --target, e.g. --target 'a face with blond hair'")
    try:
        G = Generator.from_pretrained(args.model)
        ws = _edit_source(args, G)
        note = ""
        if args.method == "mapper":
            with torch.no_grad():
                edited = G.synthesize(edit_mapper(load_mapper(args.mapper, args.model), ws, args.strength),
                                      noise_mode="const")
        else:
            clip = CLIPAdapter.load(args.clip, device="cpu")
            if args.method == "global":
                settings = global_settings(args.target, presets, neutral=args.neutral, alpha=args.alpha,
                                           beta=args.beta, min_channels=args.min_channels)
                res = edit_global(G, clip, load_directions(args.model, args.directions), ws, **settings)
                with torch.no_grad():
                    edited = render_with_offset(G, ws, res.offset)
                note = _global_note(res, settings["neutral"])
            else:
                res = edit_optimize(G, clip, ws, args.target, region=args.region, steps=args.steps, l2=args.l2,
                                    id_weight=args.id)
                edited = res.images
                note = f", CLIP loss {res.history[0]['clip']:.3f} -> {res.history[-1]['clip']:.3f}"
    except (WeightsNotFoundError, FileNotFoundError) as e:
        raise CLIError(f"{e} (not trained yet?)" if "not trained yet" not in str(e)
                       and "not computed yet" not in str(e) else str(e)) from None
    except (WeightsFormatError, ValueError, RuntimeError) as e:
        raise CLIError(str(e).splitlines()[0]) from None
    _write_pair(G, ws, edited, args, f"{args.method} edit", note)
    return 0


def _global_note(res, neutral: str) -> str:
    """What the printed line adds for a global edit: the channels moved, and the neutral text CLIP read."""
    read = res.neutrals[0]
    e = res.edit_of(0)
    if e is None:
        return f": unchanged, CLIP already reads the face as {read!r}"
    return f", {e.num_channels} channels (beta {e.beta:.3f})" + (f", neutral read: {read!r}" if read != neutral.strip()
                                                                 else "")


def _edit_source(args, G):
    """The W+ code (1, num_ws, w_dim) an edit starts from: --latent's, else --seed's at --psi."""
    from .styleclip import seed_ws

    return _latent_ws(args.latent, G) if args.latent is not None else seed_ws(G, args.seed, args.psi)


def _write_pair(G, ws, edited, args, what: str, note: str = "") -> None:
    """Writes original | edited to --out and says so."""
    import torch

    from .utils import make_grid

    with torch.no_grad():
        original = G.synthesize(ws, noise_mode="const")
    _save_image(make_grid(torch.cat([original, edited.detach()]), cols=2), args.out)
    source = f"code {args.latent}" if args.latent is not None else f"seed {args.seed}"
    print(f"wrote original | {what} of {source} to {args.out}{note}")


# --- directions (GANSpace, SeFa, InterFaceGAN, StyleSpace, ReSeFa) -----------------------------------------
def _rows(text: str) -> list[int]:
    from .utils import parse_seeds                      # the same 'a-b,c' syntax as seeds
    try:
        return parse_seeds(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _add_directions(sub) -> None:
    from .hub import DEFAULT_GENERATOR

    p = sub.add_parser("directions", help="compute latent directions (GANSpace, SeFa, InterFaceGAN, StyleSpace, "
                                          "ReSeFa) of a generator: writes a .safetensors file")
    p.add_argument("--method", choices=DIRECTION_METHODS + ("all",), required=True,
                   help="the method; 'all' writes every method's file into the folder --out")
    p.add_argument("--out", type=Path, required=True, help="output .safetensors file (a folder for --method all)")
    p.add_argument("--model", default=DEFAULT_GENERATOR, help="generator: name, folder or Hub repo id")
    p.add_argument("--count", type=_positive_int, default=None,
                   help="directions kept (StyleSpace: per part, ReSeFa: per region; default: the zoo's)")
    p.add_argument("--samples", type=_positive_int, default=None, help="sampled codes (GANSpace, InterFaceGAN)")
    p.add_argument("--images", type=_positive_int, default=None, help="faces analysed (StyleSpace, ReSeFa)")
    p.add_argument("--rows", type=_rows, default=None, help="W+ rows the directions move, e.g. '0-5' (default all)")
    p.add_argument("--region", action="append", default=None,
                   help="ReSeFa: a region (a link of the generator, eyes, mouth or a part; repeat; default eyes, "
                        "mouth, hair)")
    p.add_argument("--target", action="append", default=None,
                   help="InterFaceGAN: attribute=value, e.g. hair_color=blond (repeat; default every colour)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the sampled codes (default 0)")
    p.add_argument("--name", action="store_true",
                   help="name each direction by what the attribute oracle (toyfaces64-oracle) sees it change")
    p.add_argument("--segmenter", default="toyfaces64-segmenter",
                   help="part segmenter (InterFaceGAN's labels, StyleSpace, semantic regions)")
    p.set_defaults(func=_run_directions)


def _run_directions(args) -> int:
    from .directions import compute_directions, name_directions
    from .hub import WeightsFormatError, WeightsNotFoundError
    from .networks import Generator
    from .oracle import AttributeOracle
    from .segmenter import Segmenter

    targets = None
    if args.target:
        bad = [t for t in args.target if t.count("=") != 1]
        if bad:
            raise CLIError(f"--target takes attribute=value, got {bad}")
        targets = [tuple(t.split("=")) for t in args.target]
    methods = DIRECTION_METHODS if args.method == "all" else (args.method,)
    try:
        G = Generator.from_pretrained(args.model).eval().requires_grad_(False)
        needs_seg = {"interfacegan", "stylespace", "resefa"} & set(methods)
        segmenter = Segmenter.from_pretrained(args.segmenter).eval() if needs_seg else None
        oracle = AttributeOracle.from_pretrained("toyfaces64-oracle").eval() if args.name else None
        for method in methods:
            out = args.out / f"{method}.safetensors" if args.method == "all" else args.out
            dirs = compute_directions(method, G, count=args.count, samples=args.samples, images=args.images,
                                      rows=args.rows, seed=args.seed, targets=targets, segmenter=segmenter,
                                      **({"regions": args.region} if args.region else {}))
            if oracle is not None:
                name_directions(G, dirs, oracle)
            dirs.meta["model"] = str(args.model)
            dirs.save(out)
            print(f"wrote {len(dirs)} {method} directions of {args.model} to {out} ({dirs.meta['compute_s']} s)")
    except (WeightsNotFoundError, WeightsFormatError, ValueError) as e:
        raise CLIError(str(e).splitlines()[0]) from None
    except OSError as e:
        raise CLIError(f"cannot write {args.out}: {e.strerror or e}") from None
    return 0


def _run_direction_edit(args) -> int:
    import torch

    from .directions import EDIT_STRENGTH, Directions, load_zoo_directions
    from .hub import WeightsFormatError, WeightsNotFoundError
    from .networks import Generator
    from .styles import render_with_offset

    strength = EDIT_STRENGTH if args.strength is None else args.strength
    try:
        G = Generator.from_pretrained(args.model)
        dirs = (Directions.load(args.directions) if args.directions
                else load_zoo_directions(args.model, args.method))
        if dirs.method != args.method:
            raise CLIError(f"{args.directions} holds {dirs.method} directions, not {args.method}")
        if not dirs.fits(G):
            raise CLIError(f"{args.directions or args.method} directions were computed for another generator than "
                           f"{args.model}")
        ws = _edit_source(args, G)
        with torch.no_grad():
            edited = render_with_offset(G, *dirs.move(G, ws, {args.direction: strength}))
    except (WeightsNotFoundError, WeightsFormatError, FileNotFoundError, ValueError) as e:
        raise CLIError(str(e).splitlines()[0]) from None
    _write_pair(G, ws, edited, args, f"{args.method} {dirs.label(args.direction)} x {strength:g}")
    return 0


# --- entry point ------------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    """argparse that raises CLIError instead of exiting, so main() reports every error one way."""

    def error(self, message: str):
        raise CLIError(f"{self.prog}: {message}")


def _build_parser(prog: str = "linkgan") -> argparse.ArgumentParser:
    """prog: how the command was invoked, for usage lines and errors."""
    parser = _Parser(prog=prog, description="LinkGAN Studio command line.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    _add_sample(sub)
    _add_dataset(sub)
    _add_resample(sub)
    _add_sample3d(sub)
    _add_resample3d(sub)
    _add_edit(sub)
    _add_invert(sub)
    _add_directions(sub)
    return parser


def main(argv: Sequence[str] | None = None, *, prog: str = "linkgan") -> int:
    """Run the CLI; returns the exit code (0 ok, 2 user error). prog: the name usage lines give the command (the
    console script's; linkgan/__main__.py passes "python -m linkgan")."""
    parser = _build_parser(prog)
    try:
        args = parser.parse_args(argv)
        return args.func(args)
    except CLIError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
