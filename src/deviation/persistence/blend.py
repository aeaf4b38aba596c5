"""State of a :class:`~deviation.blend.ScoreBlend`: its members, each saved like a model, and their standardisation.

In a model file a blend's ``config.json`` holds ``model_type: "ScoreBlend"``
and a ``blend`` entry: the members in order, each with its name, the center
and scale of its scores and its own config (``model``, the config a model file
of that member alone would hold); each member's binary parts are stored under
``members/<k>/`` in the same container, checksummed like every member.

:func:`load_legacy_blend` reads the older layout of ``save_blend``: a
``.blend.json`` naming member files beside it.
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..calibration import scores_from_json
from ..exceptions import ModelFileError
from ._common import float_from_json, float_to_json, require

__all__ = ["blend_from_config", "blend_to_config", "is_legacy_blend_json", "legacy_blend_info", "load_legacy_blend"]

#: The ``format`` field of a legacy blend file (``.blend.json``).
LEGACY_BLEND_FORMAT = "deviation-blend"
LEGACY_BLEND_VERSION = 1
_MAX_MEMBERS = 16


def member_prefix(k: int) -> str:
    """Where the binary parts of member ``k`` are stored in the file."""
    return f"members/{k}/"


def blend_to_config(
    blend: Any, encode: Callable[[Any, str], tuple[dict[str, Any], dict[str, bytes]]]
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Split a fitted ScoreBlend into its config and its members' binary parts.

    Parameters
    ----------
    blend : ScoreBlend
        A fitted blend.
    encode : callable
        ``encode(member, where)`` returns a member's config and binary parts
        (as for a model file of that member alone).

    Returns
    -------
    config : dict
        ``{"model_type": "ScoreBlend", "blend": {...}, "feature_names_in": ...}``.
    blobs : dict of str to bytes
        Every member's binary parts, under ``members/<k>/``.

    Raises
    ------
    NotFittedError
        Before ``blend.fit``.
    """
    from ..exceptions import NotFittedError

    if not hasattr(blend, "members_"):
        raise NotFittedError("This ScoreBlend is not fitted yet; call 'fit' before saving it.")
    members, blobs = [], {}
    random_state = blend.random_state
    if not (random_state is None or (isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool))):
        random_state = None
    for k, ((name, model), center, scale) in enumerate(zip(blend.members_, blend.centers_, blend.scales_)):
        config, parts = encode(model, f"blend member {name!r}")
        prefix = member_prefix(k)
        blobs.update({prefix + part: data for part, data in parts.items()})
        members.append({"name": str(name), "center": float_to_json(center), "scale": float_to_json(scale),
                        "prefix": prefix, "model": config})
    entry: dict[str, Any] = {"random_state": None if random_state is None else int(random_state), "members": members}
    calibration = getattr(blend, "calibration_scores_", None)
    if calibration is not None:
        entry["calibration_scores"] = [float(v) for v in np.asarray(calibration, dtype=np.float64)]
    body = {
        "model_type": "ScoreBlend",
        "blend": entry,
        "feature_names_in": members[0]["model"].get("feature_names_in") if members else None,
    }
    return body, blobs


def blend_from_config(config: dict[str, Any], decode: Callable[[dict[str, Any], str], Any]) -> Any:
    """Rebuild a fitted ScoreBlend from :func:`blend_to_config` output.

    Parameters
    ----------
    config : dict
        The blend's config.
    decode : callable
        ``decode(member_config, prefix)`` rebuilds one member from its config
        and the binary parts under ``prefix``.

    Raises
    ------
    ModelFileError
        If the config is invalid.
    """
    from ..blend import ScoreBlend

    where = "config.json 'blend'"
    blend = require(config, "blend", dict, "config.json")
    entries = require(blend, "members", list, where)
    if not 1 <= len(entries) <= _MAX_MEMBERS:
        raise ModelFileError(f"{where} must list 1 to {_MAX_MEMBERS} members, not {len(entries)}.")
    random_state = blend.get("random_state")
    if random_state is not None and (isinstance(random_state, bool) or not isinstance(random_state, int)):
        raise ModelFileError(f"{where}: random_state must be an integer or null.")
    members, centers, scales = [], [], []
    for k, entry in enumerate(entries):
        name = require(entry, "name", str, f"{where} member {k}")
        if require(entry, "prefix", str, f"{where} member {k}") != member_prefix(k):
            raise ModelFileError(f"{where}: member {k} must be stored under {member_prefix(k)}.")
        if name in {n for n, _ in members}:
            raise ModelFileError(f"{where}: member name {name!r} appears twice.")
        model = decode(require(entry, "model", dict, f"{where} member {k}"), member_prefix(k))
        if type(model).__name__ == "ScoreBlend":
            raise ModelFileError(f"{where}: member {k} is itself a blend, which deviation never writes.")
        scale = float_from_json(entry.get("scale"), f"scale of blend member {name!r}")
        if not (np.isfinite(scale) and scale > 0):
            raise ModelFileError(f"{where}: member {name!r} has scale {scale}, which must be a positive number.")
        members.append((name, model))
        centers.append(float_from_json(entry.get("center"), f"center of blend member {name!r}"))
        scales.append(scale)
    result = ScoreBlend(members, random_state=random_state)
    result.members_ = members
    result.centers_ = np.asarray(centers)
    result.scales_ = np.asarray(scales)
    # absent in files written before calibration: the blend ranks rows only
    result.calibration_scores_ = scores_from_json(blend.get("calibration_scores"), where)
    return result


