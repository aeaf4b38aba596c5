"""Save and load fitted models as single, safe, checksummed files.

A model file is one zip archive (:mod:`~deviation.persistence.container`):
``manifest.json`` (format, version, size and SHA-256 of every other member),
then the members, and an archive comment holding the SHA-256 of every byte of
the file before it, so that a single changed byte anywhere is detected.

``config.json``
    Everything that is not a weight: library versions, creation time, the
    model type, the estimator's parameters and fitted scalar attributes, the
    input feature names, the :class:`~deviation.preprocess.Preprocessor`
    state of a pipeline, the user's metadata and input schema.
``weights.safetensors``
    A DevNet's float32 kernels and biases (``coef_0``, ``intercept_0``, ...),
    its baseline and its input view, in the safetensors format.
``model.cbm``
    A CatBoost rival's trees, in CatBoost's own binary format.
``members/<k>/...``
    The parts of member ``k`` of a :class:`~deviation.blend.ScoreBlend`.

A DevNet or a (Preprocessor, DevNet) pipeline is written with format version 1
(exactly ``config.json`` and ``weights.safetensors``: what every deviation
reads); a blend or a CatBoost pipeline with format version 2. Only JSON,
safetensors, CatBoost's format and zip are parsed on loading: nothing in a
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
import json
import logging
import os
import platform
from importlib import metadata as _metadata
from pathlib import Path
from typing import Any

import numpy as np
import safetensors
import safetensors.numpy

from ..exceptions import ModelFileError, ParameterError

# scikit-learn (DevNet, Preprocessor, Pipeline) is imported by the functions that build or take
# apart models, not here: reading a file's config (deviation.persistence.numeric, read_model_info)
# must not cost its two seconds of imports
from . import container
from ._common import require
from .container import FORMAT, MANIFEST_NAME, MAX_MEMBER_BYTES, one_line

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

#: The newest ``format_version`` written by :func:`save` and read by :func:`load`.
FORMAT_VERSION = 2
#: The version of files holding exactly ``config.json`` and ``weights.safetensors`` (a DevNet or its pipeline).
_SINGLE_NETWORK_VERSION = 1

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "weights.safetensors"
_V1_MEMBERS = (CONFIG_NAME, WEIGHTS_NAME)


# --------------------------------------------------------------------------- small helpers


def _library_version(distribution: str) -> str | None:
    """Return the installed version of a distribution (nothing is imported), or None."""
    try:
        return _metadata.version(distribution)
    except _metadata.PackageNotFoundError:
        return None


def _deviation_version() -> str:
    """Return the version of deviation (installed metadata, else ``deviation.__version__``)."""
    version = _library_version("deviation")
    if version is None:
        from .. import __version__

        version = __version__
    return version


def _check_json_dict(value: Any, what: str) -> dict[str, Any] | None:
    """Check that ``value`` is None or a dict that round-trips through strict JSON; return a copy.

    Raises
    ------
    TypeError
        If ``value`` is not a dict.
    ParameterError
        If it holds values JSON cannot store exactly (tuples, sets, objects,
        non-string keys, NaN).
    """
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TypeError(f"{what} must be a dict, got {type(value).__name__}.")
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False)
        same = json.loads(text) == value
    except (TypeError, ValueError, RecursionError) as exc:
        raise ParameterError(
            f"{what} must be JSON-serialisable (dict with string keys; str, int, float, bool, None, "
            f"list and dict values; no NaN): {one_line(exc)}"
        ) from None
    if not same:
        raise ParameterError(
            f"{what} must survive a JSON round trip unchanged: use string keys and lists "
            "instead of tuples (str, int, float, bool, None, list and dict values only)."
        )
    return json.loads(text)


# --------------------------------------------------------------------------- model -> config and parts


def _split_pipeline(model: Any, where: str) -> tuple[Any, Any, list[str], dict[str, Any]]:
    """Check a (Preprocessor, DevNet or CatBoost rival) pipeline and take it apart.

    Raises
    ------
    TypeError
        For other steps.
    NotFittedError
        If the Preprocessor or the model is not fitted.
    """
    from ..estimator import DevNet
    from ..exceptions import NotFittedError
    from ..preprocess import Preprocessor
    from .catboost import is_rival
    from .devnet import check_devnet

    steps = list(model.steps)
    kinds = [type(step).__name__ for _, step in steps]
    if (
        len(steps) != 2
        or type(steps[0][1]) is not Preprocessor
        or not (type(steps[1][1]) is DevNet or is_rival(steps[1][1]))
    ):
        raise TypeError(
            f"save() takes a Pipeline of exactly two steps, a deviation.preprocess.Preprocessor "
            f"then a deviation.DevNet (or compare's CatBoost rival); {where} has steps {kinds}."
        )
    names = [name for name, _ in steps]
    if not all(isinstance(name, str) for name in names):
        raise TypeError(f"Pipeline step names must be strings to be saved; got {names!r}.")
    pre, inner = steps[0][1], steps[1][1]
    if not pre.__sklearn_is_fitted__():
        raise NotFittedError(
            "The Preprocessor of this Pipeline is not fitted yet; call 'fit' on the pipeline before saving it."
        )
    if type(inner) is DevNet:
        check_devnet(inner, "the last step of the Pipeline")
    if int(pre.n_features_out_) != int(getattr(inner, "n_features_in_", -1)):
        raise ParameterError(
            f"The Preprocessor outputs {pre.n_features_out_} columns but the model was fitted on "
            f"{getattr(inner, 'n_features_in_', 'no')} columns; fit the whole pipeline again before saving it."
        )
    if getattr(model, "memory", None) is not None:
        logger.warning("Pipeline 'memory' is not saved (the loaded pipeline has memory=None).")
    return pre, inner, names, {"verbose": bool(model.verbose)}


def _encode(model: Any, where: str = "model") -> tuple[dict[str, Any], dict[str, bytes]]:
    """The config entries (``model_type`` ...) and binary parts of one model.

    Raises
    ------
    TypeError
        For a model that cannot be saved.
    """
    from sklearn.pipeline import Pipeline

    from ..blend import ScoreBlend
    from ..estimator import DevNet
    from .blend import blend_to_config
    from .catboost import rival_to_config
    from .devnet import check_devnet, devnet_to_config
    from .preprocessing import preprocessor_to_state

    if type(model) is ScoreBlend:
        if where != "model":
            raise TypeError(f"{where} is a ScoreBlend; a blend of blends cannot be saved.")
        return blend_to_config(model, _encode)
    if isinstance(model, DevNet):
        devnet = check_devnet(model, where)
        estimator, tensors = devnet_to_config(devnet)
        names = estimator["fitted"]["feature_names_in_"]
        return {"model_type": "DevNet", **estimator, "feature_names_in": names, "pipeline": None,
                "preprocessor": None}, {WEIGHTS_NAME: safetensors.numpy.save(tensors)}
    if type(model) is not Pipeline:
        raise TypeError(
            "save() takes a fitted deviation.DevNet, a sklearn Pipeline of (deviation.preprocess.Preprocessor, "
            "deviation.DevNet) or of a Preprocessor and compare's CatBoost rival, or a deviation.blend.ScoreBlend "
            f"of those; {where} is a {type(model).__module__}.{type(model).__qualname__}."
        )
    pre, inner, step_names, pipeline_params = _split_pipeline(model, where)
    if type(inner) is DevNet:
        estimator, tensors = devnet_to_config(inner)
        blobs = {WEIGHTS_NAME: safetensors.numpy.save(tensors)}
    else:
        estimator, blobs = rival_to_config(inner)
    names = [str(n) for n in pre.feature_names_in_] if pre.input_kind_ == "dataframe" else None
    return {
        "model_type": "Pipeline",
        **estimator,
        "feature_names_in": names,
        "pipeline": {"steps": step_names, **pipeline_params},
        "preprocessor": preprocessor_to_state(pre),
    }, blobs


def _build(model: Any, metadata: Any, input_schema: Any) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The whole ``config.json`` document and the binary members of ``model``."""
    user_metadata = _check_json_dict(metadata, "metadata") or {}
    if input_schema is None:
        input_schema = getattr(model, "input_schema_", None)
    schema = _check_json_dict(input_schema, "input_schema")
    body, blobs = _encode(model)
    version = _SINGLE_NETWORK_VERSION if list(blobs) == [WEIGHTS_NAME] else FORMAT_VERSION
    versions = {
        "deviation": _deviation_version(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit-learn": _library_version("scikit-learn"),
        "safetensors": _library_version("safetensors"),
        "torch": _library_version("torch"),
    }
    if any(name.endswith(".cbm") for name in blobs):
        versions["catboost"] = _library_version("catboost")
    config = {
        "format": FORMAT,
        "format_version": version,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": versions,
        **body,
        "metadata": user_metadata,
        "input_schema": schema,
    }
    return config, blobs


# --------------------------------------------------------------------------- saving


def save(
    model: Any,
    path: PathLike,
    *,
    metadata: dict[str, Any] | None = None,
    input_schema: dict[str, Any] | None = None,
) -> Path:
    """Save a fitted model to one file (a checksummed zip of JSON and binary members).

    Nothing is pickled: the file holds JSON, float32 tensors (and CatBoost's
    own model format for a CatBoost rival), and :func:`load` never executes
    anything from it. The file is written atomically: ``path`` is either left
    as it was or replaced by the complete new file, never a partial one.

    Parameters
    ----------
    model : DevNet, sklearn.pipeline.Pipeline or ScoreBlend
        A fitted :class:`~deviation.DevNet`; a fitted ``Pipeline`` of exactly
        two steps, a :class:`~deviation.preprocess.Preprocessor` then a
        ``DevNet`` or ``deviation compare``'s CatBoost rival (the step names
        are kept); or a fitted :class:`~deviation.blend.ScoreBlend` of such
        members.
    path : str or os.PathLike
        The file to write (conventionally ``*.model``); its directory must
        exist. An existing file is replaced.
    metadata : dict, optional
        Anything to keep with the model (dataset name, metrics, ...). It must
        survive a JSON round trip unchanged: string keys; str, int, float,
        bool, None, list and dict values.
    input_schema : dict, optional
        A description of the input the model expects, under the same JSON
        rules as ``metadata``; :func:`load` sets it as ``input_schema_`` on
        the loaded model. By default, the model's own ``input_schema_`` (a
        model loaded from a file keeps its schema when saved again).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    TypeError
        If ``model`` is none of the above, or ``metadata`` or
        ``input_schema`` is not a dict.
    NotFittedError
        If the model is not fitted.
    ParameterError
        If ``metadata``, ``input_schema`` or a parameter cannot be stored as JSON.
    ModelFileError
        If the directory does not exist or the file cannot be written.

    See Also
    --------
    load, read_model_info
    """
    path = Path(path)
    data = dumps(model, metadata=metadata, input_schema=input_schema)
    container.write_atomically(path, data)
    logger.debug("Saved %s to %s (%d bytes).", type(model).__name__, path, len(data))
    return path


def dumps(
    model: Any, *, metadata: dict[str, Any] | None = None, input_schema: dict[str, Any] | None = None
) -> bytes:
    """The bytes :func:`save` would write: for sending a model over a network (e.g. to Dask workers).

    Parameters
    ----------
    model : DevNet, sklearn.pipeline.Pipeline or ScoreBlend
        As for :func:`save`.
    metadata, input_schema : dict, optional
        As for :func:`save`.

    Returns
    -------
    bytes
        A complete model file.
    """
    config, blobs = _build(model, metadata, input_schema)
    try:
        config_bytes = container.dump_json(config)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"The model cannot be stored as JSON: {one_line(exc)}") from None
    return container.container_bytes([(CONFIG_NAME, config_bytes), *blobs.items()], config["format_version"])


