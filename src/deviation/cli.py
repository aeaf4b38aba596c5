"""The ``deviation`` command: thin glue over readers, preprocessing, DevNet, model files and plots.

Exit codes: 0 success, 1 a data or model problem (one-line message, no
traceback unless ``--debug``), 2 a usage error. Output files are written
atomically, so a failed command never leaves a partial file behind.
"""

from __future__ import annotations

import argparse
import ast
import io
import json
import logging
import os
import re
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from ._entry import Terminated, on_sigterm, report_stop, restore_sigterm
from ._params import Interval, SequenceOf, make_arg_type
from .exceptions import DataError, DeviationError

logger = logging.getLogger("deviation.cli")

_OUTPUT_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".parquet", ".pq")
_PLOT_SUFFIXES = (".png", ".svg", ".pdf")


class UsageError(Exception):
    """A command-line usage problem (exit code 2)."""


# ---------------------------------------------------------------- helpers
def _progress(args: argparse.Namespace, total: int, desc: str, unit: str) -> Any:
    """A tqdm bar on a terminal; a no-op when piped or with --quiet."""
    from tqdm.auto import tqdm

    disable = args.quiet or not sys.stderr.isatty()
    return tqdm(total=total, desc=desc, unit=unit, disable=disable, leave=False, file=sys.stderr)


def _say(args: argparse.Namespace, message: str) -> None:
    if not args.quiet:
        print(message, file=sys.stderr)


def _check_output(path: str, suffixes: Sequence[str], what: str, inputs: Sequence[str] = ()) -> Path:
    """The output path, checked before any work: its suffix, its directory, and not an input or a directory."""
    out = Path(path)
    if not any(out.name.lower().endswith(s) for s in suffixes):
        raise UsageError(f"{what} {path!r} must end in one of {', '.join(suffixes)}")
    if not out.parent.exists():
        raise DeviationError(f"cannot write {path}: directory {str(out.parent)!r} does not exist")
    if out.is_dir():
        raise DeviationError(f"cannot write {path}: it is a directory; give the {what} a file name inside it or "
                             "another name")
    for source in inputs:
        if out.exists() and Path(source).exists() and os.path.samefile(out, source):
            raise DeviationError(f"cannot write {path}: it is the input {source}, which the command reads; write "
                                 f"the {what} to another file")
    return out


_UNSET = object()


def _read(path: str, label: str | None, args: argparse.Namespace, model: Any = None,
          anomaly_value: Any = _UNSET) -> Any:
    """Read a table with the one reader; with a model, as its training file was read.

    ``--id-column``, ``--sep`` and ``--drop`` come from ``args``, and so does
    ``--anomaly-value`` unless ``anomaly_value`` is given.
    """
    from .io import read_table
    from .scoring import model_schema

    return read_table(
        path,
        label=label,
        id_column=getattr(args, "id_column", None),
        anomaly_value=getattr(args, "anomaly_value", None) if anomaly_value is _UNSET else anomaly_value,
        schema=None if model is None else model_schema(model),
        sep=getattr(args, "sep", None),
        drop=getattr(args, "drop", None),
    )


#: The library's argument names and the options that set them, for messages printed by the command.
_OPTIONS = {"anomaly_value": "--anomaly-value", "id_column": "--id-column", "label": "--label",
            "sep": "--sep", "drop": "--drop"}
_PYTHON_ARGUMENT = re.compile(
    r"(?<![\w/.=-])(anomaly_value|id_column|label|sep|drop)="
    r"""(None\b|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?)?"""
)


_FORMAT_ARGUMENT = re.compile(r"pass the right format=")
_FORMAT_CHOICE = re.compile(r",? or pass format= \(one of [^)]*\)")


def _option_words(message: str) -> str:
    """A library message in the command's words: ``anomaly_value='fraud'`` becomes ``--anomaly-value fraud``.

    The library names its Python arguments (``label=``, ``id_column=``,
    ``anomaly_value=``, ``sep=``, ``drop=``); the command names the options
    that set them, with shell-quoted values.
    """

    def option(match: re.Match) -> str:
        name, value = _OPTIONS[match.group(1)], match.group(2)
        if value is None:
            return name
        if value == "None":
            return f"no {name}"
        if value[0] in "'\"":
            try:
                value = str(ast.literal_eval(value))
            except (ValueError, SyntaxError):
                return match.group(0)
        if value == "\t":
            return f"{name} '\\t'"
        return f"{name} {shlex.quote(value)}"

    message = _PYTHON_ARGUMENT.sub(option, message)
    # the command picks the format from the file name only
    message = _FORMAT_ARGUMENT.sub("give the file the extension of its format", message)
    return _FORMAT_CHOICE.sub("", message)


def _score_in_chunks(model: Any, X: Any, args: argparse.Namespace) -> np.ndarray:
    from .scoring import decision_scores

    with _progress(args, X.shape[0], "scoring", "rows") as bar:
        try:
            return decision_scores(model, X, progress=bar.update)
        except DataError as exc:
            raise _in_file(args.data, exc) from None


def _row_count(path: str) -> int | None:
    """Rows of a Parquet file from its footer (for the progress bar); None for CSV."""
    if not path.lower().endswith((".parquet", ".pq")):
        return None
    import pyarrow.parquet as pq

    try:
        return int(pq.ParquetFile(path).metadata.num_rows)
    except Exception:  # the scoring itself will report an unreadable file
        return None


def _in_file(path: str, exc: DataError) -> DataError:
    """A data error of the preprocessing or the estimator, prefixed with the file it came from."""
    message = str(exc)
    if Path(path).name in message:
        return exc
    return type(exc)(f"'{path}': {message}")


def _devnet(model: Any) -> Any:
    from .scoring import final_estimator

    return final_estimator(model)


def _load_devnet_model(model_path: Any, command: str) -> Any:
    """Load a model file for a command that needs a DevNet (p-values, threshold, explanations)."""
    from .estimator import DevNet
    from .persistence import load

    model = load(model_path)  # read and verified once
    if command == "explain" and not isinstance(_devnet(model), DevNet):
        if hasattr(model, "members_"):
            kinds = " and ".join(str(name) for name, _ in model.members_)
            raise DeviationError(
                f"{model_path} is a blend of {kinds}: explanations need a DevNet model; explain its DevNet "
                "member by fitting it alone (deviation compare --methods devnet --save-model) or fit one with "
                "deviation fit"
            )
        raise DeviationError(
            f"{model_path} holds a CatBoost model: explanations need a DevNet model; fit one with deviation fit"
        )
    return model


def _shown_name(name: Any) -> str:
    """A column name for a one-line listing: quoted when it holds a line break or a tab."""
    name = str(name)
    return name if name.isprintable() else repr(name)


