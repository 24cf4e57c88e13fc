import json

import numpy as np
import pytest

from cli_helpers import assert_one_line_error, run_cli


@pytest.fixture(scope="module")
def ratings_file(tmp_path_factory):
    g = np.random.default_rng(0)
    m, n, rank = 60, 40, 2
    A = 3.0 + g.normal(size=(m, rank)) @ g.normal(size=(rank, n)) / 2
    lines = ["userId,movieId,rating,timestamp"]
    for u in range(m):
        for i in range(n):
            if g.random() < 0.7:
                value = A[u, i] + 0.05 * g.normal()
                lines.append(f"{u:03d},m{i},{value:.5f},0")
    path = tmp_path_factory.mktemp("data") / "ratings.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_complete_writes_model(ratings_file, tmp_path):
    out = tmp_path / "fit"
    status, stdout, stderr = run_cli(
        "complete",
        ratings_file,
        "--rank",
        2,
        "--row",
        "userId",
        "--col",
        "movieId",
        "--out",
        out,
        "--quiet",
    )
    assert status == 0, stderr
    assert "test RMSE" in stdout
    assert "test MAE" in stdout
    summary = json.loads((out / "summary.json").read_text())
    ids = json.loads((out / "ids.json").read_text())
    U, V = np.load(out / "U.npy"), np.load(out / "V.npy")
    assert U.shape == (len(ids["row_ids"]), 2)
    assert V.shape == (len(ids["col_ids"]), 2)
    assert np.load(out / "row_bias.npy").shape == (len(ids["row_ids"]),)
    assert np.load(out / "col_bias.npy").shape == (len(ids["col_ids"]),)
    assert ids["row_ids"][0] == "000"
    # Noise 0.05 on a rank-2 matrix with 70 % of cells observed.
    assert summary["test_rmse"] < 0.05 * 1.3
    assert summary["settings"]["rank"] == 2
    assert summary["epochs"] == len(summary["losses"])


def test_complete_help_has_example():
    status, stdout, _ = run_cli("complete", "--help")
    assert status == 0
    assert "example:" in stdout
    assert "gradfit complete ratings.csv --rank 10" in stdout


BAD_INPUTS = [
    ("missing.csv", None, ("not found",)),
    ("h.csv", "a,b,c\n1,2,3\n", ("no column 'user'", "'a', 'b', 'c'")),
    ("v.csv", "user,item,rating\nx,y,good\n", ("line 2", "'good'")),
    ("e.csv", "user,item,rating\nx,y,\n", ("line 2", "empty")),
    (
        "d.csv",
        "user,item,rating\nx,y,1\nz,y,2\nx,y,3\n",
        ("('x', 'y')", "line 2", "line 4"),
    ),
    ("n.csv", "", ("is empty",)),
    ("w.csv", "user,item,rating\nx,y,1,2\n", ("line 2", "found 4 cells")),
    ("u.csv", "user,user,item,rating\na,b,x,1\n", ("names 'user' more than once",)),
    (
        "f.csv",
        'user,item,rating\na,x,1\nb,"' + "y" * 200_000 + '",2\n',
        ("line 3: the line is not valid CSV",),
    ),
]


@pytest.mark.parametrize("name, text, fragments", BAD_INPUTS)
def test_bad_file_is_one_line(tmp_path, name, text, fragments):
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    out = tmp_path / "model"
    status, _, stderr = run_cli("complete", path, "--rank", 1, "--quiet", "--out", out)
    assert_one_line_error(status, stderr, 2, "gradfit complete: error:", *fragments)
    assert not out.exists()


def test_non_utf8_file_is_one_line(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("user,item,rating\nJos\u00e9,x,1\n".encode("latin-1"))
    status, _, stderr = run_cli("complete", path, "--rank", 1)
    assert_one_line_error(status, stderr, 2, "not UTF-8")


def test_scale_violation_is_one_line(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("user,item,rating\na,x,1\nb,x,6\nc,y,3\n")
    status, _, stderr = run_cli("complete", path, "--rank", 1, "--scale", 1, 5)
    assert_one_line_error(status, stderr, 2, "outside the scale [1, 5]", "line 3 (6)")


@pytest.mark.parametrize(
    "options, fragments",
    [
        (["--test-fraction", "1"], ("test_fraction=1.0",)),
        (["--test-fraction", "0"], ("test_fraction=0.0",)),
        (["--rank", "0"], ("'0' is below 1",)),
        (["--lr", "2"], ("lr=2.0",)),
        (["--duplicates", "max"], ("invalid choice",)),
        (["--device", "nowhere"], ("device='nowhere'",)),
        (["--value", "score"], ("no column 'score'",)),
        (["--scale", "5", "1"], ("scale=(5, 1)",)),
        (["--tol", "-1"], ("tol=-1.0",)),
        (["--delimiter", "ab"], ("delimiter='ab'",)),
        (["--max-epochs", "x"], ("'x' is not an integer",)),
    ],
)
def test_bad_options_are_one_line(ratings_file, options, fragments):
    args = [
        "complete",
        ratings_file,
        "--rank",
        1,
        "--row",
        "userId",
        "--col",
        "movieId",
    ]
    status, _, stderr = run_cli(*args, *options)
    assert_one_line_error(status, stderr, 2, *fragments)


def test_duplicates_mean_accepted(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("user,item,rating\nx,y,1\nz,y,2\nx,y,3\nz,w,1\nx,w,2\n")
    status, stdout, stderr = run_cli(
        "complete",
        path,
        "--rank",
        1,
        "--duplicates",
        "mean",
        "--test-fraction",
        0.25,
    )
    assert status == 0, stderr
    assert "4 (2 rows x 2 columns)" in stdout


def test_unwritable_output_is_one_line(ratings_file, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    status, _, stderr = run_cli(
        "complete",
        ratings_file,
        "--rank",
        1,
        "--row",
        "userId",
        "--col",
        "movieId",
        "--out",
        blocker / "sub",
    )
    assert_one_line_error(status, stderr, 2, "cannot create output folder")


def test_overflow_exits_one(tmp_path):
    path = tmp_path / "big.csv"
    rows = [f"u{u},i{i},{(u + i) % 3 + 1}e30" for u in range(4) for i in range(3)]
    path.write_text("user,item,rating\n" + "\n".join(rows) + "\n")
    status, _, stderr = run_cli("complete", path, "--rank", 1, "--test-fraction", 0.2)
    assert_one_line_error(status, stderr, 1, "diverged", "float32")


def test_rating_beyond_dtype_writes_nothing(tmp_path):
    path = tmp_path / "huge.csv"
    path.write_text("user,item,rating\na,x,1e300\nb,y,2\na,y,1\nb,x,3\n")
    out = tmp_path / "model"
    status, _, stderr = run_cli("complete", path, "--rank", 1, "--out", out)
    assert_one_line_error(status, stderr, 2, "magnitude 1e+300", "float64")
    assert not out.exists()


def test_bad_rank_leaves_no_folder(tmp_path):
    path = tmp_path / "r.csv"
    rows = [f"u{k % 7},i{k % 5},{k % 4 + 1}" for k in range(35)]
    path.write_text("user,item,rating\n" + "\n".join(rows) + "\n")
    out = tmp_path / "model"
    status, _, err = run_cli("complete", path, "--rank", "1000", "--out", out)
    assert_one_line_error(status, err, 2, "rank=1000 is out of range")
    assert not out.exists()
