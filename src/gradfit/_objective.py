"""The factorisation objective, evaluated for A normalised to unit scale.

The objective is ``sum over observed (i, j) of (A_ij - (U V^T)_ij)^2`` plus
``l2 * (||U||_F^2 + ||V||_F^2)``. The optimisers see A divided by ``scale``, the
root mean square of the observed entries, so that one step size and one
initialisation suit A and 1e6 * A alike. Factors of the normalised problem are
multiplied by ``sqrt(scale)`` and losses by ``scale**2`` to return to A's units.
"""

import math

import torch

__all__ = ["Objective", "build_objective", "optimum"]

# Rows of A handled at once where a pass over A needs an (rows, n) temporary.
_CHUNK_ROWS = 2048
# Smallest mean square of A taken from its summed squares as they are. Below
# it the squares of the entries lose precision to float64 underflow.
_MIN_MEAN_SQUARE = 1e-250


class Objective:
    """The normalised objective of one problem: the loss function and its constants.

    Attributes
    ----------
    A : torch.Tensor, shape (m, n)
        The matrix in its working dtype and device. For a complete matrix this
        is the caller's data, not a copy, and it is not normalised, because a
        normalised copy would cost an m x n temporary. With a mask it is a
        normalised copy in which missing cells hold 0.
    weights : torch.Tensor or None, shape (m, n)
        1 for an observed cell, 0 for a missing one; None for a complete matrix.
    scale : float
        The root mean square of the observed entries (1 when all are 0).
    l2 : float
        The L2 penalty of the normalised problem, ``l2 / scale``.
    norm2 : float
        Squared Frobenius norm of the observed normalised entries, in float64.
    observed_fraction : float
        Fraction of cells that are observed, in (0, 1].
    """

    def __init__(self, A, weights, scale, l2, norm2, observed_fraction):
        self.A = A
        self.weights = weights
        self.scale = scale
        self.l2 = l2
        self.norm2 = norm2
        self.observed_fraction = observed_fraction

    @property
    def complete(self):
        return self.weights is None

    def loss(self, U, V):
        """Return the normalised objective at (U, V) as a float64 0-d tensor.

        Autograd differentiates it. For a complete matrix it is expanded as
        ``||A||^2 - 2 tr(U^T A V) + tr((U^T U)(V^T V))``, which needs U^T A and,
        for the gradient, A V, but no m x n residual. The r x r products and
        the traces run in float64, because the expansion subtracts large
        numbers.
        """
        if self.complete:
            # U^T A rather than A V, so that the backward pass multiplies by A^T
            # as V^T A^T. Both orientations suit a row-major A, where A^T U took
            # 1.6 times as long as U^T A (20000 x 1000, float32, CPU).
            cross = torch.sum((U.T @ self.A) * V.T, dtype=torch.float64) / self.scale
            gram = torch.sum((U.T @ U).double() * (V.T @ V).double())
            value = self.norm2 - 2.0 * cross + gram
        else:
            residual = (U @ V.T - self.A) * self.weights
            value = torch.sum(residual * residual, dtype=torch.float64)
        if self.l2 > 0:
            penalty = torch.sum(U * U, dtype=torch.float64)
            penalty = penalty + torch.sum(V * V, dtype=torch.float64)
            value = value + self.l2 * penalty
        return value

    def residual_loss(self, U, V):
        """Return the normalised objective at (U, V) of a complete A, summed exactly.

        Unlike ``loss``, which expands the square and so loses about float32's
        epsilon times ||A||^2 in float32, this sums the squared residual in
        float64, a block of rows at a time. It costs a pass over A in float64,
        so ``factorise`` calls it once, for the gap to the optimum.
        """
        Ud, Vd = U.detach().double(), V.detach().double()
        total = 0.0
        for start in range(0, self.A.shape[0], _CHUNK_ROWS):
            block = self.A[start : start + _CHUNK_ROWS].double() / self.scale
            residual = block - Ud[start : start + _CHUNK_ROWS] @ Vd.T
            total += torch.sum(residual * residual).item()
        penalty = torch.sum(Ud * Ud).item() + torch.sum(Vd * Vd).item()
        return total + self.l2 * penalty

    def to_user_units(self, loss):
        """Convert a normalised loss value (float) to the units of A squared."""
        return loss * self.scale**2


def build_objective(A, mask, l2, norm2=None):
    """Build the normalised objective for A (float, on its device) and a bool mask.

    ``mask`` is None for a complete matrix. Missing cells of A are replaced by 0
    with ``torch.where`` before any arithmetic, so NaN in them never reaches
    the loss or its gradients. ``norm2``, if given, is ||A||_F^2 of a complete
    A, computed by the caller.
    """
    if mask is None:
        norm2 = _squared_norm(A) if norm2 is None else norm2
        scale, normalised_norm2 = _root_mean_square(A, norm2, A.numel())
        return Objective(A, None, scale, l2 / scale, normalised_norm2, 1.0)

    filled = torch.where(mask, A, torch.zeros((), dtype=A.dtype, device=A.device))
    count = int(mask.sum())
    scale, normalised_norm2 = _root_mean_square(filled, _squared_norm(filled), count)
    filled /= scale
    weights = mask.to(A.dtype)
    return Objective(
        filled, weights, scale, l2 / scale, normalised_norm2, count / mask.numel()
    )


def optimum(A, rank, l2):
    """Return the minimum of the objective over rank-``rank`` factors of a complete A.

    With ``l2 = 0`` this is the truncated-SVD error ``sum_{i > rank} s_i^2``
    (Eckart-Young). With ``l2 > 0``, ``l2 (||U||^2 + ||V||^2)`` is at least
    ``2 l2 ||U V^T||_*`` with equality for balanced factors, so the minimiser
    shrinks each kept singular value to ``max(s_i - l2, 0)``. Computed in
    float64 from all singular values, summing the small ones directly rather
    than subtracting from ``||A||^2``.
    """
    s = torch.linalg.svdvals(A.double())
    top, tail = s[:rank], s[rank:]
    shrunk = torch.clamp(top - l2, min=0.0)
    value = torch.sum(tail * tail) + torch.sum((top - shrunk) ** 2 + 2 * l2 * shrunk)
    return value.item()


def _root_mean_square(A, norm2, count):
    """Return the root mean square of ``count`` entries of A and ||A / rms||_F^2.

    ``norm2`` is ||A||_F^2 in float64. Its squares underflow for entries below
    about 1e-154, so for a mean square below ``_MIN_MEAN_SQUARE`` the norm is
    recomputed from A divided by its largest magnitude. The scale is 1 when A
    is all zeros.
    """
    if norm2 / count >= _MIN_MEAN_SQUARE:
        scale = math.sqrt(norm2 / count)
        return scale, norm2 / scale**2
    peak = A.abs().max().item()
    if peak == 0:
        return 1.0, norm2
    rescaled = _squared_norm(A, divisor=peak)
    scale = peak * math.sqrt(rescaled / count)
    return scale, rescaled * (peak / scale) ** 2


def _squared_norm(A, divisor=1.0):
    """Return ||A / divisor||_F^2 in float64, a block of rows at a time."""
    total = 0.0
    for start in range(0, A.shape[0], _CHUNK_ROWS):
        flat = A[start : start + _CHUNK_ROWS].double().reshape(-1) / divisor
        total += torch.dot(flat, flat).item()
    return total
