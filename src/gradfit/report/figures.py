"""Report figures, drawn with matplotlib's Agg backend and returned as PNG bytes."""

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["loss_curve_figure", "pca_comparison_figure", "to_png"]

DPI = 110


def to_png(fig):
    """Render ``fig`` to PNG bytes and close it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def loss_curve_figure(losses, optimum):
    """Plot the GD loss per epoch (log scale) against the truncated-SVD optimum.

    The left panel shows the loss itself; the right one the excess over the
    optimum, which shows how the last digits converge.
    """
    losses = np.asarray(losses, dtype=np.float64)
    epochs = np.arange(1, len(losses) + 1)
    fig, (ax_loss, ax_gap) = plt.subplots(1, 2, figsize=(10, 3.8))

    ax_loss.semilogy(epochs, losses, label="gradient descent")
    ax_loss.axhline(
        optimum,
        color="tab:red",
        linestyle="--",
        label=f"truncated SVD optimum ({optimum:.4f})",
    )
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("summed squared error ||A - U Vᵀ||²")
    ax_loss.set_title("(a) loss")
    ax_loss.legend()

    excess = losses - optimum
    positive = excess > 0
    ax_gap.semilogy(epochs[positive], excess[positive])
    ax_gap.set_xlabel("epoch")
    ax_gap.set_ylabel("loss − SVD optimum")
    ax_gap.set_title("(b) excess over the optimum")
    fig.tight_layout()
    return fig


def pca_comparison_figure(projection, U, labels, class_names):
    """Scatter the PCA projection and the rows of U side by side, coloured by class."""
    projection = np.asarray(projection)
    U = np.asarray(U)
    labels = np.asarray(labels)
    fig, (ax_svd, ax_gd) = plt.subplots(1, 2, figsize=(10, 4.2))
    panels = (
        (
            ax_svd,
            projection,
            "(a) SVD: principal-component scores",
            "PC 1 score",
            "PC 2 score",
        ),
        (ax_gd, U, "(b) factorisation: rows of U", "U[:, 0]", "U[:, 1]"),
    )
    for ax, points, title, xlabel, ylabel in panels:
        for k, name in enumerate(class_names):
            rows = labels == k
            ax.scatter(points[rows, 0], points[rows, 1], s=14, label=name)
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig
