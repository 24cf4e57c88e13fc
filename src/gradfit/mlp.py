"""The study's 4-12-3 ReLU network, written with raw tensors and trained by autograd."""

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ._validate import check_learning_rate, check_positive_int
from .batched import check_training_data
from .data import load_iris
from .errors import InputError

__all__ = [
    "RunAccuracy",
    "StudySplit",
    "accuracy",
    "mlp",
    "prepare_iris_study",
    "repeat_training",
    "train_mlp",
]


def mlp(x, W1, W2, b1, b2):
    """Compute the logits ``relu(x @ W1 + b1) @ W2 + b2``.

    Shapes: x (N, d), W1 (d, h), W2 (h, c); b1 and b2 broadcast against (N, h)
    and (N, c), so a scalar or a (h,) / (c,) vector works. Returns (N, c).
    """
    return torch.relu(x @ W1 + b1) @ W2 + b2


def train_mlp(data_tr, targets_tr, num_epochs=100, lr=0.01):
    """Train the study's MLP by full-batch gradient descent on summed cross-entropy.

    W1 (d x 12), W2 (12 x c) and the scalar biases b1 and b2 start uniform in
    [0, 1), drawn in that order from torch's global generator; d is the number
    of features and c = ``targets_tr.max() + 1`` the number of classes (4 and
    3 for Iris). Each epoch takes one plain gradient step of size ``lr``.

    Parameters
    ----------
    data_tr : torch.Tensor, shape (N, d), float
    targets_tr : torch.Tensor, shape (N,), int64
        Class indices in 0..c-1.
    num_epochs : int, default=100
    lr : float, default=0.01

    Returns
    -------
    W1, W2, b1, b2 : torch.Tensor
        Detached weights, shapes (d, 12), (12, c), () and ().
    """
    check_training_data(data_tr, targets_tr)
    check_positive_int("num_epochs", num_epochs)
    check_learning_rate(lr)

    n_features = data_tr.shape[1]
    n_classes = int(targets_tr.max()) + 1
    dtype = data_tr.dtype
    W1 = torch.rand(n_features, 12, dtype=dtype, requires_grad=True)
    W2 = torch.rand(12, n_classes, dtype=dtype, requires_grad=True)
    b1 = torch.rand((), dtype=dtype, requires_grad=True)
    b2 = torch.rand((), dtype=dtype, requires_grad=True)
    params = (W1, W2, b1, b2)

    for _ in range(num_epochs):
        logits = mlp(data_tr, W1, W2, b1, b2)
        loss = F.cross_entropy(logits, targets_tr, reduction="sum")
        loss.backward()
        with torch.no_grad():
            for p in params:
                p -= lr * p.grad
                p.grad.zero_()
    return tuple(p.detach() for p in params)


def accuracy(logits, targets):
    """Return the fraction of rows whose arg-max logit equals the target, in [0, 1].

    ``logits`` has shape (N, c) or contains predicted classes of shape (N,);
    ``targets`` has shape (N,).
    """
    predictions = logits.argmax(dim=1) if logits.ndim == 2 else logits
    if predictions.shape != targets.shape:
        raise InputError(
            f"predictions of shape {tuple(predictions.shape)} do not match targets of "
            f"shape {tuple(targets.shape)}"
        )
    if targets.numel() == 0:
        raise InputError("accuracy of an empty set is undefined; pass at least one row")
    return (predictions == targets).double().mean().item()


@dataclass(frozen=True)
class StudySplit:
    """Scaled training and validation rows of a labelled data set.

    ``prepare_iris_study`` and ``iris_study_split`` return Iris split 100 / 50
    as the study did it, and ``split_labelled`` any labelled table.

    Attributes
    ----------
    data_tr : torch.Tensor, shape (N_tr, d), float
    targets_tr : torch.Tensor, shape (N_tr,), int64
        Class indices 0..c-1.
    data_va : torch.Tensor, shape (N_va, d), float
    targets_va : torch.Tensor, shape (N_va,), int64
    class_names : tuple of str
        ``class_names[k]`` is the label coded k.
    """

    data_tr: torch.Tensor
    targets_tr: torch.Tensor
    data_va: torch.Tensor
    targets_va: torch.Tensor
    class_names: tuple


def prepare_iris_study(iris=None, n_train=100):
    """Shuffle, normalise and split the Iris data as the study did.

    Rows are reordered by ``numpy.random.RandomState(0).permutation(150)``,
    which is the order ``pandas.DataFrame.sample(frac=1, random_state=0)``
    gives. Classes are numbered in order of first appearance after the
    shuffle. Each feature becomes ``(x - mean) / var`` over all 150 rows, with
    the unbiased variance (divisor N - 1): the study divided by the variance,
    not the standard deviation, and that is kept here so its results come out.
    The first ``n_train`` rows train and the rest validate.

    Returns a StudySplit: ``data_tr`` (n_train, 4), ``targets_tr`` (n_train,),
    ``data_va``, ``targets_va`` and ``class_names``.
    """
    features, labels, class_names = shuffle_iris_as_study(iris)
    normalised = (features - features.mean(dim=0)) / features.var(dim=0)
    return StudySplit(
        normalised[:n_train],
        labels[:n_train],
        normalised[n_train:],
        labels[n_train:],
        class_names,
    )


def shuffle_iris_as_study(iris=None):
    """Return the Iris rows in the study's order, with classes renumbered.

    Rows are reordered by ``numpy.random.RandomState(0).permutation(150)`` and
    classes numbered in order of first appearance after the shuffle. Returns
    ``(features, labels, class_names)``, shapes (150, 4) and (150,).
    """
    iris = load_iris() if iris is None else iris
    order = torch.from_numpy(np.random.RandomState(0).permutation(len(iris.labels)))
    features = iris.features[order]
    original = iris.labels[order]

    first_seen = list(dict.fromkeys(original.tolist()))
    relabel = torch.empty(len(iris.class_names), dtype=torch.int64)
    relabel[torch.tensor(first_seen)] = torch.arange(len(first_seen))
    class_names = tuple(iris.class_names[k] for k in first_seen)
    return features, relabel[original], class_names


@dataclass(frozen=True)
class RunAccuracy:
    """Training and validation accuracy of one trained network."""

    train_accuracy: float
    validation_accuracy: float


def repeat_training(split, runs=10, num_epochs=100, lr=0.01, *, callback=None):
    """Train ``runs`` networks in a row from the global generator and score each.

    Seed with ``torch.manual_seed`` first to reproduce a table. ``callback``,
    if given, is called as ``callback(run_index)`` after each run, with
    ``run_index`` counted from 0. Returns a list of ``runs`` RunAccuracy.
    """
    check_positive_int("runs", runs)
    results = []
    for k in range(runs):
        W1, W2, b1, b2 = train_mlp(split.data_tr, split.targets_tr, num_epochs, lr)
        results.append(
            RunAccuracy(
                accuracy(mlp(split.data_tr, W1, W2, b1, b2), split.targets_tr),
                accuracy(mlp(split.data_va, W1, W2, b1, b2), split.targets_va),
            )
        )
        if callback is not None:
            callback(k)
    return results
