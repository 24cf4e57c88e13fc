"""Labelled tables for the MLP: CSV reading, label coding, stratified split, scaling."""

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .data import IRIS_FEATURES, read_csv_lines
from .errors import ConstantFeatureWarning, InputError
from .mlp import StudySplit, shuffle_iris_as_study

# Features are stored as float32, so larger magnitudes would become infinite.
FLOAT32_MAX = torch.finfo(torch.float32).max

__all__ = [
    "FEATURE_SCALINGS",
    "LabelledData",
    "iris_study_split",
    "read_labelled_csv",
    "scale_features",
    "split_labelled",
    "stratified_split",
]

#: "variance" is the study's (x - mean) / variance, "standard" the z-score
#: (x - mean) / standard deviation, both with the unbiased (N - 1) divisor;
#: "none" leaves the features as they are.
FEATURE_SCALINGS = ("variance", "standard", "none")


@dataclass(frozen=True)
class LabelledData:
    """Feature rows with one class label each.

    Attributes
    ----------
    features : torch.Tensor, shape (n, d), float32
    labels : torch.Tensor, shape (n,), int64
        Class indices 0..C-1: ``class_names[labels[i]]`` is row i's label.
    feature_names : tuple of str
    class_names : tuple of str
        The labels as written in the file, in class-index order.
    """

    features: torch.Tensor
    labels: torch.Tensor
    feature_names: tuple
    class_names: tuple


def scale_features(features, scaling, *, reference=None, feature_names=None):
    """Centre and scale each feature column with statistics from reference rows.

    A column that takes a single value on the reference rows becomes exactly 0
    on every row (dividing by its zero spread would give NaN), and a
    ConstantFeatureWarning names it. ``"none"`` returns a copy unchanged.

    Parameters
    ----------
    features : torch.Tensor, shape (n, d), float
    scaling : {"variance", "standard", "none"}
        See ``FEATURE_SCALINGS``.
    reference : index or bool mask over rows, optional
        Rows whose mean and spread are used, such as the training rows. Default:
        all rows.
    feature_names : sequence of str, optional
        Column names for the warning; default "feature 1", "feature 2", ...

    Returns
    -------
    torch.Tensor, shape (n, d), same dtype as ``features``
    """
    if scaling not in FEATURE_SCALINGS:
        raise InputError(
            f"scaling={scaling!r} is not a known choice; use one of "
            f"{', '.join(FEATURE_SCALINGS)}"
        )
    if not isinstance(features, torch.Tensor):
        raise TypeError(
            f"features must be a torch.Tensor, got {type(features).__name__}; "
            "convert it with torch.as_tensor"
        )
    if features.ndim != 2 or not features.is_floating_point():
        raise InputError(
            "features must be a floating-point (n, d) tensor, got shape "
            f"{tuple(features.shape)} and dtype {features.dtype}"
        )
    if feature_names is not None and len(feature_names) != features.shape[1]:
        raise InputError(
            f"feature_names has {len(feature_names)} names for "
            f"{features.shape[1]} feature columns; give one name per column"
        )
    if scaling == "none":
        return features.clone()
    ref = features if reference is None else features[reference]
    if ref.shape[0] < 2:
        raise InputError(
            f"scaling needs at least 2 reference rows to measure a spread, got "
            f"{ref.shape[0]}; use more rows"
        )

    mean = ref.mean(dim=0)
    spread = ref.var(dim=0) if scaling == "variance" else ref.std(dim=0)
    scaled = (features - mean) / spread
    constant = (ref == ref[0]).all(dim=0)
    # Only finite columns can blame the scaling for a non-finite result.
    finite = torch.isfinite(features).all(dim=0)
    broken = (
        ~torch.isfinite(scaled).all(dim=0) | ~torch.isfinite(spread) | (spread == 0)
    )
    unscalable = finite & ~constant & broken
    if unscalable.any():
        j = int(unscalable.nonzero()[0])
        name = feature_names[j] if feature_names else f"feature {j + 1}"
        statistic = "variance" if scaling == "variance" else "standard deviation"
        raise InputError(
            f"feature {name!r} has a {statistic} of {spread[j].item():.3g} in "
            f"{features.dtype}, out of range for {scaling!r} scaling; divide or "
            "multiply the column by a constant, or use scaling 'none'"
        )
    if constant.any():
        names = feature_names or [f"feature {j + 1}" for j in range(features.shape[1])]
        constant_names = ", ".join(
            repr(names[j]) for j in constant.nonzero().flatten().tolist()
        )
        warnings.warn(
            f"feature {constant_names} is constant on the rows used for scaling, so "
            "it is set to 0 and carries no information; drop it or check the data",
            ConstantFeatureWarning,
            stacklevel=2,
        )
        scaled = torch.where(constant, torch.zeros((), dtype=scaled.dtype), scaled)
    return scaled


