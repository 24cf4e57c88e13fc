import argparse
import re
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

from cli_helpers import assert_one_line_error, run_cli
from gradfit.cli import build_parser, main


@pytest.fixture
def matrix_csv(tmp_path):
    path = tmp_path / "m.csv"
    rows = np.arange(1, 13, dtype=float).reshape(4, 3) + np.eye(4, 3)
    path.write_text("x,y,z\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    return path


def test_help_lists_commands_and_example():
    status, out, _ = run_cli("--help")
    assert status == 0
    for word in ("report", "factorise", "complete", "mlp", "example"):
        assert word in out


@pytest.mark.parametrize("command", ["report", "factorise", "complete", "mlp"])
def test_subcommand_help_has_example(command):
    status, out, _ = run_cli(command, "--help")
    assert status == 0
    assert "example" in out
    assert f"gradfit {command}" in out


def optional_arguments():
    """Yield (command, action) for every option that takes a value and has a default."""
    parser = build_parser()
    (commands,) = [
        a for a in parser._actions if isinstance(a, argparse._SubParsersAction)
    ]
    for command, subparser in commands.choices.items():
        for action in subparser._actions:
            if action.option_strings and action.nargs != 0 and not action.required:
                yield command, action


def parse_stated_default(action, text):
    """Parse a default written in help text with the option's own type."""
    if isinstance(action.default, float):
        return float(Fraction(text))
    return action.type(text) if action.type is not None else text


@pytest.mark.parametrize(
    ("command", "action"),
    list(optional_arguments()),
    ids=lambda x: x if isinstance(x, str) else x.option_strings[0],
)
def test_option_help_states_true_default(command, action):
    text = action.help % dict(vars(action), prog=f"gradfit {command}")
    stated = re.search(r"\(default: ([^)]*)\)$", text)
    if stated is None:
        assert action.default is None, text
        assert "required with" in text
    elif isinstance(action.default, float):
        value = parse_stated_default(action, stated.group(1))
        assert value == pytest.approx(action.default, rel=1e-12, abs=0), text
    elif action.default is not None:
        assert parse_stated_default(action, stated.group(1)) == action.default, text


def test_python_dash_m_runs():
    result = subprocess.run(
        [sys.executable, "-m", "gradfit", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert result.stdout.startswith("gradfit ")


def test_subprocess_bad_rank_is_one_line(matrix_csv):
    result = subprocess.run(
        [sys.executable, "-m", "gradfit", "factorise", str(matrix_csv), "--rank", "9"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert_one_line_error(result.returncode, result.stderr, 2, "rank=9", "min(m, n)=3")


def test_factorise_writes_factors(matrix_csv, tmp_path):
    prefix = tmp_path / "out" / "fit"
    status, out, err = run_cli("factorise", matrix_csv, "--rank", "2", "--out", prefix)
    assert status == 0, err
    U = np.loadtxt(f"{prefix}_U.csv", delimiter=",")
    V = np.loadtxt(f"{prefix}_V.csv", delimiter=",")
    assert U.shape == (4, 2)
    assert V.shape == (3, 2)
    assert "truncated SVD" in out


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        ("1,2\n3,abc\n", ("line 2, column 2", "'abc' is not a number")),
        ("1,2\n3,nan\n", ("line 2, column 2", "not finite")),
        ("1,2\ninf,4\n", ("line 2, column 1", "not finite")),
        ("", ("no data rows",)),
        ("1,2,3\n", ("1x3 matrix", "at least 2 rows")),
        ("1\n2\n", ("2x1 matrix",)),
    ],
)
def test_factorise_bad_file(tmp_path, content, fragments):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    status, _, err = run_cli("factorise", path, "--rank", "1", "--out", tmp_path / "o")
    assert_one_line_error(status, err, 2, *fragments)
    assert not list(tmp_path.glob("o_*"))


def test_factorise_missing_file(tmp_path):
    status, _, err = run_cli("factorise", tmp_path / "none.csv", "--rank", "1")
    assert_one_line_error(status, err, 2, "not found", "none.csv")


def test_factorise_folder_as_file(tmp_path):
    status, _, err = run_cli("factorise", tmp_path, "--rank", "1")
    assert_one_line_error(status, err, 2, "is a folder")


def test_factorise_binary_file(tmp_path):
    path = tmp_path / "bin.csv"
    path.write_bytes(b"\xff\xfe\x00\x01")
    status, _, err = run_cli("factorise", path, "--rank", "1")
    assert_one_line_error(status, err, 2, "not a UTF-8 text file")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (("--rank", "0"), ("--rank", "'0' is below 1")),
        (("--rank", "4"), ("rank=4", "min(m, n)=3")),
        (("--rank", "two"), ("--rank", "'two' is not an integer")),
        (("--rank", "1", "--epochs", "0"), ("--epochs", "'0' is below 1")),
        (("--rank", "1", "--lr", "0"), ("--lr", "'0' is not positive")),
        (("--rank", "1", "--lr", "-0.001"), ("--lr", "not positive")),
        (("--rank", "1", "--lr", "fast"), ("--lr", "'fast' is not a number")),
        (("--rank", "1", "--lr", "nan"), ("--lr", "not positive and finite")),
    ],
)
def test_factorise_bad_arguments(matrix_csv, args, fragments):
    status, _, err = run_cli("factorise", matrix_csv, *args)
    assert_one_line_error(status, err, 2, *fragments)


def test_factorise_output_folder_cannot_be_created(matrix_csv, tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    status, _, err = run_cli(
        "factorise", matrix_csv, "--rank", "1", "--out", blocker / "sub" / "fit"
    )
    assert_one_line_error(
        status, err, 2, "cannot create output folder", f"'{blocker}' is a file"
    )


def test_mlp_output_folder_is_file(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    status, _, err = run_cli("mlp", "--runs", "1", "--quiet", "--out", blocker)
    assert_one_line_error(status, err, 2, f"'{blocker}' is an existing file")
    assert blocker.read_text() == "not a folder"


def test_report_output_folder_cannot_be_created(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    status, _, err = run_cli("report", "--out", blocker / "report")
    assert_one_line_error(status, err, 2, "cannot create output folder")


def test_report_bad_runs():
    status, _, err = run_cli("report", "--runs", "0")
    assert_one_line_error(status, err, 2, "--runs", "below 1")


def test_unknown_command():
    status, _, err = run_cli("fly")
    assert_one_line_error(status, err, 2, "invalid choice")


def test_mlp_prints_table():
    status, out, _ = run_cli("mlp", "--runs", "2", "--epochs", "5", "--quiet")
    assert status == 0
    for word in ("mean", "sd", "min", "max"):
        assert word in out


def test_factorise_divergence_writes_nothing(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text("\n".join(",".join(["1000"] * 5) for _ in range(8)) + "\n")
    status, out, err = run_cli(
        "factorise",
        path,
        "--rank",
        "2",
        "--optimizer",
        "gd",
        "--lr",
        "100",
        "--out",
        tmp_path / "fit",
    )
    assert_one_line_error(status, err, 1, "diverged at epoch", "learning rate")
    assert out == ""
    assert not list(tmp_path.glob("fit*"))


@pytest.mark.parametrize("command", ["report", "factorise", "complete", "mlp"])
@pytest.mark.parametrize("seed", ["-1", str(2**64), "1.5"])
def test_invalid_seed_is_one_line(command, seed, tmp_path):
    # Each command rejects the seed while parsing, before it reads any file.
    args = {
        "report": ["--out", tmp_path],
        "factorise": [tmp_path / "m.csv", "--rank", "1"],
        "complete": [tmp_path / "r.csv", "--rank", "1"],
        "mlp": [],
    }[command]
    status, _, err = run_cli(command, *args, "--seed", seed)
    assert_one_line_error(status, err, 2, "argument --seed", repr(seed))


@pytest.mark.parametrize(
    "error",
    [
        MemoryError(),
        RuntimeError(
            "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: "
            "can't allocate memory: you tried to allocate 1600 bytes."
        ),
    ],
)
def test_out_of_memory_is_one_line(monkeypatch, error):
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr("gradfit.cli.mlp.run_config", fail)
    status, _, err = run_cli("mlp", "--runs", "1", "--quiet")
    assert_one_line_error(status, err, 1, "out of memory", "--hidden")
    if isinstance(error, RuntimeError):
        assert "(1,600 bytes requested)" in err


def test_other_runtime_error_is_not_hidden(monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr("gradfit.cli.mlp.run_config", fail)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        run_cli("mlp", "--runs", "1", "--quiet")


def test_output_file_that_is_folder_writes_nothing(matrix_csv, tmp_path):
    (tmp_path / "fit_V.csv").mkdir()
    status, _, err = run_cli(
        "factorise", matrix_csv, "--rank", "1", "--out", tmp_path / "fit", "--quiet"
    )
    assert_one_line_error(status, err, 2, "fit_V.csv' is an existing folder")
    assert not (tmp_path / "fit_U.csv").exists()
    assert not (tmp_path / "fit.json").exists()


def test_failed_rename_names_destination(tmp_path):
    from gradfit import _io

    target = tmp_path / "out.txt"
    target.mkdir()
    with pytest.raises(OSError) as caught:
        _io.write_text(target, "text")
    assert caught.value.filename == str(target)
    assert list(tmp_path.iterdir()) == [target]


class ClosedPipe:
    """A stdout whose reader has gone: every write raises BrokenPipeError."""

    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self):
        pass


def test_closed_stdout_exits_quietly(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    status = main(["mlp", "--runs", "3", "--epochs", "2", "--out", str(tmp_path)])
    assert status == 141
    assert capsys.readouterr().err == ""
    assert (tmp_path / "results.json").exists()
    assert (tmp_path / "runs.csv").exists()


@pytest.mark.parametrize("command", ["report", "factorise", "complete", "mlp"])
@pytest.mark.parametrize("out", ["", " "])
def test_blank_out_is_one_line(command, out, tmp_path):
    args = {
        "report": [],
        "factorise": [tmp_path / "m.csv", "--rank", "1"],
        "complete": [tmp_path / "r.csv", "--rank", "1"],
        "mlp": [],
    }[command]
    status, _, err = run_cli(command, *args, "--out", out)
    assert_one_line_error(status, err, 2, "argument --out", "empty or blank")


def test_overlong_file_name_is_usage_error(tmp_path):
    path = tmp_path / ("a" * 300 + ".csv")
    status, _, err = run_cli("factorise", path, "--rank", "1")
    assert_one_line_error(status, err, 2, "File name too long", "check the path")
