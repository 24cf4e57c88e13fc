"""Rating triples (row id, column id, rating) read from CSV or TSV files.

Ids are kept as the exact strings written in the file, so "007" and "7" are two
different users. Each kind of id is numbered 0, 1, 2, ... in order of first
appearance, and the numbering is returned with the ratings.
"""

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data import csv_rows
from .errors import InputError

__all__ = ["DUPLICATE_POLICIES", "Ratings", "read_ratings"]

#: Ways to treat a (row, column) pair rated more than once.
DUPLICATE_POLICIES = ("error", "mean", "last")

# Text is parsed in blocks of about this many characters, which bounds the
# memory taken by the per-field strings of one block.
_BLOCK_CHARS = 1 << 24

# At most this many offending lines are listed in one error message.
_MAX_LISTED = 5


@dataclass(frozen=True, eq=False)
class Ratings:
    """Observed entries of a ratings matrix, with the ids of its rows and columns.

    Attributes
    ----------
    rows : numpy.ndarray, shape (N,), integer
        Row index of each rating, ``0 <= rows[k] < len(row_ids)``.
    cols : numpy.ndarray, shape (N,), integer
        Column index of each rating, ``0 <= cols[k] < len(col_ids)``.
    values : numpy.ndarray, shape (N,), floating
        The ratings, all finite, in the file's units.
    row_ids : tuple of str
        ``row_ids[i]`` is the id of row ``i`` (a user, say).
    col_ids : tuple of str
        ``col_ids[j]`` is the id of column ``j`` (an item, say).
    """

    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    row_ids: tuple
    col_ids: tuple

    def __post_init__(self):
        _check_ratings(self)

    def __len__(self):
        return len(self.values)

    @property
    def n_rows(self):
        """Number of row ids."""
        return len(self.row_ids)

    @property
    def n_cols(self):
        """Number of column ids."""
        return len(self.col_ids)


def _check_ratings(ratings):
    rows, cols, values = ratings.rows, ratings.cols, ratings.values
    for name, array in (("rows", rows), ("cols", cols), ("values", values)):
        if not isinstance(array, np.ndarray) or array.ndim != 1:
            raise InputError(f"Ratings.{name} must be a 1-D numpy array")
    if not len(rows) == len(cols) == len(values):
        raise InputError(
            f"Ratings arrays differ in length: rows {len(rows)}, cols {len(cols)}, "
            f"values {len(values)}; give one row, column and value per rating"
        )
    if rows.dtype.kind not in "iu" or cols.dtype.kind not in "iu":
        raise InputError(
            f"Ratings.rows and Ratings.cols must be integer arrays, got {rows.dtype} "
            f"and {cols.dtype}"
        )
    if values.dtype.kind != "f":
        raise InputError(f"Ratings.values must be floating point, got {values.dtype}")
    for name, index, ids in (
        ("rows", rows, ratings.row_ids),
        ("cols", cols, ratings.col_ids),
    ):
        if len(index) and (index.min() < 0 or index.max() >= len(ids)):
            raise InputError(
                f"Ratings.{name} contains indices outside [0, {len(ids)}); "
                f"every index must address one of the {len(ids)} ids"
            )
    if not np.isfinite(values).all():
        k = int(np.flatnonzero(~np.isfinite(values))[0])
        raise InputError(f"rating {k} is {values[k]}, not finite; give finite ratings")