def column_report(kinds: Sequence[Any], *, all_columns: bool = False) -> list[str]:
    """Lines of the table of what each column became (``deviation fit`` prints it, ``info`` too).

    Obvious columns (plain numbers, 0/1, small categories) are counted, not
    listed, unless ``all_columns``; every column that was not the obvious
    choice (left out, a date, numbers written as text, pooled levels) gets a
    line saying why.
    """
    lines = []
    obvious = [k for k in kinds if not k.reason]
    shown = kinds if all_columns else [k for k in kinds if k.reason]
    if shown:
        # a name holding a line break or tab is shown quoted, so the table stays a table
        names = [_shown_name(k.name) for k in shown]
        width = max(12, *(len(n) for n in names))
        lines.append(f"  {'column':<{width}}  {'kind':<11}  why")
        for k, name in zip(shown, names):
            lines.append(f"  {name:<{width}}  {k.kind:<11}  {k.reason or '-'}")
    if obvious and not all_columns:
        counts: dict[str, int] = {}
        for k in obvious:
            counts[k.kind] = counts.get(k.kind, 0) + 1
        lines.append(("  and " if shown else "  ") + ", ".join(f"{n} {kind}" for kind, n in counts.items())
                     + " column(s) as they are")
    from .preprocess.kinds import LEFT_OUT

    left_out = [k.name for k in kinds if k.kind in LEFT_OUT]
    if left_out and not all_columns:
        # the names a long table may hide, quoted as in every other message
        listed = ", ".join(repr(n) for n in left_out[:10]) + (f" and {len(left_out) - 10} more" if len(left_out) > 10 else "")
        lines.append(f"  not used as features: {listed}")
    return lines


# --------------------------------------------------------------- commands
def cmd_fit(args: argparse.Namespace) -> int:
    from sklearn.pipeline import Pipeline

    from .estimator import DevNet
    from .persistence import save
    from .preprocess import Preprocessor

    out = _check_output(args.output, (".model", ".zip", ".devnet"), "model file")
    from .scoring import OUTPUT_COLUMNS

    taken = [c for c in (args.id_column or []) if c in OUTPUT_COLUMNS]
    if taken:
        # refused here rather than by every later score and explain of the model
        raise DataError(f"'{args.data}': id column {taken[0]!r} has the name of an output column of score and "
                        f"explain ({', '.join(OUTPUT_COLUMNS)}); rename it in the file (or copy it under another "
                        "name) to keep both")
    if args.sample_size is not None:
        from .scale import sample_file

        table = sample_file(args.data, args.label, sample_size=args.sample_size,
                            anomaly_value=args.anomaly_value, id_column=args.id_column,
                            random_state=args.seed, sep=args.sep, drop=args.drop)
    else:
        table = _read(args.data, args.label, args)
    if table.y is None:
        raise DeviationError(f"{args.data}: no labels read; name the label column with --label")
    if not int(table.y.sum()):
        what = (f"has the value {args.anomaly_value!r}" if args.anomaly_value is not None
                else "is 1 (or true)")
        raise DataError(f"'{args.data}': no row of label column {args.label!r} {what}, so there is no labeled anomaly "
                        "to learn from; mark the known anomalies, or name their value with --anomaly-value")
    devnet = DevNet(
        hidden_layer_sizes=None if args.hidden is None else tuple(args.hidden),
        preset=args.preset,
        margin=args.margin,
        epochs=args.epochs,
        batches_per_epoch=args.batches_per_epoch,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        l2=args.l2,
        anomaly_noise=args.anomaly_noise,
        confidence=args.confidence,
        calibration_size=args.calibration_size,
        device=args.device,
        random_state=args.seed,
    )
    preprocessor = Preprocessor(scaling=args.scaling, categorical=args.categorical or "auto")
    model = Pipeline([("preprocessor", preprocessor), ("devnet", devnet)])
    start = time.perf_counter()
    # the default preset trains two networks on dense data with a continuous column (one bar
    # step per epoch of each); the bar's total is fixed once the number of networks is known
    n_epochs = args.epochs * (2 if args.preset == "default" else 1)
    with _progress(args, n_epochs, "training", "epoch") as bar:
        def on_epoch(epoch: int, loss: float) -> None:
            bar.set_postfix(loss=f"{loss:.4f}")
            bar.update(1)

        try:
            model.fit(table.X, table.y, devnet__epoch_callback=on_epoch)
        except DataError as exc:
            raise _in_file(args.data, exc) from None
        bar.total = bar.n  # one network only (sparse data, or no continuous column)
        bar.refresh()
    seconds = time.perf_counter() - start
    kinds = getattr(preprocessor, "column_kinds_", None)
    if kinds:
        _say(args, f"columns of {Path(args.data).name}:\n" + "\n".join(column_report(kinds)))
        args.column_report_shown = not args.quiet
    metadata = {
        "data": Path(args.data).name,
        "label_column": args.label,
        "anomaly_value": args.anomaly_value,
        "id_column": args.id_column,
        "n_rows": int(table.X.shape[0]),
        "n_labeled_anomalies": int(table.y.sum()),
        "n_unlabeled": int(len(table.y) - table.y.sum()),
        "fit_seconds": round(seconds, 3),
    }
    save(model, out, metadata=metadata, input_schema=table.schema.to_dict() if table.schema is not None else None)
    _say(
        args,
        f"trained on {metadata['n_rows']} rows ({metadata['n_labeled_anomalies']} labeled anomalies) "
        f"in {seconds:.1f} s; model written to {out}",
    )
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .compare import warn_once

    # the folds, the refit of the pick and the reader repeat the same warnings: each is printed once
    with warn_once():
        return _compare(args)


def _compare(args: argparse.Namespace) -> int:
    import json

    from .compare import compare, default_methods, save_recommended

    table = _read(args.data, args.label, args)
    if table.y is None:
        raise DeviationError(f"{args.data}: no labels read; name the label column with --label")
    categorical = args.categorical or "auto"
    methods = tuple(dict.fromkeys(args.methods or default_methods()))
    n_folds = min(args.folds, int(table.y.sum()))
    # one bar step per candidate and fold; tqdm estimates the time left from the steps done
    with _progress(args, max(n_folds, 2) * len(methods), "compare", "fit") as bar:
        def on_step(step: Any) -> None:
            bar.total = step.total
            bar.set_postfix_str(f"fold {step.fold + 1}/{step.total // len(methods)} {step.method}", refresh=False)
            bar.update(1)

        comparison = compare(table.X, table.y, methods=methods, n_folds=args.folds,
                             max_unlabeled=args.max_unlabeled, categorical=categorical, random_state=args.seed,
                             progress=on_step, tree_max_unlabeled=args.tree_max_unlabeled)
    if args.json:
        print(json.dumps(comparison.to_dict(), indent=2))
    else:
        print(comparison.report())
    _say(args, f"compared {len(methods)} candidates over {comparison.n_folds} folds in {comparison.seconds:.0f} s")
    if args.save_model:
        metadata = {"data": Path(args.data).name, "label_column": args.label, "anomaly_value": args.anomaly_value,
                    "id_column": args.id_column, "n_rows": int(table.X.shape[0]),
                    "n_labeled_anomalies": int(table.y.sum()), "n_unlabeled": int(len(table.y) - table.y.sum()),
                    "chosen_by": "deviation compare"}
        written = save_recommended(comparison.best, table.X, table.y, args.save_model, categorical=categorical,
                                   random_state=args.seed, metadata=metadata)
        from .persistence import read_model_info

        n_calibration = int((read_model_info(written).get("metadata") or {}).get("n_calibration") or 0)
        held = (f"on {metadata['n_rows'] - n_calibration} rows, {n_calibration} unlabeled rows held out to calibrate "
                "its p-values and threshold" if n_calibration else
                f"on all {metadata['n_rows']} rows (too few unlabeled rows to hold some out: no conformal p-values)")
        _say(args, f"{comparison.best} trained {held}; model written to {written}")
    return 0


