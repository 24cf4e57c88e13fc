"""Tests of the ``gradfit factorise`` command: outputs, exit statuses and messages."""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gradfit.cli import main

SRC = Path(__file__).resolve().parents[1] / "src"


def low_rank_csv(path, m=30, n=20, rank=3, seed=0, missing=0.0):
    g = np.random.default_rng(seed)
    A = g.normal(size=(m, rank)) @ g.normal(size=(rank, n)) + 0.05 * g.normal(
        size=(m, n)
    )
    if missing:
        A[g.random(A.shape) < missing] = np.nan
    np.savetxt(path, A, delimiter=",")
    return A


def run_cli(capsys, *argv):
    """Run the command line in this process; return (status, stdout, stderr)."""
    try:
        status = main(["factorise", *map(str, argv)])
    except SystemExit as exc:
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_line_error(err, *fragments):
    assert err.count("\n") == 1
    assert err.startswith("gradfit factorise: error: ")
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err


def test_writes_factors_and_summary(tmp_path, capsys):
    A = low_rank_csv(tmp_path / "a.csv")
    status, out, err = run_cli(
        capsys,
        tmp_path / "a.csv",
        "--rank",
        3,
        "--out",
        tmp_path / "out" / "fit",
        "--tol",
        "1e-10",
    )
    assert status == 0
    assert err == ""
    U = np.loadtxt(tmp_path / "out" / "fit_U.csv", delimiter=",")
    V = np.loadtxt(tmp_path / "out" / "fit_V.csv", delimiter=",")
    assert U.shape == (30, 3)
    assert V.shape == (20, 3)
    summary = json.loads((tmp_path / "out" / "fit.json").read_text())
    assert summary["epochs"] == len(summary["losses"]) - 1
    assert summary["stop_reason"] == "tol"
    assert summary["settings"]["optimizer"] == "scaledgd"
    assert summary["settings"]["lr"] is None
    assert abs(summary["optimum_gap"]) <= 1e-6
    loss = np.sum((A - U @ V.T) ** 2)
    assert loss == pytest.approx(summary["optimum"], rel=1e-6)
    assert "relative gap" in out


@pytest.mark.parametrize("optimizer", ["scaledgd", "lbfgs"])
def test_float32_loss_is_float64_residual(tmp_path, capsys, optimizer):
    # Small noise on a large low-rank part: the float32 expansion of the loss
    # is then off by more than the gap to the optimum.
    g = np.random.default_rng(1)
    A = g.normal(size=(60, 4)) @ g.normal(size=(4, 30))
    A += 0.01 * g.normal(size=(60, 30))
    np.save(tmp_path / "a.npy", A)
    status, out, _ = run_cli(
        capsys,
        tmp_path / "a.npy",
        "--rank",
        4,
        "--dtype",
        "float32",
        "--optimizer",
        optimizer,
        "--out",
        tmp_path / "a",
    )
    assert status == 0
    summary = json.loads((tmp_path / "a.json").read_text())
    U = np.loadtxt(tmp_path / "a_U.csv", delimiter=",")
    V = np.loadtxt(tmp_path / "a_V.csv", delimiter=",")
    residual = np.sum((A - U @ V.T) ** 2)
    assert summary["loss"] == pytest.approx(residual, rel=1e-6)
    assert summary["optimum_gap"] >= 0
    gap = (summary["loss"] - summary["optimum"]) / summary["optimum"]
    assert summary["optimum_gap"] == pytest.approx(gap, rel=1e-12)
    assert f"loss             {summary['loss']:.9g}" in out


def test_help_names_every_summary_key(tmp_path, capsys):
    low_rank_csv(tmp_path / "a.csv")
    status, _, _ = run_cli(
        capsys, tmp_path / "a.csv", "--rank", 3, "--out", tmp_path / "a"
    )
    assert status == 0
    summary = json.loads((tmp_path / "a.json").read_text())
    status, help_text, _ = run_cli(capsys, "--help")
    assert status == 0
    for key in summary:
        assert key in help_text


def test_l2_optimum_not_called_truncated_svd(tmp_path, capsys):
    low_rank_csv(tmp_path / "a.csv")
    status, out, _ = run_cli(
        capsys, tmp_path / "a.csv", "--rank", 3, "--l2", 1, "--out", tmp_path / "a"
    )
    assert status == 0
    summary = json.loads((tmp_path / "a.json").read_text())
    assert f"optimum with l2  {summary['optimum']:.9g}" in out
    assert "truncated SVD" not in out
    assert summary["optimum_gap"] >= 0


