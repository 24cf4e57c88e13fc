"""Matrix completion with the biased matrix-factorisation model of rating prediction.

The rating of row u (a user) for column i (an item) is predicted as

    mu + b[u] + c[i] + U[u] @ V[i]

with the global mean ``mu`` of the training ratings, row biases b, column biases
c and factors U (m x rank) and V (n x rank); gradfit returns V, not V^T.
"""

import math
import warnings
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch

from . import _completion_steps as steps
from ._validate import check_rank
from .errors import ConvergenceWarning, DivergenceError, InputError
from .ratings import Ratings

__all__ = [
    "UNKNOWN_POLICIES",
    "CompletionModel",
    "Scores",
    "fit_completion",
    "split_ratings",
]

#: Ways to predict a rating whose row or column id the model has not seen.
UNKNOWN_POLICIES = ("error", "bias")


class Scores(NamedTuple):
    """Prediction errors on a set of ratings, in the ratings' units."""

    rmse: float
    mae: float
    #: Ratings whose row or column id the model had not seen.
    n_unknown: int


@dataclass(frozen=True, eq=False)
class CompletionModel:
    """A fitted biased matrix-factorisation model.

    Attributes
    ----------
    mean : float
        The global mean mu of the training ratings.
    row_bias : torch.Tensor, shape (m,)
    col_bias : torch.Tensor, shape (n,)
    U : torch.Tensor, shape (m, rank)
    V : torch.Tensor, shape (n, rank)
        Detached parameters on the device and in the dtype of the fit.
    row_ids, col_ids : tuple of str
        The ids of the m rows and n columns, in the order of the parameters.
    losses : list of float
        The objective of ``fit_completion`` after each epoch divided by the
        number N of training ratings: half the mean squared error plus
        ``l2 / (2 N)`` times the summed squares of the biases and factors.
    converged : bool
        Whether the relative change of the objective fell below ``tol``.
    """

    mean: float
    row_bias: torch.Tensor
    col_bias: torch.Tensor
    U: torch.Tensor
    V: torch.Tensor
    row_ids: tuple
    col_ids: tuple
    losses: list = field(default_factory=list)
    converged: bool = False

    @property
    def rank(self):
        """Number of columns of U and V."""
        return self.U.shape[1]

    def predict(self, row_ids, col_ids, *, unknown="error"):
        """Predict the ratings of the given (row id, column id) pairs.

        Parameters
        ----------
        row_ids, col_ids : sequence of str, length K
            Raw ids as read from the ratings file; ids are matched as strings.
        unknown : {"error", "bias"}, default="error"
            With "error", an id the model has not seen raises InputError naming
            it. With "bias", such a pair is predicted as ``mu`` plus the biases
            of whichever of its ids are known.

        Returns
        -------
        numpy.ndarray, shape (K,), float64
            The predicted ratings.
        """
        if len(row_ids) != len(col_ids):
            raise InputError(
                f"got {len(row_ids)} row ids and {len(col_ids)} column ids; "
                "give one of each per prediction"
            )
        rows = self._lookup(list(row_ids), self.row_ids, "row", unknown)
        cols = self._lookup(list(col_ids), self.col_ids, "column", unknown)
        return self._predict_indices(rows, cols)

    def score(self, ratings, *, unknown="error"):
        """Return the RMSE and MAE of the model's predictions of ``ratings``.

        Parameters
        ----------
        ratings : Ratings
            Ratings addressed by their own ids, which are matched to the
            model's ids as strings.
        unknown : {"error", "bias"}, default="error"
            Treatment of ids the model has not seen, as in ``predict``.

        Returns
        -------
        Scores
        """
        if not isinstance(ratings, Ratings):
            raise TypeError(f"ratings must be a Ratings, got {type(ratings).__name__}")
        if len(ratings) == 0:
            raise InputError("no ratings to score; give at least one")
        row_map = self._lookup(list(ratings.row_ids), self.row_ids, "row", unknown)
        col_map = self._lookup(list(ratings.col_ids), self.col_ids, "column", unknown)
        rows, cols = row_map[ratings.rows], col_map[ratings.cols]
        errors = self._predict_indices(rows, cols) - ratings.values
        n_unknown = int(np.count_nonzero((rows < 0) | (cols < 0)))
        # Squares of errors beyond about 1e154 overflow float64, so the root mean
        # square is taken of the errors divided by the largest one.
        peak = float(np.max(np.abs(errors)))
        rmse = (
            peak * math.sqrt(float(np.mean(np.square(errors / peak)))) if peak else 0.0
        )
        return Scores(rmse, float(np.mean(np.abs(errors))), n_unknown)

    def _lookup(self, ids, known, kind, unknown):
        """Map ids to parameter indices, -1 for an unknown id under unknown="bias"."""
        if unknown not in UNKNOWN_POLICIES:
            raise InputError(
                f"unknown={unknown!r} is not a policy; use 'error' or 'bias'"
            )
        index = self._index(known)
        found = np.fromiter((index.get(i, -1) for i in ids), np.int64, len(ids))
        if unknown == "error" and (found < 0).any():
            missing = [ids[k] for k in np.flatnonzero(found < 0)]
            hint = (
                "" if isinstance(missing[0], str) else " (ids are matched as strings)"
            )
            raise InputError(
                f"{kind} id {missing[0]!r}{hint} is unknown to the model "
                f"({len(missing)} unknown {kind} ids in all); predict known ids or "
                "pass unknown='bias' to fall back on the biases"
            )
        return found

    def _index(self, ids):
        """Return a dict from id to position, built once per id tuple of the model."""
        cache = self.__dict__.setdefault("_index_cache", {})
        if id(ids) not in cache:
            cache[id(ids)] = {name: k for k, name in enumerate(ids)}
        return cache[id(ids)]

    def _predict_indices(self, rows, cols):
        row_known, col_known = rows >= 0, cols >= 0
        both = torch.from_numpy(row_known & col_known)
        r = torch.from_numpy(np.where(row_known, rows, 0)).to(self.U.device)
        c = torch.from_numpy(np.where(col_known, cols, 0)).to(self.U.device)
        with torch.no_grad():
            b = self.row_bias.index_select(0, r).double().cpu()
            ci = self.col_bias.index_select(0, c).double().cpu()
            dot = (self.U.index_select(0, r) * self.V.index_select(0, c)).sum(1)
            dot = dot.double().cpu()
        b = torch.where(torch.from_numpy(row_known), b, 0.0)
        ci = torch.where(torch.from_numpy(col_known), ci, 0.0)
        dot = torch.where(both, dot, 0.0)
        return (self.mean + b + ci + dot).numpy()