# --------------------------------------------------------------------------- loading


class ModelParts:
    """The verified binary members of a file; records which were used, so that none is left unexplained."""

    def __init__(self, members: dict[str, bytes], label: Path) -> None:
        self.members = members
        self.label = label
        self.used: set[str] = {CONFIG_NAME}

    def take(self, name: str) -> bytes:
        if name not in self.members:
            raise ModelFileError(f"Model file {self.label} lacks {[name]}; it is incomplete. Save the model again.")
        self.used.add(name)
        return self.members[name]

    def check_all_used(self) -> None:
        unused = [name for name in self.members if name not in self.used]
        if unused:
            raise ModelFileError(
                f"Model file {self.label} contains unexpected member(s) {unused[:5]!r} that its config.json does "
                "not use. Refusing to load it: use a file written by deviation.save()."
            )


def load_tensors(data: bytes, label: Path) -> dict[str, np.ndarray]:
    try:
        return safetensors.numpy.load(data)
    except (safetensors.SafetensorError, ValueError, TypeError, OverflowError) as exc:
        raise ModelFileError(
            f"Model file {label}: weights.safetensors cannot be read ({one_line(exc)[:200]}); "
            "the file was not written by deviation.save()."
        ) from None


def _decode(config: Any, parts: ModelParts, prefix: str = "") -> Any:
    """Build one model (a member of a blend when ``prefix`` is given) from its config and parts."""
    from sklearn.pipeline import Pipeline

    from .blend import blend_from_config
    from .catboost import RIVAL_ESTIMATOR, rival_from_config
    from .devnet import devnet_from_config
    from .preprocessing import preprocessor_from_state

    model_type = require(config, "model_type", str, "config.json")
    if model_type == "ScoreBlend":
        if prefix:
            raise ModelFileError("config.json: a blend member is itself a blend, which deviation never writes.")
        return blend_from_config(config, lambda member, member_prefix: _decode(member, parts, member_prefix))
    if model_type not in ("DevNet", "Pipeline"):
        raise ModelFileError(f"config.json: unknown model_type {model_type!r}; upgrade deviation.")
    if config.get("estimator") == RIVAL_ESTIMATOR:
        if model_type != "Pipeline":
            raise ModelFileError("config.json: a CatBoost rival is saved in a Pipeline with its Preprocessor.")
        inner = rival_from_config(config, lambda name: parts.take(prefix + name))
    else:
        inner = devnet_from_config(config, load_tensors(parts.take(prefix + WEIGHTS_NAME), parts.label))
    if model_type == "DevNet":
        return inner
    pipeline = require(config, "pipeline", dict, "config.json")
    steps = require(pipeline, "steps", list, "config.json 'pipeline'")
    if len(steps) != 2 or not all(isinstance(s, str) for s in steps) or steps[0] == steps[1]:
        raise ModelFileError("config.json: the pipeline must have two distinct step names.")
    verbose = pipeline.get("verbose", False)
    if not isinstance(verbose, bool):
        raise ModelFileError("config.json: the pipeline's verbose flag must be a boolean.")
    pre = preprocessor_from_state(require(config, "preprocessor", dict, "config.json"))
    if int(pre.n_features_out_) != inner.n_features_in_:
        raise ModelFileError(
            f"config.json: the Preprocessor outputs {pre.n_features_out_} columns but the model expects "
            f"{inner.n_features_in_}."
        )
    return Pipeline([(steps[0], pre), (steps[1], inner)], verbose=verbose)