def test_missing_nan_fit(tmp_path, capsys):
    low_rank_csv(tmp_path / "b.csv", missing=0.2)
    status, out, err = run_cli(
        capsys,
        tmp_path / "b.csv",
        "--rank",
        3,
        "--missing",
        "nan",
        "--out",
        tmp_path / "b",
        "--optimizer",
        "adam",
    )
    assert status == 0
    summary = json.loads((tmp_path / "b.json").read_text())
    assert summary["optimum"] is None
    assert all(math.isfinite(loss) for loss in summary["losses"])
    assert np.isfinite(np.loadtxt(tmp_path / "b_U.csv", delimiter=",")).all()
    assert "truncated SVD" not in out


def test_default_prefix_is_input_stem_in_cwd(tmp_path, capsys, monkeypatch):
    (tmp_path / "data").mkdir()
    low_rank_csv(tmp_path / "data" / "scores.csv")
    monkeypatch.chdir(tmp_path)
    status, out, _ = run_cli(capsys, Path("data") / "scores.csv", "--rank", 3)
    assert status == 0
    assert sorted(p.name for p in tmp_path.glob("scores*")) == [
        "scores.json",
        "scores_U.csv",
        "scores_V.csv",
    ]
    assert "wrote scores_U.csv" in out


def test_out_ending_in_slash_is_folder(tmp_path, capsys):
    low_rank_csv(tmp_path / "scores.csv")
    out_dir = tmp_path / "fits"
    status, _, _ = run_cli(
        capsys, tmp_path / "scores.csv", "--rank", 3, "--out", f"{out_dir}/"
    )
    assert status == 0
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "scores.json",
        "scores_U.csv",
        "scores_V.csv",
    ]
    assert np.loadtxt(out_dir / "scores_U.csv", delimiter=",").shape == (30, 3)


def test_epochs_is_alias_of_max_epochs(tmp_path, capsys):
    low_rank_csv(tmp_path / "a.csv")
    status, _, err = run_cli(
        capsys, tmp_path / "a.csv", "--rank", 3, "--epochs", 2, "--out", tmp_path / "a"
    )
    assert status == 0
    summary = json.loads((tmp_path / "a.json").read_text())
    assert summary["epochs"] == 2
    assert summary["settings"]["max_epochs"] == 2
    assert err.startswith(
        "gradfit factorise: warning: factorise stopped at max_epochs=2"
    )
    assert err.count("\n") == 1


def test_integer_npy_accepted(tmp_path, capsys):
    np.save(tmp_path / "i.npy", np.arange(20, dtype=np.int64).reshape(5, 4) % 7)
    status, _, _ = run_cli(
        capsys, tmp_path / "i.npy", "--rank", 2, "--out", tmp_path / "i"
    )
    assert status == 0
    assert np.loadtxt(tmp_path / "i_V.csv", delimiter=",").shape == (4, 2)


def test_divergence_exits_1_and_writes_nothing(tmp_path, capsys):
    low_rank_csv(tmp_path / "a.csv")
    status, _, err = run_cli(
        capsys,
        tmp_path / "a.csv",
        "--rank",
        3,
        "--optimizer",
        "gd",
        "--lr",
        10,
        "--out",
        tmp_path / "d",
    )
    assert status == 1
    assert_one_line_error(err, "diverged", "learning rate 10", "use a learning rate of")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        ("1,2\nx,4\n", ["line 2, column 1: 'x' is not a number"]),
        ("1,2\nnan,4\n3,5\n", ["'nan' is not finite", "--missing nan"]),
        ("", ["contains no data rows"]),
        ("1,2,3\n", ["1x3 matrix", "at least 2 rows"]),
        ("1\n2\n3\n", ["3x1 matrix", "2 columns"]),
    ],
)
def test_bad_file_exits_2(tmp_path, capsys, content, fragments):
    (tmp_path / "m.csv").write_text(content)
    status, _, err = run_cli(
        capsys, tmp_path / "m.csv", "--rank", 1, "--out", tmp_path / "o"
    )
    assert status == 2
    assert_one_line_error(err, *fragments)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.csv"]


def test_missing_file_exits_2(tmp_path, capsys):
    status, _, err = run_cli(capsys, tmp_path / "nope.csv", "--rank", 1)
    assert status == 2
    assert_one_line_error(err, "not found", "nope.csv")