def iris_study_split(scaling="variance", iris=None, n_train=100):
    """Prepare the bundled Iris data as the study did, with a choice of scaling.

    The rows are shuffled and the classes numbered as in ``prepare_iris_study``.
    The scaling statistics come from all 150 rows, as in the study, and the
    first ``n_train`` rows train. With ``scaling="variance"`` the result equals
    ``prepare_iris_study()``.
    """
    features, labels, class_names = shuffle_iris_as_study(iris)
    scaled = scale_features(features, scaling, feature_names=IRIS_FEATURES)
    return StudySplit(
        scaled[:n_train],
        labels[:n_train],
        scaled[n_train:],
        labels[n_train:],
        class_names,
    )


def read_labelled_csv(path, target):
    """Read a CSV or TSV file with a header row, one label column and numeric features.

    Every column other than ``target`` is a feature and must hold a finite
    number on every row. Labels may be any text, such as class names or 1-based
    integers. They are coded 0..C-1 in sorted order, numerically when every
    label is a number and as text otherwise. Blank lines are skipped.

    Parameters
    ----------
    path : str or Path
    target : str
        Name of the label column in the header.

    Returns
    -------
    LabelledData
    """
    path = Path(path)
    source = str(path)
    rows = _read_rows(path)
    if not rows:
        raise InputError(
            f"{source!r} contains no rows; give a CSV file with a header row"
        )
    header = rows[0][1]
    header = [name.strip() for name in header]
    _check_header(header, source)
    if target not in header:
        raise InputError(
            f"target column {target!r} not found in {source!r}; the columns are "
            f"{', '.join(repr(name) for name in header)}"
        )
    if len(header) < 2:
        raise InputError(
            f"{source!r} has no feature columns besides the target {target!r}; add at "
            "least one numeric column"
        )
    if len(rows) < 2:
        raise InputError(f"{source!r} has a header but no data rows; add data rows")

    target_col = header.index(target)
    feature_cols = [j for j in range(len(header)) if j != target_col]
    values, raw_labels = [], []
    for line_no, row in rows[1:]:
        if len(row) != len(header):
            raise InputError(
                f"{source}, line {line_no}: found {len(row)} cells where the header "
                f"has {len(header)}; every row needs one cell per column"
            )
        label = row[target_col].strip()
        if not label:
            raise InputError(
                f"{source}, line {line_no}: the label in column {target!r} is missing; "
                "fill it in or remove the line"
            )
        raw_labels.append(label)
        values.append(
            [_parse_feature(row[j], source, line_no, header[j]) for j in feature_cols]
        )

    class_names = _sorted_labels(set(raw_labels))
    index = {name: k for k, name in enumerate(class_names)}
    return LabelledData(
        features=torch.tensor(values, dtype=torch.float32),
        labels=torch.tensor([index[label] for label in raw_labels], dtype=torch.int64),
        feature_names=tuple(header[j] for j in feature_cols),
        class_names=class_names,
    )


def stratified_split(labels, validation_fraction=1 / 3, seed=0, class_names=None):
    """Split rows into training and validation sets with each class in both.

    The rows are shuffled with ``numpy.random.default_rng(seed)``. Each class
    of n_c rows then gives round(n_c * validation_fraction) of them to
    validation, but at least 1 and at most n_c - 1.

    Parameters
    ----------
    labels : torch.Tensor, shape (n,), int64
        Class indices 0..C-1.
    validation_fraction : float, default=1/3
        Share of each class held out, strictly between 0 and 1.
    seed : int, default=0
    class_names : sequence of str, optional
        Names used in error messages.

    Returns
    -------
    train_rows, validation_rows : torch.Tensor, int64
        Row indices in shuffled order.
    """
    if not isinstance(labels, torch.Tensor):
        raise TypeError(
            f"labels must be a torch.Tensor, got {type(labels).__name__}; convert "
            "it with torch.as_tensor"
        )
    if labels.ndim != 1 or labels.dtype != torch.int64 or len(labels) == 0:
        raise InputError(
            "labels must be a non-empty 1-D int64 tensor of class indices, got shape "
            f"{tuple(labels.shape)} and dtype {labels.dtype}"
        )
    if not 0 < validation_fraction < 1:
        raise InputError(
            f"validation_fraction={validation_fraction!r} is invalid; use a number "
            "strictly between 0 and 1"
        )
    if (
        isinstance(seed, bool)
        or not isinstance(seed, (int, np.integer))
        or not 0 <= seed < 2**64
    ):
        raise InputError(f"seed={seed!r} is invalid; use an integer in [0, 2**64)")
    n_classes = int(labels.max()) + 1
    names = class_names or [str(k) for k in range(n_classes)]
    if n_classes < 2 or len(labels.unique()) < 2:
        raise InputError(
            f"the labels contain 1 class ({names[int(labels[0])]!r}); a classifier "
            "needs at least 2 classes"
        )
    order = np.random.default_rng(seed).permutation(len(labels))
    shuffled = labels.numpy()[order]
    held_out = np.zeros(len(labels), dtype=bool)
    for k in range(n_classes):
        rows = order[shuffled == k]
        if len(rows) < 2:
            raise InputError(
                f"class {names[k]!r} has {len(rows)} "
                f"row{'' if len(rows) == 1 else 's'}, but a stratified split needs "
                "at least 2 rows per class (one to train, one to validate); add rows "
                "or remove the class"
            )
        n_validation = min(
            max(1, round(len(rows) * validation_fraction)), len(rows) - 1
        )
        held_out[rows[:n_validation]] = True
    train = order[~held_out[order]]
    validation = order[held_out[order]]
    return torch.from_numpy(train), torch.from_numpy(validation)


