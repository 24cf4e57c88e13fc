import numpy as np
import pytest
import torch

from gradfit import (
    InputError,
    accuracy,
    load_iris,
    mlp,
    prepare_iris_study,
    repeat_training,
    train_mlp,
)


def test_mlp_shapes():
    x = torch.randn(7, 4)
    logits = mlp(
        x, torch.rand(4, 12), torch.rand(12, 3), torch.rand(()), torch.rand(())
    )
    assert logits.shape == (7, 3)


def test_mlp_formula():
    x = torch.tensor([[1.0, -2.0]])
    W1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    W2 = torch.tensor([[2.0], [3.0]])
    # relu([1, -2] + 0.5) = [1.5, 0]; then 1.5 * 2 + 0 * 3 + 1 = 4.
    out = mlp(x, W1, W2, torch.tensor(0.5), torch.tensor(1.0))
    torch.testing.assert_close(out, torch.tensor([[4.0]]), rtol=0, atol=0)


def test_train_mlp_returns_study_shapes():
    split = prepare_iris_study()
    torch.manual_seed(0)
    W1, W2, b1, b2 = train_mlp(split.data_tr, split.targets_tr, num_epochs=3)
    assert W1.shape == (4, 12)
    assert W2.shape == (12, 3)
    assert b1.shape == ()
    assert b2.shape == ()
    assert not any(p.requires_grad for p in (W1, W2, b1, b2))


def test_trained_run_beats_chance():
    split = prepare_iris_study()
    torch.manual_seed(0)
    W1, W2, b1, b2 = train_mlp(split.data_tr, split.targets_tr)
    majority = torch.bincount(split.targets_va).max().item() / len(split.targets_va)
    assert (
        accuracy(mlp(split.data_va, W1, W2, b1, b2), split.targets_va) > majority + 0.3
    )


def test_first_training_step_matches_hand_gradient():
    """One epoch equals one step along the autograd gradient of the summed loss."""
    split = prepare_iris_study()
    torch.manual_seed(5)
    start = [torch.rand(4, 12), torch.rand(12, 3), torch.rand(()), torch.rand(())]
    params = [p.clone().requires_grad_() for p in start]
    loss = torch.nn.functional.cross_entropy(
        mlp(split.data_tr, *params), split.targets_tr, reduction="sum"
    )
    grads = torch.autograd.grad(loss, params)
    torch.manual_seed(5)
    trained = train_mlp(split.data_tr, split.targets_tr, num_epochs=1, lr=0.01)
    for p0, g, p1 in zip(start, grads, trained):
        torch.testing.assert_close(p1, p0 - 0.01 * g, rtol=1e-6, atol=1e-6)


def test_study_split():
    split = prepare_iris_study()
    assert split.data_tr.shape == (100, 4)
    assert split.data_va.shape == (50, 4)
    order = np.random.RandomState(0).permutation(150)
    original = load_iris().labels[torch.from_numpy(order)]
    # Class 0 is the class of the first shuffled row, and so on.
    first_seen = list(dict.fromkeys(original.tolist()))
    assert split.class_names == tuple(load_iris().class_names[k] for k in first_seen)
    relabelled = torch.cat([split.targets_tr, split.targets_va])
    assert relabelled[0].item() == 0
    assert sorted(set(relabelled.tolist())) == [0, 1, 2]


def test_study_scaling_divides_by_variance():
    split = prepare_iris_study()
    data = torch.cat([split.data_tr, split.data_va])
    features = load_iris().features
    torch.testing.assert_close(data.mean(dim=0), torch.zeros(4), rtol=0, atol=1e-6)
    # (x - mean) / var has standard deviation 1 / std of the raw feature.
    torch.testing.assert_close(
        data.std(dim=0), 1 / features.std(dim=0), rtol=1e-5, atol=0
    )


def test_repeat_training_is_reproducible():
    split = prepare_iris_study()
    torch.manual_seed(0)
    first = repeat_training(split, runs=3, num_epochs=20)
    torch.manual_seed(0)
    second = repeat_training(split, runs=3, num_epochs=20)
    assert first == second
    assert all(0.0 <= r.train_accuracy <= 1.0 for r in first)


def test_accuracy_of_predictions():
    assert accuracy(torch.tensor([0, 1, 2, 2]), torch.tensor([0, 1, 1, 2])) == 0.75
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0]])
    assert accuracy(logits, torch.tensor([0, 0])) == 0.5


def test_accuracy_rejects_shape_mismatch():
    with pytest.raises(InputError, match="do not match"):
        accuracy(torch.tensor([0, 1]), torch.tensor([0, 1, 1]))


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [({"num_epochs": 0}, "num_epochs=0"), ({"lr": -0.1}, "lr=-0.1")],
)
def test_train_mlp_rejects_bad_arguments(kwargs, fragment):
    split = prepare_iris_study()
    with pytest.raises(InputError, match=fragment):
        train_mlp(split.data_tr, split.targets_tr, **kwargs)


def test_train_mlp_rejects_numpy_data():
    split = prepare_iris_study()
    with pytest.raises(TypeError, match="training data must be a torch.Tensor"):
        train_mlp(split.data_tr.numpy(), split.targets_tr)


def test_train_mlp_rejects_nan_feature():
    split = prepare_iris_study()
    data = split.data_tr.clone()
    data[7, 2] = float("nan")
    with pytest.raises(InputError, match=r"training data\[7, 2\] is nan"):
        train_mlp(data, split.targets_tr)
