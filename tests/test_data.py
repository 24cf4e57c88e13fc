import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from gradfit import IRIS_MD5, InputError, load_iris, read_matrix
from gradfit.data import iris_bytes, parse_iris

SHARED_IRIS = Path(__file__).resolve().parents[2] / "shared" / "data" / "iris.data"


def test_iris_file_md5():
    assert hashlib.md5(iris_bytes()).hexdigest() == IRIS_MD5


def test_iris_shape_and_labels():
    iris = load_iris()
    assert iris.features.shape == (150, 4)
    assert iris.features.dtype == torch.float32
    assert iris.labels.shape == (150,)
    assert iris.labels.dtype == torch.int64
    assert iris.class_names == ("Iris-setosa", "Iris-versicolor", "Iris-virginica")
    assert torch.equal(torch.bincount(iris.labels), torch.tensor([50, 50, 50]))
    # Rows are grouped by class in the file: 50 of each in order.
    assert torch.equal(iris.labels, torch.arange(3).repeat_interleave(50))


def test_iris_uci_variant_rows():
    """Rows 35 and 38 are the UCI values, not the corrected Fisher ones."""
    features = load_iris().features
    expected = torch.tensor([4.9, 3.1, 1.5, 0.1])
    torch.testing.assert_close(features[34], expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(features[37], expected, rtol=0, atol=1e-6)


def test_iris_first_row_values():
    torch.testing.assert_close(
        load_iris().features[0], torch.tensor([5.1, 3.5, 1.4, 0.2]), rtol=0, atol=1e-6
    )


@pytest.mark.skipif(not SHARED_IRIS.exists(), reason="shared data folder not present")
def test_packaged_copy_equals_shared_file():
    assert iris_bytes() == SHARED_IRIS.read_bytes()


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("5.1,3.5,1.4,0.2\n", "expected 5 comma-separated fields, found 4"),
        ("5.1,3.5,x,0.2,Iris-setosa\n", "line 1, column 3: 'x' is not a number"),
        (
            "5.1,3.5,1.4,0.2,Iris-setosa\n5.1,nan,1.4,0.2,Iris-setosa\n",
            "line 2, column 2: 'nan' is not finite",
        ),
        ("5.1,3.5,1.4,0.2,\n", "class name (column 5) is empty"),
        ("\n\n", "contains no data rows"),
    ],
)
def test_parse_iris_rejects(text, fragment):
    with pytest.raises(
        InputError, match=fragment.replace("(", r"\(").replace(")", r"\)")
    ):
        parse_iris(text, source="bad.data")


def test_read_csv_with_header(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("a,b,c\n1,2,3\n4,5,6.5\n")
    np.testing.assert_array_equal(read_matrix(path), [[1, 2, 3], [4, 5, 6.5]])


def test_read_tsv_without_header(tmp_path):
    path = tmp_path / "m.tsv"
    path.write_text("1\t2\n3\t4\n\n")
    np.testing.assert_array_equal(read_matrix(path), [[1, 2], [3, 4]])


def test_read_npy_keeps_integer_dtype(tmp_path):
    path = tmp_path / "m.npy"
    np.save(path, np.arange(6).reshape(2, 3))
    matrix = read_matrix(path)
    assert matrix.dtype.kind == "i"
    np.testing.assert_array_equal(matrix, [[0, 1, 2], [3, 4, 5]])


def test_read_missing_as_nan(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("1,,3\n4,nan,6\n")
    matrix = read_matrix(path, missing="nan")
    assert np.isnan(matrix[0, 1])
    assert np.isnan(matrix[1, 1])
    assert matrix[1, 2] == 6.0


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("1,2\n3,abc\n", "line 2, column 2: 'abc' is not a number"),
        ("1,2\n3,nan\n", "line 2, column 2: 'nan' is not finite"),
        ("1,2\n3,inf\n", "line 2, column 2: 'inf' is not finite"),
        ("1,2\n3,\n", "line 2, column 2: an empty cell is not a number"),
        ("1,2\n3,4,5\n", "line 2: found 3 columns where the first data row has 2"),
        ("", "contains no data rows"),
        ("x,y\n", "contains no data rows"),
        ("1,2,3\n", "contains a 1x3 matrix"),
        ("1\n2\n3\n", "contains a 3x1 matrix"),
        ("1;2;3\n4;5;6\n", "line 1: '1;2;3' is one cell because .* at a comma"),
        ("a b\n1 2\n3 4\n", "line 2: '1 2' is one cell"),
        ('1,2\n3,"4\n5,6\n', "line 2: a quoted cell is not closed on its line"),
        ('1,2\n3,"' + "4" * 200_000 + '"\n', "line 2: the line is not valid CSV"),
    ],
)
def test_read_matrix_rejects(tmp_path, content, fragment):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(InputError, match=fragment):
        read_matrix(path)


def test_read_matrix_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_matrix(tmp_path / "nope.csv")


def test_read_npy_rejects_non_finite(tmp_path):
    path = tmp_path / "m.npy"
    np.save(path, np.array([[1.0, np.inf], [2.0, 3.0]]))
    with pytest.raises(InputError, match="row 1, column 2"):
        read_matrix(path)


def test_read_npy_rejects_3d(tmp_path):
    path = tmp_path / "m.npy"
    np.save(path, np.zeros((2, 2, 2)))
    with pytest.raises(InputError, match=r"shape \(2, 2, 2\)"):
        read_matrix(path)


def test_row_of_empty_cells_is_kept(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("1,2\n,\n3,4\n")
    matrix = read_matrix(path, missing="nan")
    assert matrix.shape == (3, 2)
    assert np.isnan(matrix[1]).all()


def test_row_of_empty_cells_rejected_without_missing(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("1,2\n,\n3,4\n")
    with pytest.raises(InputError, match="line 2, column 1: an empty cell"):
        read_matrix(path)


def test_read_npy_rejects_text_with_npy_name(tmp_path):
    path = tmp_path / "m.npy"
    path.write_text("1,2\n3,4\n")
    with pytest.raises(InputError, match="does not start with the .npy header"):
        read_matrix(path)


class _CreateFile:
    """An object whose unpickling creates a file, to detect unpickling."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def test_read_npy_never_unpickles(tmp_path):
    marker = tmp_path / "unpickled"
    array = np.empty((2, 2), dtype=object)
    array[0, 0] = _CreateFile(marker)
    path = tmp_path / "m.npy"
    np.save(path, array, allow_pickle=True)
    with pytest.raises(InputError, match="contains pickled Python objects"):
        read_matrix(path)
    assert not marker.exists()