def split_labelled(data, scaling, validation_fraction=1 / 3, seed=0):
    """Split ``data`` by ``stratified_split`` and scale it with training-row statistics.

    Parameters
    ----------
    data : LabelledData
        Features and labels, as ``read_labelled_csv`` returns them.
    scaling : {"variance", "standard", "none"}
        See ``FEATURE_SCALINGS``; the mean and spread come from the training rows.
    validation_fraction : float, default=1/3
        Share of each class held out, strictly between 0 and 1.
    seed : int, default=0
        Seed of the shuffle behind the split.

    Returns
    -------
    StudySplit
        Scaled training and validation rows, with ``class_names`` from ``data``.
    """
    train, validation = stratified_split(
        data.labels, validation_fraction, seed, data.class_names
    )
    scaled = scale_features(
        data.features, scaling, reference=train, feature_names=data.feature_names
    )
    return StudySplit(
        scaled[train],
        data.labels[train],
        scaled[validation],
        data.labels[validation],
        data.class_names,
    )


def _read_rows(path):
    source = str(path)
    if not path.exists():
        raise InputError(f"input file {source!r} not found; check the path")
    if path.is_dir():
        raise InputError(f"input path {source!r} is a folder; give a CSV file")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(
            f"{source!r} is not a UTF-8 text file; give a CSV file"
        ) from None
    except OSError as exc:
        raise InputError(
            f"cannot read input file {source!r}: {exc.strerror}; check its permissions"
        ) from None
    lines = text.splitlines()
    first = next((line for line in lines if line.strip()), "")
    tab = path.suffix.lower() in (".tsv", ".tab") or (
        "\t" in first and "," not in first
    )
    rows = read_csv_lines(lines, "\t" if tab else ",", source)
    return [(line_no, row) for line_no, row in rows if any(c.strip() for c in row)]


def _check_header(header, source):
    numeric = [name for name in header if _is_number(name)]
    if len(numeric) == len(header):
        raise InputError(
            f"{source!r} has no header row (its first row is all numbers); add a first "
            "row naming the columns"
        )
    empty = [j + 1 for j, name in enumerate(header) if not name]
    if empty:
        raise InputError(
            f"{source!r}: header column {empty[0]} has no name; name every column"
        )
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise InputError(
            f"{source!r}: the header names {duplicates[0]!r} more than once; give each "
            "column its own name"
        )


def _parse_feature(cell, source, line_no, column):
    text = cell.strip()
    if not text:
        raise InputError(
            f"{source}, line {line_no}, column {column!r}: the value is missing; fill "
            "it in or remove the line"
        )
    try:
        value = float(text)
    except ValueError:
        raise InputError(
            f"{source}, line {line_no}, column {column!r}: {text!r} is not a number; "
            "fix the cell"
        ) from None
    if not math.isfinite(value):
        raise InputError(
            f"{source}, line {line_no}, column {column!r}: {text!r} is not finite; "
            "replace it with a finite number"
        )
    if abs(value) > FLOAT32_MAX:
        raise InputError(
            f"{source}, line {line_no}, column {column!r}: {text!r} is beyond the "
            f"float32 range of the features (max {FLOAT32_MAX:.3g}); divide the "
            "column by a constant"
        )
    return value


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _sorted_labels(labels):
    if all(_is_number(label) for label in labels):
        return tuple(sorted(labels, key=lambda label: (float(label), label)))
    return tuple(sorted(labels))
