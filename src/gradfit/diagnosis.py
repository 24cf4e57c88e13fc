"""Diagnose batches of trained networks: accuracy, dead units, collapse, failure."""

import math
from dataclasses import dataclass

import numpy as np
import torch

from .batched import batched_forward, batched_hidden
from .errors import InputError

__all__ = [
    "DEFAULT_FAIL_BELOW",
    "RunDiagnosis",
    "batched_accuracy",
    "count_dead_units",
    "diagnose_runs",
    "summarise_diagnosis",
    "wilson_interval",
]

#: A run fails when its validation accuracy is below this.
DEFAULT_FAIL_BELOW = 0.8
#: Normal quantile of a two-sided 95 % interval.
Z_95 = 1.959963984540054
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclass(frozen=True)
class RunDiagnosis:
    """Per-run findings for K trained networks; every field has length K.

    Attributes
    ----------
    final_loss : numpy.ndarray, float64
        Summed training cross-entropy at the final weights (NaN or inf when the
        run diverged).
    train_accuracy, validation_accuracy : numpy.ndarray, float64
        Fractions in [0, 1].
    dead_units : numpy.ndarray, int64
        Hidden ReLU units, over all hidden layers, whose output is 0 on every
        training row.
    classes_predicted : numpy.ndarray, int64
        Number of distinct classes the run predicts on the training rows.
    at_chance : numpy.ndarray, bool
        The run predicts a single class on every training row, or its training
        accuracy is no better than the share of the most common training class.
    diverged_epoch : numpy.ndarray, int64
        1-based epoch at which the loss first became non-finite, 0 if never.
    failed : numpy.ndarray, bool
        Diverged, or validation accuracy below ``fail_below``.
    reasons : tuple of str
        Why each run failed; "" for a run that did not fail.
    fail_below : float
    n_classes : int
        Number of classes in the training targets.
    """

    final_loss: np.ndarray
    train_accuracy: np.ndarray
    validation_accuracy: np.ndarray
    dead_units: np.ndarray
    classes_predicted: np.ndarray
    at_chance: np.ndarray
    diverged_epoch: np.ndarray
    failed: np.ndarray
    reasons: tuple
    fail_below: float
    n_classes: int

    def __len__(self):
        return len(self.failed)


def batched_accuracy(logits, targets):
    """Return each model's fraction of correctly classified rows, shape (K,).

    Parameters
    ----------
    logits : torch.Tensor, shape (K, N, c)
        Or predicted classes of shape (K, N).
    targets : torch.Tensor, shape (N,), int64
    """
    predictions = logits.argmax(dim=2) if logits.ndim == 3 else logits
    if predictions.ndim != 2 or predictions.shape[1:] != targets.shape:
        raise InputError(
            f"predictions of shape {tuple(predictions.shape)} do not match targets of "
            f"shape {tuple(targets.shape)}; pass (K, N) predictions and (N,) targets"
        )
    if targets.numel() == 0:
        raise InputError("accuracy of an empty set is undefined; pass at least one row")
    return (predictions == targets[None, :]).double().mean(dim=1)


def count_dead_units(x, weights, biases):
    """Count, per model, the hidden units whose ReLU output is 0 on every row of x.

    Returns an int64 tensor of shape (K,) summed over all hidden layers. A dead
    unit passes no gradient to its incoming weights, so gradient descent
    cannot revive it.
    """
    counts = torch.zeros(
        weights[0].shape[0], dtype=torch.int64, device=weights[0].device
    )
    with torch.no_grad():
        for h in batched_hidden(x, weights, biases):
            counts += (h == 0).all(dim=1).sum(dim=1)
    return counts


