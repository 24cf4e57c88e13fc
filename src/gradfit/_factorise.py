"""Low-rank factorisation A ~ U V^T with missing entries and a choice of optimiser.

gradfit returns V with shape (n, rank), so the reconstruction is ``U @ V.T``
(torch's convention). scikit-learn's ``components_`` contains V^T instead.
"""

import math
import time
import warnings
from dataclasses import dataclass

import torch

from . import _objective, _steps
from ._checks import check_arguments, check_observed, prepare_matrix
from .errors import ConvergenceWarning

__all__ = ["FactorisationResult", "factorise"]

#: Stop reasons of a run, see ``FactorisationResult.stop_reason``.
STOP_REASONS = ("tol", "max_epochs", "stalled", "callback")

# Root mean square of the entries of U0 V0^T for the random start, relative to
# that of the observed entries of A.
_RANDOM_INIT_SCALE = 1.0
# Power iterations of the randomized range finder behind init="spectral".
_SPECTRAL_POWER_ITERATIONS = 2


@dataclass(frozen=True)
class FactorisationResult:
    """The outcome of ``factorise``.

    Attributes
    ----------
    U : torch.Tensor, shape (m, rank)
    V : torch.Tensor, shape (n, rank)
        Factors with ``A ~ U @ V.T``, in the dtype and on the device of the run.
        They are fixed only up to an invertible rank x rank transform, so compare
        reconstructions or subspaces, not raw factors.
    losses : tuple of float
        The objective after 0, 1, ..., ``epochs`` epochs, in the units of A
        squared: the summed squared error over observed cells plus
        ``l2 * (||U||_F^2 + ||V||_F^2)``.
    epochs : int
        Number of epochs (accepted steps) behind the returned factors. A
        stalled run of "adam", "momentum" or "gd" with a fixed ``lr`` returns
        its lowest-loss iterate, and ``losses`` ends there.
    stop_reason : str
        "tol" when the last epoch lowered the loss by at most ``tol`` times its
        previous value, and "max_epochs" at the epoch limit. "stalled" when the
        line search found no decrease, or when no new lowest loss came for 50
        epochs. "callback" when the callback returned True.
    wall_time : float
        Seconds spent on the fit, from validation to the last epoch, without
        the computation of ``optimum``.
    optimizer : str
        The optimiser used.
    lr : float
        The step size in use at the end, in units of the normalised problem
        (see ``factorise``).
    seed : int
        Initial seed of the generator that drew the start, to reproduce the run.
    optimum : float or None
        The minimum of the objective over rank-``rank`` factors, from the
        singular values of A; None with missing entries or ``compare_svd=False``.
    optimum_gap : float or None
        ``(loss - optimum) / optimum``, with the loss at the returned factors
        summed from the residual in float64 rather than taken from ``losses``,
        whose float32 values can be off by more than the gap. None when
        ``optimum`` is None or 0.
    """

    U: torch.Tensor
    V: torch.Tensor
    losses: tuple
    epochs: int
    stop_reason: str
    wall_time: float
    optimizer: str
    lr: float
    seed: int
    optimum: float | None
    optimum_gap: float | None

    @property
    def loss(self):
        """The objective at the returned factors, ``losses[-1]``."""
        return self.losses[-1]

    @property
    def converged(self):
        """True when the run stopped because the loss change fell below ``tol``."""
        return self.stop_reason == "tol"


