"""Data preparation for the MLP experiment: labels, split, scaling, CSV of runs."""

import csv
import io
import warnings

import pytest
import torch

from gradfit.errors import ConstantFeatureWarning, InputError
from gradfit.experiment import MLPConfig, config_grid, run_config, runs_csv
from gradfit.mlp import prepare_iris_study
from gradfit.tabular import (
    iris_study_split,
    read_labelled_csv,
    scale_features,
    split_labelled,
    stratified_split,
)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_string_labels_coded_in_sorted_order(tmp_path):
    path = write(tmp_path, "a,b,kind\n1,2,pear\n3,4,apple\n5,6,pear\n7,8,fig\n")
    data = read_labelled_csv(path, "kind")
    assert data.class_names == ("apple", "fig", "pear")
    assert data.labels.tolist() == [2, 0, 2, 1]
    assert data.feature_names == ("a", "b")
    assert data.features.tolist() == [[1, 2], [3, 4], [5, 6], [7, 8]]


def test_one_based_labels_coded_from_zero(tmp_path):
    path = write(tmp_path, "label,x\n2,0.5\n1,0.1\n10,0.2\n2,0.3\n")
    data = read_labelled_csv(path, "label")
    assert data.class_names == ("1", "2", "10")
    assert data.labels.tolist() == [1, 0, 2, 1]


def test_iris_variance_split_equals_study():
    study = prepare_iris_study()
    split = iris_study_split("variance")
    assert torch.equal(split.data_tr, study.data_tr)
    assert torch.equal(split.data_va, study.data_va)
    assert torch.equal(split.targets_tr, study.targets_tr)
    assert split.class_names == study.class_names


def test_standard_scaling_has_unit_spread():
    split = iris_study_split("standard")
    features = torch.cat([split.data_tr, split.data_va])
    assert torch.allclose(features.mean(dim=0), torch.zeros(4), atol=1e-6)
    assert torch.allclose(features.std(dim=0), torch.ones(4), atol=1e-6)


@pytest.mark.parametrize("scaling", ["variance", "standard"])
def test_constant_feature_scaled_to_exact_zero(scaling):
    features = torch.tensor([[0.1, 1.0], [0.1, 2.0], [0.1, 4.0]], dtype=torch.float32)
    with pytest.warns(ConstantFeatureWarning, match="'width'"):
        scaled = scale_features(features, scaling, feature_names=("width", "height"))
    assert torch.equal(scaled[:, 0], torch.zeros(3))
    assert torch.isfinite(scaled).all()
    assert not torch.equal(scaled[:, 1], torch.zeros(3))


