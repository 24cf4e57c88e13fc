import matplotlib.pyplot as plt
import numpy as np
import pytest

from gradfit.report.mlp_figures import (
    accuracy_distribution_figure,
    loss_curves_figure,
)


@pytest.fixture
def two_configs():
    names = ["uniform01/variance", "kaiming/variance"]
    accuracies = [np.array([0.9, 0.6, 0.92]), np.array([0.88, 0.9, 0.94])]
    losses = [np.linspace(100, 20, 30)[None].repeat(3, 0) for _ in names]
    failed = [acc < 0.8 for acc in accuracies]
    return names, accuracies, losses, failed


def legend_labels(ax):
    return [text.get_text() for text in ax.get_legend().get_texts()]


def test_accuracy_figure_labels(two_configs):
    names, accuracies, _, _ = two_configs
    fig = accuracy_distribution_figure(names, accuracies, 0.8)
    axes = fig.axes
    assert len(axes) == 2
    assert axes[-1].get_xlabel() == "validation accuracy"
    assert axes[0].get_ylabel() == "runs"
    assert legend_labels(axes[0]) == ["passed", "failed"]
    assert axes[0].get_title() == "uniform01/variance: 33.3% of 3 runs below 0.8"
    plt.close(fig)


def test_loss_figure_labels_match_accuracy_figure(two_configs):
    names, _, losses, failed = two_configs
    fig = loss_curves_figure(names, losses, failed)
    first, second = fig.axes[:2]
    assert first.get_xlabel() == "epoch"
    assert first.get_ylabel() == "summed cross-entropy"
    assert first.get_title() == "uniform01/variance"
    assert legend_labels(first) == ["passed (2 shown)", "failed (1 shown)"]
    assert legend_labels(second) == ["passed (3 shown)"]
    plt.close(fig)