def factorise(
    A,
    rank,
    *,
    mask=None,
    missing=None,
    optimizer="scaledgd",
    lr=None,
    max_epochs=1000,
    tol=1e-5,
    l2=0.0,
    init="random",
    seed=None,
    device=None,
    dtype=None,
    callback=None,
    compare_svd=True,
):
    """Factorise ``A ~ U V^T`` by minimising the squared error over observed cells.

    The objective is ``sum over observed (i, j) of (A_ij - (U V^T)_ij)^2 +
    l2 * (||U||_F^2 + ||V||_F^2)``. Internally A is divided by the root mean
    square of its observed entries, so that the default step sizes and the
    random start work the same for A and for 1e6 * A; the results are in A's
    units.

    Parameters
    ----------
    A : torch.Tensor or numpy.ndarray, shape (m, n)
        The matrix, real floating point or integer. An integer matrix is cast
        once to ``dtype``. Missing cells may hold anything, NaN included.
    rank : int
        Number of columns r of U and V, ``1 <= rank <= min(m, n)``.
    mask : torch.Tensor or numpy.ndarray of bool, shape (m, n), optional
        True where A is observed. Default: every cell is observed (except NaN
        cells with ``missing="nan"``).
    missing : {None, "nan"}, default=None
        With "nan", NaN cells of A are missing, in addition to those ``mask``
        leaves out. With None, an observed NaN is an error.
    optimizer : {"scaledgd", "gd", "momentum", "adam", "lbfgs"}, default="scaledgd"
        "scaledgd" is scaled (preconditioned) gradient descent. "gd" and
        "momentum" are ``torch.optim.SGD`` without and with momentum 0.9, "adam"
        is ``torch.optim.Adam`` and "lbfgs" is ``torch.optim.LBFGS`` with a
        strong-Wolfe line search, one iteration per epoch.
    lr : float, optional
        Step size for the normalised problem. Default: chosen from the problem.
        "gd" and "scaledgd" then use a backtracking (Armijo) line search that
        starts from ``1 / (8 (max(||U0||_F^2, ||V0||_F^2, ||A||_F) + l2))``
        and from 2/3, with A, U0 and V0 normalised. "momentum" uses that first
        value as a fixed step, "adam" 0.01 and "lbfgs" 1.0. A given ``lr`` is a
        fixed step, except for L-BFGS, whose line search starts from it.
    max_epochs : int, default=1000
        Epoch limit, at least 1.
    tol : float, default=1e-5
        Stop once an epoch lowers the loss by at most ``tol`` times its previous
        value. 0 runs to ``max_epochs`` or a stall. A plateau also gives a small
        decrease, so "gd" and "adam" may need a lower ``tol`` to get close to
        the optimum.
    l2 : float, default=0.0
        Weight of the penalty ``||U||_F^2 + ||V||_F^2``, in the units of A.
    init : {"random", "spectral"}, default="random"
        "random" draws U0 and V0 with independent normal entries, scaled so that
        the entries of U0 V0^T have the root mean square of the observed
        entries of A. "spectral"
        takes the top ``rank`` singular triplets of A (missing cells as 0,
        divided by the observed fraction) from a randomized range finder with
        two power iterations, split evenly between U0 and V0.
    seed : int or torch.Generator, optional
        Source of randomness for the start. Default: a fresh random seed, which
        the result records. torch's global generator is never used.
    device : str or torch.device, optional
        Where to compute. Default: the device of A (CPU for NumPy input).
    dtype : {torch.float32, torch.float64}, optional
        Working dtype. Default: the dtype of a floating A, else float32.
    callback : callable, optional
        Called as ``callback(epoch, loss)`` after each epoch, with ``epoch``
        counted from 1 and ``loss`` a float in A's units. Returning True stops
        the run, which then returns normally with ``stop_reason="callback"``.
    compare_svd : bool, default=True
        For a complete matrix, compute ``optimum`` from all singular values of A
        (an SVD in float64, which for a large A costs more than the fit).

    Returns
    -------
    FactorisationResult

    Raises
    ------
    InputError
        For an invalid argument or matrix, before any work: an observed NaN or
        infinity, a mask of the wrong shape, a row or column without an
        observed cell.
    TypeError
        For an argument of the wrong type.
    DivergenceError
        If the loss becomes non-finite or grows for 10 epochs in a row beyond
        its first value; no factors are returned then. Its ``suggested_lr`` is
        the default step size of the optimiser for this problem.

    Warns
    -----
    ConvergenceWarning
        When the run reaches ``max_epochs`` before meeting ``tol``.

    Notes
    -----
    The loss of a complete matrix is evaluated as ``||A||^2 - 2 tr(U^T A V) +
    tr((U^T U)(V^T V))`` with the traces in float64, so an epoch costs two
    products with A and no m x n temporary. Its rounding error is about the
    working dtype's epsilon times ``||A||^2``, which limits how small a
    ``tol`` can be met in float32.

    Examples
    --------
    >>> import torch
    >>> from gradfit import factorise
    >>> g = torch.Generator().manual_seed(0)
    >>> A = torch.randn(50, 3, generator=g) @ torch.randn(3, 40, generator=g)
    >>> result = factorise(A.double(), 3, seed=0)
    >>> result.U.shape, result.V.shape
    (torch.Size([50, 3]), torch.Size([40, 3]))
    >>> bool((result.U @ result.V.T - A).abs().max() < 1e-3)
    True
    """
    settings = check_arguments(
        A,
        rank,
        mask=mask,
        missing=missing,
        optimizer=optimizer,
        lr=lr,
        max_epochs=max_epochs,
        tol=tol,
        l2=l2,
        init=init,
        seed=seed,
        device=device,
        dtype=dtype,
        callback=callback,
        compare_svd=compare_svd,
    )
    start = time.perf_counter()
    A, mask = prepare_matrix(A, mask, missing, settings.device, settings.dtype)
    norm2 = check_observed(A, mask, rank)

    objective = _objective.build_objective(A, mask, l2, norm2)
    generator = settings.generator
    U, V = _initial_factors(objective, rank, init, generator)
    suggested = _steps.default_lr(optimizer, objective, U, V)
    monitor = _steps.Monitor(objective, tol, callback, lr or suggested, suggested)
    reason, final_lr = _steps.run_optimizer(
        optimizer, objective, U, V, lr=lr, max_epochs=max_epochs, monitor=monitor
    )
    wall_time = time.perf_counter() - start

    losses = tuple(objective.to_user_units(value) for value in monitor.losses)
    optimum = gap = None
    if compare_svd and objective.complete:
        optimum = _objective.optimum(A, rank, l2)
        final = objective.to_user_units(objective.residual_loss(U, V))
        gap = (final - optimum) / optimum if optimum > 0 else None
    root = math.sqrt(objective.scale)
    U, V = U.detach() * root, V.detach() * root

    if reason == "max_epochs":
        advice = "raise max_epochs or raise tol"
        if optimizer != "scaledgd":
            advice = "raise max_epochs, raise tol, or use optimizer='scaledgd'"
        warnings.warn(
            f"factorise stopped at max_epochs={max_epochs} before the loss change "
            f"fell below tol={tol:g} (last relative change "
            f"{_last_change(losses):.3g}); {advice}",
            ConvergenceWarning,
            stacklevel=2,
        )
    return FactorisationResult(
        U,
        V,
        losses,
        len(losses) - 1,
        reason,
        wall_time,
        optimizer,
        final_lr,
        generator.initial_seed(),
        optimum,
        gap,
    )