def test_no_warning_without_constant_feature():
    features = torch.tensor([[0.0, 1.0], [1.0, 2.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scale_features(features, "standard")


def test_none_scaling_leaves_features():
    features = torch.tensor([[5.0, 1.0], [5.0, 2.0]])
    assert torch.equal(scale_features(features, "none"), features)


def test_scaling_uses_reference_rows():
    features = torch.tensor([[0.0], [2.0], [100.0]])
    scaled = scale_features(features, "standard", reference=torch.tensor([0, 1]))
    assert scaled[:, 0].tolist() == pytest.approx([-(2**-0.5), 2**-0.5, 99 / 2**0.5])


def test_stratified_split_keeps_every_class():
    labels = torch.tensor([0] * 6 + [1] * 3 + [2] * 2)
    train, validation = stratified_split(labels, 1 / 3, seed=4)
    assert sorted(train.tolist() + validation.tolist()) == list(range(11))
    for k in range(3):
        assert (labels[train] == k).any()
        assert (labels[validation] == k).any()
    assert (labels[validation] == 0).sum() == 2
    again = stratified_split(labels, 1 / 3, seed=4)
    assert torch.equal(train, again[0])


def test_stratified_split_rejects_single_row_class():
    labels = torch.tensor([0, 0, 0, 1])
    with pytest.raises(InputError, match="class 'b' has 1 row"):
        stratified_split(labels, class_names=("a", "b"))


def test_stratified_split_rejects_one_class():
    with pytest.raises(InputError, match="at least 2 classes"):
        stratified_split(torch.tensor([0, 0, 0]), class_names=("a",))


def test_csv_split_scaled_on_training_rows(tmp_path):
    rows = "\n".join(f"{i},{i % 3}" for i in range(30))
    data = read_labelled_csv(write(tmp_path, "x,y\n" + rows + "\n"), "y")
    split = split_labelled(data, "standard", seed=1)
    assert split.data_tr.mean().item() == pytest.approx(0, abs=1e-6)
    # Each class of 10 rows gives round(10 / 3) = 3 rows to validation.
    assert len(split.targets_tr) == 21
    assert len(split.targets_va) == 9
    assert split.class_names == ("0", "1", "2")


def test_config_grid_combinations():
    grid = config_grid(("uniform01", "kaiming"), ("variance", "standard"))
    assert [c.name for c in grid] == [
        "uniform01/variance",
        "kaiming/variance",
        "uniform01/standard",
        "kaiming/standard",
    ]
    assert MLPConfig(bias="zeros", optimizer="adam").name == (
        "uniform01/variance/bias=zeros/adam"
    )


def test_runs_csv_has_one_row_per_run():
    split = iris_study_split("variance")
    results = [
        run_config(split, MLPConfig(), 5, num_epochs=10),
        run_config(split, MLPConfig(init="kaiming"), 5, num_epochs=10),
    ]
    rows = list(csv.DictReader(io.StringIO(runs_csv(results))))
    assert len(rows) == 10
    assert rows[0]["config"] == "uniform01/variance"
    assert rows[9]["run"] == "5"
    assert float(rows[0]["validation_accuracy"]) == pytest.approx(
        results[0].diagnosis.validation_accuracy[0], abs=1e-6
    )


def test_collapse_section_uses_first_runs_of_distribution():
    from gradfit.report import ReportOptions
    from gradfit.report.collapse import collapse_section
    from gradfit.report.document import Figure, Table

    blocks, results = collapse_section(ReportOptions(seed=0, runs=10, collapse_runs=40))
    collapse = results["collapse"]
    assert collapse["first_runs_differing_from_sequential"] == 0
    assert [c["runs"] for c in collapse["configurations"]] == [40] * 5
    first_runs, configs = [b for b in blocks if isinstance(b, Table)]
    assert len(first_runs.rows) == 10
    assert configs.rows[0][4] == str(collapse["configurations"][0]["failures"])
    assert len([b for b in blocks if isinstance(b, Figure)]) == 2


def _fake_result(failures, runs, low, high):
    from types import SimpleNamespace

    summary = {
        "failures": failures,
        "runs": runs,
        "failure_rate": failures / runs,
        "failure_rate_ci95": [low, high],
    }
    return SimpleNamespace(summary=summary)


def test_collapse_wording_follows_intervals():
    from gradfit.report.collapse import _compared

    study = _fake_result(20, 100, 0.13, 0.29)
    assert _compared(_fake_result(1, 100, 0.002, 0.05), study).startswith("less often")
    assert _compared(_fake_result(50, 100, 0.40, 0.60), study).startswith("more often")
    overlapping = _compared(_fake_result(15, 100, 0.09, 0.23), study)
    assert "overlaps" in overlapping
    assert "less often" not in overlapping


@pytest.mark.parametrize(
    ("labels", "kwargs", "error", "fragment"),
    [
        ([0, 1, 0, 1], {}, TypeError, "labels must be a torch.Tensor"),
        (torch.tensor([0.0, 1.0]), {}, InputError, "1-D int64 tensor"),
        (torch.tensor([0, 1, 0, 1]), {"seed": -1}, InputError, "seed=-1 is invalid"),
        (torch.tensor([0, 1, 0, 1]), {"seed": 1.5}, InputError, "seed=1.5"),
    ],
)
def test_stratified_split_rejects_bad_input(labels, kwargs, error, fragment):
    with pytest.raises(error, match=fragment):
        stratified_split(labels, 0.5, **kwargs)


@pytest.mark.parametrize(
    ("features", "kwargs", "error", "fragment"),
    [
        ([[1.0, 2.0], [3.0, 4.0]], {}, TypeError, "features must be a torch.Tensor"),
        (torch.ones(3, 2, dtype=torch.int64), {}, InputError, "floating-point"),
        (torch.ones(3, 2), {"feature_names": ["a"]}, InputError, "1 names for 2"),
    ],
)
def test_scale_features_rejects_bad_input(features, kwargs, error, fragment):
    with pytest.raises(error, match=fragment):
        scale_features(features, "variance", **kwargs)
