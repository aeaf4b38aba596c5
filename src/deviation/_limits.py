"""Numeric limits shared by several modules, defined once.

Each limit used to be written out in every module that needed it; a change in
one place and not the other would silently make the estimator, the input view
and the training loop disagree. Import them from here instead.
"""

from __future__ import annotations

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_ROWS", "MAX_ABS_VALUE", "SEED_BOUND", "WIDE_SPARSE_COLUMNS"]

#: Largest magnitude DevNet accepts in its input and the bound the min-max view clips
#: its values to: beyond it float32 arithmetic overflows in the first layer and the
#: score becomes NaN.
MAX_ABS_VALUE = 1e30

#: Sparse input with more columns than this trains and scores on sparse (CSR) batches,
#: with the columns that are zero in all training rows left out of training; narrower
#: sparse batches are made dense (a 512-row dense batch of this width is 32 MiB).
WIDE_SPARSE_COLUMNS = 16_384

#: Exclusive upper bound of the seeds drawn from one random generator to seed another
#: (a numpy ``RandomState``, a scikit-learn or CatBoost model): ``2**31 - 1`` fits the
#: signed 32-bit seed every one of them accepts.
SEED_BOUND = 2**31 - 1

#: Largest request body ``deviation serve`` accepts, in bytes (``--max-bytes``): about 30,000 rows of
#: 20 numeric columns.
DEFAULT_MAX_BYTES = 16 * 1024 * 1024
#: Most rows ``deviation serve`` accepts in one request (``--max-rows``).
DEFAULT_MAX_ROWS = 20_000
