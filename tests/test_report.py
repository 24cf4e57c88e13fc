import json

import pytest

from gradfit.cli import main
from gradfit.report import ReportOptions, write_report

FILES = ("report.md", "report.html", "results.json", "loss_curve.png", "pca_comparison.png")


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
    for name in ("loss_curve.png", "pca_comparison.png"):
        assert (report_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


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
    for heading in ("## Reconstruction loss", "## Comparison with PCA", "## MLP on Iris"):
        assert heading in text
    assert f"{results['factorisation']['gd_loss']:.6f}" in text
    assert f"{results['factorisation']['svd_loss']:.6f}" in text
    assert "(loss_curve.png)" in text
    assert "(pca_comparison.png)" in text


def test_report_html_is_self_contained(report_dir):
    html = (report_dir / "report.html").read_text()
    assert html.count('src="data:image/png;base64,') == 2
    assert "http://" not in html
    assert "https://" not in html
    assert "<table>" in html


def test_same_seed_gives_same_numbers(report_dir, tmp_path):
    again = write_report(tmp_path, ReportOptions(seed=0, runs=10))
    first = json.loads((report_dir / "results.json").read_text())
    for key in ("factorisation", "pca", "mlp"):
        assert again[key] == first[key], key


def test_report_summary_printed(tmp_path, capsys):
    assert main(["report", "--out", str(tmp_path), "--runs", "2"]) == 0
    out = capsys.readouterr().out
    assert "GD loss" in out
    assert "truncated SVD      15.2288" in out
    assert out.count("\n") > 8
