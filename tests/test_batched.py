"""Batched MLP training against sequential training, and the per-run diagnosis."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gradfit.batched import (
    BatchedTraining,
    batched_forward,
    bytes_per_model,
    chunk_size,
    init_batched_mlp,
    train_batched,
)
from gradfit.diagnosis import (
    batched_accuracy,
    count_dead_units,
    diagnose_runs,
    summarise_diagnosis,
    wilson_interval,
)
from gradfit.errors import InputError
from gradfit.experiment import MLPConfig, run_config
from gradfit.mlp import accuracy, mlp, prepare_iris_study, repeat_training, train_mlp
from gradfit.tabular import iris_study_split

WEIGHT_TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def split():
    return prepare_iris_study()


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_batched_matches_train_mlp_loop(split):
    K = 25
    batched = train_batched(split.data_tr, split.targets_tr, K, seed=3)
    torch.manual_seed(3)
    for k in range(K):
        W1, W2, b1, b2 = train_mlp(split.data_tr, split.targets_tr)
        expected = (W1, W2, b1, b2)
        got = (
            batched.weights[0][k],
            batched.weights[1][k],
            batched.biases[0][k],
            batched.biases[1][k],
        )
        for name, e, g in zip(("W1", "W2", "b1", "b2"), expected, got):
            assert torch.allclose(g, e, rtol=0, atol=WEIGHT_TOLERANCE), (k, name)
        logits = batched_forward(split.data_va, batched.weights, batched.biases)[k]
        assert accuracy(logits, split.targets_va) == accuracy(
            mlp(split.data_va, *expected), split.targets_va
        )


def test_first_runs_equal_repeat_training(split):
    torch.manual_seed(0)
    runs = repeat_training(split, 10)
    result = run_config(split, MLPConfig(), 50, seed=0)
    for k, run in enumerate(runs):
        assert result.diagnosis.train_accuracy[k] == run.train_accuracy
        assert result.diagnosis.validation_accuracy[k] == run.validation_accuracy


class _PlainGradientDescent:
    """The update of train_mlp, p -= lr * grad; torch's SGD rounds differently."""

    def __init__(self, params, lr):
        self.params, self.lr = params, lr

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        with torch.no_grad():
            for p in self.params:
                p -= self.lr * p.grad


def _sequential_reference(
    data, targets, K, layer_sizes, init, optimizer, num_epochs, lr, generator
):
    """Train K networks one at a time, drawing and stepping as the batch should."""
    pairs = list(zip(layer_sizes[:-1], layer_sizes[1:]))
    finals = []
    for _ in range(K):
        weights = []
        for n_in, n_out in pairs:
            if init == "normal":
                W = torch.randn(n_in, n_out, generator=generator) * 0.1
            else:
                W = torch.rand(n_in, n_out, generator=generator)
                if init == "kaiming":
                    W = (2 * W - 1) * math.sqrt(6 / n_in)
                elif init == "xavier":
                    W = (2 * W - 1) * math.sqrt(6 / (n_in + n_out))
            weights.append(W.requires_grad_())
        biases = [torch.rand((), generator=generator).requires_grad_() for _ in pairs]
        params = weights + biases
        if optimizer == "momentum":
            opt = torch.optim.SGD(params, lr=lr, momentum=0.9)
        elif optimizer == "adam":
            opt = torch.optim.Adam(params, lr=lr)
        else:
            opt = _PlainGradientDescent(params, lr)
        for _ in range(num_epochs):
            h = data
            for W, b in zip(weights[:-1], biases[:-1]):
                h = torch.relu(h @ W + b)
            logits = h @ weights[-1] + biases[-1]
            loss = F.cross_entropy(logits, targets, reduction="sum")
            opt.zero_grad()
            loss.backward()
            opt.step()
        finals.append([p.detach() for p in params])
    return finals