def _initial_factors(objective, rank, init, generator):
    """Draw U0 (m, rank) and V0 (n, rank) for the normalised problem."""
    m, n = objective.A.shape
    dtype, device = objective.A.dtype, objective.A.device
    if init == "spectral":
        return _spectral_start(objective, rank, generator)

    # Entries of U0 V0^T have standard deviation sqrt(rank) * std^2.
    std = math.sqrt(_RANDOM_INIT_SCALE / math.sqrt(rank))
    draw_device = generator.device
    U = torch.randn(m, rank, generator=generator, dtype=dtype, device=draw_device)
    V = torch.randn(n, rank, generator=generator, dtype=dtype, device=draw_device)
    return (U * std).to(device), (V * std).to(device)


def _spectral_start(objective, rank, generator):
    """Split the top singular triplets of the normalised A evenly into U0 and V0.

    A randomized range finder: A times ``rank + 10`` Gaussian columns drawn
    from ``generator`` (``torch.svd_lowrank`` draws from the global generator),
    refined by power iterations with a QR factorisation after each product,
    then the SVD of the small matrix Q^T A.
    """
    A = objective.A
    m, n = A.shape
    columns = min(rank + 10, n)
    # A complete A is not a normalised copy, and a masked one needs dividing by p.
    factor = 1.0 / objective.scale if objective.complete else 1.0
    factor /= objective.observed_fraction

    omega = torch.randn(
        n, columns, generator=generator, dtype=A.dtype, device=generator.device
    ).to(A.device)
    Q, _ = torch.linalg.qr(A @ omega)
    for _ in range(_SPECTRAL_POWER_ITERATIONS):
        Z, _ = torch.linalg.qr(A.T @ Q)
        Q, _ = torch.linalg.qr(A @ Z)
    B = (Q.T @ A) * factor
    Ub, S, Vh = torch.linalg.svd(B, full_matrices=False)
    root = torch.sqrt(S[:rank])
    return (Q @ Ub[:, :rank]) * root, Vh[:rank].T * root


def _last_change(losses):
    if len(losses) < 2 or losses[-2] == 0:
        return math.nan
    return (losses[-2] - losses[-1]) / losses[-2]
