"""Low-rank factorisation A ~ U V^T by plain gradient descent, as the study did it.

gradfit returns V with shape (n, rank), so the reconstruction is ``U @ V.T``
(torch's convention; scikit-learn's ``components_`` stores V^T instead).
"""

import math

import torch

from ._validate import check_learning_rate, check_positive_int, check_rank
from .errors import DivergenceError, InputError

__all__ = ["gd_factorise_ad", "squared_error", "suggest_learning_rate"]


def squared_error(A, A_hat):
    """Return the summed squared error ||A - A_hat||_F^2 as a 0-d tensor."""
    if A.shape != A_hat.shape:
        raise InputError(
            f"A has shape {tuple(A.shape)} but A_hat has shape "
            f"{tuple(A_hat.shape)}; give two matrices of the same shape"
        )
    return ((A - A_hat) ** 2).sum()


def gd_factorise_ad(A, rank, num_epochs=1000, lr=0.01, *, callback=None):
    """Factorise ``A ~ U V^T`` by plain gradient descent on the summed squared error.

    U and V start uniform in [0, 1), drawn from torch's global generator (seed
    it with ``torch.manual_seed`` to reproduce a run). Each epoch computes
    ``squared_error(A, U @ V.T)`` with autograd and takes one step of size
    ``lr`` on both factors, with no optimiser object.

    Parameters
    ----------
    A : torch.Tensor, shape (m, n)
        The matrix to factorise, floating point.
    rank : int
        Number of columns r of U and V, 1 <= rank <= min(m, n).
    num_epochs : int, default=1000
        Number of gradient steps, at least 1.
    lr : float, default=0.01
        Step size, a positive number.
    callback : callable, optional
        Called as ``callback(epoch, loss)`` after each epoch's loss is computed,
        with ``epoch`` counted from 1 and ``loss`` a Python float.

    Returns
    -------
    U : torch.Tensor, shape (m, rank)
    V : torch.Tensor, shape (n, rank)
        Detached factors with ``A ~ U @ V.T``.

    Raises
    ------
    DivergenceError
        If the loss becomes NaN or infinite; no factors are returned then.
    """
    m, n = _check_problem(A, rank)
    _check_epochs_lr(num_epochs, lr)

    U = torch.rand(m, rank, dtype=A.dtype, device=A.device, requires_grad=True)
    V = torch.rand(n, rank, dtype=A.dtype, device=A.device, requires_grad=True)
    U0, V0 = U.detach().clone(), V.detach().clone()

    last_finite = None
    for epoch in range(1, num_epochs + 1):
        loss = squared_error(A, U @ V.T)
        loss.backward()
        value = loss.item()
        if not math.isfinite(value):
            raise DivergenceError(
                lr, epoch, last_finite, suggest_learning_rate(A, U0, V0)
            )
        last_finite = value
        if callback is not None:
            callback(epoch, value)
        with torch.no_grad():
            U -= lr * U.grad
            V -= lr * V.grad
        U.grad.zero_()
        V.grad.zero_()

    # The loss above was measured before the last step; check the final factors too.
    with torch.no_grad():
        final = squared_error(A, U @ V.T).item()
    if not math.isfinite(final):
        raise DivergenceError(
            lr, num_epochs, last_finite, suggest_learning_rate(A, U0, V0)
        )
    return U.detach(), V.detach()


def suggest_learning_rate(A, U0, V0):
    """Estimate a step size that plain gradient descent can take safely from U0, V0.

    The gradient of ||A - U V^T||_F^2 is Lipschitz with a constant of about
    2 (||U||_2^2 + ||V||_2^2) + 2 ||A - U V^T||_2. Along a convergent run the
    factors' squared norms stay below s = max(||U0||_2^2, ||V0||_2^2, ||A||_2),
    which bounds the constant by about 8 s; the suggestion is 1 / (8 s).
    """
    for name, matrix in (("A", A), ("U0", U0), ("V0", V0)):
        if not bool(torch.isfinite(matrix).all()):
            raise InputError(
                f"{name} contains NaN or infinite entries, so no step size can be "
                "estimated; replace them with finite numbers"
            )
    with torch.no_grad():
        s = max(
            torch.linalg.matrix_norm(U0.double(), ord=2).item() ** 2,
            torch.linalg.matrix_norm(V0.double(), ord=2).item() ** 2,
            torch.linalg.matrix_norm(A.double(), ord=2).item(),
        )
    return 1.0 / (8.0 * s) if s > 0 else None


def _check_problem(A, rank):
    if not isinstance(A, torch.Tensor):
        raise TypeError(f"A must be a torch.Tensor, got {type(A).__name__}")
    if A.ndim != 2:
        raise InputError(f"A must be a matrix (2-D), got shape {tuple(A.shape)}")
    if not A.is_floating_point():
        raise TypeError(f"A must be floating point, got dtype {A.dtype}; cast it first")
    finite = torch.isfinite(A)
    if not bool(finite.all()):
        i, j = (int(k) for k in torch.nonzero(~finite)[0])
        raise InputError(
            f"A[{i}, {j}] is {A[i, j].item()}, but A must be finite; replace the "
            "cell, or use factorise with missing='nan' to treat NaN as missing"
        )
    m, n = A.shape
    check_rank(rank, m, n)
    return m, n


def _check_epochs_lr(num_epochs, lr):
    check_positive_int("num_epochs", num_epochs)
    check_learning_rate(lr)