@pytest.mark.parametrize("init", ["uniform01", "kaiming", "xavier", "normal"])
@pytest.mark.parametrize("optimizer", ["gd", "momentum", "adam"])
def test_batched_matches_reference_loop(split, init, optimizer):
    K, hidden, num_epochs, lr = 6, (8, 5), 30, 0.005
    layer_sizes = (4, *hidden, 3)
    batched = train_batched(
        split.data_tr,
        split.targets_tr,
        K,
        hidden=hidden,
        num_epochs=num_epochs,
        lr=lr,
        init=init,
        optimizer=optimizer,
        seed=torch.Generator().manual_seed(11),
    )
    reference = _sequential_reference(
        split.data_tr,
        split.targets_tr,
        K,
        layer_sizes,
        init,
        optimizer,
        num_epochs,
        lr,
        torch.Generator().manual_seed(11),
    )
    for k, expected in enumerate(reference):
        got = [W[k] for W in batched.weights] + [b[k] for b in batched.biases]
        for e, g in zip(expected, got):
            assert torch.allclose(g, e, rtol=0, atol=WEIGHT_TOLERANCE), k


def test_single_model_and_more_models_than_rows():
    g = torch.Generator().manual_seed(5)
    data = torch.randn(7, 3, generator=g)
    targets = torch.tensor([0, 1, 2, 0, 1, 2, 0])
    single = train_batched(data, targets, 1, num_epochs=20, seed=1)
    many = train_batched(data, targets, 40, num_epochs=20, seed=1)
    assert single.weights[0].shape == (1, 3, 12)
    assert many.weights[0].shape == (40, 3, 12)
    assert many.losses.shape == (40, 20)
    assert torch.equal(single.weights[0][0], many.weights[0][0])
    assert torch.equal(single.losses[0], many.losses[0])


def test_chunks_give_same_result_as_one_pass(split):
    whole = train_batched(split.data_tr, split.targets_tr, 12, num_epochs=20, seed=2)
    tiny_budget = 2 * bytes_per_model(100, (4, 12, 3)) + 1
    chunked = train_batched(
        split.data_tr,
        split.targets_tr,
        12,
        num_epochs=20,
        seed=2,
        memory_budget=tiny_budget,
    )
    assert whole.chunk_size == 12
    assert chunked.chunk_size == 2
    for a, b in zip(whole.weights + whole.biases, chunked.weights + chunked.biases):
        assert torch.equal(a, b)
    assert torch.equal(whole.losses, chunked.losses)


def test_chunk_size_from_memory_budget():
    per_model = bytes_per_model(100, (4, 12, 3))
    assert chunk_size(10**6, 100, (4, 12, 3), memory_budget=1000 * per_model) == 1000
    assert chunk_size(10, 100, (4, 12, 3), memory_budget=1000 * per_model) == 10
    assert chunk_size(10**6, 100, (4, 12, 3), memory_budget=1) == 1


def test_losses_record_each_epoch(split):
    result = train_batched(split.data_tr, split.targets_tr, 3, num_epochs=4, seed=0)
    W, b = init_batched_mlp(3, (4, 12, 3), generator=torch.Generator().manual_seed(0))
    start = batched_forward(split.data_tr, W, b)
    expected = (
        F.cross_entropy(
            start.reshape(-1, 3), split.targets_tr.repeat(3), reduction="none"
        )
        .view(3, -1)
        .sum(dim=1)
    )
    assert torch.allclose(result.losses[:, 0], expected, rtol=1e-6, atol=0)
    assert torch.all(result.diverged_epoch == 0)


def test_divergence_recorded_not_raised(split):
    result = train_batched(split.data_tr, split.targets_tr, 4, num_epochs=10, lr=1e30)
    diagnosis = diagnose_runs(result, split)
    assert torch.all(result.diverged_epoch > 0)
    assert diagnosis.failed.all()
    assert all(reason.startswith("diverged") for reason in diagnosis.reasons)
    assert summarise_diagnosis(diagnosis)["diverged"] == 4