def _decision_choice(args: argparse.Namespace, model: Any) -> float | None:
    """Check the decision options of ``score``/``evaluate`` (at most one); return the per-row confidence."""
    from .calibration import check_resolution
    from .scale.numeric import NumericModel

    numeric = isinstance(model, NumericModel)  # the all-numeric path's arrays: a calibrated DevNet
    if not numeric:
        from .scoring import has_decisions
    decides = numeric or has_decisions(model)
    given = [(option, value) for option, value in (("--confidence", args.confidence), ("--fdr", args.fdr),
                                                   ("--top", args.top_k), ("--alert-rate", args.alert_rate))
             if value is not None]
    if len(given) > 1:
        raise UsageError(f"{given[0][0]} and {given[1][0]} set is_anomaly in different ways; give one of them")
    if given and given[0][0] != "--top" and not decides:
        raise UsageError(f"{given[0][0]} does not apply to this model: its scores rank rows but have no p-value "
                         "or threshold until it is calibrated (deviation calibrate MODEL RECENT_ROWS -o MODEL2); "
                         "use --top K, or calibrate it first")
    confidence = args.confidence if args.alert_rate is None else 1.0 - args.alert_rate
    if decides:
        est = model if numeric else _devnet(model)
        calibration = model.calibration_scores if numeric else getattr(est, "calibration_scores_", None)
        if calibration is None:
            _say(args, f"note: {Path(args.model).name} has no calibration scores (written before calibration "
                       "existed, or trained on too few rows): p_value is the prior's N(prior_mean, prior_std) "
                       "tail, often wrong on real data; give it conformal p-values with: deviation calibrate "
                       f"{args.model} RECENT_ROWS.csv -o CALIBRATED.model")
        elif args.fdr is None and args.top_k is None:
            level = 1.0 - (est.confidence if confidence is None else confidence)
            check_resolution(len(calibration), level, where=f"{Path(args.model).name}: ")
    return confidence


def _score_numeric(args: argparse.Namespace, out: Path) -> bool:
    """``deviation score`` by the all-numeric path (:mod:`deviation.scale.numeric`): True when it scored the file.

    False, having written nothing, for what the general path scores: options
    it does not take, a model that is not all-numeric, a file or batch it hands over.
    """
    if any(value is not None for value in (args.id_column, args.sep, args.fdr, args.top_k)) or args.drop:
        return False
    from .persistence.numeric import read_numeric_model
    from .scale.numeric import open_numeric_parquet, score_numeric_file

    model = read_numeric_model(args.model)
    data = None if model is None else open_numeric_parquet(args.data, model.columns)
    if data is None:
        return False
    confidence = _decision_choice(args, model)
    with _progress(args, data.metadata.num_rows, "scoring", "rows") as bar:
        summary = score_numeric_file(model, data, out, confidence=confidence, progress=bar.update)
    if summary is None:
        return False
    _say(args, f"scored {summary.n_rows} rows, {summary.n_flagged} above the threshold {summary.threshold:.3f} "
               f"(confidence {model.confidence if confidence is None else confidence}); written to {out}")
    return True


def cmd_score(args: argparse.Namespace) -> int:
    from ._memory import reuse_freed_memory

    out = _check_output(args.output, _OUTPUT_SUFFIXES, "output file", inputs=(args.data, args.model))
    reuse_freed_memory()  # a batch's arrays reuse the previous batch's memory (half the system time)
    if _score_numeric(args, out):
        return 0
    from .persistence import load
    from .scale import score_file

    model = load(args.model)
    confidence = _decision_choice(args, model)
    # every format through the one reader, batch by batch, typed by the model's input schema
    with _progress(args, _row_count(args.data), "scoring", "rows") as bar:
        summary = score_file(model, args.data, out, id_column=args.id_column,
                             confidence=confidence, progress=bar.update, sep=args.sep, drop=args.drop,
                             fdr=args.fdr, top=args.top_k)
    from .io.reader import column_names
    from .preprocess.kinds import INFREQUENT_LABEL
    from .scoring import id_notes

    for note in id_notes(model, column_names(args.data, args.sep), args.id_column):
        _say(args, f"note: {note}")
    for name, count in summary.unseen.items():
        _say(args, f"column {name!r}: {count} cell(s) hold a value not seen at fit, scored as its rare "
                   f"values' level {INFREQUENT_LABEL} (all-zero encoding when the column had no rare values)")
    if args.fdr is not None or args.top_k is not None:
        how = (f"Benjamini-Hochberg at false discovery rate {args.fdr}" if args.fdr is not None
               else f"the {args.top_k} highest scores")
        _say(args, f"scored {summary.n_rows} rows, {summary.n_flagged} flagged by {how}; written to {out}")
        return 0
    if summary.threshold is None:
        _say(args, f"scored {summary.n_rows} rows with the blend {Path(args.model).name} (higher = more anomalous; "
                   f"a blend has no p-value or threshold); written to {out}")
    else:
        confidence = _devnet(model).confidence if confidence is None else confidence
        _say(args, f"scored {summary.n_rows} rows, {summary.n_flagged} above the threshold "
                   f"{summary.threshold:.3f} (confidence {confidence}); written to {out}")
    return 0


def _evaluation_label(args: argparse.Namespace, model: Any) -> tuple[str, Any]:
    """The label column and anomaly value of ``deviation evaluate``: the options', else the model's.

    The model's anomaly value applies to the model's label column only: with
    another ``--label`` and no ``--anomaly-value``, the column holds 0/1.
    """
    from .scoring import model_schema

    schema = model_schema(model)
    saved_label = None if schema is None else schema.label
    label = args.label if args.label is not None else saved_label
    if label is None:
        raise UsageError(f"the model {args.model} does not record its label column; name the label column of "
                         f"{args.data} with --label")
    if args.anomaly_value is not None:
        return label, args.anomaly_value
    return label, (schema.anomaly_value if schema is not None and label == saved_label else None)


def _plot_output(plot: str | None) -> Path | None:
    """The checked ``--plot`` path, after checking that matplotlib is there (before the command does its work)."""
    if not plot:
        return None
    path = _check_output(plot, _PLOT_SUFFIXES, "plot file")
    from .plots import require_matplotlib

    require_matplotlib()
    return path


