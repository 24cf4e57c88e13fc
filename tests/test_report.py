import json

import numpy as np
import pytest

from gradfit.cli import main
from gradfit.report import ReportOptions, write_report

FILES = (
    "report.md",
    "report.html",
    "results.json",
    "loss_curve.png",
    "pca_comparison.png",
)
# Fewer trainings than the default keep the repeated runs below quick; the
# full-size report is built once by the report_dir fixture.
SMALL = ("--collapse-runs", "20")


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    assert main(["report", "--out", str(out), "--quiet"]) == 0
    return out


def test_report_writes_every_file(report_dir):
    for name in FILES:
        assert (report_dir / name).stat().st_size > 0, name
    leftovers = [p.name for p in report_dir.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_report_pngs_are_png(report_dir):
    pngs = sorted(report_dir.glob("*.png"))
    assert len(pngs) >= 2
    for path in pngs:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path.name


def test_results_json_keys_and_values(report_dir):
    results = json.loads((report_dir / "results.json").read_text())
    f = results["factorisation"]
    assert f["rank"] == 2
    assert f["svd_loss"] == pytest.approx(15.22883, rel=1e-5)
    assert f["gd_loss"] == pytest.approx(f["svd_loss"], rel=1e-4)
    assert f["gd_loss"] >= f["svd_loss"] * (1 - 1e-6)
    assert len(f["loss_history"]) == 1000
    p = results["pca"]
    assert p["residual"] < 1e-3
    assert len(p["principal_angles_deg"]) == 2
    assert max(p["principal_angles_deg"]) < 0.1
    runs = results["mlp"]["runs"]
    assert len(runs) == 10
    for run in runs:
        assert 0.0 <= run["train_accuracy"] <= 1.0
        assert 0.0 <= run["validation_accuracy"] <= 1.0
    env = results["environment"]
    assert set(env) >= {"gradfit", "torch", "python", "seed"}
    assert env["seed"] == 0
    assert results["data"]["md5_matches_uci"] is True


def test_report_markdown_quotes_results(report_dir):
    results = json.loads((report_dir / "results.json").read_text())
    text = (report_dir / "report.md").read_text()
    for heading in (
        "## Reconstruction loss",
        "## Comparison with PCA",
        "## MLP on Iris",
    ):
        assert heading in text
    assert f"{results['factorisation']['gd_loss']:.6f}" in text
    assert f"{results['factorisation']['svd_loss']:.6f}" in text
    assert "(loss_curve.png)" in text
    assert "(pca_comparison.png)" in text


def test_report_html_is_self_contained(report_dir):
    html = (report_dir / "report.html").read_text()
    n_figures = len(list(report_dir.glob("*.png")))
    assert html.count('src="data:image/png;base64,') == n_figures
    assert "http://" not in html
    assert "https://" not in html
    assert "<table>" in html


def test_same_seed_gives_same_numbers(tmp_path):
    options = ReportOptions(seed=0, runs=10, collapse_runs=20)
    first = write_report(tmp_path / "first", options)
    second = write_report(tmp_path / "second", options)
    for key in ("factorisation", "mlp"):
        assert first[key] == second[key], key
    # The closed-form comparison goes through LAPACK, whose kernels may round
    # the last binary digit differently from call to call.
    for key in ("residual", "principal_angles_deg", "scales", "map"):
        np.testing.assert_allclose(
            first["pca"][key], second["pca"][key], rtol=1e-12, atol=1e-15, err_msg=key
        )
    first_md = (tmp_path / "first" / "report.md").read_text()
    assert first_md == (tmp_path / "second" / "report.md").read_text()


def test_report_summary_printed(tmp_path, capsys):
    assert main(["report", "--out", str(tmp_path), "--runs", "2", *SMALL]) == 0
    out = capsys.readouterr().out
    assert "GD loss" in out
    assert "truncated SVD      15.2288" in out
    assert out.count("\n") > 8
    assert "failure rate over 20 runs per configuration" in out
    results = json.loads((tmp_path / "results.json").read_text())
    study = results["collapse"]["configurations"][0]
    assert f"{study['name']:<30} {study['failure_rate']:6.1%}" in out
