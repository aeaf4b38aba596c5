"""Save and load fitted DevNet models as single, safe files.

A model file is one zip archive (``ZIP_DEFLATED``) with exactly three members:

``manifest.json``
    The format name and version, and the size and SHA-256 checksum of the two
    other members.
``config.json``
    Everything that is not a weight: library versions, creation time, the
    estimator's parameters and fitted scalar attributes, the feature names,
    the loss curve, the :class:`~deviation.preprocess.Preprocessor` state of a
    pipeline, the pipeline's step names and the user's metadata.
``weights.safetensors``
    The float32 kernels and biases of the scoring network (``coef_0``,
    ``intercept_0``, ``coef_1``, ...), in the safetensors format.

The archive comment holds the SHA-256 checksum of every byte of the file
before it, so that a single changed byte anywhere (zip headers included) is
detected. Only JSON, safetensors and zip are parsed on loading: nothing in a
model file is ever executed, whoever wrote it. See ``docs/model-files.md``.

Examples
--------
>>> from deviation import DevNet, load_thyroid, save, load
>>> X, y = load_thyroid(return_X_y=True)
>>> model = DevNet(epochs=2, batches_per_epoch=2, random_state=0).fit(X, y)
>>> path = save(model, "thyroid.model", metadata={"dataset": "thyroid"})  # doctest: +SKIP
>>> same = load(path)  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import io
import json
import logging
import math
import numbers
import os
import platform
import stat
import struct
import zipfile
import zlib
from importlib import metadata as _metadata
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import safetensors
import safetensors.numpy
import sklearn
from sklearn.pipeline import Pipeline

from ._atomic import atomic_target
from .estimator import DevNet
from .exceptions import ModelFileError, NotFittedError, ParameterError
from .features import InputView
from .preprocess import Preprocessor

__all__ = [
    "CONFIG_NAME",
    "FORMAT",
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "MAX_MEMBER_BYTES",
    "WEIGHTS_NAME",
    "dumps",
    "load",
    "loads",
    "read_model_info",
    "save",
]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike

#: Value of the ``format`` key of ``manifest.json`` and ``config.json``.
FORMAT = "deviation-model"
#: Version of the file layout written by :func:`save` (and the newest one :func:`load` reads).
FORMAT_VERSION = 1

MANIFEST_NAME = "manifest.json"
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "weights.safetensors"
_MEMBER_NAMES = (MANIFEST_NAME, CONFIG_NAME, WEIGHTS_NAME)
_CHECKED_NAMES = (CONFIG_NAME, WEIGHTS_NAME)

#: Largest declared uncompressed size of ``config.json`` or ``weights.safetensors``.
MAX_MEMBER_BYTES = 4 * 1024**3
_MAX_MANIFEST_BYTES = 1024**2
_MAX_FILE_BYTES = 2 * MAX_MEMBER_BYTES + _MAX_MANIFEST_BYTES + 1024**2

_ZIP_MAGIC = b"PK\x03\x04"
# The zip comment: this prefix, then the hex SHA-256 of every byte of the file before that digest.
_TRAILER_PREFIX = b"deviation-model sha256="
_DIGEST_HEX_LEN = 64
_ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)
_COMPRESS_LEVEL = 6

# Everything the standard zipfile module may raise on a damaged archive.
_ZIP_ERRORS: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    OSError,
    ValueError,
    OverflowError,
    struct.error,
    NotImplementedError,
    RuntimeError,
    IndexError,
    KeyError,
    TypeError,
)

# Fitted scalar attributes of DevNet saved in config.json, with their JSON type.
_FITTED_INTS = ("n_features_in_", "best_epoch_", "n_labeled_anomalies_", "n_unlabeled_", "n_networks_")
_FITTED_FLOATS = ("reference_mean_", "reference_std_", "threshold_")
_FITTED_STRS = ("device_", "engine_")

_NONFINITE_TO_JSON = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}
_NONFINITE_FROM_JSON = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


# --------------------------------------------------------------------------- small helpers


def _one_line(text: Any) -> str:
    """Collapse any whitespace (newlines included) of ``str(text)`` into single spaces."""
    return " ".join(str(text).split())


def _library_version(distribution: str) -> str | None:
    """Return the installed version of a distribution, or None if it is not installed.

    Parameters
    ----------
    distribution : str
        The distribution name, e.g. ``"torch"``. Nothing is imported.

    Returns
    -------
    str or None
    """
    try:
        return _metadata.version(distribution)
    except _metadata.PackageNotFoundError:
        return None


def _deviation_version() -> str:
    """Return the version of deviation (installed metadata, else ``deviation.__version__``)."""
    version = _library_version("deviation")
    if version is None:
        from . import __version__

        version = __version__
    return version


def _float_to_json(value: Any) -> float | str:
    """Encode a float for strict JSON: NaN and infinities become the strings of :func:`_float_from_json`."""
    f = float(value)
    if math.isfinite(f):
        return f
    return _NONFINITE_TO_JSON[repr(f)]


def _float_from_json(value: Any, what: str) -> float:
    """Decode a float written by :func:`_float_to_json`.

    Parameters
    ----------
    value : object
        The JSON value.
    what : str
        Its name, for the error message.

    Returns
    -------
    float

    Raises
    ------
    ModelFileError
        If ``value`` is neither a number nor one of ``"NaN"``, ``"Infinity"``, ``"-Infinity"``.
    """
    if isinstance(value, bool):
        raise ModelFileError(f"config.json: {what} must be a number, got {value!r}.")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value in _NONFINITE_FROM_JSON:
        return _NONFINITE_FROM_JSON[value]
    raise ModelFileError(
        f"config.json: {what} must be a number, got {_one_line(repr(value))[:80]}."
    )


def _int_from_json(value: Any, what: str, minimum: int = 0) -> int:
    """Return ``value`` if it is a JSON integer ``>= minimum``, else raise ModelFileError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ModelFileError(
            f"config.json: {what} must be an integer >= {minimum}, got {_one_line(repr(value))[:80]}."
        )
    return value