def verified_config(data: bytes, label: Path) -> tuple[dict[str, Any], ModelParts]:
    """Verify a model file's bytes completely; return the parsed config and the verified members."""
    verified = container.verify_container(data, label, FORMAT_VERSION)
    members = verified.members
    if verified.format_version == _SINGLE_NETWORK_VERSION:
        missing = [name for name in _V1_MEMBERS if name not in members]
        extra = [name for name in members if name not in _V1_MEMBERS]
        if extra:
            raise ModelFileError(
                f"Model file {label} contains unexpected member(s) {extra[:5]!r}; a deviation model file of format 1 "
                f"holds only {[MANIFEST_NAME, *_V1_MEMBERS]}. Refusing to load it: use a file written by deviation.save()."
            )
        if missing:
            raise ModelFileError(f"Model file {label} lacks {missing}; it is incomplete. Save the model again.")
    elif CONFIG_NAME not in members:
        raise ModelFileError(f"Model file {label} lacks ['{CONFIG_NAME}']; it is incomplete. Save the model again.")
    config = container.parse_json(members[CONFIG_NAME], CONFIG_NAME, label)
    container.check_format(config, CONFIG_NAME, label, FORMAT_VERSION)
    return config, ModelParts(members, label)


def _build_verified(config: dict[str, Any], parts: ModelParts) -> Any:
    """Build the model from a verified config and parts, with one-line errors naming the file."""
    label = parts.label
    try:
        schema = config.get("input_schema")
        if schema is not None and not isinstance(schema, dict):
            raise ModelFileError("config.json: input_schema must be an object or null.")
        model = _decode(config, parts)
        parts.check_all_used()
    except ModelFileError as exc:
        message = one_line(exc)
        if str(label) not in message:
            message = f"Model file {label}: {message.rstrip('.')}"
            if not any(a in message for a in ("upgrade deviation", "deviation.save", "deviation model file")):
                message += "; the file was edited or not written by deviation.save(): save the model again."
        raise ModelFileError(message) from None
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError) as exc:
        raise ModelFileError(
            f"Model file {label}: config.json is inconsistent ({type(exc).__name__}: {one_line(exc)[:200]}); "
            "the file was not written by deviation.save()."
        ) from None
    model.input_schema_ = schema
    return model


