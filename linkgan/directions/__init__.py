"""Latent directions the papers compare against, on any generator of the package: GANSpace (Härkönen et al. 2020),
SeFa (Shen & Zhou 2021), InterFaceGAN (Shen et al. 2020), StyleSpace (Wu et al. 2021) and ReSeFa-style region
directions (Zhu et al. 2022). Each returns a `Directions` (save / load / apply / render); `compute_directions`
runs any of them with the zoo's settings, `name_directions` names them by what the attribute oracle sees change.
"""
from .base import EDIT_STRENGTH, METHODS, Directions
from .ganspace import ganspace
from .interfacegan import interfacegan, linear_boundary
from .labels import PartColourLabeller
from .naming import direction_effects, name_directions
from .resefa import generalized_eigh, resefa
from .sefa import sefa
from .stylespace import stylespace
from .zoo import compute_directions, directions_folder, load_zoo_directions

__all__ = ["EDIT_STRENGTH", "METHODS", "Directions", "PartColourLabeller", "compute_directions", "direction_effects",
           "directions_folder", "ganspace", "generalized_eigh", "interfacegan", "linear_boundary",
           "load_zoo_directions", "name_directions", "resefa", "sefa", "stylespace"]