def cmd_evaluate(args: argparse.Namespace) -> int:
    from sklearn.metrics import average_precision_score, roc_auc_score

    from .estimator import DevNet

    plot_path = _plot_output(args.plot)
    from .scoring import has_decisions

    model = _load_devnet_model(args.model, "evaluate")
    devnet = _devnet(model) if isinstance(_devnet(model), DevNet) else None  # a blend has no prior to plot
    decider = _devnet(model) if has_decisions(model) else None  # DevNet, or a calibrated blend or rival
    label, anomaly_value = _evaluation_label(args, model)
    table = _read(args.data, label, args, model=model, anomaly_value=anomaly_value)
    y = table.y
    if y is None or y.min() == y.max():
        raise DeviationError(
            f"{args.data}: evaluation needs both anomalies (1) and normal rows (0) in column {label!r}"
            + ("" if anomaly_value is None else f" (anomaly value {anomaly_value!r})")
            + "; evaluate on a file with labeled anomalies and normal rows"
        )
    confidence = _decision_choice(args, model)
    _warn_if_training_file(args, table)
    scores = _score_in_chunks(model, table.X, args)
    n_anom = int(y.sum())
    top = np.argsort(-scores, kind="stable")[:n_anom]
    result = {
        "rows": int(len(y)),
        "anomalies": n_anom,
        "auc_roc": float(roc_auc_score(y, scores)),
        "auc_pr": float(average_precision_score(y, scores)),
        "precision_at_n": float(y[top].mean()),
    }
    decision = _evaluation_decisions(args, model, decider, scores, confidence)
    if decision is not None:
        rule, flags, cut = decision
        result.update(_decision_metrics(y, flags), rule=rule)
        if cut is not None:
            result["threshold"] = cut
    if args.json:
        print(json.dumps(result))
    else:
        print(f"rows                 {result['rows']}")
        print(f"anomalies            {result['anomalies']}")
        print(f"AUC-ROC              {result['auc_roc']:.4f}")
        print(f"AUC-PR               {result['auc_pr']:.4f}")
        print(f"precision@{n_anom:<10} {result['precision_at_n']:.4f}")
        if decision is not None:
            print(f"decision             {result['rule']}")
            print(f"flagged              {result['flagged']}")
            print(f"precision            {result['precision']:.4f}")
            print(f"recall               {result['recall']:.4f}")
            print(f"false-positive rate  {result['false_positive_rate']:.4f}")
    if plot_path is not None and devnet is None:
        from .plots import plot_roc_pr, save_figure

        save_figure(plot_roc_pr(y, scores, title=Path(args.data).name), plot_path)
        _say(args, f"plot written to {plot_path}")
    elif plot_path is not None:
        from .plots import plot_roc_pr, plot_score_distribution, save_figure

        cut = devnet.threshold_for(devnet.confidence if confidence is None else confidence)
        fig = plot_score_distribution(
            scores, y, threshold=cut, prior_mean=devnet.prior_mean,
            prior_std=devnet.prior_std, title=f"{Path(args.data).name}: scores against the prior",
            calibrated=getattr(devnet, "calibration_scores_", None) is not None,
        )
        save_figure(fig, plot_path)
        curves = plot_path.with_name(plot_path.stem + "-curves" + plot_path.suffix)
        save_figure(plot_roc_pr(y, scores, title=Path(args.data).name), curves)
        _say(args, f"plots written to {plot_path} and {curves}")
    return 0


def _warn_if_training_file(args: argparse.Namespace, table: Any) -> None:
    """Warn when the file evaluated looks like the model's training file (same name and row count)."""
    from .persistence import read_model_info

    try:
        metadata = read_model_info(args.model).get("metadata") or {}
    except DeviationError:
        return
    same_name = metadata.get("data") == Path(args.data).name
    if same_name and metadata.get("n_rows") in (None, int(table.X.shape[0])):
        logger.warning(
            "%s looks like the file %s was trained on (same name and number of rows): its metrics are "
            "optimistic and its false-positive rate is not that of new rows; evaluate on rows held out of training",
            args.data, args.model,
        )


def _evaluation_decisions(args: argparse.Namespace, model: Any, devnet: Any, scores: np.ndarray,
                          confidence: float | None) -> tuple[str, np.ndarray, float | None] | None:
    """The decision rule evaluate applies, its flags and score cut-off (None for a blend without --top)."""
    from .scoring import decide_all

    if args.fdr is not None or args.top_k is not None:
        flags = decide_all(model, scores, fdr=args.fdr, top=args.top_k).astype(bool)
        rule = (f"Benjamini-Hochberg at false discovery rate {args.fdr}" if args.fdr is not None
                else f"the {args.top_k} highest scores")
        return rule, flags, None
    if devnet is None:
        return None
    level = devnet.confidence if confidence is None else confidence
    cut = float(devnet.threshold_for(level))
    kind = "conformal" if getattr(devnet, "calibration_scores_", None) is not None else "prior's"
    return f"p-value <= {1 - level:.3g} ({kind}; score > {cut:.3f})", scores > cut, cut


def _decision_metrics(y: np.ndarray, flags: np.ndarray) -> dict[str, Any]:
    """Precision, recall and false-positive rate of 0/1 decisions against true labels."""
    flags = np.asarray(flags, dtype=bool)
    hits = int((flags & (y == 1)).sum())
    n_flagged = int(flags.sum())
    return {
        "flagged": n_flagged,
        "precision": hits / n_flagged if n_flagged else 0.0,
        "recall": hits / int((y == 1).sum()),
        "false_positive_rate": int((flags & (y == 0)).sum()) / int((y == 0).sum()),
    }


def cmd_calibrate(args: argparse.Namespace) -> int:
    from .persistence import read_model_info, save

    out = _check_output(args.output, (".model", ".zip", ".devnet"), "model file")
    model = _load_devnet_model(args.model, "calibrate")
    table = _read(args.data, args.label, args, model=model)
    est = _devnet(model)
    if not hasattr(est, "calibrate"):
        raise DeviationError(f"{args.model} holds a {type(est).__name__}, which cannot be calibrated; calibrate a "
                             "DevNet, blend or CatBoost model")
    from .scoring import calibrate_model

    try:
        calibrate_model(model, table.X, table.y)
    except DataError as exc:
        raise _in_file(args.data, exc) from None
    metadata = dict(read_model_info(args.model).get("metadata") or {})
    n_rows = int(len(est.calibration_scores_))
    metadata["calibrated_on"] = {"data": Path(args.data).name, "n_rows": n_rows}
    save(model, out, metadata=metadata)
    drift = getattr(est, "calibration_drift_", None)
    if args.json:
        report: dict[str, Any] = {"n_calibration": n_rows, "threshold": float(est.threshold_), "drift": None}
        if drift is not None:
            report["drift"] = {**{k: getattr(drift, k) for k in drift.__dataclass_fields__}, "message": drift.message()}
        print(json.dumps(report))
    elif drift is not None:
        print(drift.message())
    else:
        print(f"{args.model} had no calibration scores; it now has conformal p-values")
    _say(args, f"calibrated on {n_rows} rows of {Path(args.data).name} (threshold {est.threshold_:.3f} at "
               f"confidence {est.confidence}); model written to {out}")
    return 0


