"""A folder of images (any sizes and modes) as a GAN training set: RGB, resized and centre-cropped."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from .dataset import image_to_tensor

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}


def square_crop(img: Image.Image, size: int) -> Image.Image:
    """EXIF-upright RGB, shorter side resized to `size` (Lanczos), centre crop to size x size."""
    img = ImageOps.exif_transpose(img)
    if img.mode != "RGB":
        img = img.convert("RGBA").convert("RGB") if "A" in img.getbands() or img.mode == "P" else img.convert("RGB")
    return ImageOps.fit(img, (size, size), method=Image.Resampling.LANCZOS)


class ImageFolderDataset(torch.utils.data.Dataset):
    """Every image file under `root` (recursively, sorted); items look like ToyFacesDataset's: {"image"}."""

    def __init__(self, root: str | Path, size: int):
        self.root, self.size = Path(root), int(size)
        if not self.root.is_dir():
            raise FileNotFoundError(f"image folder {self.root} does not exist (run.data is 'toyfaces' or a folder)")
        self.files = sorted(p for p in self.root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not self.files:
            raise ValueError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found under {self.root}")

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> dict:
        path = self.files[i]
        try:
            with Image.open(path) as img:
                img = square_crop(img, self.size)
        except (OSError, ValueError) as e:
            raise ValueError(f"cannot read training image {path}: {e}") from e
        return {"image": image_to_tensor(np.array(img)), "index": i}
