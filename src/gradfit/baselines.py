"""Closed-form baselines: the truncated SVD, PCA projections and subspace comparison."""

from dataclasses import dataclass

import torch

from .errors import InputError
from .lowrank import _check_problem

__all__ = [
    "LinearMap",
    "best_linear_map",
    "pca_projection",
    "principal_angles",
    "truncated_svd",
]


def truncated_svd(A, rank):
    """Return the best rank-``rank`` approximation of A (Eckart-Young), shape (m, n).

    Computed from the thin SVD ``A = U diag(S) V^T`` as the sum of the first
    ``rank`` terms; no rank-``rank`` matrix has a smaller squared error.
    """
    _check_problem(A, rank)
    U, S, Vh = torch.linalg.svd(A, full_matrices=False)
    return (U[:, :rank] * S[:rank]) @ Vh[:rank]


def pca_projection(A, n_components):
    """Project the rows of A onto its first ``n_components`` right singular vectors.

    For a column-centred A these are the principal-component scores, shape
    (m, n_components). The sign of each right singular vector is fixed so that
    its largest-magnitude entry is positive, which makes the result deterministic.
    """
    _check_problem(A, n_components)
    _, _, Vh = torch.linalg.svd(A, full_matrices=False)
    components = Vh[:n_components]
    pivot = components.abs().argmax(dim=1)
    signs = torch.sign(components[torch.arange(n_components), pivot])
    return A @ (components * signs[:, None]).T


def principal_angles(X, Y):
    """Return the principal angles, in radians and ascending, between col(X) and col(Y).

    X has shape (m, p) and Y shape (m, q); the result has min(p, q) entries. An
    angle of 0 means the two column spaces share that direction.
    """
    if X.ndim != 2 or Y.ndim != 2 or X.shape[0] != Y.shape[0]:
        raise InputError(
            f"X has shape {tuple(X.shape)} and Y has shape {tuple(Y.shape)}; give "
            "two matrices with the same number of rows"
        )
    Qx, _ = torch.linalg.qr(X.double())
    Qy, _ = torch.linalg.qr(Y.double())
    cosines = torch.linalg.svdvals(Qx.T @ Qy).clamp(-1.0, 1.0)
    # arccos loses accuracy near 0; the sines of small angles come from the
    # component of Qy orthogonal to col(X).
    residual = Qy - Qx @ (Qx.T @ Qy)
    sines = torch.linalg.svdvals(residual).clamp(0.0, 1.0)
    sines = torch.flip(sines, dims=(0,))[: cosines.numel()]
    angles = torch.where(cosines > 0.7, torch.arcsin(sines), torch.arccos(cosines))
    return torch.sort(angles).values


@dataclass(frozen=True)
class LinearMap:
    """The least-squares map M with ``X @ M ~ Y`` and its polar decomposition.

    Attributes
    ----------
    matrix : torch.Tensor, shape (r, r)
        The map M.
    relative_residual : float
        ||X M - Y||_F / ||Y||_F.
    rotation : torch.Tensor, shape (r, r)
        The orthogonal factor R of M = R P.
    scales : torch.Tensor, shape (r,)
        Singular values of M: how much M stretches along its principal axes.
    rotation_deg : float or None
        For r = 2, the angle of ``rotation`` in degrees when it is a proper
        rotation; None when it includes a reflection or r != 2.
    reflection : bool
        True when det(M) < 0.
    """

    matrix: torch.Tensor
    relative_residual: float
    rotation: torch.Tensor
    scales: torch.Tensor
    rotation_deg: float | None
    reflection: bool


def best_linear_map(X, Y):
    """Fit the r x r matrix M minimising ||X M - Y||_F, for X and Y of shape (m, r)."""
    X64, Y64 = X.double(), Y.double()
    M = torch.linalg.lstsq(X64, Y64).solution
    residual = (
        torch.linalg.matrix_norm(X64 @ M - Y64) / torch.linalg.matrix_norm(Y64)
    ).item()
    W, S, Vh = torch.linalg.svd(M)
    R = W @ Vh
    reflection = bool(torch.linalg.det(M) < 0)
    angle = None
    if M.shape == (2, 2) and not reflection:
        angle = float(torch.rad2deg(torch.atan2(R[1, 0], R[0, 0])))
    return LinearMap(M, residual, R, S, angle, reflection)
