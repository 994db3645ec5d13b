"""Generators and discriminators, built by name so a task record or a YAML file can pick them."""

from ganrecon.models.discriminators import DISCRIMINATORS, build_discriminator
from ganrecon.models.generators import GENERATORS, build_generator

__all__ = ["GENERATORS", "DISCRIMINATORS", "build_generator", "build_discriminator"]
