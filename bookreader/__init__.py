"""bookreader: whole-book analysis with an Infini-attention reader."""

__version__ = "0.1.0"
