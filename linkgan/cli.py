"""Command-line face of LinkGAN Studio: `python -m linkgan SUBCOMMAND ...`.

Argument parsing and error reporting only; every subcommand calls a library function
(see linkgan/utils.py). Add a subcommand with `_add_<name>(subparsers)` and register it in `_build_parser`.
"""
from __future__ import annotations

import argparse
import sys
from functools import partial
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
        G = Generator.from_pretrained(args.model, device=args.device)
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
        G = Generator.from_pretrained(args.model)
        links = generator_links(G)
    except (WeightsNotFoundError, WeightsFormatError, ValueError) as e:
        raise CLIError(str(e)) from None
    unknown = [n for n in args.link if n not in links]
    if unknown:
        raise CLIError(f"{args.model} has no link(s) {unknown}; its links: {sorted(links) or 'none'}")
    ws = _latent_ws(args.latent, G) if args.latent is not None else None
    images = resample_strip(G, [links[n] for n in args.link], seed=args.seed, new_seed=args.new_seed,
                            ts=args.t, psi=args.psi, w=ws,
                            **({} if args.new_psi is None else {"new_psi": args.new_psi}))
    _save_image(make_grid(images, cols=len(args.t)), args.out)
    source = f"code {args.latent}" if args.latent is not None else f"seed {args.seed}"
    print(f"wrote {len(args.t)} images (links {args.link}, {source} -> {args.new_seed}) to {args.out}")
    return 0


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

    p = sub.add_parser("edit", help="text-driven edit of a seed's face (StyleCLIP): writes original | edited")
    p.add_argument("--seed", type=int, default=0, help="seed of the face to edit (default 0)")
    p.add_argument("--psi", type=float, default=0.7, help="truncation psi of the face (default 0.7)")
    p.add_argument("--method", choices=("global", "mapper", "optimize") + DIRECTION_METHODS, default="global",
                   help="global directions in S (instant), a trained latent mapper, or latent optimisation in W+; "
                        "or one direction of GANSpace, SeFa, InterFaceGAN, StyleSpace or ReSeFa (see `directions`)")
    p.add_argument("--target", help="text of the edit, e.g. 'a face with blond hair' (global, optimize)")
    p.add_argument("--neutral", default="a face",
                   help="global: the face as it is (default 'a face'); alternatives separated by '|' let CLIP pick "
                        "the one it reads in the face")
    p.add_argument("--preset", default=None,
                   help="global: a tuned prompt of the generator's zoo (its name, e.g. blond_hair, or its text): "
                        "target, neutral, alpha, beta and channels from global_prompts.json; --alpha / --beta / "
                        "--min-channels override")
    p.add_argument("--alpha", type=float, default=None,
                   help="global: edit strength (default 4.1, or the preset's; paper range -10..10)")
    p.add_argument("--beta", type=float, default=None,
                   help="global: disentanglement threshold (default 0.15, or the preset's)")
    p.add_argument("--min-channels", type=int, default=None, help="global: lower beta to touch at least this many channels")
    p.add_argument("--directions", default=None,
                   help="global: statistics file (default: the generator's styleclip folder); direction methods: a "
                        "file of `directions` (default: the generator's zoo file for --method)")
    p.add_argument("--direction", type=int, default=0, help="direction methods: index of the direction (default 0)")
    p.add_argument("--mapper", help="mapper: a name (the generator's styleclip/mappers/NAME) or a folder")
    p.add_argument("--strength", type=float, default=None,
                   help="mapper: ws + strength * M(ws) (default 0.1); direction methods: steps of one standard "
                        "deviation along the direction (default 2)")
    p.add_argument("--steps", type=_positive_int, default=100, help="optimize: Adam steps (default 100; paper 300)")
    p.add_argument("--l2", type=float, default=None,
                   help="optimize: weight of ||ws - ws_src||^2 (default 0.008; 0 with --region)")
    p.add_argument("--id", type=float, default=None,
                   help="optimize: weight of the identity term (default 0; 50 for the region term of --region)")
    p.add_argument("--region", choices=("hair", "background", "skin", "eyes", "mouth"), default=None,
                   help="optimize: keep the edit inside this part of the face (the identity term becomes the pixel "
                        "change outside it, read by the toyfaces64-segmenter; lr 0.2)")
    p.add_argument("--model", default=DEFAULT_GENERATOR, help="generator: name, folder or Hub repo id")
    p.add_argument("--latent", type=Path, default=None,
                   help="edit an inverted photo: a code .npz from `invert` (replaces --seed)")
    p.add_argument("--clip", default="toyfaces-clip", help="CLIP: project name/folder, hf-hub:org/name or open_clip "
                                                           "architecture/tag such as ViT-B-32/openai")
    p.add_argument("--out", type=Path, required=True, help="output PNG path")
    p.set_defaults(func=_run_edit)


def _apply_preset(args) -> None:
    """Fills target, neutral, alpha, beta and min_channels (those not given) from the generator's tuned settings."""
    from .styleclip import load_global_settings

    try:
        settings = load_global_settings(args.model)
    except (FileNotFoundError, ValueError) as e:
        raise CLIError(str(e)) from None
    prompts = settings["prompts"]
    p = prompts.get(args.preset) or next((q for q in prompts.values() if q["target"] == args.preset), None)
    if p is None:
        raise CLIError(f"no tuned preset {args.preset!r} for {args.model}; the tuned ones: {', '.join(prompts)}")
    args.target, args.neutral = p["target"], p.get("neutral") or settings.get("neutral") or args.neutral
    args.alpha = float(p["alpha"]) if args.alpha is None else args.alpha
    args.beta = float(p["beta"]) if args.beta is None else args.beta
    if args.min_channels is None and p.get("channels"):
        args.min_channels = int(p["channels"])


