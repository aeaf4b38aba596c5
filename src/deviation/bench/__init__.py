"""Reproducing the paper: its evaluation protocol and experiments."""

from .protocol import Split, evaluate_scores, paper_split

__all__ = ["Split", "evaluate_scores", "paper_split"]