def read_ratings(
    path,
    *,
    row="user",
    col="item",
    value="rating",
    delimiter=None,
    duplicates="error",
    scale=None,
):
    """Read rating triples from a CSV or TSV file with a header line.

    The columns are found by name in the header line; other columns are
    ignored. The delimiter is a comma for ``.csv`` files and a tab for
    ``.tsv`` and ``.tab`` files; for other names it is guessed from the header
    line. Blank lines are skipped. Ids are the cells' exact text.

    Parameters
    ----------
    path : str or Path
        The file to read, UTF-8 text.
    row, col, value : str, default="user", "item", "rating"
        Header names of the row id, column id and rating columns.
    delimiter : str, optional
        One character that separates cells; overrides the guess.
    duplicates : {"error", "mean", "last"}, default="error"
        What to do with a (row, column) pair rated on more than one line:
        raise InputError naming the pair and two of its lines, keep the mean
        of its ratings, or keep the rating on the last of its lines.
    scale : tuple of (float, float), optional
        The rating scale ``(low, high)``. A rating outside it raises
        InputError listing the lines; no rating is clipped.

    Returns
    -------
    Ratings
        One entry per distinct (row, column) pair, in order of first
        appearance, with ratings as float64. Row and column ids are numbered
        in order of first appearance.

    Raises
    ------
    InputError
        If two of ``row``, ``col`` and ``value`` are equal, if the file is
        missing, unreadable, not UTF-8 or empty, lacks one of the named
        columns, has a line with the wrong number of cells, an empty id, a
        rating that is missing or not a finite number, a duplicate pair with
        ``duplicates="error"``, or a rating outside ``scale``.
    """
    if duplicates not in DUPLICATE_POLICIES:
        raise InputError(
            f"duplicates={duplicates!r} is not a policy; use one of "
            + ", ".join(repr(p) for p in DUPLICATE_POLICIES)
        )
    scale = _check_scale(scale)
    if len({row, col, value}) < 3:
        raise InputError(
            f"row={row!r}, col={col!r} and value={value!r} must name three "
            "different columns"
        )
    if delimiter is not None and (
        not isinstance(delimiter, str) or len(delimiter) != 1
    ):
        raise InputError(f"delimiter={delimiter!r} is invalid; use one character")

    path = Path(path)
    source = str(path)
    file = _open_text(path)
    with file:
        parser = _TripleParser(file, source, (row, col, value), delimiter)
        try:
            entries = parser.parse()
        except UnicodeDecodeError:
            line_no = _first_invalid_utf8_line(path)
            raise InputError(
                f"{source!r}, line {line_no}: the file is not UTF-8 text; convert it "
                "to UTF-8"
            ) from None

    rows, cols, values, lines = entries
    if scale is not None:
        _check_in_scale(values, lines, scale, source)
    rows, cols, values = _resolve_duplicates(
        rows, cols, values, lines, parser, duplicates, source
    )
    return Ratings(rows, cols, values, tuple(parser.row_index), tuple(parser.col_index))


def _first_invalid_utf8_line(path):
    """Return the 1-based line of the first byte of ``path`` that is not UTF-8.

    The parser decodes in blocks, so its line count can lag behind the bad byte.
    """
    raw = path.read_bytes()
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return raw.count(b"\n", 0, exc.start) + 1
    return None


def _check_scale(scale):
    if scale is None:
        return None
    try:
        low, high = (float(x) for x in scale)
    except (TypeError, ValueError):
        raise InputError(
            f"scale={scale!r} is invalid; give two numbers (low, high)"
        ) from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise InputError(
            f"scale=({low:g}, {high:g}) is invalid; give finite numbers with low < high"
        )
    return low, high