def diagnose_runs(training, split, fail_below=DEFAULT_FAIL_BELOW):
    """Diagnose every run of a BatchedTraining on the split it was trained on.

    Parameters
    ----------
    training : BatchedTraining
    split : StudySplit
        The training rows must be those the models were trained on.
    fail_below : float, default=DEFAULT_FAIL_BELOW
        A run fails when its validation accuracy is below this, in [0, 1].

    Returns
    -------
    RunDiagnosis
    """
    if not 0 <= fail_below <= 1:
        raise InputError(
            f"fail_below={fail_below!r} is invalid; use an accuracy between 0 and 1"
        )
    weights, biases = training.weights, training.biases
    with torch.no_grad():
        logits_tr = batched_forward(split.data_tr, weights, biases)
        logits_va = batched_forward(split.data_va, weights, biases)
    predictions_tr = logits_tr.argmax(dim=2)
    train_accuracy = batched_accuracy(predictions_tr, split.targets_tr).cpu().numpy()
    validation_accuracy = batched_accuracy(logits_va, split.targets_va).cpu().numpy()

    n_classes = int(split.targets_tr.max()) + 1
    predicted = torch.zeros(
        len(predictions_tr), n_classes, dtype=torch.bool, device=predictions_tr.device
    )
    predicted.scatter_(1, predictions_tr, True)
    classes_predicted = predicted.sum(dim=1).cpu().numpy()

    majority_share = split.targets_tr.bincount().max().item() / len(split.targets_tr)
    at_chance = (classes_predicted == 1) | (train_accuracy <= majority_share)

    diverged_epoch = training.diverged_epoch.cpu().numpy()
    failed = (diverged_epoch > 0) | (validation_accuracy < fail_below)
    reasons = tuple(
        _failure_reason(epoch, accuracy, fail_below)
        for epoch, accuracy in zip(
            diverged_epoch.tolist(), validation_accuracy.tolist()
        )
    )
    return RunDiagnosis(
        final_loss=training.final_loss.double().cpu().numpy(),
        train_accuracy=train_accuracy,
        validation_accuracy=validation_accuracy,
        dead_units=count_dead_units(split.data_tr, weights, biases).cpu().numpy(),
        classes_predicted=classes_predicted,
        at_chance=at_chance,
        diverged_epoch=diverged_epoch,
        failed=failed,
        reasons=reasons,
        fail_below=fail_below,
        n_classes=n_classes,
    )


def _failure_reason(diverged_epoch, validation_accuracy, fail_below):
    if diverged_epoch > 0:
        return f"diverged: the loss became non-finite at epoch {diverged_epoch}"
    if validation_accuracy < fail_below:
        return f"validation accuracy {validation_accuracy:.3f} < {fail_below:g}"
    return ""


def wilson_interval(successes, n, z=Z_95):
    """Return the Wilson score interval ``(low, high)`` for a binomial proportion.

    ``successes`` out of ``n`` trials; ``z`` = 1.96 gives 95 % coverage. Unlike
    p +- z sqrt(p (1 - p) / n), the interval stays inside [0, 1] and does not
    shrink to a point when ``successes`` is 0 or ``n``.
    """
    if n < 1 or not 0 <= successes <= n:
        raise InputError(
            f"successes={successes!r} and n={n!r} are invalid; use 0 <= successes <= n "
            "and n >= 1"
        )
    p = successes / n
    denominator = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denominator
    half_width = z / denominator * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return max(0.0, centre - half_width), min(1.0, centre + half_width)


def summarise_diagnosis(diagnosis):
    """Aggregate a RunDiagnosis into a JSON-ready dict.

    The dict contains the mean, sample standard deviation, minimum, maximum
    and quantiles of the validation accuracy, and the failure count and rate
    with its 95 % Wilson interval. It also counts the failed runs that
    diverged, had a dead hidden unit, sat at chance level or never predicted
    some class on the training rows.
    """
    valid = diagnosis.validation_accuracy
    train = diagnosis.train_accuracy
    n = len(valid)
    failed = diagnosis.failed
    n_failed = int(failed.sum())
    low, high = wilson_interval(n_failed, n)
    healthy = ~failed
    return {
        "runs": n,
        "fail_below": diagnosis.fail_below,
        "validation_accuracy": _describe(valid),
        "train_accuracy": _describe(train),
        "failures": n_failed,
        "failure_rate": n_failed / n,
        "failure_rate_ci95": [low, high],
        "failures_with_dead_units": int((failed & (diagnosis.dead_units > 0)).sum()),
        "failures_at_chance": int((failed & diagnosis.at_chance).sum()),
        "failures_missing_a_class": int(
            (failed & (diagnosis.classes_predicted < diagnosis.n_classes)).sum()
        ),
        "diverged": int((diagnosis.diverged_epoch > 0).sum()),
        "mean_dead_units_failed": _mean_or_none(diagnosis.dead_units[failed]),
        "mean_dead_units_healthy": _mean_or_none(diagnosis.dead_units[healthy]),
    }


def _describe(values):
    sd = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    summary = {
        "mean": float(np.mean(values)),
        "sd": sd,
        "min": float(np.min(values)),
        "max": float(np.max(values)),
    }
    for q in QUANTILES:
        summary[f"q{round(q * 100):02d}"] = float(np.quantile(values, q))
    return summary


def _mean_or_none(values):
    return float(np.mean(values)) if len(values) else None
