"""Poetry Lab: train and explore small character-level poetry language models."""

from poetry_lab.errors import PoetryLabError

__all__ = ["PoetryLabError"]
__version__ = "0.1.0"
