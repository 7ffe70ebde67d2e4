"""librosa.core.load for audiostream's audiofile_source.py (README.md)."""

from . import core  # noqa: F401