def _is_legacy_blend(path: Path, data: bytes) -> bool:
    from .blend import is_legacy_blend_json

    return path.name.lower().endswith(".json") or (
        is_legacy_blend_json(data) and b'"deviation-blend"' in data[:4096]
    )


def read_model_info(path: PathLike) -> dict[str, Any]:
    """Return the verified configuration of a model file, without building the model.

    All integrity checks of :func:`load` run (checksums, member names, sizes,
    format version); the binary members are verified but not parsed.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`save` (or a legacy ``.blend.json``).

    Returns
    -------
    dict
        The content of ``config.json``: ``format``, ``format_version``,
        ``created``, ``versions``, ``model_type`` (``"DevNet"``,
        ``"Pipeline"`` or ``"ScoreBlend"``), ``feature_names_in``,
        ``metadata`` and ``input_schema`` (None when the file has none); for
        a DevNet or a pipeline also ``estimator``, ``params``, ``fitted``,
        ``layers``, ``pipeline`` and ``preprocessor``; for a blend ``blend``
        (its members, each with ``name``, ``center``, ``scale`` and ``model``,
        the member's own config).

    Raises
    ------
    ModelFileError
        If the file is missing, foreign, truncated, corrupted or from a newer format.
    """
    path = Path(path)
    data = container.read_file(path)
    if not data.startswith(b"PK") and _is_legacy_blend(path, data):
        from .blend import legacy_blend_info

        return legacy_blend_info(path)
    config, _ = verified_config(data, path)
    config.setdefault("input_schema", None)
    return config