def _print_schema(state: Any) -> None:
    """The input schema lines of ``deviation info``: how files are read for this model."""
    import textwrap

    from .io import InputSchema

    if state is None:
        print("input           not recorded (a model file from before input schemas): files are read by "
              "the preprocessor's column names")
        return
    schema = InputSchema.from_dict(state)
    parts = [schema.format]
    if schema.label is not None:
        parts.append(f"label column {schema.label!r}" + (f" (anomaly value {schema.anomaly_value!r})"
                                                         if schema.anomaly_value is not None else ""))
    if schema.id_columns:
        parts.append("id columns " + ", ".join(repr(c) for c in schema.id_columns))
    if schema.sep is not None:
        from .io.delimited import separator_name

        parts.append(f"fields separated by {separator_name(schema.sep)}, decimal mark {schema.decimal!r}")
    if schema.n_features is not None:
        parts.append(f"{schema.n_features} features wide")
    if schema.index_base is not None:
        parts.append(f"feature indices from {schema.index_base}")
    print("input           " + "; ".join(parts))
    if schema.columns:
        counts: dict[str, int] = {}
        for kind in schema.columns.values():
            counts[kind] = counts.get(kind, 0) + 1
        summary = ", ".join(f"{n} {kind}" for kind, n in counts.items())
        others = [f"{name} ({kind})" for name, kind in schema.columns.items() if kind != "numeric"]
        print(f"columns         {len(schema.columns)} as read: {summary}")
        for line in textwrap.wrap(", ".join(others), width=100):
            print(f"                {line}")