def test_batched_accuracy_shapes_and_range():
    targets = torch.tensor([0, 1, 1, 2])
    predictions = torch.tensor([[0, 1, 1, 2], [0, 2, 1, 0], [0, 0, 0, 0]])
    result = batched_accuracy(predictions, targets)
    assert result.tolist() == [1.0, 0.5, 0.25]
    assert torch.all((result >= 0) & (result <= 1))
    with pytest.raises(InputError):
        batched_accuracy(predictions, targets[:, None])
    with pytest.raises(InputError):
        batched_accuracy(predictions.flatten(), targets)
    assert accuracy(torch.tensor([0, 1, 2, 2]), targets) == 0.75
    with pytest.raises(InputError):
        accuracy(torch.tensor([0, 1, 2]), targets)


def _all_dead_network(K=2):
    g = torch.Generator().manual_seed(0)
    W1 = torch.rand(K, 4, 12, generator=g)
    W2 = torch.rand(K, 12, 3, generator=g)
    b1 = torch.full((K,), -100.0)
    b2 = torch.rand(K, generator=g)
    return [W1, W2], [b1, b2]


def test_dead_network_has_zero_first_layer_gradient(split):
    weights, biases = _all_dead_network()
    params = [p.requires_grad_() for p in weights + biases]
    logits = batched_forward(split.data_tr, weights, biases)
    F.cross_entropy(
        logits.reshape(-1, 3), split.targets_tr.repeat(2), reduction="sum"
    ).backward()
    assert torch.count_nonzero(params[0].grad) == 0
    assert torch.count_nonzero(params[2].grad) == 0
    assert torch.count_nonzero(params[3].grad) == 2


def test_dead_network_diagnosed_at_chance(split):
    weights, biases = _all_dead_network()
    training = BatchedTraining(
        weights=tuple(weights),
        biases=tuple(biases),
        losses=torch.zeros(2, 1),
        final_loss=torch.zeros(2),
        diverged_epoch=torch.zeros(2, dtype=torch.int64),
        chunk_size=2,
    )
    diagnosis = diagnose_runs(training, split)
    assert diagnosis.dead_units.tolist() == [12, 12]
    assert count_dead_units(split.data_tr, weights, biases).tolist() == [12, 12]
    assert diagnosis.at_chance.all()
    assert diagnosis.classes_predicted.tolist() == [1, 1]
    assert diagnosis.failed.all()


def test_kaiming_standard_fails_less_than_study():
    runs = 200
    study = run_config(iris_study_split("variance"), MLPConfig(), runs, seed=0)
    kaiming = run_config(
        iris_study_split("standard"),
        MLPConfig(init="kaiming", scaling="standard"),
        runs,
        seed=0,
    )
    study_failures = study.summary["failures"]
    kaiming_failures = kaiming.summary["failures"]
    assert kaiming_failures < study_failures
    assert (
        kaiming.summary["failure_rate_ci95"][1] < study.summary["failure_rate_ci95"][0]
    )


def test_wilson_interval_hand_computed():
    # 10 of 100 at z = 1.96: centre (0.1 + 1.96^2 / 200) / (1 + 1.96^2 / 100)
    # = 0.1147979 and half-width 1.96 / 1.038416 * sqrt(0.0009 + 1.96^2 / 40000)
    # = 0.0595694.
    low, high = wilson_interval(10, 100, z=1.96)
    assert low == pytest.approx(0.0552285, abs=1e-6)
    assert high == pytest.approx(0.1743673, abs=1e-6)
    low, high = wilson_interval(0, 10, z=1.96)
    assert low == 0.0
    assert high == pytest.approx(3.8416 / 13.8416, abs=1e-9)


def test_wilson_interval_rejects_bad_counts():
    with pytest.raises(InputError):
        wilson_interval(3, 2)
    with pytest.raises(InputError):
        wilson_interval(0, 0)