def _optimize_loss(args) -> dict:
    """optimize_latent's loss settings: the paper's (l2 0.008, no identity term), or with --region the region-content
    term of linkgan.styleclip.REGION_OPTIMIZE (flags given win)."""
    from .styleclip import region_optimize_args

    if args.region is None:
        return {"l2": 0.008 if args.l2 is None else args.l2, "id_weight": args.id or 0.0}
    given = {"l2": args.l2, "id_weight": args.id}
    return {**region_optimize_args(args.region), **{k: v for k, v in given.items() if v is not None}}


def _run_edit(args) -> int:
    import torch

    if args.method in DIRECTION_METHODS:
        return _run_direction_edit(args)
    args.strength = 0.1 if args.strength is None else args.strength

    from .clip import CLIPAdapter
    from .hub import WeightsFormatError, WeightsNotFoundError
    from .networks import Generator
    from .styleclip import edit_neutral_text, load_directions, load_mapper, optimize_latent, seed_ws
    from .utils import make_grid

    if args.preset is not None:
        if args.method != "global" or args.target:
            raise CLIError("--preset goes with --method global and replaces --target")
        _apply_preset(args)
    args.alpha = 4.1 if args.alpha is None else args.alpha
    args.beta = 0.15 if args.beta is None else args.beta
    if args.method in ("global", "optimize") and not (args.target or "").strip():
        raise CLIError(f"--method {args.method} needs --target, e.g. --target 'a face with blond hair'")
    if args.method == "mapper" and not args.mapper:
        raise CLIError("--method mapper needs --mapper NAME_OR_FOLDER")
    try:
        G = Generator.from_pretrained(args.model)
        ws = _latent_ws(args.latent, G) if args.latent is not None else seed_ws(G, args.seed, args.psi)
        note = ""
        if args.method == "mapper":
            with torch.no_grad():
                edited = G.synthesize(load_mapper(args.mapper, args.model).edit(ws, args.strength), noise_mode="const")
        else:
            clip = CLIPAdapter.load(args.clip, device="cpu")
            if args.method == "global":
                dirs = load_directions(args.model, args.directions)
                render = partial(G.synthesize_styles, noise_mode="const")
                edited_styles, edits, neutral = edit_neutral_text(dirs, clip, G.ws_to_styles(ws), args.neutral,
                                                                  args.target, args.alpha, args.beta,
                                                                  args.min_channels, render=render)
                with torch.no_grad():
                    edited = render(edited_styles)
                e = edits.get(neutral[0])
                read = f", neutral read: {neutral[0]!r}" if neutral[0] != args.neutral.strip() else ""
                note = (f", {e.num_channels} channels (beta {e.beta:.3f}){read}" if e is not None else
                        f": unchanged, CLIP already reads the face as {neutral[0]!r}")
            else:
                res = optimize_latent(G, clip, ws, args.target, steps=args.steps, **_optimize_loss(args))
                edited = res.images
                note = f", CLIP loss {res.history[0]['clip']:.3f} -> {res.history[-1]['clip']:.3f}"
    except (WeightsNotFoundError, FileNotFoundError) as e:
        raise CLIError(f"{e} (not trained yet?)" if "not trained yet" not in str(e)
                       and "not computed yet" not in str(e) else str(e)) from None
    except (WeightsFormatError, ValueError, RuntimeError) as e:
        raise CLIError(str(e).splitlines()[0]) from None
    with torch.no_grad():
        original = G.synthesize(ws, noise_mode="const")
    _save_image(make_grid(torch.cat([original, edited.detach()]), cols=2), args.out)
    source = f"code {args.latent}" if args.latent is not None else f"seed {args.seed}"
    print(f"wrote original | {args.method} edit of {source} to {args.out}{note}")
    return 0


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

    from .directions import Directions, load_zoo_directions
    from .hub import WeightsFormatError, WeightsNotFoundError
    from .networks import Generator
    from .styleclip import seed_ws
    from .utils import make_grid

    strength = 2.0 if args.strength is None else args.strength
    try:
        G = Generator.from_pretrained(args.model)
        dirs = (Directions.load(args.directions) if args.directions
                else load_zoo_directions(args.model, args.method))
        if dirs.method != args.method:
            raise CLIError(f"{args.directions} holds {dirs.method} directions, not {args.method}")
        ws = _latent_ws(args.latent, G) if args.latent is not None else seed_ws(G, args.seed, args.psi)
        edited = dirs.render(G, ws, args.direction, strength)
    except (WeightsNotFoundError, WeightsFormatError, FileNotFoundError, ValueError) as e:
        raise CLIError(str(e).splitlines()[0]) from None
    with torch.no_grad():
        original = G.synthesize(ws, noise_mode="const")
    _save_image(make_grid(torch.cat([original, edited]), cols=2), args.out)
    source = f"code {args.latent}" if args.latent is not None else f"seed {args.seed}"
    print(f"wrote original | {args.method} {dirs.label(args.direction)} x {strength:g} of {source} to {args.out}")
    return 0


# --- entry point ------------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    """argparse that raises CLIError instead of exiting, so main() reports every error one way."""

    def error(self, message: str):
        raise CLIError(f"{self.prog}: {message}")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m linkgan", description="LinkGAN Studio command line.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    _add_sample(sub)
    _add_dataset(sub)
    _add_resample(sub)
    _add_edit(sub)
    _add_invert(sub)
    _add_directions(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 user error)."""
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
        return args.func(args)
    except CLIError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