def cmd_info(args: argparse.Namespace) -> int:
    from .persistence import read_model_info

    info = read_model_info(args.model)
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    meta = info.get("metadata") or {}
    params = info.get("params", {})
    print(f"model file      {args.model}")
    print(f"format          {info.get('format')} v{info.get('format_version')}, written {info.get('created')}")
    versions = info.get("versions", {})
    if versions:
        print("written by      " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    if meta:
        print(f"trained on      {meta.get('data')} ({meta.get('n_rows')} rows, "
              f"{meta.get('n_labeled_anomalies')} labeled anomalies, label column {meta.get('label_column')!r})")
    if info.get("model_type") == "ScoreBlend":
        members = info.get("blend", {}).get("members", [])
        calibrated = info.get("blend", {}).get("calibration_scores")
        print(f"model           a blend of {len(members)} models: the mean of their standardised scores "
              + ("(ranking scores: no p-value, no threshold)" if not calibrated else
                 f"(conformal p-values from {len(calibrated):,} calibration rows)"))
        if meta:
            print(f"metadata        {json.dumps(meta, default=str)}")
        for member in members:
            sub = member.get("model") or {}
            kind = member.get("kind") or ("catboost" if "CatBoost" in str(sub.get("estimator")) else "devnet")
            print(f"member          {member.get('name')} ({kind}): weight 1/{len(members)}, "
                  f"center {member.get('center')}, scale {member.get('scale')}")
            if sub.get("layers"):
                print(f"                layer widths {sub['layers']}, preset {sub.get('params', {}).get('preset')}")
        names = info.get("feature_names_in")
        if names:
            shown = ", ".join(map(_shown_name, names[:12])) + (" ..." if len(names) > 12 else "")
            print(f"features        {len(names)}: {shown}")
        return 0
    if info.get("estimator") not in (None, "deviation.DevNet"):
        calibrated = (info.get("fitted") or {}).get("calibration_scores_")
        print(f"model           {info.get('estimator')} "
              + ("(ranking scores: no p-value, no threshold)" if not calibrated else
                 f"(conformal p-values from {len(calibrated):,} calibration rows)"))
    _print_schema(info.get("input_schema"))
    column_kinds = (info.get("preprocessor") or {}).get("column_kinds")
    if column_kinds:
        from .preprocess.kinds import ColumnKind

        print("column kinds")
        for line in column_report([ColumnKind.from_dict(k) for k in column_kinds], all_columns=True):
            print(line)
    names = info.get("feature_names_in")
    if names:
        shown = ", ".join(map(_shown_name, names[:12])) + (" ..." if len(names) > 12 else "")
        print(f"features        {len(names)}: {shown}")
    if info.get("preprocessor"):
        print(f"preprocessing   scaling={info['preprocessor'].get('params', {}).get('scaling', '?')}")
    print("parameters      " + ", ".join(f"{k}={v}" for k, v in sorted(params.items())))
    fitted = info.get("fitted", {})
    if info.get("layers"):
        # the sizes used, which hidden_layer_sizes=None (the preset's) does not show
        n = fitted.get("n_networks_", 1)
        print(f"network         layer widths {info['layers']}" + (f" ({n} networks side by side)" if n > 1 else ""))
    if info.get("estimator") == "deviation.DevNet":
        from ._devnet_params import resolved_anomaly_noise

        # files written before the parameter existed trained without noise (as load reads them)
        noise = resolved_anomaly_noise(params.get("anomaly_noise", 0.0), params.get("preset", "paper"),
                                       fitted.get("n_networks_", 1))
        print(f"anomaly noise   {noise:g} of the labeled anomalies' spread per column"
              + (" (none)" if noise == 0 else ""))
        # files written before l2_ was saved trained with the number in their parameters
        l2 = fitted.get("l2_", params.get("l2"))
        if l2 is not None:
            unlabeled = fitted.get("n_unlabeled_")
            print(f"l2 penalty      {float(l2):.4g} on the hidden kernels"
                  + (f" (the preset's for {unlabeled:,} unlabeled training rows)"
                     if params.get("l2") is None and unlabeled is not None else ""))
    for key in ("threshold_", "best_epoch_", "reference_mean_", "reference_std_"):
        if key in fitted:
            print(f"{key:<15} {fitted[key]}")
    if info.get("estimator") == "deviation.DevNet":
        calibration = fitted.get("calibration_scores_")
        print("calibration     " + (f"{len(calibration):,} rows held out of training: conformal p-values"
                                    if calibration else "none: the prior's p-values (deviation calibrate MODEL "
                                    "RECENT_ROWS -o MODEL2 gives conformal ones)"))
    return 0


def cmd_explain(args: argparse.Namespace) -> int:

    from .explain import explain
    from .io import write_table
    from .scoring import scored_frame, source_columns

    out = _check_output(args.output, _OUTPUT_SUFFIXES, "output file", inputs=(args.data, args.model))
    plot_path = _plot_output(args.plot)
    model = _load_devnet_model(args.model, "explain")
    devnet = _devnet(model)
    table = _read(args.data, None, args, model=model)
    n = table.X.shape[0]
    if args.row is not None and not 0 <= args.row < n:
        raise DeviationError(f"--row {args.row} is outside the {n} rows of {args.data}")
    confidence = devnet.confidence if args.confidence is None else args.confidence
    threshold = devnet.threshold_for(confidence)
    if args.flagged:
        scores = _score_in_chunks(model, table.X, args)
        rows = np.flatnonzero(scores > threshold)
    else:
        rows = np.arange(n)
    try:
        ex = explain(model, table.X, rows=rows)
    except DataError as exc:
        raise _in_file(args.data, exc) from None
    k = min(args.top, len(ex.feature_names))
    order = np.argsort(-ex.values, axis=1, kind="stable")[:, :k]
    names = np.asarray(ex.feature_names, dtype=object)
    ids = None if table.ids is None else table.ids.iloc[ex.rows].reset_index(drop=True)
    frame = scored_frame(model, ex.scores, ids=ids, confidence=confidence)
    frame.insert(0 if ids is None else ids.shape[1], "row", ex.rows)
    original = table.X.iloc[ex.rows] if hasattr(table.X, "iloc") else None
    source = source_columns(model)
    for j in range(k):
        top_names = names[order[:, j]]
        frame[f"feature_{j + 1}"] = top_names
        if original is not None:
            # the row's own value of that feature, as read from the file
            # the row's own cell of the column the feature comes from (a date for its parts)
            sources = [source.get(name, name) for name in top_names]
            col = original.columns.get_indexer(sources)
            cells = original.to_numpy()[np.arange(len(col)), np.maximum(col, 0)]
            frame[f"value_{j + 1}"] = [str(v) if c >= 0 else "" for v, c in zip(cells, col)]
        frame[f"contribution_{j + 1}"] = np.take_along_axis(ex.values, order[:, j : j + 1], axis=1)[:, 0]
    write_table(frame, out)
    _say(args, f"explained {len(frame)} rows (top {k} features each); written to {out}")
    if plot_path is not None:
        from .plots import plot_attributions, save_figure

        if args.row is not None:
            hits = np.flatnonzero(ex.rows == args.row)
            if not len(hits):
                raise DeviationError(f"row {args.row} is not among the explained rows (see --flagged)")
            positions = [int(hits[0])]
        else:
            positions = [int(i) for i in np.argsort(-ex.scores, kind="stable")[: args.plot_rows]]
        if not positions:
            raise DeviationError("no row to plot: no row is flagged at this confidence")
        id_name = "row" if table.ids is None else str(table.ids.columns[0])
        id_values = ex.rows if table.ids is None else table.ids.iloc[:, 0].to_numpy()[ex.rows]
        labels = [f"{id_name} {id_values[p]}" for p in positions]
        shown = None
        if original is not None:
            shown = [original.iloc[p].to_dict() for p in positions]
        save_figure(plot_attributions(ex, positions, top=k, labels=labels, values=shown), plot_path)
        _say(args, f"plot written to {plot_path}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(args.runs, args.seed, out=sys.stdout)
    return 0


# ----------------------------------------------------------------- parser
#: ``type=`` of the options that count something (rows, runs, features): an int >= 1.
_positive_int = make_arg_type([Interval(Integral, 1, None, closed="left")], name="positive int")
_port = make_arg_type([Interval(Integral, 0, 65535, closed="both")], name="port")
#: ``type=`` of ``--fdr`` and ``--alert-rate``: a share in (0, 1).
_fraction = make_arg_type([Interval(Real, 0, 1, closed="neither")], name="fraction")
#: ``type=`` of ``--folds``: cross-validation needs two folds or more (``compare(n_folds=...)``).
_at_least_two = make_arg_type([Interval(Integral, 2, None, closed="left")], name="folds")


def cmd_export(args: argparse.Namespace) -> int:
    from .export import export_onnx
    from .persistence import load

    out = _check_output(args.output, (".onnx",), "ONNX file")
    model = load(args.model)
    proto = export_onnx(model, out, double=args.double)
    inputs = ", ".join(i.name for i in proto.graph.input[:6]) + (", ..." if len(proto.graph.input) > 6 else "")
    _say(args, f"exported {Path(args.model).name} to {out}: {len(proto.graph.input)} inputs ({inputs}); outputs "
               f"score, p_value, is_anomaly; {len(proto.graph.node)} nodes, opset {proto.opset_import[0].version}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from .serve import serve

    serve_logger = logging.getLogger("deviation.serve")
    if not args.quiet:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        serve_logger.addHandler(handler)
        serve_logger.setLevel(logging.INFO)
        serve_logger.propagate = False

    def ready(service: Any, url: str) -> None:
        workers = f" with {args.workers} workers" if args.workers > 1 else ""
        _say(args, f"serving {service.name} ({len(service.columns)} columns) on {url}{workers}: "
                   f"POST /score, GET /health; at most {service.max_rows:,} rows and {service.max_bytes:,} bytes "
                   "per request; Ctrl-C stops")

    serve(args.model, host=args.host, port=args.port, max_rows=args.max_rows, max_bytes=args.max_bytes,
          workers=args.workers, on_ready=ready)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``deviation`` command.

    The options that set a DevNet parameter are read and checked with that
    parameter's own constraints (``DevNet._parameter_constraints``), so the command
    and the library accept the same values and word a bad one the same way:
    ``argument --margin: must be a float > 0. Got -1 instead.`` (exit code 2).
    """
    from ._devnet_params import DEVNET_CONSTRAINTS

    def devnet(name: str) -> Callable[[str], Any]:
        return make_arg_type(DEVNET_CONSTRAINTS[name], name=name)

    (hidden_sizes,) = [c for c in DEVNET_CONSTRAINTS["hidden_layer_sizes"] if isinstance(c, SequenceOf)]
    layer_size = make_arg_type([hidden_sizes.item], name="layer size")
    seed = devnet("random_state")  # an int >= 0, for every command's --seed
    confidence = devnet("confidence")
    # -q and --debug work before and after the command: the subcommands' copies leave
    # the value alone unless given (SUPPRESS), so they never undo the main parser's
    top = argparse.ArgumentParser(add_help=False)
    top.add_argument("-q", "--quiet", action="store_true", help="no progress bars or messages")
    top.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="no progress bars or messages")
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks and debug logs")

    def table_options(command: argparse.ArgumentParser, with_model: bool) -> None:
        sep_default = "the training file's, else detected" if with_model else "detected"
        command.add_argument("--sep", metavar="CHAR", default=None,
                             help=f"field separator of a CSV file: one character, '\\t' for tab (default: "
                                  f"{sep_default} among , ; tab | from the first lines; with ; the decimal "
                                  "mark is , unless the numbers are written with points)")
        if with_model:
            command.add_argument("--drop", action="append", metavar="COL",
                                 help="a column of DATA the model does not use, left out (repeatable); a column "
                                      "the model was trained on cannot be dropped")
        else:
            command.add_argument("--drop", action="append", metavar="COL",
                                 help="leave column COL out of the features (repeatable)")

    def decision_options(command: argparse.ArgumentParser) -> None:
        command.add_argument("--fdr", type=_fraction, default=None, metavar="Q",
                             help="is_anomaly by Benjamini-Hochberg over all the rows: at most a share Q of "
                                  "the flagged rows normal, in expectation (reads the file twice)")
        command.add_argument("--top", type=_positive_int, default=None, metavar="K",
                             dest="top_k", help="is_anomaly for the K highest scores (reads the file twice)")
        command.add_argument("--alert-rate", type=_fraction, default=None, metavar="R",
                             help="is_anomaly where the p-value is at most R: at most a share R of normal "
                                  "rows flagged (the same as --confidence 1-R)")

    parser = argparse.ArgumentParser(
        prog="deviation",
        description="Anomaly detection with Deviation Networks (DevNet) from a few labeled anomalies.",
        parents=[top],
    )
    parser.add_argument("--version", action="version", version=f"deviation {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    fit = sub.add_parser("fit", parents=[common], help="train a model on a data file",
                         description="Train DevNet on DATA. Label column: 1 = known anomaly, 0 or empty = unlabeled.")
    fit.add_argument("data", metavar="DATA")
    fit.add_argument("--label", required=True, help="label column (1 = known anomaly, 0 or empty = unlabeled)")
    fit.add_argument("--anomaly-value", help="value of the label column that marks an anomaly (default: 1)")
    fit.add_argument("--id-column", action="append", metavar="COL",
                     help="a row identifier column, excluded from the features (repeatable)")
    table_options(fit, with_model=False)
    fit.add_argument("-o", "--output", required=True, metavar="MODEL", help="model file to write (.model)")
    fit.add_argument("--sample-size", type=_positive_int, default=None, metavar="N",
                     help="train on a uniform sample of N unlabeled rows plus every labeled anomaly, "
                          "drawn in one streaming pass (for CSV/Parquet files larger than memory)")
    fit.add_argument("--preset", choices=["default", "paper"], default="default",
                     help="default: two networks of 2 hidden layers (min-max and quantile views of continuous "
                          "columns), scores averaged; paper: the paper's single network (docs/ACCURACY.md)")
    fit.add_argument("--scaling", choices=["minmax", "standard", "quantile", "none"], default="minmax",
                     help="feature scaling before the model (default minmax, as in the paper)")
    fit.add_argument("--categorical", action="append", metavar="COL",
                     help="treat COL as categorical (repeatable; default: text columns)")
    fit.add_argument("--hidden", type=layer_size, nargs="*", default=None, metavar="N",
                     help="hidden layer sizes (default: the preset's, 20 20 for default and 20 for paper; "
                          "--hidden with no size for the linear variant)")
    fit.add_argument("--epochs", type=devnet("epochs"), default=50)
    fit.add_argument("--batches-per-epoch", type=devnet("batches_per_epoch"), default=20)
    fit.add_argument("--batch-size", type=devnet("batch_size"), default=512)
    fit.add_argument("--learning-rate", type=devnet("learning_rate"), default=None,
                     help="RMSprop step size (default: the preset's, 2e-3 for default and 1e-3 for paper)")
    fit.add_argument("--margin", type=devnet("margin"), default=5.0)
    fit.add_argument("--l2", type=devnet("l2"), default=None,
                     help="L2 penalty on the hidden kernels (default: the preset's, 0.01, or up to 0.03 for the "
                          "default preset on fewer than 1,000 unlabeled training rows)")
    fit.add_argument("--anomaly-noise", type=devnet("anomaly_noise"), default="auto", metavar="S",
                     help="Gaussian noise on the labeled anomalies of each batch, S times their spread in each "
                          "column: 'auto' (0.3 for the default preset's two networks, else 0) or S >= 0")
    fit.add_argument("--confidence", type=confidence, default=0.95)
    fit.add_argument("--calibration-size", type=devnet("calibration_size"), default="auto", metavar="N",
                     help="unlabeled rows held out of training to calibrate p-values: 'auto' (20%%, at most "
                          "5,000), a count, a share in (0, 1), or 0 to train on every row (docs/decisions.md)")
    fit.add_argument("--device", type=devnet("device"), default="auto")
    fit.add_argument("--seed", type=seed, default=None, help="random seed (same seed, same model)")
    fit.set_defaults(func=cmd_fit)

    comp = sub.add_parser("compare", parents=[common], help="compare DevNet with tree and unsupervised rivals "
                          "on your data and recommend one",
                          description="Cross-validate DevNet (default and paper presets), CatBoost (if installed, "
                                      "else HistGradientBoosting) and Isolation Forest on DATA: labeled anomalies "
                                      "held out and ranked against held-out unlabeled rows. Prints a table and a "
                                      "recommendation: the preferred devnet+catboost blend (else DevNet) unless a "
                                      "candidate is significantly ahead of it (one-sided paired t-test at 5% over "
                                      "the folds), then the leader; says when the folds cannot separate them. A "
                                      "progress bar with the time left runs on a terminal (none with -q); "
                                      "--save-model fits the recommended method on all rows.")
    comp.add_argument("data", metavar="DATA")
    comp.add_argument("--label", required=True, help="label column (1 = known anomaly, 0 or empty = unlabeled)")
    comp.add_argument("--anomaly-value", help="value of the label column that marks an anomaly (default: 1)")
    comp.add_argument("--id-column", action="append", metavar="COL",
                      help="a row identifier column, excluded from the features (repeatable)")
    table_options(comp, with_model=False)
    comp.add_argument("--categorical", action="append", metavar="COL",
                      help="treat COL as categorical (repeatable; default: text columns)")
    comp.add_argument("--methods", nargs="+", metavar="M",
                      choices=["devnet", "devnet-paper", "catboost", "hist-gbt", "iforest", "devnet+catboost"],
                      help="candidates (default with CatBoost installed: devnet devnet-paper catboost iforest "
                           "devnet+catboost; without: devnet devnet-paper hist-gbt iforest)")
    comp.add_argument("--folds", type=_at_least_two, default=5, help="cross-validation folds (default 5)")
    comp.add_argument("--max-unlabeled", type=_positive_int, default=20_000, metavar="N",
                      help="unlabeled rows used by the cross-validation (default 20000; all labeled anomalies kept)")
    comp.add_argument("--tree-max-unlabeled", type=_positive_int, default=5_000, metavar="N",
                      help="unlabeled rows the tree models (CatBoost, HistGBT) train on in each fold (default "
                           "5000; all labeled anomalies kept; --save-model trains on all rows)")
    comp.add_argument("--save-model", metavar="PATH",
                      help="fit the recommended method on all rows and save it as one .model file "
                           "(deviation score reads it; hist-gbt and iforest cannot be saved)")
    comp.add_argument("--json", action="store_true",
                      help="print the table and the decision (reason, paired differences, whether the folds "
                           "separate the pick from each rival) as JSON")
    comp.add_argument("--seed", type=seed, default=None)
    comp.set_defaults(func=cmd_compare)

    score = sub.add_parser("score", parents=[common], help="score a data file with a model")
    score.add_argument("model", metavar="MODEL")
    score.add_argument("data", metavar="DATA")
    score.add_argument("-o", "--output", required=True, metavar="OUT", help="CSV or Parquet file to write")
    score.add_argument("--id-column", action="append", metavar="COL",
                       help="column copied verbatim to the output to identify rows (repeatable)")
    table_options(score, with_model=True)
    score.add_argument("--confidence", type=confidence, default=None,
                       help="confidence level of is_anomaly (default: the model's, 0.95)")
    decision_options(score)
    score.set_defaults(func=cmd_score)

    evaluate = sub.add_parser("evaluate", parents=[common], help="AUC-ROC, AUC-PR and precision@n on labeled data")
    evaluate.add_argument("model", metavar="MODEL")
    evaluate.add_argument("data", metavar="DATA")
    evaluate.add_argument("--label", default=None,
                          help="true label column (1 = anomaly; default: the label column the model was fit on)")
    evaluate.add_argument("--anomaly-value",
                          help="value of the label column that marks an anomaly (default: the one given at fit "
                               "when --label is the model's label column, else 1)")
    evaluate.add_argument("--id-column", action="append", metavar="COL",
                          help="a row identifier column, excluded from the features (repeatable)")
    table_options(evaluate, with_model=True)
    evaluate.add_argument("--plot", metavar="FILE.png", help="also draw the score distribution and the curves")
    evaluate.add_argument("--confidence", type=confidence, default=None,
                          help="confidence level of the decisions (default: the model's, 0.95)")
    decision_options(evaluate)
    evaluate.add_argument("--json", action="store_true", help="print the metrics as JSON")
    evaluate.set_defaults(func=cmd_evaluate)

    calibrate = sub.add_parser("calibrate", parents=[common], help="recalibrate a model's p-values on recent rows",
                               description="Replace the calibration scores of MODEL with the scores of DATA "
                               "(fresh, mostly normal rows, e.g. last week's traffic), without retraining, and "
                               "report how far the scores moved.")
    calibrate.add_argument("model", metavar="MODEL")
    calibrate.add_argument("data", metavar="DATA")
    calibrate.add_argument("-o", "--output", required=True, metavar="MODEL2", help="model file to write (.model)")
    calibrate.add_argument("--label", default=None,
                           help="a label column: rows marked as anomalies (1) are left out of the calibration")
    calibrate.add_argument("--anomaly-value", help="value of the label column that marks an anomaly (default: 1)")
    calibrate.add_argument("--id-column", action="append", metavar="COL",
                           help="a row identifier column, excluded from the features (repeatable)")
    table_options(calibrate, with_model=True)
    calibrate.add_argument("--json", action="store_true", help="print the drift report as JSON")
    calibrate.set_defaults(func=cmd_calibrate)

    info = sub.add_parser("info", parents=[common], help="what a model was trained on and how")
    info.add_argument("model", metavar="MODEL")
    info.add_argument("--json", action="store_true")
    info.set_defaults(func=cmd_info)

    explain = sub.add_parser("explain", parents=[common], help="which features pushed each row's score up or down",
                             description="Integrated-gradient attributions of each row's score, in standard "
                             "deviations of the prior, summed back to your own columns.")
    explain.add_argument("model", metavar="MODEL")
    explain.add_argument("data", metavar="DATA")
    explain.add_argument("-o", "--output", required=True, metavar="OUT", help="CSV or Parquet file to write")
    explain.add_argument("--top", type=_positive_int, default=5, help="features per row (default 5)")
    explain.add_argument("--flagged", action="store_true", help="only rows above the threshold")
    explain.add_argument("--confidence", type=confidence, default=None,
                         help="confidence level of the threshold (default: the model's, 0.95)")
    explain.add_argument("--id-column", action="append", metavar="COL",
                         help="column copied verbatim to the output to identify rows (repeatable)")
    table_options(explain, with_model=True)
    explain.add_argument("--plot", metavar="FILE.png", help="bar chart of the top features")
    explain.add_argument("--row", type=int, default=None,
                         help="row position (0-based) to plot; default: the highest-scoring rows")
    explain.add_argument("--plot-rows", type=_positive_int, default=3,
                         help="how many of the highest-scoring rows to plot (default 3)")
    explain.set_defaults(func=cmd_explain)

    demo = sub.add_parser("demo", parents=[common], help="DevNet on the bundled thyroid data, paper protocol")
    demo.add_argument("--runs", type=_positive_int, default=10)
    demo.add_argument("--seed", type=seed, default=0)
    demo.set_defaults(func=cmd_demo)

    export = sub.add_parser("export", parents=[common], help="write a model as one ONNX graph",
                            description="Export the whole model (column typing, preprocessing, network, p-value, "
                                        "threshold) as one ONNX graph: one input per column (float32 numbers, NaN "
                                        "= missing; strings for categories, empty = missing), outputs score, "
                                        "p_value and is_anomaly. See docs/deploy.md.")
    export.add_argument("model", metavar="MODEL")
    export.add_argument("-o", "--output", required=True, metavar="FILE.onnx", help="ONNX file to write")
    export.add_argument("--double", action="store_true",
                        help="numeric inputs as float64 instead of float32 (exactly the numbers deviation score reads)")
    export.set_defaults(func=cmd_export)

    from ._limits import DEFAULT_MAX_BYTES, DEFAULT_MAX_ROWS

    serve = sub.add_parser("serve", parents=[common], help="an HTTP JSON scoring service for a model",
                           description="POST /score with {\"rows\": [{column: value, ...}]} answers score, p_value "
                                       "and is_anomaly; GET /health. See docs/deploy.md.")
    serve.add_argument("model", metavar="MODEL")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8000, help="port, 0-65535; 0 picks a free one (default 8000)")
    serve.add_argument("--max-rows", type=_positive_int, default=DEFAULT_MAX_ROWS, metavar="N",
                       help=f"most rows per request (default {DEFAULT_MAX_ROWS}; more: 413)")
    serve.add_argument("--max-bytes", type=_positive_int, default=DEFAULT_MAX_BYTES, metavar="N",
                       help=f"largest request body in bytes (default {DEFAULT_MAX_BYTES}, 16 MiB; more: 413)")
    serve.add_argument("--workers", type=_positive_int, default=1, metavar="N",
                       help="processes serving the port, each with its own copy of the model (default 1)")
    serve.set_defaults(func=cmd_serve)

    return parser


def _silence_stdout() -> None:
    """Point stdout at the null device, so that Python's flush at exit finds no closed pipe."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass


class _HeldWarnings(logging.Handler):
    """Holds the library's warnings while a command runs, so that a failure stays one line."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``deviation`` console script."""
    try:
        parser = build_parser()  # imports the estimator: seconds on a loaded machine
    except KeyboardInterrupt as exc:
        return report_stop(exc)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    func: Callable[[argparse.Namespace], int] = args.func
    # SIGTERM (timeout, docker stop, job schedulers) unwinds like Ctrl-C, so that temporary
    # output files are removed and no partial file is left behind
    previous = on_sigterm()
    # Warnings are shown after a successful command, or folded into the error line.
    held = _HeldWarnings()
    package = logging.getLogger("deviation")
    propagate = package.propagate
    if not args.debug:
        package.addHandler(held)
        package.propagate = False
    failed = False
    try:
        return func(args)
    except UsageError as exc:
        parser.error(_option_words(str(exc)))
    except BrokenPipeError:
        # the reader of our output went away (`deviation info m.model | head -3`): no error message
        _silence_stdout()
        return 141
    except (DeviationError, OSError, ValueError, ImportError) as exc:
        if args.debug:
            raise
        failed = True
        message = " ".join(str(exc).split()) or type(exc).__name__
        if held.records:
            notes = "; ".join(" ".join(r.getMessage().split()) for r in held.records)
            message += f" (warning: {notes})"
        print(f"deviation: error: {_option_words(message)}", file=sys.stderr)
        return 1
    except MemoryError:
        # an allocation nothing estimated (MemoryLimitError, a DeviationError, is reported above);
        # output files are written atomically, so nothing half-written is left behind
        if args.debug:
            raise
        failed = True
        data = getattr(args, "data", None)
        doing = f"running {getattr(args, 'command', 'the command')}" + (f" on {data}" if data else "")
        print(f"deviation: error: ran out of memory while {doing}; try --sample-size N (deviation fit), "
              "fewer rows or columns, or a machine with more memory", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, Terminated) as exc:
        return report_stop(exc)
    finally:
        restore_sigterm(previous)
        package.removeHandler(held)
        package.propagate = propagate
        if not failed:
            for record in held.records:
                if getattr(record, "column_kinds_report", False) and getattr(args, "column_report_shown", False):
                    continue  # the column report printed by fit said it already
                record.msg, record.args = _option_words(record.getMessage()), None
                logging.getLogger().handle(record)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
