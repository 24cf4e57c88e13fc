"""Data loading: the bundled Iris file and numeric matrices from CSV, TSV or .npy."""

import csv
import hashlib
import io
import math
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from .errors import InputError

__all__ = ["IRIS_MD5", "IrisData", "load_iris", "parse_iris", "read_matrix"]

#: MD5 of the UCI Iris file shipped with gradfit. Rows 35 and 38 of that file
#: differ from Fisher's 1936 table, which scikit-learn and R ship corrected.
IRIS_MD5 = "42615765a885ddf54427f12c34a0a070"

IRIS_FEATURES = ("sepal length", "sepal width", "petal length", "petal width")

# First bytes of every file that numpy.save writes (format versions 1 to 3).
NPY_MAGIC = b"\x93NUMPY"


@dataclass(frozen=True)
class IrisData:
    """The Iris data set.

    Attributes
    ----------
    features : torch.Tensor, shape (150, 4), float32
        Sepal length, sepal width, petal length and petal width in cm.
    labels : torch.Tensor, shape (150,), int64
        Class index of each row, numbered in order of first appearance.
    class_names : tuple of str
        ``class_names[k]`` is the name of class ``k``.
    """

    features: torch.Tensor
    labels: torch.Tensor
    class_names: tuple


def iris_bytes():
    """Return the raw bytes of the bundled UCI ``iris.data`` file."""
    return resources.files("gradfit").joinpath("data/iris.data").read_bytes()


def load_iris():
    """Load the bundled UCI Iris file (150 rows, 4 features, 3 classes)."""
    return parse_iris(iris_bytes().decode("ascii"), source="iris.data")


def parse_iris(text, source="<text>"):
    """Parse Iris-format text: four numbers and a class name per line.

    Blank lines are skipped. Any other line must hold exactly five
    comma-separated fields whose first four are finite numbers; anything else
    raises InputError naming the line.
    """
    rows, names = [], []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split(",")
        if len(fields) != 5:
            raise InputError(
                f"{source}, line {line_no}: expected 5 comma-separated fields, "
                f"found {len(fields)} in {line!r}; fix or remove the line"
            )
        values = [
            _parse_float(f, source, line_no, col) for col, f in enumerate(fields[:4], 1)
        ]
        name = fields[4].strip()
        if not name:
            raise InputError(
                f"{source}, line {line_no}: the class name (column 5) is empty; "
                "fill it in or remove the line"
            )
        rows.append(values)
        names.append(name)
    if not rows:
        raise InputError(f"{source} contains no data rows; check the file")

    class_names = tuple(dict.fromkeys(names))
    index = {name: k for k, name in enumerate(class_names)}
    features = torch.tensor(rows, dtype=torch.float32)
    labels = torch.tensor([index[name] for name in names], dtype=torch.int64)
    return IrisData(features, labels, class_names)


def _parse_float(cell, source, line_no, col, allow_nan=False):
    text = cell.strip()
    try:
        value = float(text)
    except ValueError:
        if allow_nan and text == "":
            return math.nan
        shown = repr(text) if text else "an empty cell"
        raise InputError(
            f"{source}, line {line_no}, column {col}: {shown} is not a number; "
            "fix the cell"
            + (
                " or pass missing='nan' (--missing nan) to treat it as missing"
                if text == ""
                else ""
            )
        ) from None
    if not math.isfinite(value) and not (allow_nan and math.isnan(value)):
        raise InputError(
            f"{source}, line {line_no}, column {col}: {text!r} is not finite; "
            "replace it with a finite number"
            + (
                " or pass missing='nan' (--missing nan) to treat NaN as missing"
                if math.isnan(value)
                else ""
            )
        )
    return value


def read_matrix(path, *, missing=None):
    """Read a numeric matrix from a CSV, TSV or NumPy ``.npy`` file.

    A first row in which no cell is a number is taken as a header and skipped.
    The delimiter is a tab for ``.tsv`` and ``.tab`` files, a comma otherwise
    (or a tab when the first line contains tabs but no commas).

    Parameters
    ----------
    path : str or Path
        The file to read.
    missing : {None, "nan"}, default=None
        With ``None`` every cell must be a finite number. With ``"nan"``, empty
        cells and NaN are read as NaN, which marks a missing entry; infinity is
        still rejected.

    Returns
    -------
    numpy.ndarray, shape (m, n)
        The matrix, with m >= 2 rows and n >= 2 columns. Integer ``.npy`` data
        keeps its integer dtype; text is read as float64.
    """
    if missing not in (None, "nan"):
        raise InputError(f"missing={missing!r} is not supported; use None or 'nan'")
    path = Path(path)
    if not path.exists():
        raise InputError(f"input file {str(path)!r} not found; check the path")
    if path.is_dir():
        raise InputError(f"input path {str(path)!r} is a folder; give a matrix file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(
            f"cannot read input file {str(path)!r}: {exc.strerror}; "
            "check its permissions"
        ) from None

    if path.suffix.lower() == ".npy":
        matrix = _load_npy(raw, path, missing)
    else:
        matrix = _parse_text_matrix(raw, path, missing)
    _check_shape(matrix, path)
    return matrix


