"""``gradfit mlp`` end to end: outputs, label mapping and every bad input."""

import csv
import json

import pytest

from gradfit.cli import main

GOOD_CSV = "length,width,species\n" + "".join(
    f"{1 + i * 0.1:.1f},{2 + (i % 4) * 0.3:.1f},{('ab', 'cd', 'ef')[i % 3]}\n"
    for i in range(18)
)


def run_cli(capsys, *argv):
    """Run the command line in-process; return (exit status, stdout, stderr)."""
    try:
        status = main(["mlp", *argv])
    except SystemExit as exc:
        status = exc.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_plain_run_prints_study_table(capsys):
    status, out, err = run_cli(capsys, "--runs", "3", "--quiet")
    assert status == 0
    assert "configuration uniform01/variance" in out
    assert "  run   train   valid" in out
    assert "failed" in out
    assert err == ""


class RecordingBar:
    """Stand-in for the tqdm bar that records each update."""

    def __init__(self, total, description, *, quiet=False, unit="epoch"):
        self.total = total
        self.n = 0
        self.updates = []

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False

    def update(self, count):
        self.updates.append(count)
        self.n += count


def test_progress_counts_whole_runs(monkeypatch, capsys):
    bars = []

    def recording_progress(*args, **kwargs):
        bars.append(RecordingBar(*args, **kwargs))
        return bars[-1]

    monkeypatch.setattr("gradfit.cli.mlp.progress", recording_progress)
    status, _, _ = run_cli(
        capsys, "--runs", "7", "--epochs", "3", "--init", "uniform01,kaiming"
    )
    assert status == 0
    (bar,) = bars
    assert bar.total == 14
    assert bar.n == 14
    assert all(isinstance(count, int) for count in bar.updates)


def test_grid_writes_outputs(tmp_path, capsys):
    out_dir = tmp_path / "result"
    status, out, _ = run_cli(
        capsys,
        "--runs",
        "25",
        "--epochs",
        "20",
        "--init",
        "uniform01,kaiming",
        "--scaling",
        "standard",
        "--out",
        str(out_dir),
        "--quiet",
    )
    assert status == 0
    assert "kaiming/standard" in out
    names = sorted(p.name for p in out_dir.iterdir())
    assert names == [
        "accuracy_distribution.png",
        "loss_curves.png",
        "results.json",
        "runs.csv",
    ]
    results = json.loads((out_dir / "results.json").read_text())
    assert [c["name"] for c in results["configurations"]] == [
        "uniform01/standard",
        "kaiming/standard",
    ]
    assert results["configurations"][0]["runs"] == 25
    with open(out_dir / "runs.csv", newline="") as file:
        assert len(list(csv.DictReader(file))) == 50
    assert (out_dir / "loss_curves.png").read_bytes()[:4] == b"\x89PNG"


def test_csv_labels_mapped_and_reported(tmp_path, capsys):
    path = write(tmp_path, GOOD_CSV)
    out_dir = tmp_path / "out"
    status, out, _ = run_cli(
        capsys,
        "--data",
        path,
        "--target",
        "species",
        "--runs",
        "4",
        "--hidden",
        "6,5",
        "--out",
        str(out_dir),
        "--quiet",
    )
    assert status == 0
    assert "labels: 'ab' -> 0, 'cd' -> 1, 'ef' -> 2" in out
    results = json.loads((out_dir / "results.json").read_text())
    assert results["class_names"] == ["ab", "cd", "ef"]
    assert results["hidden"] == [6, 5]
    assert results["n_train"] + results["n_validation"] == 18


def test_constant_feature_warns_on_one_line(tmp_path, capsys):
    text = "c,x,y\n" + "".join(f"7,{i},{i % 2}\n" for i in range(8))
    status, _, err = run_cli(
        capsys,
        "--data",
        write(tmp_path, text),
        "--target",
        "y",
        "--runs",
        "2",
        "--quiet",
    )
    assert status == 0
    assert err.count("\n") == 1
    assert "warning: feature 'c' is constant" in err


def test_diverged_runs_reported_not_raised(capsys):
    status, out, _ = run_cli(capsys, "--runs", "3", "--lr", "1e30", "--quiet")
    assert status == 0
    assert "failed 3 of 3" in out