def test_row_without_observed_cell_exits_2(tmp_path, capsys):
    (tmp_path / "m.csv").write_text("1,2,3\nnan,,NaN\n4,5,7\n")
    status, _, err = run_cli(
        capsys,
        tmp_path / "m.csv",
        "--rank",
        1,
        "--missing",
        "nan",
        "--out",
        tmp_path / "o",
    )
    assert status == 2
    assert_one_line_error(
        err, "row index 1 (row 2 counting from 1)", "no observed cell"
    )


def test_rank_out_of_range_exits_2(tmp_path, capsys):
    low_rank_csv(tmp_path / "a.csv")
    status, _, err = run_cli(
        capsys, tmp_path / "a.csv", "--rank", 21, "--out", tmp_path / "o"
    )
    assert status == 2
    assert_one_line_error(err, "rank=21 is out of range", "min(m, n)=20")


@pytest.mark.parametrize(
    ("option", "value", "fragment"),
    [
        ("--rank", "0", "argument --rank: '0' is below 1"),
        ("--epochs", "0", "argument --max-epochs/--epochs: '0' is below 1"),
        ("--max-epochs", "1.5", "'1.5' is not an integer"),
        ("--lr", "0", "argument --lr: '0' is not positive"),
        ("--lr", "fast", "argument --lr: 'fast' is not a number"),
        ("--tol", "-1", "argument --tol: '-1' is not finite and >= 0"),
        ("--optimizer", "sgd", "argument --optimizer: invalid choice: 'sgd'"),
        ("--init", "svd", "argument --init: invalid choice: 'svd'"),
        ("--seed", "-3", "argument --seed: '-3' is out of range"),
    ],
)
def test_bad_option_exits_2(tmp_path, capsys, option, value, fragment):
    low_rank_csv(tmp_path / "a.csv")
    argv = [tmp_path / "a.csv", "--rank", 3, option, value]
    if option == "--rank":
        argv = [tmp_path / "a.csv", option, value]
    status, _, err = run_cli(capsys, *argv)
    assert status == 2
    assert err.count("\n") == 1
    assert fragment in err
    assert "run 'gradfit factorise --help' for usage" in err


def test_uncreatable_output_folder_exits_2(tmp_path, capsys):
    low_rank_csv(tmp_path / "a.csv")
    (tmp_path / "file").write_text("")
    status, _, err = run_cli(
        capsys,
        tmp_path / "a.csv",
        "--rank",
        3,
        "--out",
        tmp_path / "file" / "sub" / "fit",
    )
    assert status == 2
    assert_one_line_error(err, "cannot create output folder")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_without_gpu_exits_2(tmp_path, capsys):
    low_rank_csv(tmp_path / "a.csv")
    status, _, err = run_cli(
        capsys,
        tmp_path / "a.csv",
        "--rank",
        3,
        "--device",
        "cuda",
        "--out",
        tmp_path / "o",
    )
    assert status == 2
    assert_one_line_error(err, "device='cuda' is not available", "use device='cpu'")


def test_help_has_options_and_example(capsys):
    with pytest.raises(SystemExit) as info:
        main(["factorise", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for option in (
        "--missing",
        "--optimizer",
        "--tol",
        "--max-epochs",
        "--epochs",
        "--l2",
        "--seed",
        "--device",
        "--dtype",
        "--lr",
        "--quiet",
    ):
        assert option in text
    assert "examples:" in text
    assert "gradfit factorise matrix.csv --rank 5 --out fit" in text


def test_entry_point_exit_status_without_traceback(tmp_path):
    # One run in a fresh interpreter, as a user would start it.
    (tmp_path / "m.csv").write_text("1,2\nx,4\n")
    process = subprocess.run(
        [
            sys.executable,
            "-m",
            "gradfit",
            "factorise",
            str(tmp_path / "m.csv"),
            "--rank",
            "1",
        ],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(SRC)},
        timeout=120,
    )
    assert process.returncode == 2
    assert process.stdout == ""
    assert_one_line_error(process.stderr, "'x' is not a number")


def test_spectral_init_reaches_optimum(tmp_path, capsys):
    low_rank_csv(tmp_path / "a.csv")
    status, _, err = run_cli(
        capsys,
        tmp_path / "a.csv",
        "--rank",
        3,
        "--init",
        "spectral",
        "--out",
        tmp_path / "fit",
    )
    assert status == 0, err
    summary = json.loads((tmp_path / "fit.json").read_text())
    assert summary["settings"]["init"] == "spectral"
    assert summary["optimum_gap"] < 1e-6
    assert summary["epochs"] <= 5