def split_ratings(ratings, test_fraction, *, seed=0):
    """Split ratings at random into a training set and a test set.

    The test set has ``round(test_fraction * N)`` ratings drawn without
    replacement by a ``torch.Generator`` seeded with ``seed``. Each part keeps
    only the ids it contains, in their original order, so every id of the
    training part has a rating there. An id that occurs only in the test part
    is unknown to a model fitted on the training part; score the test part
    with ``unknown="bias"`` to predict those ratings from the biases.

    Parameters
    ----------
    ratings : Ratings
        N ratings, N >= 2.
    test_fraction : float
        Share of ratings in the test set, 0 < test_fraction < 1; both parts
        must get at least one rating.
    seed : int, default=0
        Seed of the generator that draws the test set.

    Returns
    -------
    train, test : Ratings
    """
    if not isinstance(ratings, Ratings):
        raise TypeError(f"ratings must be a Ratings, got {type(ratings).__name__}")
    if (
        isinstance(test_fraction, bool)
        or not isinstance(test_fraction, (int, float))
        or not 0 < test_fraction < 1
    ):
        raise InputError(
            f"test_fraction={test_fraction!r} is invalid; use a number with "
            "0 < test_fraction < 1"
        )
    n = len(ratings)
    n_test = round(test_fraction * n)
    if not 1 <= n_test <= n - 1:
        raise InputError(
            f"test_fraction={test_fraction:g} of {n} ratings leaves {n_test} for the "
            f"test set and {n - n_test} for training; both need at least one rating"
        )
    generator = torch.Generator().manual_seed(_check_seed(seed))
    order = torch.randperm(n, generator=generator).numpy()
    test = np.sort(order[:n_test])
    train = np.sort(order[n_test:])
    return _subset(ratings, train), _subset(ratings, test)


def _subset(ratings, index):
    """Ratings at ``index``, keeping only the ids they use."""
    rows, row_ids = _compact(ratings.rows[index], ratings.row_ids)
    cols, col_ids = _compact(ratings.cols[index], ratings.col_ids)
    return Ratings(rows, cols, ratings.values[index], row_ids, col_ids)


def _compact(index, ids):
    used = np.zeros(len(ids), dtype=bool)
    used[index] = True
    renumber = np.cumsum(used) - 1
    kept = tuple(ids[k] for k in np.flatnonzero(used))
    return renumber[index], kept


