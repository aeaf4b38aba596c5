"""Preprocessing of tabular data for DevNet.

DevNet (Pang et al., KDD 2019, Appendix A.1) replaces missing values by the
feature mean, one-hot encodes categorical features and min-max scales the data.
:class:`Preprocessor` does exactly that with scikit-learn's own transformers
(``SimpleImputer``, ``OneHotEncoder``, ``MinMaxScaler`` and friends) and adds:

* other scalings (``"standard"``, ``"quantile"``, ``"none"``),
* sparse input that stays sparse (max-abs scaling instead of min-max),
* column matching by name for DataFrames, with clear errors,
* a JSON-only fitted state, written and read by
  :mod:`deviation.persistence.preprocessing`: no pickle anywhere.

See ``docs/preprocessing.md`` for the behaviour in detail.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from numbers import Integral
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import (
    MaxAbsScaler,
    MinMaxScaler,
    OneHotEncoder,
    QuantileTransformer,
    StandardScaler,
)

from .._memory import check_allocation
from .._params import Interval, SequenceOf, StrOptions, validate_params
from ..exceptions import (
    DataError,
    FeatureMismatchError,
    InvalidParameterError,
    NotFittedError,
    ParameterError,
)
from .columns import (
    SCALER_ATTRIBUTES,
    check_finite_attributes,
    is_auto_categorical_dtype,
    is_missing_category,
    is_numeric_dtype,
    list_names,
    to_category_column,
    to_float_column,
)
from .kinds import INFREQUENT_LABEL, LEFT_OUT, ColumnKind, classify_column, working_columns

__all__ = ["MISSING_CATEGORY_LABEL", "Preprocessor"]

logger = logging.getLogger(__name__)

#: Label of the "missing" level of a categorical column in ``feature_names_out_``.
MISSING_CATEGORY_LABEL = "<missing>"

_SCALINGS = ("minmax", "standard", "quantile", "none")
_INPUT_KINDS = ("dataframe", "array", "sparse")



class Preprocessor(TransformerMixin, BaseEstimator):
    """Impute, one-hot encode and scale tabular data for DevNet.

    The preprocessing of DevNet (Pang et al., KDD 2019, Appendix A.1): missing
    numeric values are replaced by the training mean of their column,
    categorical columns are one-hot encoded and the data is min-max scaled.
    Everything is done with scikit-learn's transformers; the fitted state is
    saved as plain JSON by :mod:`deviation.persistence.preprocessing` (no pickle).

    Parameters
    ----------
    scaling : {"minmax", "standard", "quantile", "none"}, default="minmax"
        How numeric columns are scaled after imputation.

        - ``"minmax"``: ``MinMaxScaler`` to [0, 1] on the training data (the
          paper's choice). Scoring data outside the training range goes
          outside [0, 1]: it is *not* clipped. Sparse input uses
          ``MaxAbsScaler`` instead (equal to min-max for non-negative data
          whose column minimum is 0; keeps zeros zero).
        - ``"standard"``: ``StandardScaler`` (``with_mean=False`` for sparse
          input).
        - ``"quantile"``: ``QuantileTransformer(output_distribution="normal")``
          on the continuous columns only; binary columns (non-missing training
          values all in {0, 1}) are left untouched. Not available for sparse
          input (raises :class:`~deviation.exceptions.ParameterError`).
        - ``"none"``: no scaling.

        One-hot columns are never scaled: they stay 0/1 whatever the scaling.
    categorical : "auto" or list of str, default="auto"
        Which DataFrame columns are one-hot encoded. ``"auto"``: columns of
        object, string or category dtype (bool columns are numeric 0/1). A list
        names them explicitly; every other column must then be numeric.
        Arrays and sparse matrices are all-numeric: only ``"auto"`` or an
        empty list is accepted for them.
    max_categories : int or None, default=100
        Cap on the one-hot width of one categorical column of a DataFrame:
        at most this many levels are kept (the most frequent ones, the
        infrequent level included); the others are pooled into one
        ``<infrequent>`` level. ``None``: no cap.
    min_frequency : int or None, default=5
        Values of a categorical column seen in fewer training rows are
        pooled into the ``<infrequent>`` level (as scikit-learn's
        ``OneHotEncoder(min_frequency=...)``). ``None``: no pooling.
    n_quantiles : int, default=1000
        Number of quantiles of ``"quantile"`` scaling (capped at the number of
        training rows).
    subsample : int or None, default=100_000
        Maximum number of rows used to estimate the quantiles of
        ``"quantile"`` scaling (``None``: all rows).
    random_state : int, numpy.random.RandomState or None, default=None
        Seed of the row subsampling of ``"quantile"`` scaling.

    Attributes
    ----------
    column_kinds_ : list of ColumnKind or None
        For a DataFrame, one entry per input column: its kind (numeric,
        binary, categorical, datetime, identifier, text or constant), why,
        and what reading it needs (:mod:`deviation.preprocess.kinds`).
        Identifiers, free text and constant columns are left out of the
        features. None for arrays and sparse matrices (all numeric).
    n_features_in_ : int
        Number of features after column typing (for arrays, the columns).
    feature_names_in_ : numpy.ndarray of str
        Names of those features: the DataFrame columns that are used (a
        datetime column gives ``col.day_of_week``, ``col.day_of_month``,
        ``col.month`` and, with times, ``col.hour``), or ``x0, x1, ...`` for
        arrays and sparse matrices.
    input_kind_ : {"dataframe", "array", "sparse"}
        The kind of data :meth:`fit` was given.
    numeric_features_ : list of str
        Input columns treated as numbers (imputed and scaled).
    categorical_features_ : list of str
        Input columns that are one-hot encoded.
    binary_features_ : list of str
        Numeric columns whose non-missing training values are all in {0, 1}
        (left untouched by ``"quantile"`` scaling). Empty for sparse input.
    all_missing_features_ : list of str
        Numeric columns without any value in the training data; they are
        filled with 0.
    feature_names_out_ : numpy.ndarray of str
        Names of the output columns, in output order: numeric columns keep
        their name, one-hot columns are named ``column=value`` (the missing
        level is ``column=<missing>``). Input column order is preserved and
        each one-hot block takes the place of its column.
    n_features_out_ : int
        Number of output columns.
    output_to_input_ : list of int
        For each output column, the index (into ``feature_names_in_``) of the
        input column it comes from. Use it to sum attributions of one-hot
        columns back onto their original column.
    imputer_ : sklearn.impute.SimpleImputer or None
        Mean imputer of the numeric columns (``None`` for sparse input or
        without numeric columns).
    scaler_ : MinMaxScaler, StandardScaler, QuantileTransformer, MaxAbsScaler or None
        The fitted scaler (``None`` for ``scaling="none"`` or when nothing is
        to be scaled).
    encoder_ : sklearn.preprocessing.OneHotEncoder or None
        The one-hot encoder of the categorical columns (``None`` without them).

    See Also
    --------
    sklearn.impute.SimpleImputer, sklearn.preprocessing.OneHotEncoder,
    sklearn.preprocessing.MinMaxScaler

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"age": [20.0, None, 40.0], "color": ["red", "blue", "red"]})
    >>> pre = Preprocessor().fit(X)
    >>> list(pre.feature_names_out_)
    ['age', 'color=blue', 'color=red']
    >>> pre.transform(X).tolist()
    [[0.0, 0.0, 1.0], [0.5, 1.0, 0.0], [1.0, 0.0, 1.0]]
    """

    #: What each parameter accepts (see :mod:`deviation._params`); checked by :meth:`fit`.
    _parameter_constraints: dict[str, list[Any]] = {
        "scaling": [StrOptions(_SCALINGS)],
        "categorical": [
            StrOptions(("auto",)),
            SequenceOf(None, noun="list", items="column names", unique=True, arrays=True),
        ],
        "max_categories": [None, Interval(Integral, 2, None, closed="left")],
        "min_frequency": [None, Interval(Integral, 1, None, closed="left")],
        "n_quantiles": [Interval(Integral, 2, None, closed="left")],
        "subsample": [None, Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        scaling: str = "minmax",
        categorical: str | Sequence[str] = "auto",
        max_categories: int | None = 100,
        min_frequency: int | None = 5,
        n_quantiles: int = 1000,
        subsample: int | None = 100_000,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.scaling = scaling
        self.categorical = categorical
        self.max_categories = max_categories
        self.min_frequency = min_frequency
        self.n_quantiles = n_quantiles
        self.subsample = subsample
        self.random_state = random_state

    # ------------------------------------------------------------------ parameters

    def _validate_params(self) -> list[str] | None:
        """Check the constructor parameters against :attr:`_parameter_constraints`.

        Returns
        -------
        list of str or None
            The explicit categorical column names, or ``None`` for ``"auto"``.

        Raises
        ------
        InvalidParameterError
            A :class:`~deviation.exceptions.ParameterError` naming the first
            parameter that satisfies none of its constraints, or
            ``n_quantiles`` greater than ``subsample``.
        """
        validate_params("Preprocessor", self.get_params(deep=False), self._parameter_constraints)
        if self.subsample is not None and self.n_quantiles > self.subsample:
            raise InvalidParameterError(
                f"The 'n_quantiles' parameter of Preprocessor ({self.n_quantiles}) cannot be "
                f"greater than 'subsample' ({self.subsample})."
            )
        if isinstance(self.categorical, str):
            return None
        return [str(c) for c in self.categorical]

    # ------------------------------------------------------------------ fit

    def fit(self, X: Any, y: Any = None) -> Preprocessor:
        """Learn the imputation values, categories and scaling of ``X``.

        Parameters
        ----------
        X : pandas.DataFrame, array-like or scipy.sparse matrix of shape (n_samples, n_features)
            Training data. A DataFrame may mix numeric and string columns;
            arrays must be numeric; sparse matrices must not store NaN.
        y : None
            Ignored; present for scikit-learn compatibility.

        Returns
        -------
        Preprocessor
            The fitted preprocessor (``self``).

        Raises
        ------
        ParameterError
            If a parameter is invalid, or ``scaling="quantile"`` with sparse input.
        DataError
            If ``X`` is empty, holds infinite values, values beyond the float64
            range, strings in numeric columns, NaN in a sparse matrix, or a
            categorical column with more than ``max_categories`` levels.
        """
        explicit = self._validate_params()
        if sp.issparse(X):
            if explicit:
                raise ParameterError(
                    "The 'categorical' parameter of Preprocessor names columns, but X is a sparse "
                    "matrix, which is all-numeric; pass a pandas DataFrame to one-hot encode columns."
                )
            self._fit_sparse(X)
        elif isinstance(X, pd.DataFrame):
            self._fit_frame(X, explicit)
        else:
            if explicit:
                raise ParameterError(
                    "The 'categorical' parameter of Preprocessor names columns, but X is an array, "
                    "which is all-numeric; pass a pandas DataFrame to one-hot encode columns."
                )
            self._fit_array(X)
        logger.debug(
            "Preprocessor fitted on %s input: %d columns in, %d columns out (scaling=%r)",
            self.input_kind_,
            self.n_features_in_,
            self.n_features_out_,
            self.scaling,
        )
        return self

    def _fit_frame(self, X: pd.DataFrame, explicit: list[str] | None) -> None:
        """Fit on a DataFrame: decide each column's kind (:mod:`deviation.preprocess.kinds`), then encode."""
        names = [str(c) for c in X.columns]
        if len(set(names)) != len(names):
            dupes = sorted({n for n in names if names.count(n) > 1})
            raise DataError(f"X has duplicate column names: {list_names(dupes)}.")
        if explicit is not None:
            unknown = [c for c in explicit if c not in set(names)]
            if unknown:
                raise ParameterError(
                    "The 'categorical' parameter of Preprocessor names columns that are not in X: "
                    f"{list_names(unknown)}."
                )
        declared = set(explicit or [])
        frame = X.set_axis(names, axis=1)
        kinds = []
        for name, dtype in zip(names, frame.dtypes):
            if pd.api.types.is_complex_dtype(dtype) or (
                not (is_numeric_dtype(dtype) or is_auto_categorical_dtype(dtype)
                     or pd.api.types.is_datetime64_any_dtype(dtype))
            ):
                raise DataError(
                    f"Column {name!r} has unsupported dtype {dtype}; convert it to numbers or "
                    "strings (or list it in the 'categorical' parameter)."
                )
            kinds.append(classify_column(name, frame[name], categorical=name in declared,
                                         max_categories=self.max_categories, min_frequency=self.min_frequency))
        features = [f for k in kinds for f in k.features]
        clash = sorted({f for f in features if features.count(f) > 1})
        if clash:
            owner = next(k.name for k in kinds if k.kind == "datetime" and clash[0] in k.features)
            raise DataError(
                f"Column {clash[0]!r} has the name of a date feature of column {owner!r} "
                f"({', '.join(next(k for k in kinds if k.name == owner).features)}); rename it"
            )
        self.column_kinds_ = kinds
        left_out = [k for k in kinds if k.kind in LEFT_OUT]
        if left_out:
            logger.warning(
                "left out of the features: %s",
                "; ".join(f"{k.name!r} ({k.kind}: {k.reason.split(':')[0]})" for k in left_out),
                # `deviation fit` prints its column report instead, which says the same
                # the same columns left out on other rows (a fold, a refit) are one warning (compare's warn_once)
                extra={"column_kinds_report": True, "once_key": tuple((k.name, k.kind) for k in left_out)},
            )
        work, source, _ = working_columns(frame, kinds)
        if not work:
            listed = ", ".join(f"{k.name!r} ({k.kind})" for k in kinds[:10]) + (
                f" and {len(kinds) - 10} more" if len(kinds) > 10 else "")
            raise DataError(
                f"no usable feature column: every column was left out ({listed}); "
                "pass columns that vary and are not identifiers or free text"
            )
        work_names = list(work)
        is_cat = [kinds[source[n]].kind == "categorical" for n in work_names]
        # the one-hot width is capped by max_categories, but many categorical columns still add up
        widths = {k.name: len(k.spec.get("levels", [])) + 2 for k in kinds if k.kind == "categorical"}
        width = len(work_names) - len(widths) + sum(widths.values())
        if widths:
            widest = max(widths, key=widths.get)
            check_allocation(
                3.0 * len(frame) * width * 8,
                f"the one-hot encoded training matrix ({len(frame):,} rows x {width:,} columns; "
                f"widest: {widest!r}, {widths[widest]:,} levels)",
                "leave columns out with --drop, declare ids with --id-column, or lower max_categories",
            )
        columns = [pd.Series(work[n]) for n in work_names]
        self._fit_dense(columns, work_names, is_cat, "dataframe")

    def _typed_input(self, X: pd.DataFrame) -> pd.DataFrame:
        """A DataFrame to transform, typed by :attr:`column_kinds_` (the features, in fitted order)."""
        given = {str(c) for c in X.columns}
        wanted = [k.name for k in self.column_kinds_ if k.kind not in LEFT_OUT]
        missing = [n for n in wanted if n not in given]
        if missing:
            raise FeatureMismatchError(
                f"X is missing {len(missing)} column(s) that Preprocessor was fitted on: {list_names(missing)}."
            )
        frame = X if all(isinstance(c, str) for c in X.columns) else X.set_axis([str(c) for c in X.columns], axis=1)
        if frame.columns.has_duplicates:
            dup = sorted({c for c in frame.columns[frame.columns.duplicated()] if c in set(wanted)})
            if dup:
                raise DataError(f"X has duplicate columns: {list_names(dup)}.")
            frame = frame.loc[:, ~frame.columns.duplicated()]
        work, _, unseen = working_columns(frame, self.column_kinds_)
        for name, count in unseen.items():
            logger.info("column %r: %d value(s) not among the levels kept at fit, encoded as %s",
                        name, count, INFREQUENT_LABEL)
        return pd.DataFrame(work, index=pd.RangeIndex(len(frame)), copy=False)

    def unseen_values(self, X: pd.DataFrame) -> dict[str, int]:
        """Per categorical column, how many cells of ``X`` hold a value not among the levels kept at fit.

        Such values are encoded as the ``<infrequent>`` level (or as no level
        when the training data had none). ``deviation score`` reports them.

        Parameters
        ----------
        X : pandas.DataFrame

        Returns
        -------
        dict of str to int
            Only columns with at least one such cell.
        """
        self._check_fitted()
        kinds = [k for k in getattr(self, "column_kinds_", None) or [] if k.kind == "categorical"]
        if not kinds or not isinstance(X, pd.DataFrame):
            return {}
        return working_columns(X, kinds)[2]

    def _fit_array(self, X: Any) -> None:
        """Fit on a numeric array-like."""
        self.column_kinds_ = None
        arr = self._as_2d_array(X)
        names = [f"x{j}" for j in range(arr.shape[1])]
        self._fit_dense(arr, names, [False] * arr.shape[1], "array")

    def _fit_dense(
        self,
        columns: Sequence[pd.Series] | np.ndarray,
        names: list[str],
        is_cat: list[bool],
        kind: str,
    ) -> None:
        """Fit imputer, scaler and encoder on dense columns.

        Parameters
        ----------
        columns : list of pandas.Series or 2-D numpy.ndarray
            The input columns in order.
        names : list of str
            Their names.
        is_cat : list of bool
            Whether each column is categorical.
        kind : {"dataframe", "array"}
            The kind of input.
        """
        n_features = len(names)
        n_samples = len(columns[0]) if isinstance(columns, list) and n_features else np.shape(columns)[0]
        if n_features == 0:
            raise DataError("X has no columns.")
        if n_samples == 0:
            raise DataError("X has no rows; at least one row is needed to fit Preprocessor.")

        num_idx = [j for j in range(n_features) if not is_cat[j]]
        cat_idx = [j for j in range(n_features) if is_cat[j]]
        hint = (
            "; list it in the 'categorical' parameter to one-hot encode it."
            if kind == "dataframe"
            else "; numpy arrays must be numeric (use a pandas DataFrame for string columns)."
        )
        num = self._numeric_block(columns, names, num_idx, hint)
        cat = self._categorical_block(columns, cat_idx)

        self.input_kind_ = kind
        self.n_features_in_ = n_features
        self.feature_names_in_ = np.asarray(names, dtype=object)
        self.numeric_features_ = [names[j] for j in num_idx]
        self.categorical_features_ = [names[j] for j in cat_idx]

        # ---- numeric columns: mean imputation, then scaling.
        self.imputer_: SimpleImputer | None = None
        self.scaler_: Any = None
        self.binary_features_ = []
        self.all_missing_features_ = []
        if num_idx:
            observed = ~np.isnan(num)
            all_missing = ~observed.any(axis=0)
            self.all_missing_features_ = [self.numeric_features_[k] for k in np.flatnonzero(all_missing)]
            if self.all_missing_features_:
                logger.warning(
                    "Columns %s have no value in the training data; they are filled with 0.",
                    list_names(self.all_missing_features_),
                )
            binary = np.array(
                [bool(np.all(np.isin(num[observed[:, k], k], (0.0, 1.0)))) for k in range(num.shape[1])]
            )
            self.binary_features_ = [self.numeric_features_[k] for k in np.flatnonzero(binary)]
            self.imputer_ = SimpleImputer(strategy="mean", keep_empty_features=True)
            self.imputer_.fit(num)
            check_finite_attributes(self.imputer_, ("statistics_",), self.numeric_features_)
            self._set_scaled_columns()
            if self.scaling != "none" and self._scaled_idx.size:
                imputed = self.imputer_.transform(num)[:, self._scaled_idx]
                self.scaler_ = self._new_dense_scaler(n_samples)
                self.scaler_.fit(imputed)
                scaled_names = [self.numeric_features_[k] for k in self._scaled_idx]
                check_finite_attributes(self.scaler_, SCALER_ATTRIBUTES[self._scaler_kind()], scaled_names)
        else:
            self._set_scaled_columns()

        # ---- categorical columns: one-hot encoding, missing values are a level.
        self.encoder_: OneHotEncoder | None = None
        if cat_idx:
            self.encoder_ = OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float64)
            self.encoder_.fit(cat)
        self._build_output_layout()

    def _fit_sparse(self, X: Any) -> None:
        self.column_kinds_ = None
        """Fit on a scipy.sparse matrix (no imputation, no one-hot encoding)."""
        if self.scaling == "quantile":
            raise ParameterError(
                "The 'scaling' parameter of Preprocessor cannot be 'quantile' for sparse input: "
                "scikit-learn's QuantileTransformer maps only the stored entries of a sparse "
                "matrix and leaves implicit zeros at 0, which is not the quantile transform of "
                "the data. Densify X (X.toarray()) or use scaling='minmax', 'standard' or 'none'."
            )
        n_samples, n_features = X.shape
        if n_features == 0:
            raise DataError("X has no columns.")
        if n_samples == 0:
            raise DataError("X has no rows; at least one row is needed to fit Preprocessor.")
        names = [f"x{j}" for j in range(n_features)]
        self.input_kind_ = "sparse"
        self.n_features_in_ = n_features
        self.feature_names_in_ = np.asarray(names, dtype=object)
        self.numeric_features_ = list(names)
        self.categorical_features_ = []
        self.binary_features_ = []
        self.all_missing_features_ = []
        self.imputer_ = None
        self.encoder_ = None
        self._set_scaled_columns()
        Xc = self._checked_csr(X)
        self.scaler_ = None
        if self.scaling == "minmax":
            if Xc.data.size and Xc.data.min() < 0:
                logger.warning(
                    "Sparse input has negative values: max-abs scaling (used for sparse "
                    "'minmax') maps them to [-1, 0), not to [0, 1]."
                )
            self.scaler_ = MaxAbsScaler().fit(Xc)
        elif self.scaling == "standard":
            self.scaler_ = StandardScaler(with_mean=False).fit(Xc)
        if self.scaler_ is not None:
            check_finite_attributes(self.scaler_, SCALER_ATTRIBUTES[self._scaler_kind()], names)
        self._build_output_layout()

    # ------------------------------------------------------------------ fitted layout

    def _scaler_kind(self) -> str:
        """Name of the scikit-learn scaler used for this input kind and scaling."""
        if self.input_kind_ == "sparse" and self.scaling == "minmax":
            return "maxabs"
        return self.scaling

    def _new_dense_scaler(self, n_samples: int) -> Any:
        """Create the unfitted scikit-learn scaler for dense data."""
        if self.scaling == "minmax":
            return MinMaxScaler(feature_range=(0.0, 1.0), clip=False)
        if self.scaling == "standard":
            return StandardScaler()
        return QuantileTransformer(
            n_quantiles=min(int(self.n_quantiles), n_samples),
            output_distribution="normal",
            subsample=self.subsample,
            random_state=self.random_state,
        )

    def _set_scaled_columns(self) -> None:
        """Compute which numeric columns go through the scaler."""
        n_num = len(self.numeric_features_)
        if self.scaling == "none":
            self._scaled_idx = np.zeros(0, dtype=np.intp)
        elif self.scaling == "quantile":
            binary = set(self.binary_features_)
            self._scaled_idx = np.array(
                [k for k, name in enumerate(self.numeric_features_) if name not in binary], dtype=np.intp
            )
        else:
            self._scaled_idx = np.arange(n_num, dtype=np.intp)

    def _build_output_layout(self) -> None:
        """Compute output names, the output-to-input map and block positions."""
        names = list(self.feature_names_in_)
        numeric = set(self.numeric_features_)
        categories = self.encoder_.categories_ if self.encoder_ is not None else []
        out_names: list[str] = []
        out_src: list[int] = []
        num_pos: list[int] = []
        cat_pos: list[int] = []
        k_cat = 0
        self._num_idx = np.array([j for j, n in enumerate(names) if n in numeric], dtype=np.intp)
        self._cat_idx = np.array([j for j, n in enumerate(names) if n not in numeric], dtype=np.intp)
        for j, name in enumerate(names):
            if name in numeric:
                num_pos.append(len(out_names))
                out_names.append(name)
                out_src.append(j)
            else:
                for value in categories[k_cat]:
                    label = MISSING_CATEGORY_LABEL if is_missing_category(value) else str(value)
                    cat_pos.append(len(out_names))
                    out_names.append(f"{name}={label}")
                    out_src.append(j)
                k_cat += 1
        self._num_pos = np.array(num_pos, dtype=np.intp)
        self._cat_pos = np.array(cat_pos, dtype=np.intp)
        self.feature_names_out_ = np.asarray(out_names, dtype=object)
        self.n_features_out_ = len(out_names)
        self.output_to_input_ = out_src

    def __sklearn_is_fitted__(self) -> bool:
        """Tell scikit-learn whether :meth:`fit` has been called."""
        return hasattr(self, "output_to_input_")

    def _check_fitted(self) -> None:
        """Raise NotFittedError before :meth:`fit`."""
        if not self.__sklearn_is_fitted__():
            raise NotFittedError(
                "This Preprocessor instance is not fitted yet. Call 'fit' with appropriate "
                "arguments before using this estimator."
            )

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the output columns.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Ignored unless given, in which case it must equal
            ``feature_names_in_``.

        Returns
        -------
        numpy.ndarray of str
            ``feature_names_out_``.

        Raises
        ------
        NotFittedError
            Before :meth:`fit`.
        FeatureMismatchError
            If ``input_features`` differs from ``feature_names_in_``.
        """
        self._check_fitted()
        if input_features is not None and [str(f) for f in input_features] != list(self.feature_names_in_):
            raise FeatureMismatchError("input_features is not equal to feature_names_in_.")
        return np.asarray(self.feature_names_out_, dtype=object)

    # ------------------------------------------------------------------ input conversion

    @staticmethod
    def _as_2d_array(X: Any) -> np.ndarray:
        """Turn an array-like into a 2-D numpy array, rejecting other shapes."""
        if isinstance(X, pd.Series):
            raise DataError("X is a pandas Series; pass a 2-D DataFrame (X.to_frame()) or array.")
        try:
            arr = np.asarray(X)
        except (TypeError, ValueError) as exc:
            raise DataError(f"X cannot be converted to an array: {exc}") from None
        if arr.ndim != 2:
            raise DataError(f"X must be 2-D (n_samples, n_features); got an array of shape {arr.shape}.")
        if arr.dtype.kind in "USV":
            raise DataError(
                f"X is a numpy array of dtype {arr.dtype}; numpy arrays must be numeric "
                "(use a pandas DataFrame to one-hot encode string columns)."
            )
        return arr

    def _numeric_block(
        self,
        columns: Sequence[pd.Series] | np.ndarray,
        names: Sequence[str],
        idx: Sequence[int],
        hint: str,
    ) -> np.ndarray:
        """Build the float64 matrix of the numeric columns, rejecting infinities.

        Parameters
        ----------
        columns : list of pandas.Series or 2-D numpy.ndarray
            All input columns, in fitted order.
        names : sequence of str
            Their names (for messages).
        idx : sequence of int
            Indices of the numeric columns.
        hint : str
            Added to the message when a numeric column holds strings.

        Returns
        -------
        numpy.ndarray
            Array of shape (n_samples, len(idx)), float64, NaN for missing.

        Raises
        ------
        DataError
            If a column holds strings, non-numbers, infinities or values beyond
            the float64 range.
        """
        idx = list(idx)
        if isinstance(columns, np.ndarray) and is_numeric_dtype(columns.dtype):
            with np.errstate(over="ignore", invalid="ignore"):
                num = np.array(columns[:, idx], dtype=np.float64)
        else:
            n = len(columns[0]) if not isinstance(columns, np.ndarray) else columns.shape[0]
            num = np.empty((n, len(idx)), dtype=np.float64)
            for k, j in enumerate(idx):
                col = columns[:, j] if isinstance(columns, np.ndarray) else columns[j]
                num[:, k] = to_float_column(col, names[j], hint)
        infinite = np.isinf(num).any(axis=0)
        if infinite.any():
            bad = [names[idx[k]] for k in np.flatnonzero(infinite)]
            raise DataError(
                f"Columns {list_names(bad)} contain infinite values or values beyond the float64 "
                "range; replace or drop them."
            )
        return num

    @staticmethod
    def _categorical_block(columns: Sequence[pd.Series] | np.ndarray, idx: Sequence[int]) -> np.ndarray:
        """Build the object matrix (strings, NaN for missing) of the categorical columns."""
        idx = list(idx)
        n = len(columns[0]) if not isinstance(columns, np.ndarray) else columns.shape[0]
        cat = np.empty((n, len(idx)), dtype=object)
        for k, j in enumerate(idx):
            col = columns[:, j] if isinstance(columns, np.ndarray) else columns[j]
            cat[:, k] = to_category_column(col)
        return cat

    def _frame_columns(self, X: pd.DataFrame) -> tuple[list[pd.Series], list[str]]:
        """Pick the fitted columns of a DataFrame (by name, or by position).

        Parameters
        ----------
        X : pandas.DataFrame
            Data to transform.

        Returns
        -------
        columns : list of pandas.Series
            One Series per fitted input column, in fitted order.
        names : list of str
            Names to use in messages.

        Raises
        ------
        FeatureMismatchError
            If a fitted column is missing (by name), or the column count differs
            (by position, when fitted on an array or sparse matrix).
        DataError
            If a fitted column name appears more than once in ``X``.
        """
        given = [str(c) for c in X.columns]
        if self.input_kind_ != "dataframe":
            if len(given) != self.n_features_in_:
                raise FeatureMismatchError(
                    f"X has {len(given)} columns, but Preprocessor was fitted on "
                    f"{self.n_features_in_} columns."
                )
            logger.debug("Preprocessor was fitted without column names; using DataFrame columns by position.")
            return [X.iloc[:, j] for j in range(len(given))], given
        positions: dict[str, list[int]] = {}
        for pos, name in enumerate(given):
            positions.setdefault(name, []).append(pos)
        wanted = list(self.feature_names_in_)
        missing = [name for name in wanted if name not in positions]
        if missing:
            raise FeatureMismatchError(
                f"X is missing {len(missing)} column(s) that Preprocessor was fitted on: "
                f"{list_names(missing)}."
            )
        duplicated = [name for name in wanted if len(positions[name]) > 1]
        if duplicated:
            raise DataError(f"X has duplicate columns: {list_names(duplicated)}.")
        extra = [name for name in given if name not in set(wanted)]
        if extra:
            logger.debug("Ignoring %d extra column(s) not seen at fit time: %s", len(extra), list_names(extra))
        return [X.iloc[:, positions[name][0]] for name in wanted], wanted

    def _dense_input(self, X: Any) -> tuple[Sequence[pd.Series] | np.ndarray, list[str]]:
        """Columns of a dense input (DataFrame or array-like) in fitted order."""
        if isinstance(X, pd.DataFrame):
            return self._frame_columns(X)
        if self.categorical_features_ and not isinstance(X, pd.Series):
            # Fitted on a DataFrame with string columns: an object array may hold them.
            arr = np.asarray(X, dtype=object)
            if arr.ndim != 2:
                raise DataError(f"X must be 2-D (n_samples, n_features); got an array of shape {arr.shape}.")
        else:
            arr = self._as_2d_array(X)
        if arr.shape[1] != self.n_features_in_:
            raise FeatureMismatchError(
                f"X has {arr.shape[1]} columns, but Preprocessor was fitted on {self.n_features_in_} columns."
            )
        if self.input_kind_ == "dataframe":
            logger.debug("Preprocessor was fitted on a DataFrame; using array columns by position.")
        return arr, list(self.feature_names_in_)

    def _checked_csr(self, X: Any) -> sp.csr_matrix | sp.csr_array:
        """Copy a sparse matrix to float64 CSR, rejecting NaN and infinities."""
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                Xc = X.tocsr(copy=True).astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise DataError(f"Sparse X cannot be converted to float64: {exc}") from None
        if Xc.shape[1] != self.n_features_in_:
            raise FeatureMismatchError(
                f"X has {Xc.shape[1]} columns, but Preprocessor was fitted on {self.n_features_in_} columns."
            )
        names = list(self.feature_names_in_)
        nan = np.isnan(Xc.data)
        if nan.any():
            bad = [names[j] for j in np.unique(Xc.indices[nan])]
            raise DataError(
                f"Sparse X stores NaN in columns {list_names(bad)}; missing values are not imputed "
                "for sparse input. Fill them, or pass a dense array or DataFrame."
            )
        inf = np.isinf(Xc.data)
        if inf.any():
            bad = [names[j] for j in np.unique(Xc.indices[inf])]
            raise DataError(
                f"Columns {list_names(bad)} contain infinite values or values beyond the float64 "
                "range; replace or drop them."
            )
        return Xc

    # ------------------------------------------------------------------ transform

    def transform(self, X: Any) -> np.ndarray | sp.csr_matrix | sp.csr_array:
        """Impute, encode and scale ``X`` with the statistics learned in :meth:`fit`.

        Parameters
        ----------
        X : pandas.DataFrame, array-like or scipy.sparse matrix of shape (n_samples, n_features)
            Data to transform. DataFrame columns are matched by name (any
            order, extra columns ignored) when the preprocessor was fitted on a
            DataFrame; arrays must have the fitted number of columns.

        Returns
        -------
        numpy.ndarray or scipy.sparse CSR matrix of shape (n_samples, n_features_out_)
            float32. Sparse (CSR, same scipy class family as ``X``) if and only
            if ``X`` is sparse.

        Raises
        ------
        NotFittedError
            Before :meth:`fit`.
        FeatureMismatchError
            If a fitted column is missing, or the number of columns differs.
        DataError
            If a numeric column holds strings, infinite values or values beyond
            the float64 range, a sparse matrix stores NaN (for a preprocessor
            fitted on sparse data), or a transformed value exceeds the float32
            range.
        """
        self._check_fitted()
        if sp.issparse(X):
            if self.input_kind_ == "sparse":
                return self._transform_sparse(X)
            logger.info("Densifying sparse X: Preprocessor was fitted on dense data.")
            with np.errstate(over="ignore", invalid="ignore"):
                dense = X.toarray().astype(np.float64)
            out = self._transform_dense(dense, list(self.feature_names_in_))
            return sp.csr_array(out) if isinstance(X, sp.sparray) else sp.csr_matrix(out)
        if getattr(self, "column_kinds_", None) is not None and isinstance(X, pd.DataFrame):
            X = self._typed_input(X)
        fast = self._transform_numeric_fast(X)
        if fast is not None:
            return fast
        columns, names = self._dense_input(X)
        if self.input_kind_ == "sparse":
            num = self._numeric_block(columns, names, range(len(names)), ".")
            if np.isnan(num).any():
                bad = [names[j] for j in np.flatnonzero(np.isnan(num).any(axis=0))]
                raise DataError(
                    f"X has missing values in columns {list_names(bad)}, but Preprocessor was fitted "
                    "on sparse data, for which missing values are not imputed."
                )
            return self._transform_sparse(sp.csr_matrix(num)).toarray()
        return self._transform_dense(columns, names)

    def _transform_numeric_fast(self, X: Any) -> np.ndarray | None:
        """All-numeric min-max (or unscaled) data without missing values, in a few array operations.

        The same arithmetic as the general path (``X * scale_ + min_``, as
        MinMaxScaler does), so the output is bit-identical; ``None`` sends
        anything else (categories, NaN, strings, other scalings) to the
        general path and its checks and messages.
        """
        if (
            self.input_kind_ != "dataframe"
            or not isinstance(X, pd.DataFrame)
            or self.encoder_ is not None
            or self.imputer_ is None
            or self.all_missing_features_
            or not isinstance(self.scaler_, (MinMaxScaler, type(None)))
            or len(self._num_pos) != self.n_features_out_
            or (self.scaler_ is not None and len(self._scaled_idx) != len(self._num_idx))
        ):
            return None
        names = list(self.feature_names_in_)
        if X.columns.has_duplicates or not set(names) <= set(X.columns):
            return None
        sub = X[names]
        if not all(is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t) for t in sub.dtypes):
            return None
        values = sub.to_numpy(dtype=np.float64, copy=True)
        if not np.isfinite(values).all():
            return None  # NaN to impute, or inf to report: the general path
        if self.scaler_ is not None:
            values *= self.scaler_.scale_
            values += self.scaler_.min_
        return self._to_float32(values)

    def _transform_dense(self, columns: Sequence[pd.Series] | np.ndarray, names: list[str]) -> np.ndarray:
        """Transform dense columns given in fitted order."""
        n = len(columns[0]) if not isinstance(columns, np.ndarray) else columns.shape[0]
        num = self._numeric_block(
            columns, names, self._num_idx, " (it was numeric in the training data)."
        )
        cat = self._categorical_block(columns, self._cat_idx)
        out = np.zeros((n, self.n_features_out_), dtype=np.float64)
        if n == 0:
            return out.astype(np.float32)
        if self.imputer_ is not None:
            num = self.imputer_.transform(num)
            if self.scaler_ is not None:
                num[:, self._scaled_idx] = self.scaler_.transform(num[:, self._scaled_idx])
            out[:, self._num_pos] = num
        if self.encoder_ is not None:
            if logger.isEnabledFor(logging.DEBUG):
                self._log_unseen_categories(cat)
            out[:, self._cat_pos] = self.encoder_.transform(cat)
        return self._to_float32(out)

    def _transform_sparse(self, X: Any) -> sp.csr_matrix | sp.csr_array:
        """Transform a sparse matrix with a preprocessor fitted on sparse data."""
        Xc = self._checked_csr(X)
        if self.scaler_ is not None and Xc.shape[0] > 0:
            Xc = self.scaler_.transform(Xc)
        Xc = Xc.tocsr()
        with np.errstate(over="ignore"):
            out = Xc.astype(np.float32)
        if not np.all(np.isfinite(out.data)):
            bad = [self.feature_names_in_[j] for j in np.unique(out.indices[~np.isfinite(out.data)])]
            raise DataError(
                f"Transformed values of columns {list_names(bad)} exceed the float32 range; the data "
                "is far outside the training range."
            )
        return out

    def _to_float32(self, out: np.ndarray) -> np.ndarray:
        """Cast the float64 output to float32, refusing overflow to infinity."""
        with np.errstate(over="ignore"):
            out32 = out.astype(np.float32)
        finite = np.isfinite(out32)
        if not finite.all():
            bad_out = np.flatnonzero(~finite.all(axis=0))
            bad = list(dict.fromkeys(self.feature_names_in_[self.output_to_input_[k]] for k in bad_out))
            raise DataError(
                f"Transformed values of columns {list_names(bad)} exceed the float32 range; the data "
                "is far outside the training range."
            )
        return out32

    def _log_unseen_categories(self, cat: np.ndarray) -> None:
        """Log (at debug level) how many values of each column were unseen at fit time."""
        assert self.encoder_ is not None
        for k, categories in enumerate(self.encoder_.categories_):
            known = {MISSING_CATEGORY_LABEL if is_missing_category(c) else c for c in categories}
            unseen = sum(
                1 for v in cat[:, k] if (MISSING_CATEGORY_LABEL if is_missing_category(v) else v) not in known
            )
            if unseen:
                logger.debug(
                    "Column %r: %d value(s) not seen at fit time are encoded as all zeros.",
                    self.categorical_features_[k],
                    unseen,
                )

    # ------------------------------------------------------------------ rebuilding

    @classmethod
    def from_fitted(
        cls,
        params: dict[str, Any],
        *,
        input_kind: str,
        feature_names_in: Sequence[str],
        numeric_features: Sequence[str],
        categorical_features: Sequence[str],
        binary_features: Sequence[str],
        all_missing_features: Sequence[str],
        imputer: SimpleImputer | None,
        scaler: Any,
        encoder: OneHotEncoder | None,
        column_kinds: Sequence[ColumnKind] | None = None,
    ) -> Preprocessor:
        """Assemble a fitted preprocessor from its fitted parts, without data.

        This is how a model file is turned back into a preprocessor
        (:mod:`deviation.persistence.preprocessing`): with the same fitted
        scikit-learn transformers, :meth:`transform` gives bit-identical output.

        Parameters
        ----------
        params : dict
            Constructor parameters (as ``get_params()`` returns them).
        input_kind : {"dataframe", "array", "sparse"}
        feature_names_in, numeric_features, categorical_features, binary_features, all_missing_features : sequence of str
            The fitted attributes of the same names (with a trailing ``_``).
        imputer : SimpleImputer or None
            Fitted mean imputer of the numeric columns.
        scaler : MinMaxScaler, StandardScaler, MaxAbsScaler, QuantileTransformer or None
            Fitted scaler of the scaled numeric columns.
        encoder : OneHotEncoder or None
            Fitted one-hot encoder of the categorical columns.
        column_kinds : sequence of ColumnKind or None
            The kinds of the input columns of a DataFrame (None for models
            saved before column typing, and for arrays).

        Returns
        -------
        Preprocessor
            The fitted preprocessor.

        Raises
        ------
        ParameterError
            If ``params`` are not valid Preprocessor parameters.
        ValueError
            If the parts are inconsistent with each other or with ``params``.
        """
        pre = cls(**params)
        pre._validate_params()
        if input_kind not in _INPUT_KINDS:
            raise ValueError(f"unknown input_kind {input_kind!r}")
        names = [str(n) for n in feature_names_in]
        numeric = [str(n) for n in numeric_features]
        categorical = [str(n) for n in categorical_features]
        if sorted(numeric + categorical) != sorted(names) or len(set(names)) != len(names):
            raise ValueError("numeric and categorical features do not partition the inputs")
        if [n for n in names if n in set(numeric)] != numeric or [n for n in names if n in set(categorical)] != categorical:
            raise ValueError("feature lists are not in input order")
        pre.input_kind_ = input_kind
        pre.n_features_in_ = len(names)
        pre.feature_names_in_ = np.asarray(names, dtype=object)
        pre.numeric_features_ = numeric
        pre.categorical_features_ = categorical
        pre.binary_features_ = [str(n) for n in binary_features]
        pre.all_missing_features_ = [str(n) for n in all_missing_features]
        if not set(pre.binary_features_) <= set(numeric):
            raise ValueError("binary_features are not numeric features")
        pre._set_scaled_columns()
        n_scaled = int(pre._scaled_idx.size)
        if imputer is None and input_kind != "sparse" and numeric:
            raise ValueError("numeric features but no imputer")
        if imputer is not None and np.shape(imputer.statistics_) != (len(numeric),):
            raise ValueError(f"the imputer has {np.size(imputer.statistics_)} statistics for {len(numeric)} numeric features")
        expected = {"minmax": MinMaxScaler, "standard": StandardScaler, "maxabs": MaxAbsScaler,
                    "quantile": QuantileTransformer}.get(pre._scaler_kind())
        if scaler is not None and (pre.scaling == "none" or type(scaler) is not expected):
            raise ValueError(f"scaler {type(scaler).__name__} does not match scaling {pre.scaling!r}")
        if scaler is None and pre.scaling != "none" and n_scaled:
            raise ValueError("scaling is set but the scaler is missing")
        if scaler is not None and scaler.n_features_in_ != n_scaled:
            raise ValueError(f"the scaler has {scaler.n_features_in_} columns, expected {n_scaled}")
        if encoder is None and categorical:
            raise ValueError("categorical features but no encoder")
        if encoder is not None and len(encoder.categories_) != len(categorical):
            raise ValueError("one list of categories per categorical feature expected")
        pre.imputer_ = imputer
        pre.scaler_ = scaler
        pre.encoder_ = encoder
        pre.column_kinds_ = None if column_kinds is None else list(column_kinds)
        if pre.column_kinds_ is not None:
            features = [f for k in pre.column_kinds_ for f in k.features]
            if features != names:
                raise ValueError("the column kinds do not give the fitted features")
        pre._build_output_layout()
        return pre
