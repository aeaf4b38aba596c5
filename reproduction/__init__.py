"""Reproducing the DevNet paper (KDD 2019): its protocol, data, competitors and experiments.

Not part of the installed ``deviation`` package: run it from a clone of the
repository, ``python -m reproduction table1 --runs 2 --datasets thyroid --out DIR``
(``python -m reproduction --help`` lists the experiments and options;
``docs/REPRODUCTION.md`` reports the results). It uses the package's public API
only; the competitors REPEN, Deep SVDD, FSNet and DevNet-Rep need torch
(``pip install 'deviation[torch]'``).
"""

from .protocol import Split, evaluate_scores, paper_split

__all__ = ["Split", "evaluate_scores", "paper_split"]
