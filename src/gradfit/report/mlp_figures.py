"""Matplotlib figures of many MLP runs: accuracy distributions and loss curves."""

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["accuracy_distribution_figure", "loss_curves_figure"]


def accuracy_distribution_figure(names, accuracies, fail_below):
    """Draw one histogram of validation accuracy per configuration, stacked.

    Parameters
    ----------
    names : sequence of str
        Configuration labels.
    accuracies : sequence of numpy.ndarray
        Validation accuracy of every run, one array per configuration.
    fail_below : float
        Failure threshold, drawn as a dashed line.
    """
    n = len(names)
    fig, axes = plt.subplots(
        n, 1, figsize=(8, 1.6 + 1.3 * n), sharex=True, squeeze=False
    )
    bins = np.linspace(0, 1, 51)
    for ax, name, values in zip(axes[:, 0], names, accuracies):
        values = np.asarray(values)
        failed = values < fail_below
        ax.hist(values[~failed], bins=bins, color="tab:blue", label="passed")
        ax.hist(values[failed], bins=bins, color="tab:red", label="failed")
        ax.axvline(fail_below, color="black", linestyle="--", linewidth=1)
        ax.set_ylabel("runs")
        ax.set_title(
            f"{name}: {failed.mean():.1%} of {len(values)} runs below {fail_below:g}",
            fontsize="medium",
        )
    axes[0, 0].legend(fontsize="small", loc="upper left")
    axes[-1, 0].set_xlabel("validation accuracy")
    fig.tight_layout()
    return fig


def loss_curves_figure(names, losses, failed, n_each=5):
    """Plot the training loss of a few failed and a few passed runs per configuration.

    Parameters
    ----------
    names : sequence of str
    losses : sequence of numpy.ndarray, shape (K, num_epochs)
        Summed cross-entropy per run and epoch.
    failed : sequence of numpy.ndarray, shape (K,), bool
    n_each : int, default=5
        Number of failed and of passed runs drawn per panel, the first ones.
    """
    n = len(names)
    columns = min(n, 3)
    rows = math.ceil(n / columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(4.2 * columns, 3.4 * rows), squeeze=False, sharey=True
    )
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax, name, history, bad in zip(axes.flat, names, losses, failed):
        history = np.asarray(history, dtype=np.float64)
        epochs = np.arange(1, history.shape[1] + 1)
        for rows_of, colour, label in (
            (~bad, "tab:blue", "passed"),
            (bad, "tab:red", "failed"),
        ):
            chosen = np.flatnonzero(rows_of)[:n_each]
            for i, k in enumerate(chosen):
                ax.semilogy(
                    epochs,
                    history[k],
                    color=colour,
                    alpha=0.7,
                    linewidth=1,
                    label=f"{label} ({len(chosen)} shown)" if i == 0 else None,
                )
        ax.set_title(name, fontsize="medium")
        ax.set_xlabel("epoch")
        ax.legend(fontsize="small")
    for ax in axes[:, 0]:
        ax.set_ylabel("summed cross-entropy")
    fig.tight_layout()
    return fig