def load(path: PathLike) -> Any:
    """Load a model saved by :func:`save`.

    The file is verified completely (archive and member checksums, member
    names and sizes, format version) before the configuration or the binary
    members are parsed. Only JSON, safetensors and CatBoost's format are
    parsed: nothing in the file is executed. A legacy blend (the
    ``.blend.json`` of an older ``compare --save-model``, with its member files
    beside it) is read too.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`save`.

    Returns
    -------
    DevNet, sklearn.pipeline.Pipeline or ScoreBlend
        The fitted model, scoring bit-identically to the one saved, with the
        saved input schema as attribute ``input_schema_`` (None if none was saved).

    Raises
    ------
    ModelFileError
        If the file is missing, a directory, not a deviation model file,
        truncated or corrupted, written by a newer deviation, or internally
        inconsistent. The message names the problem and what to do.
    MissingDependencyError
        If the file holds a CatBoost model and CatBoost is not installed.

    See Also
    --------
    save, read_model_info
    """
    path = Path(path)
    data = container.read_file(path)
    if not data.startswith(b"PK") and _is_legacy_blend(path, data):
        from .blend import load_legacy_blend

        model = load_legacy_blend(path, load)
        model.input_schema_ = None
    else:
        model = _build_verified(*verified_config(data, path))
    logger.debug("Loaded %s from %s.", type(model).__name__, path)
    return model


def loads(data: bytes) -> Any:
    """Load a model from the bytes of a model file (see :func:`dumps`), with all of :func:`load`'s checks.

    Parameters
    ----------
    data : bytes

    Returns
    -------
    DevNet, sklearn.pipeline.Pipeline or ScoreBlend
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"loads() needs bytes, got {type(data).__name__}.")
    label = Path("<model bytes>")
    return _build_verified(*verified_config(bytes(data), label))
