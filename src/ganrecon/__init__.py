"""ganrecon: reconstruct degraded images with GANs, always measured against the conventional method."""

__version__ = "0.1.0"