def fit_completion(
    ratings,
    rank,
    *,
    l2=0.05,
    max_epochs=100,
    tol=1e-4,
    lr=1.0,
    seed=0,
    dtype=torch.float32,
    device=None,
    callback=None,
):
    """Fit the biased matrix-factorisation model to observed ratings.

    Each epoch takes one Newton step on every row's parameters (b[u], U[u])
    with the columns fixed, then one on every column's (c[i], V[i]) with the
    rows fixed. The objective is quadratic in each of these blocks, so the
    gradient and the (rank + 1) x (rank + 1) Hessian of every block come in
    closed form from sparse products over the observed entries; with
    ``lr=1`` each half-epoch is an alternating least squares sweep. The
    objective is

        1/2 sum_(u,i) (mu + b[u] + c[i] + U[u] @ V[i] - rating)^2
        + l2/2 (||b||^2 + ||c||^2 + ||U||_F^2 + ||V||_F^2).

    Parameters
    ----------
    ratings : Ratings
        The training ratings; every row and column id needs a rating.
    rank : int
        Number of columns of U and V, 1 <= rank <= min(m, n).
    l2 : float, default=0.05
        L2 penalty weight, in squared rating units per squared parameter; a
        positive number, so that every block's Hessian is invertible.
    max_epochs : int, default=100
        The maximum number of epochs.
    tol : float, default=1e-4
        Stop when an epoch lowers the objective by less than ``tol`` times
        its value; 0 runs all ``max_epochs``.
    lr : float, default=1.0
        Step size as a fraction of the Newton step, 0 < lr < 2; every such
        step lowers the objective.
    seed : int, default=0
        Seed of the generator that draws the initial U and V.
    dtype : torch.dtype, default=torch.float32
    device : str or torch.device, optional
        Where to fit; the CPU by default.

        NOTE: the fit has been run on the CPU only; a CUDA device is accepted
        but no test covers it.
    callback : callable, optional
        Called as ``callback(epoch, loss)`` after each epoch with the epoch
        counted from 1 and ``loss`` as stored in ``losses``. If it returns
        True, the fit stops after that epoch.

    Returns
    -------
    CompletionModel

    Raises
    ------
    InputError
        If an argument is invalid or a row or column id has no rating.
    DivergenceError
        If the objective becomes NaN or infinite, as happens when ratings
        overflow the dtype.

    Warns
    -----
    ConvergenceWarning
        If ``max_epochs`` ran out before the objective settled within ``tol``.

    Notes
    -----
    Memory grows with the N ratings (three index or value arrays per sort
    order) and with (m + n) * (rank + 1)^2 for the per-row Hessians, which are
    built in blocks; time per epoch grows as N * (rank + 1)^2.
    """
    _check_fit_arguments(ratings, rank, l2, max_epochs, tol, lr, dtype, callback)
    _check_every_id_rated(ratings)
    device = _check_device(device)
    m, n = ratings.n_rows, ratings.n_cols

    values = torch.from_numpy(np.asarray(ratings.values, dtype=np.float64))
    mean = values.mean().item()
    scale = values.std().item() if len(values) > 1 else 0.0
    data = steps.SparseRatings(
        torch.from_numpy(ratings.rows.astype(np.int64, copy=False)).to(device),
        torch.from_numpy(ratings.cols.astype(np.int64, copy=False)).to(device),
        (values - mean).to(device=device, dtype=dtype),
        m,
        n,
    )
    del values
    row_params, col_params = _initial_parameters(m, n, rank, scale, seed, dtype, device)

    losses, converged = [], False
    for epoch in range(1, max_epochs + 1):
        row_params = steps.block_step(data.by_row, row_params, col_params, l2, lr)
        col_params = steps.block_step(data.by_col, col_params, row_params, l2, lr)
        if not (row_params.isfinite().all() and col_params.isfinite().all()):
            _raise_divergence(lr, epoch, losses, dtype)
        row_params, col_params = steps.balance(row_params, col_params)

        value, _ = steps.objective(data, row_params, col_params, l2)
        loss = value / len(ratings)
        if not math.isfinite(loss):
            _raise_divergence(lr, epoch, losses, dtype)
        converged = tol > 0 and bool(losses) and losses[-1] - loss <= tol * abs(loss)
        losses.append(loss)
        if callback is not None and callback(epoch, loss) is True:
            break
        if converged:
            break

    if not converged and tol > 0 and len(losses) == max_epochs:
        warnings.warn(
            f"the objective changed by more than tol={tol:g} of its value in the last "
            f"of max_epochs={max_epochs} epochs; raise max_epochs or tol, or raise "
            f"l2={l2:g} when many rows or columns have few ratings",
            ConvergenceWarning,
            stacklevel=2,
        )
    return CompletionModel(
        mean=mean,
        row_bias=row_params[:, 0].contiguous(),
        col_bias=col_params[:, 0].contiguous(),
        U=row_params[:, 1:].contiguous(),
        V=col_params[:, 1:].contiguous(),
        row_ids=ratings.row_ids,
        col_ids=ratings.col_ids,
        losses=losses,
        converged=converged,
    )