def _load_npy(raw, path, missing):
    if not raw.startswith(NPY_MAGIC):
        raise InputError(
            f"{str(path)!r} does not start with the .npy header; save the matrix with "
            "numpy.save, or give a CSV or TSV file a .csv or .tsv name"
        )
    try:
        array = np.load(io.BytesIO(raw), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        if "allow_pickle" in str(exc):
            raise InputError(
                f"{str(path)!r} contains pickled Python objects, which gradfit does "
                "not load because unpickling can run code; save a numeric array "
                "with numpy.save"
            ) from None
        raise InputError(
            f"{str(path)!r} is not a readable .npy file ({exc}); "
            "save it with numpy.save"
        ) from None
    if not isinstance(array, np.ndarray) or array.ndim != 2:
        shape = getattr(array, "shape", None)
        raise InputError(
            f"{str(path)!r} contains an array of shape {shape}; a 2-D matrix is needed"
        )
    if array.dtype.kind not in "iuf":
        raise InputError(
            f"{str(path)!r} contains dtype {array.dtype}; "
            "a real numeric matrix is needed"
        )
    if array.dtype.kind == "f":
        bad = ~np.isfinite(array)
        if missing == "nan":
            bad &= ~np.isnan(array)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            hint = (
                " or pass --missing nan to treat NaN as missing"
                if np.isnan(array[i, j])
                else ""
            )
            raise InputError(
                f"{str(path)!r}, row {i + 1}, column {j + 1}: {array[i, j]} is not "
                f"finite ({int(bad.sum())} such cells); replace them{hint}"
            )
    return array


def _parse_text_matrix(raw, path, missing):
    source = str(path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(
            f"{source!r} is not a UTF-8 text file; give a CSV, TSV or .npy file"
        ) from None
    lines = text.splitlines()
    first = next((line for line in lines if line.strip()), "")
    if path.suffix.lower() in (".tsv", ".tab") or ("\t" in first and "," not in first):
        delimiter = "\t"
    else:
        delimiter = ","

    rows = [
        (line_no, row)
        for line_no, row in read_csv_lines(lines, delimiter, source)
        if not _is_blank_line(row)
    ]
    if rows and len(rows[0][1]) == 1:
        _check_single_cell(rows[0][1][0], source, rows[0][0], delimiter)
    if rows and _is_header(rows[0][1]):
        rows = rows[1:]
    if not rows:
        raise InputError(
            f"{source!r} contains no data rows; give a file with a numeric matrix"
        )

    width = len(rows[0][1])
    values = []
    allow_nan = missing == "nan"
    for line_no, row in rows:
        if len(row) != width:
            raise InputError(
                f"{source}, line {line_no}: found {len(row)} columns where the first "
                f"data row has {width}; every row needs the same number of cells"
            )
        if width == 1:
            _check_single_cell(row[0], source, line_no, delimiter)
        values.append(
            [
                _parse_float(c, source, line_no, j, allow_nan)
                for j, c in enumerate(row, 1)
            ]
        )
    return np.array(values, dtype=np.float64)


def _check_single_cell(cell, source, line_no, delimiter):
    """Raise InputError for a one-cell row that another delimiter would split.

    A file of numbers separated by semicolons, bars or spaces reads as one
    column of text cells, so the error names the delimiter instead of the cell.
    """
    pieces = re.split(r"[;|\s]+", cell.strip())
    if len(pieces) < 2:
        return
    for piece in pieces:
        try:
            float(piece)
        except ValueError:
            return
    name = "a comma" if delimiter == "," else "a tab"
    raise InputError(
        f"{source}, line {line_no}: {cell!r} is one cell because the cells are "
        f"split at {name}; save the file with commas (.csv) or tabs (.tsv) "
        "between cells"
    )


def read_csv_lines(lines, delimiter, source):
    """Parse ``lines`` (without line ends) as CSV; return (line number, cells) pairs.

    A quoted cell may not span lines: csv.reader would join the lines without
    their line break and shift every later line number, so it raises
    InputError naming the line where the quote opens.
    """
    reader = csv.reader(lines, delimiter=delimiter)
    rows = []
    line_no = 0
    for row in csv_rows(reader, source):
        if reader.line_num != line_no + 1:
            raise InputError(
                f"{source}, line {line_no + 1}: a quoted cell is not closed on its "
                'line; add the closing " or remove the opening one'
            )
        line_no = reader.line_num
        rows.append((line_no, row))
    return rows


def csv_rows(reader, source, first_line_no=1):
    """Yield the rows of a csv.reader, raising InputError for a csv.Error.

    ``first_line_no`` is the file's line number of the reader's first line.
    """
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            line_no = first_line_no + reader.line_num - 1
            raise InputError(
                f"{source}, line {line_no}: the line is not valid CSV "
                f"({exc}); fix the line"
            ) from None
        yield row


def _is_blank_line(row):
    """Return True for a line with no cells at all; ",," is a row of empty cells."""
    return len(row) == 0 or (len(row) == 1 and not row[0].strip())


def _is_header(row):
    """Return True when none of the non-empty cells of ``row`` parses as a number."""
    cells = [c.strip() for c in row if c.strip()]
    if not cells:
        return False
    for cell in cells:
        try:
            float(cell)
        except ValueError:
            continue
        return False
    return True


def _check_shape(matrix, path):
    m, n = matrix.shape
    if m == 0 or n == 0:
        raise InputError(
            f"{str(path)!r} contains an empty matrix ({m}x{n}); give a non-empty one"
        )
    if m < 2 or n < 2:
        raise InputError(
            f"{str(path)!r} contains a {m}x{n} matrix; "
            "factorising needs at least 2 rows and 2 columns"
        )


def md5_hex(data):
    return hashlib.md5(data).hexdigest()
