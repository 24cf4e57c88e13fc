import numpy as np
import pytest

from gradfit import InputError, Ratings, read_ratings


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_string_ids_stay_distinct(tmp_path):
    path = write(tmp_path, "r.csv", "user,item,rating\n007,a,3\n7,a,4\n007,b,5\n")
    ratings = read_ratings(path)
    assert ratings.row_ids == ("007", "7")
    assert ratings.col_ids == ("a", "b")
    np.testing.assert_array_equal(ratings.rows, [0, 1, 0])
    np.testing.assert_array_equal(ratings.cols, [0, 0, 1])
    np.testing.assert_allclose(ratings.values, [3.0, 4.0, 5.0], rtol=0, atol=0)


def test_tsv_by_extension_and_extra_columns(tmp_path):
    text = "ts\titem\tuser\trating\n1\tx\tu1\t2.5\n\n2\ty\tu2\t4\n"
    ratings = read_ratings(write(tmp_path, "r.tsv", text))
    assert ratings.row_ids == ("u1", "u2")
    assert ratings.col_ids == ("x", "y")
    np.testing.assert_allclose(ratings.values, [2.5, 4.0], rtol=0, atol=0)


@pytest.mark.parametrize("end", ["\n", "\r\n"])
def test_line_ends_and_no_final_newline(tmp_path, end):
    text = end.join(["user,item,rating", "a,x,1", "  ", "b,y,2"])
    path = tmp_path / "r.csv"
    path.write_bytes(text.encode())
    ratings = read_ratings(path)
    assert ratings.row_ids == ("a", "b")
    assert ratings.col_ids == ("x", "y")
    np.testing.assert_allclose(ratings.values, [1.0, 2.0], rtol=0, atol=0)


def test_blank_line_keeps_line_numbers(tmp_path):
    path = write(tmp_path, "r.csv", "user,item,rating\na,x,1\n\nb,y,oops\n")
    with pytest.raises(InputError, match="line 4:"):
        read_ratings(path)


def test_delimiter_guessed_from_header(tmp_path):
    text = "userId;movieId;rating\n1;10;3\n2;10;1\n"
    ratings = read_ratings(write(tmp_path, "r.txt", text), row="userId", col="movieId")
    assert ratings.row_ids == ("1", "2")
    assert ratings.col_ids == ("10",)


def test_quoted_ids_keep_delimiters(tmp_path):
    text = 'user,item,rating\n"a,b",x,1\n"c",x,2\n'
    ratings = read_ratings(write(tmp_path, "r.csv", text))
    assert ratings.row_ids == ("a,b", "c")
    np.testing.assert_allclose(ratings.values, [1.0, 2.0], rtol=0, atol=0)


def test_many_lines_across_blocks(tmp_path, monkeypatch):
    import gradfit.ratings as module

    monkeypatch.setattr(module, "_BLOCK_CHARS", 64)
    lines = [f"u{k % 7},i{k % 5},{k % 10}\n" for k in range(35)]
    ratings = read_ratings(
        write(tmp_path, "r.csv", "user,item,rating\n" + "".join(lines))
    )
    assert len(ratings) == 35
    assert ratings.row_ids == tuple(f"u{k}" for k in range(7))
    np.testing.assert_allclose(
        ratings.values, [k % 10 for k in range(35)], rtol=0, atol=0
    )


DUPLICATED = "user,item,rating\na,x,3\nb,y,4\na,x,5\na,x,1\n"


def test_duplicate_error_names_both_lines(tmp_path):
    with pytest.raises(InputError) as info:
        read_ratings(write(tmp_path, "d.csv", DUPLICATED))
    message = str(info.value)
    assert "('a', 'x')" in message
    assert "line 2 and again on line 4" in message


@pytest.mark.parametrize("policy, expected", [("mean", 3.0), ("last", 1.0)])
def test_duplicate_policies(tmp_path, policy, expected):
    ratings = read_ratings(write(tmp_path, "d.csv", DUPLICATED), duplicates=policy)
    assert len(ratings) == 2
    np.testing.assert_array_equal(ratings.rows, [0, 1])
    np.testing.assert_allclose(ratings.values, [expected, 4.0], rtol=0, atol=1e-12)


def test_scale_lists_lines_and_count(tmp_path):
    lines = "".join(f"u{k},x,{9 if k % 2 else 3}\n" for k in range(14))
    with pytest.raises(InputError) as info:
        read_ratings(
            write(tmp_path, "s.csv", "user,item,rating\n" + lines), scale=(1, 5)
        )
    message = str(info.value)
    assert "7 ratings lie outside the scale [1, 5]" in message
    assert "line 3 (9)" in message
    assert "and 2 more" in message


@pytest.mark.parametrize(
    "body, fragment",
    [
        ("a,x,\n", "line 2: the 'rating' cell is empty"),
        ("a,x,3\nb,y,four\n", "line 3: the 'rating' cell is 'four'"),
        ("a,x,nan\n", "line 2: the 'rating' cell is 'nan'"),
        ("a,x,3\nb,y\n", "line 3: found 2 cells where the header has 3"),
        (",x,3\n", "line 2: the 'user' cell is empty"),
        ("", "has a header line but no ratings"),
    ],
)
def test_bad_lines_are_named(tmp_path, body, fragment):
    with pytest.raises(InputError) as info:
        read_ratings(write(tmp_path, "b.csv", "user,item,rating\n" + body))
    assert fragment in str(info.value)


def test_missing_column_lists_header(tmp_path):
    path = write(tmp_path, "h.csv", "userId,movieId,rating\n1,2,3\n")
    with pytest.raises(InputError) as info:
        read_ratings(path)
    message = str(info.value)
    assert "no column 'user' or 'item'" in message
    assert "'userId', 'movieId', 'rating'" in message


def test_missing_empty_and_folder_inputs(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_ratings(tmp_path / "none.csv")
    with pytest.raises(InputError, match="is empty"):
        read_ratings(write(tmp_path, "e.csv", "\n\n"))
    with pytest.raises(InputError, match="is a folder"):
        read_ratings(tmp_path)


def test_non_utf8_file_is_rejected(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("user,item,rating\nJos\u00e9,x,1\n".encode("latin-1"))
    with pytest.raises(InputError, match="line 2: the file is not UTF-8"):
        read_ratings(path)


def test_invalid_arguments(tmp_path):
    path = write(tmp_path, "r.csv", "user,item,rating\na,x,1\n")
    with pytest.raises(InputError, match="duplicates='max'"):
        read_ratings(path, duplicates="max")
    with pytest.raises(InputError, match="low < high"):
        read_ratings(path, scale=(5, 1))
    with pytest.raises(InputError, match="three different columns"):
        read_ratings(path, col="user")


def test_ratings_reject_out_of_range_index():
    with pytest.raises(InputError, match="outside"):
        Ratings(
            np.array([0, 2]), np.array([0, 0]), np.array([1.0, 2.0]), ("a", "b"), ("x",)
        )