def _raise_divergence(lr, epoch, losses, dtype):
    # In exact arithmetic, steps with 0 < lr < 2 never raise the objective, so a
    # non-finite value means that the ratings or the parameters overflowed.
    dtype_name = str(dtype).replace("torch.", "")
    raise DivergenceError(
        lr,
        epoch,
        losses[-1] if losses else None,
        1.0 if lr > 1 else None,
        detail=f" in {dtype_name}",
        advice=f"the ratings or parameters overflowed {dtype_name}; scale the "
        "ratings down or use float64",
    )


def _initial_parameters(m, n, rank, scale, seed, dtype, device):
    """Return (bias, factor) blocks with zero biases and Gaussian factors.

    The factors' standard deviation makes U[u] @ V[i] about as spread as the
    ratings, so the first steps neither start from near zero (a stationary
    point) nor overshoot.
    """
    generator = torch.Generator().manual_seed(_check_seed(seed))
    std = math.sqrt((scale if scale > 0 else 1.0) / math.sqrt(rank))
    params = []
    for size in (m, n):
        factor = torch.randn(size, rank, generator=generator, dtype=torch.float64) * std
        block = torch.cat([torch.zeros(size, 1, dtype=torch.float64), factor], dim=1)
        params.append(block.to(device=device, dtype=dtype))
    return params


def _check_seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise InputError(f"seed={seed!r} is invalid; use an integer")
    if not 0 <= seed < 2**64:
        raise InputError(f"seed={seed} is out of range; use an integer in [0, 2**64)")
    return int(seed)


def check_rating_range(ratings, dtype):
    """Raise InputError if a rating's magnitude is beyond the range of ``dtype``.

    Call it on all ratings before ``split_ratings``, because ``fit_completion``
    checks only the training part that it receives.
    """
    limit = torch.finfo(dtype).max
    peak = float(np.abs(ratings.values).max()) if len(ratings) else 0.0
    if peak > limit:
        raise InputError(
            f"a rating of magnitude {peak:.3g} is beyond the {dtype} range (max "
            f"{limit:.3g}); scale the ratings down or use dtype=torch.float64"
        )


def _check_fit_arguments(ratings, rank, l2, max_epochs, tol, lr, dtype, callback):
    if not isinstance(ratings, Ratings):
        raise TypeError(f"ratings must be a Ratings, got {type(ratings).__name__}")
    if len(ratings) == 0:
        raise InputError("no ratings to fit; give at least one")
    m, n = ratings.n_rows, ratings.n_cols
    check_rank(rank, m, n)
    if not _is_number(l2) or l2 <= 0:
        raise InputError(f"l2={l2!r} is invalid; use a positive number such as 0.05")
    if (
        isinstance(max_epochs, bool)
        or not isinstance(max_epochs, int)
        or max_epochs < 1
    ):
        raise InputError(f"max_epochs={max_epochs!r} is invalid; use an integer >= 1")
    if not _is_number(tol) or tol < 0:
        raise InputError(f"tol={tol!r} is invalid; use a number >= 0")
    if not _is_number(lr) or not 0 < lr < 2:
        raise InputError(f"lr={lr!r} is invalid; use 0 < lr < 2 (1 is the Newton step)")
    if dtype not in (torch.float32, torch.float64):
        raise InputError(
            f"dtype={dtype!r} is invalid; use torch.float32 or torch.float64"
        )
    limit = torch.finfo(dtype).max
    if l2 > limit:
        raise InputError(
            f"l2={l2!r} is beyond the {dtype} range (max {limit:.3g}); use a smaller "
            "l2 or dtype=torch.float64"
        )
    check_rating_range(ratings, dtype)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable, got {type(callback).__name__}")


def _check_device(device):
    if device is None:
        return torch.device("cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise InputError(
            f"device={device!r} is not a torch device; use 'cpu' or 'cuda'"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device={str(device)!r} is not available here; use 'cpu'")
    if device.type not in ("cpu", "cuda"):
        raise InputError(
            f"device={str(device)!r} is not supported; use 'cpu' or 'cuda'"
        )
    return device


def _is_number(x):
    return (
        not isinstance(x, bool)
        and isinstance(x, (int, float, np.integer, np.floating))
        and math.isfinite(x)
    )


def _check_every_id_rated(ratings):
    for kind, index, ids in (
        ("row", ratings.rows, ratings.row_ids),
        ("column", ratings.cols, ratings.col_ids),
    ):
        counts = np.bincount(index, minlength=len(ids))
        empty = np.flatnonzero(counts == 0)
        if len(empty):
            raise InputError(
                f"{kind} id {ids[empty[0]]!r} has no rating ({len(empty)} {kind} ids "
                "without one); every id needs a rating to be fitted, so drop such ids"
            )