BAD_FILES = {
    "missing target column": (
        "a,b,label\n1,2,x\n3,4,y\n",
        "kind",
        "target column 'kind' not found",
        "'a', 'b', 'label'",
    ),
    "one class": ("a,label\n1,x\n2,x\n3,x\n", "label", "at least 2 classes", "'x'"),
    "single-row class": (
        "a,label\n1,x\n2,x\n3,y\n",
        "label",
        "class 'y' has 1 row",
        "stratified",
    ),
    "missing label": (
        "a,label\n1,x\n2,\n3,y\n",
        "label",
        "line 3",
        "label in column 'label' is missing",
    ),
    "non-numeric feature": (
        "a,b,label\n1,2,x\n3,oops,y\n",
        "label",
        "line 3, column 'b'",
        "'oops'",
    ),
    "missing feature": (
        "a,b,label\n1,2,x\n,4,y\n",
        "label",
        "line 3, column 'a'",
        "missing",
    ),
    "no header": ("1,2,3\n4,5,6\n", "3", "no header row", "naming the columns"),
    "unclosed quote": (
        'a,label\n1,x\n2,"y\n3,x\n4,y\n',
        "label",
        "line 3",
        "quoted cell is not closed",
    ),
    "feature beyond float32": (
        "a,label\n1,x\n1e300,x\n3,y\n4,y\n",
        "label",
        "line 3, column 'a'",
        "beyond the float32 range",
    ),
    "variance overflows float32": (
        "a,label\n1e25,x\n-1e25,x\n2e25,y\n-2e25,y\n3e25,x\n3e25,y\n",
        "label",
        "feature 'a' has a variance of inf",
        "divide or multiply the column",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_rejected_cleanly(tmp_path, capsys, case):
    text, target, *fragments = BAD_FILES[case]
    out_dir = tmp_path / "out"
    status, out, err = run_cli(
        capsys,
        "--data",
        write(tmp_path, text),
        "--target",
        target,
        "--out",
        str(out_dir),
        "--quiet",
    )
    assert status == 2
    assert err.startswith("gradfit mlp: error: ")
    assert err.count("\n") == 1
    for fragment in fragments:
        assert fragment in err
    assert "Traceback" not in err
    assert out == ""
    assert not out_dir.exists()


BAD_OPTIONS = {
    "runs zero": (["--runs", "0"], "--runs", "below 1"),
    "epochs zero": (["--epochs", "0"], "--epochs", "below 1"),
    "epochs text": (["--epochs", "ten"], "--epochs", "not an integer"),
    "hidden zero": (["--hidden", "12,0"], "--hidden", "layer widths"),
    "hidden text": (["--hidden", "wide"], "--hidden", "layer widths"),
    "lr text": (["--lr", "fast"], "--lr", "not a number"),
    "lr negative": (["--lr", "-0.1"], "--lr", "positive"),
    "lr zero": (["--lr", "0"], "--lr", "positive"),
    "lr nan": (["--lr", "nan"], "--lr", "positive"),
    "unknown init": (
        ["--init", "uniform01,he"],
        "--init",
        "uniform01, kaiming, xavier, normal",
    ),
    "unknown scaling": (
        ["--scaling", "minmax"],
        "--scaling",
        "variance, standard, none",
    ),
    "unknown optimizer": (["--optimizer", "sgd"], "--optimizer", "gd, momentum, adam"),
    "fail-below above 1": (["--fail-below", "1.5"], "--fail-below", "[0, 1]"),
}


@pytest.mark.parametrize("case", sorted(BAD_OPTIONS))
def test_bad_option_rejected_cleanly(tmp_path, capsys, case):
    argv, option, fragment = BAD_OPTIONS[case]
    out_dir = tmp_path / "out"
    status, out, err = run_cli(capsys, *argv, "--out", str(out_dir))
    assert status == 2
    assert err.count("\n") == 1
    assert option in err
    assert fragment in err
    assert "Traceback" not in err
    assert out == ""
    assert not out_dir.exists()


def test_data_without_target_rejected(tmp_path, capsys):
    status, out, err = run_cli(capsys, "--data", write(tmp_path, GOOD_CSV))
    assert status == 2
    assert "--data and --target must be given together" in err
    assert err.count("\n") == 1


def test_missing_data_file_rejected(tmp_path, capsys):
    status, _, err = run_cli(
        capsys, "--data", str(tmp_path / "absent.csv"), "--target", "y"
    )
    assert status == 2
    assert "not found" in err
    assert err.count("\n") == 1


def test_diverged_runs_write_valid_outputs(tmp_path, capsys):
    out_dir = tmp_path / "out"
    status, _, _ = run_cli(
        capsys,
        "--runs",
        "2",
        "--epochs",
        "5",
        "--lr",
        "1e30",
        "--out",
        str(out_dir),
        "--quiet",
    )
    assert status == 0
    results = json.loads((out_dir / "results.json").read_text())
    assert results["configurations"][0]["diverged"] == 2
    with open(out_dir / "runs.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [row["final_loss"] for row in rows] == ["", ""]
    assert all(row["reason"].startswith("diverged") for row in rows)


def test_fast_option_recorded(tmp_path, capsys):
    out_dir = tmp_path / "out"
    status, out, _ = run_cli(
        capsys, "--runs", "30", "--fast", "--out", str(out_dir), "--quiet"
    )
    assert status == 0
    assert "uniform01/variance" in out
    results = json.loads((out_dir / "results.json").read_text())
    assert results["exact"] is False