def _open_text(path):
    if not path.exists():
        raise InputError(f"ratings file {str(path)!r} not found; check the path")
    if path.is_dir():
        raise InputError(
            f"ratings path {str(path)!r} is a folder; give a CSV or TSV file"
        )
    try:
        # newline="" keeps line ends inside quoted cells, as the csv module requires.
        return open(path, encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise InputError(
            f"cannot read ratings file {str(path)!r}: {exc.strerror}; "
            "check its permissions"
        ) from None


class _TripleParser:
    """Parse the body of a ratings file block by block into index and value arrays.

    Ids are numbered by dictionaries that grow as new ids appear, so the
    numbering follows first appearance across blocks.
    """

    def __init__(self, file, source, names, delimiter):
        self.file = file
        self.source = source
        self.names = names
        self.delimiter = delimiter
        self.row_index = {}
        self.col_index = {}
        self.line_no = 0

    def parse(self):
        header = self._read_header()
        self.positions = self._find_columns(header)
        self.width = len(header)

        chunks = []
        while True:
            lines = self.file.readlines(_BLOCK_CHARS)
            if not lines:
                break
            chunks.append(self._parse_block(lines, self.line_no + 1))
            self.line_no += len(lines)
        chunks = [c for c in chunks if len(c[0])]
        if not chunks:
            raise InputError(
                f"{self.source} has a header line but no ratings; give a file with "
                "one rating per line"
            )
        return tuple(np.concatenate(parts) for parts in zip(*chunks, strict=True))

    def _read_header(self):
        for line in self.file:
            self.line_no += 1
            if line.strip():
                break
        else:
            raise InputError(
                f"{self.source} is empty; give a CSV or TSV file with a header line "
                "and one rating per line"
            )
        if self.delimiter is None:
            self.delimiter = self._guess_delimiter(line)
        reader = csv.reader([line], delimiter=self.delimiter)
        return next(csv_rows(reader, self.source, self.line_no))

    def _guess_delimiter(self, header):
        suffix = Path(self.source).suffix.lower()
        if suffix == ".csv":
            return ","
        if suffix in (".tsv", ".tab"):
            return "\t"
        counts = {d: header.count(d) for d in ",\t;|"}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","

    def _find_columns(self, header):
        found = [cell.strip() for cell in header]
        missing = [name for name in self.names if name not in found]
        if missing:
            shown = ", ".join(repr(c) for c in found)
            raise InputError(
                f"{self.source}: the header has no column "
                + " or ".join(repr(m) for m in missing)
                + f" (columns found: {shown}, delimiter {self.delimiter!r}); "
                "name the columns with row=, col=, value= (--row, --col, --value)"
            )
        repeated = [name for name in self.names if found.count(name) > 1]
        if repeated:
            raise InputError(
                f"{self.source}: the header names {repeated[0]!r} more than once; "
                "give each column its own name"
            )
        return [found.index(name) for name in self.names]

    def _parse_block(self, lines, first_line_no):
        text = "".join(lines)
        if '"' in text:
            return self._parse_quoted(lines, first_line_no)

        if "\r" in text:
            stripped = [line.rstrip("\r\n") for line in lines]
        else:
            stripped = text.split("\n")
            if not lines[-1].endswith("\n"):
                stripped.append("")
            stripped.pop()
        line_nos = np.arange(first_line_no, first_line_no + len(lines), dtype=np.int64)
        if "" in stripped or any(map(str.isspace, stripped)):
            keep = [k for k, s in enumerate(stripped) if s.strip()]
            stripped = [stripped[k] for k in keep]
            line_nos = line_nos[keep]
        if not stripped:
            return self._convert([], self.width, line_nos)

        fields = self.delimiter.join(stripped).split(self.delimiter)
        if len(fields) != len(stripped) * self.width:
            self._raise_width(stripped, line_nos)
        return self._convert(fields, self.width, line_nos)

    def _parse_quoted(self, lines, first_line_no):
        # Quoted cells may hold delimiters or line ends, so the csv module splits them.
        reader = csv.reader(lines, delimiter=self.delimiter)
        fields, line_nos = [], []
        start = first_line_no
        for cells in csv_rows(reader, self.source, first_line_no):
            if any(c.strip() for c in cells):
                if len(cells) != self.width:
                    self._raise_bad_width(start, len(cells))
                fields.extend(cells)
                line_nos.append(start)
            start = first_line_no + reader.line_num
        return self._convert(fields, self.width, np.array(line_nos, dtype=np.int64))

    def _raise_width(self, stripped, line_nos):
        for s, line_no in zip(stripped, line_nos, strict=True):
            n_cells = s.count(self.delimiter) + 1
            if n_cells != self.width:
                self._raise_bad_width(int(line_no), n_cells)

    def _raise_bad_width(self, line_no, n_cells):
        raise InputError(
            f"{self.source}, line {line_no}: found {n_cells} cells where the header "
            f"has {self.width}; every line needs one cell per column"
        )

    def _convert(self, fields, width, line_nos):
        i_row, i_col, i_value = self.positions
        rows = self._number_ids(fields[i_row::width], self.row_index, line_nos, 0)
        cols = self._number_ids(fields[i_col::width], self.col_index, line_nos, 1)
        values = self._parse_values(fields[i_value::width], line_nos)
        return rows, cols, values, line_nos

    def _number_ids(self, ids, index, line_nos, which):
        if "" in ids:
            line_no = line_nos[ids.index("")]
            raise InputError(
                f"{self.source}, line {line_no}: the {self.names[which]!r} cell is "
                "empty; fill in the id or remove the line"
            )
        # dict.fromkeys and map run in C, so Python code runs once per new id
        # rather than once per line.
        for name in dict.fromkeys(ids):
            if name not in index:
                index[name] = len(index)
        return np.fromiter(map(index.__getitem__, ids), np.int64, len(ids))

    def _parse_values(self, cells, line_nos):
        try:
            values = np.array(cells, dtype=np.float64)
        except ValueError:
            values = None
        if values is not None:
            bad = np.flatnonzero(~np.isfinite(values))
            if len(bad) == 0:
                return values
            k = int(bad[0])
        else:
            k = next(k for k, c in enumerate(cells) if not _is_float(c))
        problem = (
            f"is {cells[k]!r}, not a finite number" if cells[k].strip() else "is empty"
        )
        raise InputError(
            f"{self.source}, line {line_nos[k]}: the {self.names[2]!r} cell {problem}; "
            "fix or remove the line"
        )


def _is_float(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _check_in_scale(values, lines, scale, source):
    low, high = scale
    bad = np.flatnonzero((values < low) | (values > high))
    if len(bad) == 0:
        return
    listed = ", ".join(f"line {lines[k]} ({values[k]:g})" for k in bad[:_MAX_LISTED])
    more = f" and {len(bad) - _MAX_LISTED} more" if len(bad) > _MAX_LISTED else ""
    raise InputError(
        f"{source}: {len(bad)} ratings lie outside the scale [{low:g}, {high:g}]: "
        f"{listed}{more}; fix them or declare a wider scale"
    )


def _resolve_duplicates(rows, cols, values, lines, parser, policy, source):
    """Merge entries that share a (row, column) pair according to ``policy``."""
    keys = rows * len(parser.col_index) + cols
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    repeat = sorted_keys[1:] == sorted_keys[:-1]
    if not repeat.any():
        return rows, cols, values

    if policy == "error":
        _raise_duplicate(rows, cols, lines, order, repeat, parser, source)

    # Groups of equal keys are contiguous in sorted order and keep file order.
    starts = np.flatnonzero(np.concatenate(([True], ~repeat)))
    first = order[starts]
    if policy == "mean":
        counts = np.diff(np.append(starts, len(order)))
        merged = np.add.reduceat(values[order], starts) / counts
    else:
        ends = np.append(starts[1:], len(order)) - 1
        merged = values[order[ends]]
    keep = np.argsort(first, kind="stable")
    return rows[first[keep]], cols[first[keep]], merged[keep]


def _raise_duplicate(rows, cols, lines, order, repeat, parser, source):
    later = order[1:][repeat]
    k = int(later.min())
    # In sorted order the entry before the first repeat is the pair's first line.
    earlier = int(order[np.flatnonzero(order == k)[0] - 1])
    row_ids = list(parser.row_index)
    col_ids = list(parser.col_index)
    raise InputError(
        f"{source}: the pair ({row_ids[rows[k]]!r}, {col_ids[cols[k]]!r}) is rated "
        f"on line {lines[earlier]} and again on line {lines[k]} ({len(later)} repeated "
        "pairs in all); remove the repeats or pick duplicates='mean' or 'last' "
        "(--duplicates)"
    )