@pytest.mark.parametrize(
    "bad",
    [
        {"K": 0},
        {"num_epochs": 0},
        {"hidden": (0,)},
        {"hidden": ()},
        {"lr": 0.0},
        {"lr": float("nan")},
        {"init": "he"},
        {"bias": "ones"},
        {"optimizer": "sgd"},
        {"seed": 1.5},
    ],
)
def test_train_batched_rejects_bad_arguments(split, bad):
    kwargs = {"K": 2, **bad}
    K = kwargs.pop("K")
    with pytest.raises(InputError):
        train_batched(split.data_tr, split.targets_tr, K, **kwargs)


def test_summary_counts_match_diagnosis(split):
    result = run_config(split, MLPConfig(), 40, seed=1)
    d, s = result.diagnosis, result.summary
    assert s["runs"] == 40
    assert s["failures"] == int(d.failed.sum())
    assert s["validation_accuracy"]["mean"] == pytest.approx(
        float(np.mean(d.validation_accuracy)), abs=1e-12
    )
    assert (
        0 <= s["failure_rate_ci95"][0] <= s["failure_rate"] <= s["failure_rate_ci95"][1]
    )


def test_fast_layout_mostly_matches_exact(split):
    K = 100
    exact = train_batched(split.data_tr, split.targets_tr, K, seed=4)
    fast = train_batched(split.data_tr, split.targets_tr, K, seed=4, exact=False)
    assert torch.allclose(fast.losses[:, 0], exact.losses[:, 0], rtol=1e-5, atol=0)
    differences = torch.stack(
        [
            (a - b).abs().reshape(K, -1).amax(dim=1)
            for a, b in zip(exact.weights + exact.biases, fast.weights + fast.biases)
        ]
    ).amax(dim=0)
    # Round-off differences grow only in runs whose ReLU pattern changes, about
    # 1 in 10 of the study's runs.
    assert (differences <= WEIGHT_TOLERANCE).sum() >= 0.75 * K


@pytest.mark.parametrize("optimizer", ["gd", "adam"])
def test_fast_layout_deep_network_trains(split, optimizer):
    result = train_batched(
        split.data_tr,
        split.targets_tr,
        8,
        hidden=(8, 5),
        num_epochs=30,
        lr=0.005,
        init="kaiming",
        optimizer=optimizer,
        exact=False,
    )
    assert result.weights[1].shape == (8, 8, 5)
    assert torch.isfinite(result.losses).all()
    assert torch.all(result.losses[:, -1] < result.losses[:, 0])


@pytest.mark.parametrize("seed", [-1, 2**64])
def test_seed_out_of_range(seed):
    data = torch.zeros(4, 2)
    targets = torch.tensor([0, 1, 0, 1])
    with pytest.raises(InputError, match=f"seed={seed} is out of range"):
        train_batched(data, targets, 1, num_epochs=1, seed=seed)


@pytest.mark.parametrize(
    ("kwargs", "error", "fragment"),
    [
        ({"hidden": 12}, InputError, "hidden=12 is invalid"),
        ({"callback": 3}, TypeError, "callback must be callable"),
        ({"exact": "no"}, TypeError, "exact must be a bool"),
    ],
)
def test_train_batched_rejects_bad_options(kwargs, error, fragment):
    data = torch.zeros(4, 2)
    targets = torch.tensor([0, 1, 0, 1])
    with pytest.raises(error, match=fragment):
        train_batched(data, targets, 1, num_epochs=1, **kwargs)


def test_train_batched_rejects_infinite_feature():
    data = torch.zeros(4, 2)
    data[3, 1] = -math.inf
    targets = torch.tensor([0, 1, 0, 1])
    with pytest.raises(InputError, match=r"training data\[3, 1\] is -inf"):
        train_batched(data, targets, 1, num_epochs=1)