def _require(mapping: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    """Return ``mapping[key]`` after checking that it exists and has the expected JSON type.

    Parameters
    ----------
    mapping : dict
        A parsed JSON object.
    key : str
        The key to read.
    kind : type or tuple of type
        The accepted Python type(s) of the value.
    where : str
        The name of ``mapping`` in the file, for the error message.

    Returns
    -------
    object
        The value.

    Raises
    ------
    ModelFileError
        If the key is missing or its value has another type.
    """
    if not isinstance(mapping, dict) or key not in mapping:
        raise ModelFileError(
            f"{where} has no {key!r} entry; the file is not a valid deviation model file."
        )
    value = mapping[key]
    if not isinstance(value, kind) or (
        isinstance(value, bool) and bool not in _as_tuple(kind)
    ):
        raise ModelFileError(
            f"{where}: {key!r} has type {type(value).__name__}, which is not valid; "
            "the file is not a valid deviation model file."
        )
    return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    """Return ``kind`` as a tuple of types."""
    return kind if isinstance(kind, tuple) else (kind,)


def _strict_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` of :func:`json.loads` that refuses duplicate keys."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _refuse_constant(name: str) -> NoReturn:
    """``parse_constant`` of :func:`json.loads`: NaN and infinities are not strict JSON."""
    raise ValueError(f"non-standard JSON constant {name}")


def _parse_json(raw: bytes, member: str, path: Path) -> Any:
    """Parse strict UTF-8 JSON (no duplicate keys, no NaN) from a model file member.

    Raises
    ------
    ModelFileError
        If ``raw`` is not valid strict JSON.
    """
    try:
        return json.loads(
            raw.decode("utf-8"),
            object_pairs_hook=_strict_object,
            parse_constant=_refuse_constant,
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ModelFileError(
            f"Model file {path}: {member} is not valid JSON ({_one_line(exc)[:200]}); "
            "the file is corrupted or was not written by deviation."
        ) from None


# --------------------------------------------------------------------------- saving: model -> JSON


def _check_devnet(model: Any, where: str) -> DevNet:
    """Check that ``model`` is a fitted :class:`DevNet` (not a subclass).

    Raises
    ------
    TypeError
        For another type.
    NotFittedError
        Before ``fit``.
    """
    if type(model) is not DevNet:
        raise TypeError(
            f"{where} must be a fitted deviation.DevNet, got {type(model).__module__}."
            f"{type(model).__qualname__}; only DevNet itself (not a subclass) can be saved."
        )
    if not hasattr(model, "coefs_"):
        raise NotFittedError(
            "This DevNet instance is not fitted yet; call 'fit' before saving it."
        )
    return model


def _split_model(
    model: Any,
) -> tuple[Preprocessor | None, DevNet, list[str] | None, dict[str, Any] | None]:
    """Take a DevNet or a (Preprocessor, DevNet) pipeline apart.

    Parameters
    ----------
    model : DevNet or sklearn.pipeline.Pipeline
        The model passed to :func:`save`.

    Returns
    -------
    preprocessor : Preprocessor or None
    devnet : DevNet
    step_names : list of str or None
        The pipeline's step names (None for a bare DevNet).
    pipeline_params : dict or None
        The pipeline's own saved parameters (None for a bare DevNet).

    Raises
    ------
    TypeError
        For any other kind of model.
    NotFittedError
        If the DevNet or the Preprocessor is not fitted.
    """
    if isinstance(model, DevNet):
        return None, _check_devnet(model, "model"), None, None
    if type(model) is not Pipeline:
        raise TypeError(
            "save() takes a fitted deviation.DevNet or a sklearn Pipeline of "
            f"(deviation.preprocess.Preprocessor, deviation.DevNet); got {type(model).__module__}."
            f"{type(model).__qualname__}."
        )
    steps = list(model.steps)
    kinds = [type(step).__name__ for _, step in steps]
    if (
        len(steps) != 2
        or type(steps[0][1]) is not Preprocessor
        or type(steps[1][1]) is not DevNet
    ):
        raise TypeError(
            "save() takes a Pipeline of exactly two steps, a deviation.preprocess.Preprocessor "
            f"then a deviation.DevNet; got steps {kinds}."
        )
    names = [name for name, _ in steps]
    if not all(isinstance(name, str) for name in names):
        raise TypeError(
            f"Pipeline step names must be strings to be saved; got {names!r}."
        )
    pre, devnet = steps[0][1], steps[1][1]
    if not pre.__sklearn_is_fitted__():
        raise NotFittedError(
            "The Preprocessor of this Pipeline is not fitted yet; call 'fit' on the pipeline before saving it."
        )
    _check_devnet(devnet, "the last step of the Pipeline")
    if int(pre.n_features_out_) != int(devnet.n_features_in_):
        raise ParameterError(
            f"The Preprocessor outputs {pre.n_features_out_} columns but the DevNet was fitted on "
            f"{devnet.n_features_in_}; fit the whole pipeline again before saving it."
        )
    if getattr(model, "memory", None) is not None:
        logger.warning(
            "Pipeline 'memory' is not saved (the loaded pipeline has memory=None)."
        )
    return pre, devnet, names, {"verbose": bool(model.verbose)}


def _param_to_json(name: str, value: Any) -> Any:
    """Convert one ``DevNet.get_params()`` value to JSON types.

    Raises
    ------
    ParameterError
        For a value that cannot be stored as JSON.
    """
    if name == "hidden_layer_sizes":
        if value is None:  # the preset's sizes
            return None
        try:
            return [int(units) for units in value]
        except (TypeError, ValueError):
            raise ParameterError(
                f"Cannot save parameter hidden_layer_sizes={value!r}: it must be a sequence of ints."
            ) from None
    if name == "random_state":
        if value is None or (
            isinstance(value, numbers.Integral) and not isinstance(value, bool)
        ):
            return None if value is None else int(value)
        logger.info(
            "random_state of type %s is saved as null; the loaded model has random_state=None.",
            type(value).__name__,
        )
        return None
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return _float_to_json(value)
    raise ParameterError(
        f"Cannot save DevNet parameter {name}={value!r} (type {type(value).__name__}); "
        "only numbers, strings, booleans and None can be stored."
    )


def _devnet_to_config(devnet: DevNet) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Split a fitted DevNet into its JSON config and its float32 tensors.

    Returns
    -------
    config : dict
        ``{"estimator", "params", "fitted", "layers"}`` (top-level keys of ``config.json``).
    tensors : dict of str to ndarray
        ``coef_k`` and ``intercept_k`` for each layer, C-contiguous float32.

    Raises
    ------
    ParameterError
        If the weights are not float32 arrays of consistent shapes.
    """
    params = {
        name: _param_to_json(name, value)
        for name, value in devnet.get_params(deep=False).items()
    }
    coefs, intercepts = list(devnet.coefs_), list(devnet.intercepts_)
    if len(coefs) != len(intercepts) or not coefs:
        raise ParameterError(
            "The DevNet has inconsistent coefs_ and intercepts_; fit it again before saving."
        )
    tensors: dict[str, np.ndarray] = {}
    view = getattr(devnet, "view_", None)
    layers = [int(devnet.n_features_in_) if view is None else int(view.n_features_out)]
    if view is not None:
        tensors.update(view.to_tensors())
    for k, (coef, intercept) in enumerate(zip(coefs, intercepts)):
        coef, intercept = np.asarray(coef), np.asarray(intercept)
        if coef.dtype != np.float32 or intercept.dtype != np.float32:
            raise ParameterError(
                f"Layer {k} of the DevNet holds {coef.dtype}/{intercept.dtype} weights; only float32 "
                "weights (as fit produces) can be saved."
            )
        if (
            coef.ndim != 2
            or coef.shape[0] != layers[-1]
            or intercept.shape != (coef.shape[1],)
        ):
            raise ParameterError(
                f"Layer {k} of the DevNet has weights of shapes {coef.shape} and {intercept.shape}, "
                "inconsistent with the previous layer; fit it again before saving."
            )
        layers.append(int(coef.shape[1]))
        tensors[f"coef_{k}"] = np.ascontiguousarray(coef)
        tensors[f"intercept_{k}"] = np.ascontiguousarray(intercept)
    baseline = getattr(devnet, "baseline_", None)
    if baseline is not None:
        baseline = np.asarray(baseline)
        if baseline.dtype != np.float32 or baseline.shape != (int(devnet.n_features_in_),):
            raise ParameterError(
                f"The DevNet's baseline_ is {baseline.dtype} of shape {baseline.shape}; expected float32 "
                f"of shape ({int(devnet.n_features_in_)},); fit it again before saving."
            )
        tensors["baseline"] = np.ascontiguousarray(baseline)
    if layers[-1] != 1:
        raise ParameterError(
            f"The DevNet's output layer has {layers[-1]} units instead of 1; fit it again."
        )

    fitted: dict[str, Any] = {}
    for attr in _FITTED_INTS:
        # a DevNet fitted before presets existed has no n_networks_: it holds one network
        fitted[attr] = int(getattr(devnet, attr, 1) if attr == "n_networks_" else getattr(devnet, attr))
    for attr in _FITTED_FLOATS:
        fitted[attr] = _float_to_json(getattr(devnet, attr))
    for attr in _FITTED_STRS:
        fitted[attr] = str(getattr(devnet, attr))
    fitted["loss_curve_"] = [_float_to_json(v) for v in devnet.loss_curve_]
    names = getattr(devnet, "feature_names_in_", None)
    fitted["feature_names_in_"] = None if names is None else [str(n) for n in names]
    config = {
        "estimator": "deviation.DevNet",
        "params": params,
        "fitted": fitted,
        "layers": layers,
    }
    return config, tensors


def _check_metadata(metadata: Any) -> dict[str, Any]:
    """Check that the user metadata is a dict that round-trips through strict JSON.

    Raises
    ------
    TypeError
        If ``metadata`` is not a dict.
    ParameterError
        If it holds values JSON cannot store exactly (tuples, sets, objects,
        non-string keys, NaN).
    """
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict, got {type(metadata).__name__}.")
    try:
        text = json.dumps(metadata, allow_nan=False, ensure_ascii=False)
        same = json.loads(text) == metadata
    except (TypeError, ValueError, RecursionError) as exc:
        raise ParameterError(
            f"metadata must be JSON-serialisable (dict with string keys; str, int, float, bool, None, "
            f"list and dict values; no NaN): {_one_line(exc)}"
        ) from None
    if not same:
        raise ParameterError(
            "metadata must survive a JSON round trip unchanged: use string keys and lists "
            "instead of tuples (str, int, float, bool, None, list and dict values only)."
        )
    return json.loads(text)


def _input_feature_names(
    pre: Preprocessor | None, estimator: dict[str, Any]
) -> list[str] | None:
    """Names of the columns the saved model expects as input, or None if it was fitted on an array.

    For a pipeline these are the Preprocessor's DataFrame columns, for a bare
    DevNet its ``feature_names_in_``.
    """
    if pre is None:
        return estimator["fitted"]["feature_names_in_"]
    if pre.input_kind_ == "dataframe":
        return [str(name) for name in pre.feature_names_in_]
    return None


def _build_config(
    model: Any, metadata: dict[str, Any] | None
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Return the ``config.json`` content and the tensors of ``model``."""
    pre, devnet, step_names, pipeline_params = _split_model(model)
    user_metadata = _check_metadata(metadata)
    estimator, tensors = _devnet_to_config(devnet)
    config: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": {
            "deviation": _deviation_version(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scikit-learn": sklearn.__version__,
            "safetensors": _library_version("safetensors"),
            "torch": _library_version("torch"),
        },
        "model_type": "DevNet" if pre is None else "Pipeline",
        **estimator,
        "feature_names_in": _input_feature_names(pre, estimator),
        "pipeline": None
        if pre is None
        else {"steps": step_names, **(pipeline_params or {})},
        "preprocessor": None if pre is None else pre.to_state(),
        "metadata": user_metadata,
    }
    return config, tensors


# --------------------------------------------------------------------------- saving: bytes and file


def _sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def _zip_info(name: str) -> zipfile.ZipInfo:
    """A ZipInfo with fixed metadata, so that equal parts give equal archives."""
    info = zipfile.ZipInfo(name, date_time=_ZIP_DATE_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def _archive_bytes(config_bytes: bytes, weights_bytes: bytes) -> bytes:
    """Assemble the model file: manifest, config and weights, then the archive checksum.

    Parameters
    ----------
    config_bytes, weights_bytes : bytes
        The content of ``config.json`` and ``weights.safetensors``.

    Returns
    -------
    bytes
        The complete zip file. Its comment is ``deviation-model sha256=`` and
        the hex SHA-256 of every byte of the file before those 64 hex digits.
    """
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "files": {
            CONFIG_NAME: {"size": len(config_bytes), "sha256": _sha256(config_bytes)},
            WEIGHTS_NAME: {
                "size": len(weights_bytes),
                "sha256": _sha256(weights_bytes),
            },
        },
    }
    manifest_bytes = (json.dumps(manifest, indent=2, allow_nan=False) + "\n").encode(
        "utf-8"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(
        buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=_COMPRESS_LEVEL
    ) as zf:
        for name, data in (
            (MANIFEST_NAME, manifest_bytes),
            (CONFIG_NAME, config_bytes),
            (WEIGHTS_NAME, weights_bytes),
        ):
            zf.writestr(
                _zip_info(name),
                data,
                compress_type=zipfile.ZIP_DEFLATED,
                compresslevel=_COMPRESS_LEVEL,
            )
        zf.comment = _TRAILER_PREFIX + b"0" * _DIGEST_HEX_LEN
    data = bytearray(buffer.getvalue())
    data[-_DIGEST_HEX_LEN:] = _sha256(bytes(data[:-_DIGEST_HEX_LEN])).encode("ascii")
    return bytes(data)


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory.

    The temporary file is flushed and fsync'ed, then renamed over ``path``
    with :func:`os.replace`, so ``path`` is either the old file or the new
    one, never a partial file. The temporary file is removed on any error.

    Raises
    ------
    ModelFileError
        If the directory does not exist, ``path`` is a directory, or writing fails.
    """
    directory = path.parent
    if not directory.is_dir():
        raise ModelFileError(
            f"Cannot save the model to {path}: directory {directory} does not exist; create it first."
        )
    if path.is_dir():
        raise ModelFileError(
            f"Cannot save the model to {path}: it is a directory; pass a file path."
        )
    try:
        with atomic_target(path) as tmp:
            tmp.write_bytes(data)
    except OSError as exc:
        raise ModelFileError(f"Cannot save the model to {path}: {_one_line(exc)}") from exc


def save(
    model: DevNet | Pipeline, path: PathLike, *, metadata: dict[str, Any] | None = None
) -> Path:
    """Save a fitted model to one file (a zip of JSON and safetensors, checksummed).

    Nothing is pickled: the file holds JSON and float32 tensors only, and
    :func:`load` never executes anything from it. The file is written
    atomically: ``path`` is either left as it was or replaced by the complete
    new file, never a partial one.

    Parameters
    ----------
    model : DevNet or sklearn.pipeline.Pipeline
        A fitted :class:`~deviation.DevNet`, or a fitted ``Pipeline`` of exactly
        two steps, a :class:`~deviation.preprocess.Preprocessor` then a
        ``DevNet`` (the step names are kept).
    path : str or os.PathLike
        The file to write (conventionally ``*.model``); its directory must
        exist. An existing file is replaced.
    metadata : dict, optional
        Anything to keep with the model (dataset name, metrics, ...). It must
        survive a JSON round trip unchanged: string keys; str, int, float,
        bool, None, list and dict values.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    TypeError
        If ``model`` is neither a DevNet nor a (Preprocessor, DevNet) Pipeline,
        or ``metadata`` is not a dict.
    NotFittedError
        If the model is not fitted.
    ParameterError
        If ``metadata`` or a parameter cannot be stored as JSON.
    ModelFileError
        If the directory does not exist or the file cannot be written.

    See Also
    --------
    load, read_model_info
    """
    path = Path(path)
    data = dumps(model, metadata=metadata)
    _write_atomically(path, data)
    logger.debug("Saved %s to %s (%d bytes).", type(model).__name__, path, len(data))
    return path


def dumps(model: DevNet | Pipeline, *, metadata: dict[str, Any] | None = None) -> bytes:
    """The bytes :func:`save` would write: for sending a model over a network (e.g. to Dask workers).

    Parameters
    ----------
    model : DevNet or sklearn.pipeline.Pipeline
        As for :func:`save`.
    metadata : dict, optional
        As for :func:`save`.

    Returns
    -------
    bytes
        A complete model file.
    """
    config, tensors = _build_config(model, metadata)
    try:
        config_bytes = (
            json.dumps(config, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
        ).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise ParameterError(
            f"The model cannot be stored as JSON: {_one_line(exc)}"
        ) from None
    weights_bytes = safetensors.numpy.save(tensors)
    return _archive_bytes(config_bytes, weights_bytes)


# --------------------------------------------------------------------------- loading: file -> verified parts


def _corrupted(path: Path, detail: str) -> ModelFileError:
    """The error for a damaged file."""
    return ModelFileError(
        f"Model file {path} is truncated or corrupted ({_one_line(detail)[:300]}); "
        "save the model again or restore the file from a backup."
    )


def _not_a_model(path: Path, detail: str) -> ModelFileError:
    """The error for a file that deviation did not write."""
    return ModelFileError(
        f"{path} is not a deviation model file ({detail}); pass a file written by deviation.save()."
    )


def _check_format(document: Any, member: str, path: Path) -> None:
    """Check the ``format`` and ``format_version`` of the manifest or the config.

    Raises
    ------
    ModelFileError
        If the format is not ``deviation-model``, the version is invalid, or
        it is newer than :data:`FORMAT_VERSION`.
    """
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        found = (
            document.get("format")
            if isinstance(document, dict)
            else type(document).__name__
        )
        raise _not_a_model(
            path, f"{member} has format {_one_line(repr(found))[:60]}, not {FORMAT!r}"
        )
    version = document.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ModelFileError(
            f"Model file {path}: {member} has an invalid format_version {_one_line(repr(version))[:60]}; "
            "the file is corrupted or was not written by deviation."
        )
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"Model file {path} was written by a newer version of deviation (format {version}); "
            f"upgrade deviation (this version reads format {FORMAT_VERSION})."
        )


def _read_file(path: Path) -> bytes:
    """Read a model file into memory after checking that it is a plausible, non-empty regular file."""
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise ModelFileError(
            f"Model file {path} does not exist; check the path."
        ) from None
    except OSError as exc:
        raise ModelFileError(
            f"Cannot read model file {path}: {_one_line(exc)}"
        ) from None
    if stat.S_ISDIR(info.st_mode):
        raise ModelFileError(
            f"{path} is a directory, not a model file; pass the path of a file written by deviation.save()."
        )
    if not stat.S_ISREG(info.st_mode):
        raise ModelFileError(
            f"{path} is not a regular file; pass the path of a file written by deviation.save()."
        )
    if info.st_size == 0:
        raise ModelFileError(
            f"Model file {path} is empty (0 bytes), not a deviation model file; save the model again."
        )
    if info.st_size > _MAX_FILE_BYTES:
        raise ModelFileError(
            f"{path} is {info.st_size} bytes, larger than any deviation model file can be "
            f"({_MAX_FILE_BYTES} bytes); refusing to read it."
        )
    try:
        with open(path, "rb") as fh:
            return fh.read(_MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ModelFileError(
            f"Cannot read model file {path}: {_one_line(exc)}"
        ) from None


def _read_member(zf: zipfile.ZipFile, name: str, limit: int, path: Path) -> bytes:
    """Decompress one member, refusing encrypted members, odd compressions and oversized ones.

    Raises
    ------
    ModelFileError
        If the member declares more than ``limit`` uncompressed bytes, or
        cannot be decompressed (bad CRC, broken deflate stream, ...).
    """
    info = zf.getinfo(name)
    if info.file_size > limit:
        raise ModelFileError(
            f"Model file {path}: member {name} declares {info.file_size} uncompressed bytes, above the "
            f"limit of {limit}; refusing to decompress it (a damaged file or a zip bomb)."
        )
    if info.flag_bits & 0x1:
        raise _corrupted(path, f"member {name} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise _corrupted(
            path,
            f"member {name} uses unsupported compression method {info.compress_type}",
        )
    try:
        with zf.open(info) as fh:
            content = fh.read(limit + 1)
    except _ZIP_ERRORS as exc:
        raise _corrupted(
            path, f"cannot decompress {name}: {type(exc).__name__}: {exc}"
        ) from None
    if len(content) != info.file_size:
        raise _corrupted(
            path, f"{name} has {len(content)} bytes instead of {info.file_size}"
        )
    return content


def _check_manifest_files(
    manifest: dict[str, Any], path: Path
) -> dict[str, dict[str, Any]]:
    """Return the ``files`` entry of the manifest after checking its structure."""
    files = manifest.get("files")
    if not isinstance(files, dict) or set(files) != set(_CHECKED_NAMES):
        raise _corrupted(
            path, f"{MANIFEST_NAME} must list exactly {list(_CHECKED_NAMES)}"
        )
    for name in _CHECKED_NAMES:
        entry = files[name]
        digest = entry.get("sha256") if isinstance(entry, dict) else None
        size = entry.get("size") if isinstance(entry, dict) else None
        if (
            not isinstance(digest, str)
            or len(digest) != _DIGEST_HEX_LEN
            or any(c not in "0123456789abcdef" for c in digest)
            or isinstance(size, bool)
            or not isinstance(size, int)
            or size < 0
        ):
            raise _corrupted(path, f"{MANIFEST_NAME} has an invalid entry for {name}")
    return files


def _read_verified(path: PathLike) -> tuple[Path, dict[str, Any], bytes]:
    """Open a model file and verify it completely before anything but the manifest is parsed.

    Steps: the file is read; it must be a zip archive; ``manifest.json`` is
    parsed and its format checked (so files from a newer deviation are
    recognised even if their layout changed); the members must be exactly the
    three known names; the archive checksum (zip comment) must match every
    byte of the file; each part must match its manifest size and SHA-256.
    Only then is ``config.json`` parsed and its format checked.

    Parameters
    ----------
    path : str or os.PathLike
        The model file.

    Returns
    -------
    path : pathlib.Path
    config : dict
        The parsed ``config.json``.
    weights : bytes
        The verified content of ``weights.safetensors`` (not parsed).

    Raises
    ------
    ModelFileError
        For any problem, with a one-line message.
    """
    path = Path(path)
    return path, *_verify_bytes(_read_file(path), path)


def _verify_bytes(data: bytes, path: Path) -> tuple[dict[str, Any], bytes]:
    """The checks of :func:`_read_verified` on the bytes of a model; ``path`` only names it in messages."""
    if not data.startswith(_ZIP_MAGIC):
        if _ZIP_MAGIC.startswith(data):
            raise _corrupted(path, f"only {len(data)} bytes")
        hint = "it is not a zip archive"
        if data[:1] == b"\x80" and len(data) > 1 and 2 <= data[1] <= 5:
            hint += "; it looks like a Python pickle, which deviation never loads because it can run code"
        raise _not_a_model(path, hint)
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except _ZIP_ERRORS:
        raise _corrupted(
            path, "the zip directory at the end of the file is missing or damaged"
        ) from None
    with zf:
        try:
            names = zf.namelist()
        except (
            _ZIP_ERRORS
        ) as exc:  # pragma: no cover - namelist only reads the parsed directory
            raise _corrupted(path, f"{type(exc).__name__}: {exc}") from None
        if MANIFEST_NAME not in names:
            raise _not_a_model(path, f"it has no {MANIFEST_NAME}")
        if names.count(MANIFEST_NAME) != 1:
            raise _corrupted(
                path, f"{MANIFEST_NAME} appears {names.count(MANIFEST_NAME)} times"
            )
        manifest = _parse_json(
            _read_member(zf, MANIFEST_NAME, _MAX_MANIFEST_BYTES, path),
            MANIFEST_NAME,
            path,
        )
        _check_format(manifest, MANIFEST_NAME, path)

        unexpected = [n for n in names if n not in _MEMBER_NAMES]
        if unexpected:
            raise ModelFileError(
                f"Model file {path} contains unexpected member(s) {unexpected[:5]!r}; a deviation model "
                f"file holds only {list(_MEMBER_NAMES)}. Refusing to load it: use a file written by deviation.save()."
            )
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise _corrupted(path, f"members {duplicated} appear more than once")
        missing = [n for n in _MEMBER_NAMES if n not in names]
        if missing:
            raise ModelFileError(
                f"Model file {path} lacks {missing}; it is incomplete. Save the model again."
            )

        tail = data[-_DIGEST_HEX_LEN:]
        expected = _sha256(data[:-_DIGEST_HEX_LEN]).encode("ascii")
        if zf.comment != _TRAILER_PREFIX + tail or not hmac.compare_digest(
            expected, tail
        ):
            raise _corrupted(
                path, "the archive checksum does not match the file's bytes"
            )

        files = _check_manifest_files(manifest, path)
        parts: dict[str, bytes] = {}
        for name in _CHECKED_NAMES:
            declared = files[name]["size"]
            if declared != zf.getinfo(name).file_size:
                raise _corrupted(path, f"{name} size differs from {MANIFEST_NAME}")
            content = _read_member(zf, name, MAX_MEMBER_BYTES, path)
            if not hmac.compare_digest(_sha256(content), files[name]["sha256"]):
                raise _corrupted(
                    path,
                    f"the SHA-256 checksum of {name} does not match {MANIFEST_NAME}",
                )
            parts[name] = content

    config = _parse_json(parts[CONFIG_NAME], CONFIG_NAME, path)
    _check_format(config, CONFIG_NAME, path)
    return config, parts[WEIGHTS_NAME]


# --------------------------------------------------------------------------- loading: verified parts -> model


def _devnet_from_config(config: Any, tensors: dict[str, np.ndarray]) -> DevNet:
    """Rebuild a fitted DevNet from ``config.json`` (``estimator``, ``params``, ``fitted``, ``layers``) and the tensors.

    Raises
    ------
    ModelFileError
        If the parameters are unknown or invalid, or the tensors do not match
        the configuration.
    """
    where = "config.json"
    if _require(config, "estimator", str, where) != "deviation.DevNet":
        raise ModelFileError(
            f"{where}: unknown estimator {config['estimator']!r}; upgrade deviation."
        )
    params = dict(_require(config, "params", dict, where))
    known = set(DevNet().get_params(deep=False))
    unknown = sorted(set(params) - known)
    if unknown:
        raise ModelFileError(
            f"config.json sets DevNet parameters {unknown} that this version of deviation does not know; "
            "upgrade deviation."
        )
    if params.get("hidden_layer_sizes") is not None:
        hidden = params["hidden_layer_sizes"]
        if not isinstance(hidden, list):
            raise ModelFileError(
                "config.json: hidden_layer_sizes must be null or a list of ints."
            )
        params["hidden_layer_sizes"] = tuple(
            _int_from_json(h, "hidden_layer_sizes", 1) for h in hidden
        )
    for name, value in params.items():
        if isinstance(value, (list, dict)) and name != "hidden_layer_sizes":
            raise ModelFileError(
                f"config.json: DevNet parameter {name} has an invalid value."
            )
        if (
            isinstance(value, str)
            and value in _NONFINITE_FROM_JSON
            and name not in ("engine", "device")
        ):
            params[name] = _NONFINITE_FROM_JSON[value]
    # files written before presets existed hold the paper's single network
    params.setdefault("preset", "paper")
    model = DevNet(**params)
    try:
        model._validate_params()
    except ParameterError as exc:
        raise ModelFileError(
            f"config.json holds invalid DevNet parameters: {_one_line(exc)}"
        ) from None

    fitted = _require(config, "fitted", dict, where)
    values: dict[str, Any] = {}
    for attr in _FITTED_INTS:
        if attr == "n_networks_" and attr not in fitted:
            values[attr] = 1
            continue
        values[attr] = _int_from_json(fitted.get(attr), attr, 1 if attr == "n_networks_" else 0)
    for attr in _FITTED_FLOATS:
        values[attr] = _float_from_json(fitted.get(attr), attr)
    for attr in _FITTED_STRS:
        values[attr] = _require(fitted, attr, str, "config.json 'fitted'")
    curve = _require(fitted, "loss_curve_", list, "config.json 'fitted'")
    values["loss_curve_"] = [_float_from_json(v, "loss_curve_") for v in curve]
    names = fitted.get("feature_names_in_")
    if names is not None:
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ModelFileError(
                "config.json: feature_names_in_ must be a list of strings or null."
            )
        if len(names) != values["n_features_in_"]:
            raise ModelFileError(
                f"config.json: {len(names)} feature names for n_features_in_={values['n_features_in_']}."
            )
        values["feature_names_in_"] = np.asarray(names, dtype=object)

    n_features = values["n_features_in_"]
    if n_features < 1:
        raise ModelFileError("config.json: n_features_in_ must be at least 1.")
    view_names = {name for name in tensors if name.startswith("view.")}
    view = None
    if view_names:
        try:
            view = InputView.from_tensors(tensors, n_features)
        except ValueError as exc:
            raise ModelFileError(f"weights.safetensors: {exc}.") from None
    unknown_view = sorted(view_names - set(InputView.TENSOR_NAMES))
    if unknown_view:
        raise ModelFileError(
            f"weights.safetensors holds unknown tensors {unknown_view}; the file was not written by "
            "deviation.save() or needs a newer deviation."
        )
    if view is not None and model.preset == "paper":
        raise ModelFileError(
            "weights.safetensors holds an input view, which preset='paper' does not use; the file was "
            "not written by deviation.save()."
        )
    values["view_"] = view
    n_networks = values["n_networks_"]
    # one network per view: two when the view has continuous columns, else one
    expected_networks = 1 if view is None or view.n_continuous == 0 else 2
    if n_networks != expected_networks:
        raise ModelFileError(
            f"config.json: n_networks_={n_networks} is inconsistent with the file's input view, which "
            f"implies {expected_networks}; the file was not written by deviation.save()."
        )
    n_inputs = n_features if view is None else view.n_features_out
    hidden, learning_rate = model._network_settings(n_networks)
    values["hidden_layer_sizes_"], values["learning_rate_"] = hidden, learning_rate
    sizes = [n_inputs, *(h * n_networks for h in hidden), 1]
    layers = config.get("layers")
    if layers is not None and layers != sizes:
        raise ModelFileError(
            f"config.json: layer sizes {layers} are inconsistent with n_features_in_ and "
            f"hidden_layer_sizes ({sizes})."
        )
    n_layers = len(sizes) - 1
    expected_names = {
        f"{kind}_{k}" for k in range(n_layers) for kind in ("coef", "intercept")
    }
    has_baseline = "baseline" in tensors
    if set(tensors) - {"baseline"} - view_names != expected_names:
        raise ModelFileError(
            f"weights.safetensors holds tensors {sorted(tensors)}, inconsistent with config.json, which "
            f"expects {sorted(expected_names)}; the file was not written by deviation.save()."
        )
    coefs, intercepts = [], []
    for k in range(n_layers):
        for kind, shape, out in (
            ("coef", (sizes[k], sizes[k + 1]), coefs),
            ("intercept", (sizes[k + 1],), intercepts),
        ):
            tensor = tensors[f"{kind}_{k}"]
            if tensor.dtype != np.float32 or tensor.shape != shape:
                raise ModelFileError(
                    f"weights.safetensors: {kind}_{k} is {tensor.dtype} of shape {tensor.shape}, inconsistent "
                    f"with config.json, which expects float32 of shape {shape}."
                )
            out.append(np.array(tensor, dtype=np.float32, order="C", copy=True))
    values["coefs_"] = coefs
    values["intercepts_"] = intercepts
    if has_baseline:
        baseline = tensors["baseline"]
        if baseline.dtype != np.float32 or baseline.shape != (n_features,):
            raise ModelFileError(
                f"weights.safetensors: baseline is {baseline.dtype} of shape {baseline.shape}, inconsistent "
                f"with config.json, which expects float32 of shape ({n_features},)."
            )
        values["baseline_"] = np.array(baseline, dtype=np.float32, copy=True)
    for attr, value in values.items():
        setattr(model, attr, value)
    return model


def _model_from_config(
    config: dict[str, Any], weights: bytes, path: Path
) -> DevNet | Pipeline:
    """Build the model from a verified config and the verified weights bytes."""
    try:
        tensors = safetensors.numpy.load(weights)
    except (safetensors.SafetensorError, ValueError, TypeError, OverflowError) as exc:
        raise ModelFileError(
            f"Model file {path}: weights.safetensors cannot be read ({_one_line(exc)[:200]}); "
            "the file was not written by deviation.save()."
        ) from None
    model_type = _require(config, "model_type", str, "config.json")
    devnet = _devnet_from_config(config, tensors)
    if model_type == "DevNet":
        return devnet
    if model_type != "Pipeline":
        raise ModelFileError(
            f"config.json: unknown model_type {model_type!r}; upgrade deviation."
        )
    pipeline = _require(config, "pipeline", dict, "config.json")
    steps = _require(pipeline, "steps", list, "config.json 'pipeline'")
    if (
        len(steps) != 2
        or not all(isinstance(s, str) for s in steps)
        or steps[0] == steps[1]
    ):
        raise ModelFileError(
            "config.json: the pipeline must have two distinct step names."
        )
    verbose = pipeline.get("verbose", False)
    if not isinstance(verbose, bool):
        raise ModelFileError(
            "config.json: the pipeline's verbose flag must be a boolean."
        )
    pre = Preprocessor.from_state(_require(config, "preprocessor", dict, "config.json"))
    if int(pre.n_features_out_) != devnet.n_features_in_:
        raise ModelFileError(
            f"config.json: the Preprocessor outputs {pre.n_features_out_} columns but the DevNet expects "
            f"{devnet.n_features_in_}."
        )
    return Pipeline([(steps[0], pre), (steps[1], devnet)], verbose=verbose)


def read_model_info(path: PathLike) -> dict[str, Any]:
    """Return the verified configuration of a model file, without building the model.

    All integrity checks of :func:`load` run (checksums, member names, sizes,
    format version); the weights are verified but not parsed.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`save`.

    Returns
    -------
    dict
        The content of ``config.json``: ``format``, ``format_version``,
        ``created``, ``versions``, ``model_type``, ``estimator``, ``params``,
        ``fitted``, ``layers``, ``feature_names_in``, ``pipeline``,
        ``preprocessor`` and ``metadata``.

    Raises
    ------
    ModelFileError
        If the file is missing, foreign, truncated, corrupted or from a newer format.
    """
    _, config, _ = _read_verified(path)
    return config


def load(path: PathLike) -> DevNet | Pipeline:
    """Load a model saved by :func:`save`.

    The file is verified completely (archive and part checksums, member
    names and sizes, format version) before the configuration or the weights
    are parsed. Only JSON and safetensors are parsed: nothing in the file is
    executed.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`save`.

    Returns
    -------
    DevNet or sklearn.pipeline.Pipeline
        The fitted model, scoring bit-identically to the one saved.

    Raises
    ------
    ModelFileError
        If the file is missing, a directory, not a deviation model file,
        truncated or corrupted, written by a newer deviation, or internally
        inconsistent. The message names the problem and what to do.

    See Also
    --------
    save, read_model_info
    """
    path, config, weights = _read_verified(path)
    model = _build_verified(config, weights, path)
    logger.debug("Loaded %s from %s.", type(model).__name__, path)
    return model


def loads(data: bytes) -> DevNet | Pipeline:
    """Load a model from the bytes of a model file (see :func:`dumps`), with all of :func:`load`'s checks.

    Parameters
    ----------
    data : bytes

    Returns
    -------
    DevNet or sklearn.pipeline.Pipeline
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"loads() needs bytes, got {type(data).__name__}.")
    label = Path("<model bytes>")
    config, weights = _verify_bytes(bytes(data), label)
    return _build_verified(config, weights, label)


def _build_verified(config: dict[str, Any], weights: bytes, path: Path) -> DevNet | Pipeline:
    try:
        model = _model_from_config(config, weights, path)
    except ModelFileError as exc:
        message = _one_line(exc)
        if str(path) not in message:
            message = f"Model file {path}: {message.rstrip('.')}"
            if not any(
                a in message
                for a in ("upgrade deviation", "deviation.save", "deviation model file")
            ):
                message += "; the file was edited or not written by deviation.save(): save the model again."
        raise ModelFileError(message) from None
    except (
        KeyError,
        TypeError,
        ValueError,
        IndexError,
        AttributeError,
        OverflowError,
    ) as exc:
        raise ModelFileError(
            f"Model file {path}: config.json is inconsistent ({type(exc).__name__}: {_one_line(exc)[:200]}); "
            "the file was not written by deviation.save()."
        ) from None
    return model