# --------------------------------------------------------------------------- the legacy layout


def is_legacy_blend_json(data: bytes) -> bool:
    """Whether ``data`` (a file's bytes) looks like a legacy ``.blend.json`` (a JSON object)."""
    return data.lstrip()[:1] == b"{"


def _legacy_document(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFileError(f"no blend file at {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(
            f"{path} is not a blend file ({' '.join(str(exc).split())}); pass the .json written by compare --save-model"
        ) from None
    if not isinstance(document, dict) or document.get("format") != LEGACY_BLEND_FORMAT:
        raise ModelFileError(f"{path} is not a deviation blend file (no format {LEGACY_BLEND_FORMAT!r})")
    version = document.get("version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise ModelFileError(f"{path} is a damaged blend file (version {version!r}); save the blend again")
    if version > LEGACY_BLEND_VERSION:
        raise ModelFileError(f"{path} was written by a newer deviation (blend version {version}); upgrade")
    return document


def legacy_blend_info(path: Path) -> dict[str, Any]:
    """What :func:`deviation.persistence.read_model_info` returns for a legacy ``.blend.json``.

    Raises
    ------
    ModelFileError
        If the file is not a legacy blend file.
    """
    document = _legacy_document(path)
    members = []
    for entry in document.get("members", []):
        if isinstance(entry, dict):
            members.append({key: entry.get(key) for key in ("name", "kind", "file", "preprocessor", "center", "scale")})
    return {
        "format": LEGACY_BLEND_FORMAT,
        "format_version": document.get("version"),
        "model_type": "ScoreBlend",
        "blend": {"members": members},
        "metadata": document.get("metadata") or {},
        "input_schema": None,
    }


def load_legacy_blend(path: Path, load_member: Callable[[Path], Any]) -> Any:
    """Read a blend written by the older ``save_blend``: a ``.blend.json`` naming member files beside it.

    Parameters
    ----------
    path : pathlib.Path
        The ``.blend.json`` file.
    load_member : callable
        Loads a member's ``deviation`` model file.

    Returns
    -------
    ScoreBlend

    Raises
    ------
    ModelFileError
        If the file or one of its members is missing, not a blend file, or
        written by a newer deviation.
    """
    from sklearn.pipeline import Pipeline

    from ..blend import ScoreBlend
    from .catboost import rival_from_bytes
    from .preprocessing import preprocessor_from_state

    path = Path(path)
    document = _legacy_document(path)
    members, centers, scales = [], [], []
    try:
        for entry in document["members"]:
            target = path.with_name(Path(entry["file"]).name)
            if not target.exists():
                raise ModelFileError(f"blend member file {target} is missing; keep it beside {path.name}")
            if entry["kind"] == "devnet":
                model = load_member(target)
            elif entry["kind"] == "catboost":
                rival = rival_from_bytes(target.read_bytes())
                side = path.with_name(Path(entry["preprocessor"]).name)
                pre = preprocessor_from_state(json.loads(side.read_text(encoding="utf-8")))
                model = Pipeline([("preprocessor", pre), ("model", rival)])
            else:
                raise ModelFileError(f"{path}: unknown blend member kind {entry['kind']!r}")
            members.append((str(entry["name"]), model))
            centers.append(float(entry["center"]))
            scales.append(float(entry["scale"]))
    except (KeyError, TypeError, ValueError, OSError) as exc:
        raise ModelFileError(f"{path} is a damaged blend file ({exc!r}); save the blend again") from None
    blend = ScoreBlend(members)
    blend.members_ = members
    blend.centers_ = np.asarray(centers)
    blend.scales_ = np.asarray(scales)
    return blend
