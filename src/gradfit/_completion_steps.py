"""Sparse gradient, Hessian and objective of the biased matrix-factorisation model.

The model predicts ``mu + b[u] + c[i] + U[u] @ V[i]`` for the entry in row u and
column i. Training minimises

    f = 1/2 * sum over observed (u, i) of e[u, i]^2
        + l2/2 * (||b||^2 + ||c||^2 + ||U||_F^2 + ||V||_F^2),

where e is the prediction minus the rating. With the column side fixed, f is a
separable quadratic in each row's parameters theta[u] = (b[u], U[u]), whose
gradient and Hessian come from sparse products over the observed entries only;
the column side is treated the same way with the roles swapped.
"""

import warnings

import torch

__all__ = ["SparseRatings", "balance", "block_gradient", "block_step", "objective"]

# Dense temporaries (a block of Hessians, a slice of entries) are kept below
# about this many elements each, so memory stays proportional to the data.
_BLOCK_ELEMENTS = 1 << 22


def _csr(crow, index, values, size):
    with warnings.catch_warnings():
        # torch marks sparse CSR as beta; the products used here are stable.
        warnings.filterwarnings("ignore", message=".*Sparse CSR tensor support")
        return torch.sparse_csr_tensor(
            crow, index, values, size=size, check_invariants=False
        )


class _Side:
    """The entries sorted by one side (rows or columns), as a CSR pattern."""

    def __init__(self, own, other, values, n_own, n_other):
        order = torch.argsort(own * n_other + other)
        self.n_own = n_own
        self.n_other = n_other
        counts = torch.bincount(own, minlength=n_own)
        self.crow = torch.zeros(n_own + 1, dtype=torch.int64, device=own.device)
        torch.cumsum(counts, 0, out=self.crow[1:])
        index_dtype = torch.int32 if len(own) < 2**31 else torch.int64
        self.crow = self.crow.to(index_dtype)
        self.own = own[order].to(index_dtype)
        self.other = other[order].to(index_dtype)
        self.values = values[order]
        self.counts = counts

    def entries(self, start, stop):
        """Return the slice of entries that belong to own rows start:stop."""
        return slice(int(self.crow[start]), int(self.crow[stop]))

    def matrix(self, values, start, stop):
        """Sparse (stop - start, n_other) matrix of the own rows start:stop.

        ``values`` contains one value per entry of those rows, in this side's order.
        """
        crow = self.crow[start : stop + 1] - self.crow[start]
        other = self.other[self.entries(start, stop)]
        return _csr(crow, other, values, (stop - start, self.n_other))


class SparseRatings:
    """Centred training ratings, indexed by row and by column for sparse products.

    Parameters
    ----------
    rows, cols : torch.Tensor, shape (N,), int64
        Row and column index of each rating.
    centred : torch.Tensor, shape (N,), floating
        Ratings minus the global mean, in the model's dtype and device.
    n_rows, n_cols : int
        Number of rows m and columns n.
    """

    def __init__(self, rows, cols, centred, n_rows, n_cols):
        self.n_entries = len(centred)
        self.by_row = _Side(rows, cols, centred, n_rows, n_cols)
        self.by_col = _Side(cols, rows, centred, n_cols, n_rows)


def block_gradient(side, own, other, l2, start=0, stop=None):
    """Return the Hessian blocks and gradient of f for the own rows start:stop.

    Parameters
    ----------
    side : _Side
        The entries sorted by the side whose parameters are differentiated.
    own : torch.Tensor, shape (n_own, rank + 1)
        Each own row's parameters theta = (bias, factor row).
    other : torch.Tensor, shape (n_other, rank + 1)
        The other side's parameters, held fixed.
    l2 : float
        The L2 penalty weight.

    Returns
    -------
    hessian : torch.Tensor, shape (stop - start, rank + 1, rank + 1)
        The exact Hessian of f with respect to each own row's theta.
    gradient : torch.Tensor, shape (stop - start, rank + 1)
        The gradient of f with respect to each own row's theta.
    """
    stop = side.n_own if stop is None else stop
    k = own.shape[1]
    entries = side.entries(start, stop)

    # Features of an entry are (1, other factor row); its target is the centred
    # rating minus the other side's bias.
    features = torch.cat([torch.ones_like(other[:, :1]), other[:, 1:]], dim=1)
    targets = side.values[entries] - other[:, 0].index_select(0, side.other[entries])

    # Each Hessian block sums the outer products of its entries' features, so
    # the pattern matrix times the packed outer products of all other rows
    # gives the upper triangles, a slice of columns at a time.
    upper_i, upper_j = torch.triu_indices(k, k, device=own.device)
    hessian = own.new_zeros(stop - start, k, k)
    pattern = side.matrix(own.new_ones(len(targets)), start, stop)
    step = max(1, _BLOCK_ELEMENTS // max(1, side.n_other))
    for p in range(0, len(upper_i), step):
        i, j = upper_i[p : p + step], upper_j[p : p + step]
        products = pattern @ (features[:, i] * features[:, j])
        hessian[:, i, j] = products
        hessian[:, j, i] = products
    hessian.diagonal(dim1=1, dim2=2).add_(l2)

    right = side.matrix(targets, start, stop) @ features
    theta = own[start:stop]
    gradient = torch.bmm(hessian, theta.unsqueeze(2)).squeeze(2) - right
    return hessian, gradient


def block_step(side, own, other, l2, lr):
    """Take one Newton step on each own row's theta, with the other side fixed.

    f is quadratic in each own row's theta, so the step ``lr * H^-1 g`` with
    ``lr=1`` lands on the exact minimiser, as one half of an alternating least
    squares sweep does; any ``0 < lr < 2`` decreases f.

    Returns
    -------
    torch.Tensor, shape (n_own, rank + 1)
        The updated parameters; ``own`` itself is not modified.
    """
    k = own.shape[1]
    block = max(1, _BLOCK_ELEMENTS // (k * k))
    updated = torch.empty_like(own)
    for start in range(0, side.n_own, block):
        stop = min(start + block, side.n_own)
        hessian, gradient = block_gradient(side, own, other, l2, start, stop)
        factor, _ = torch.linalg.cholesky_ex(hessian)
        newton = torch.cholesky_solve(gradient.unsqueeze(2), factor).squeeze(2)
        updated[start:stop] = own[start:stop] - lr * newton
    return updated


def balance(row_params, col_params):
    """Rescale the factors so that U^T U = V^T V, keeping U V^T and the biases.

    Among all pairs with the same product U V^T, the balanced one has the least
    ||U||_F^2 + ||V||_F^2, so this lowers f at no cost to the fit. Alternating
    steps alone approach that balance only slowly. With U = Qu Ru, V = Qv Rv
    and Ru Rv^T = W S Z^T, the balanced pair is (Qu W S^1/2, Qv Z S^1/2).
    Factors of rank below their width are returned unchanged.

    Returns
    -------
    row_params, col_params : torch.Tensor
        New tensors of the input shapes; the inputs are not modified.
    """
    U, V = row_params[:, 1:], col_params[:, 1:]
    # U = Qu Ru with Ru^T Ru = U^T U, so Ru is the Cholesky factor of the Gram
    # matrix and U Ru^-1 W S^1/2 equals Qu W S^1/2 without forming Qu.
    Ru, info_u = torch.linalg.cholesky_ex((U.T @ U).double(), upper=True)
    Rv, info_v = torch.linalg.cholesky_ex((V.T @ V).double(), upper=True)
    if info_u.item() or info_v.item():
        # A rank-deficient factor has no unique balance; keep the pair as it is.
        return row_params, col_params
    W, S, Zh = torch.linalg.svd(Ru @ Rv.T)
    root = S.sqrt()
    eye = torch.eye(len(S), dtype=torch.float64, device=S.device)
    to_u = torch.linalg.solve_triangular(Ru, eye, upper=True) @ (W * root)
    to_v = torch.linalg.solve_triangular(Rv, eye, upper=True) @ (Zh.T * root)
    return (
        torch.cat([row_params[:, :1], U @ to_u.to(U)], dim=1),
        torch.cat([col_params[:, :1], V @ to_v.to(V)], dim=1),
    )


def objective(data, row_params, col_params, l2):
    """Return f and the sum of squared errors, as Python floats (float64 sums)."""
    side = data.by_row
    squared = 0.0
    step = max(1, _BLOCK_ELEMENTS // row_params.shape[1])
    for lo in range(0, data.n_entries, step):
        rows = side.own[lo : lo + step]
        cols = side.other[lo : lo + step]
        theta_u = row_params.index_select(0, rows)
        theta_i = col_params.index_select(0, cols)
        errors = (
            theta_u[:, 0]
            + theta_i[:, 0]
            + (theta_u[:, 1:] * theta_i[:, 1:]).sum(1)
            - side.values[lo : lo + step]
        )
        squared += torch.sum(errors.square(), dtype=torch.float64).item()
    penalty = sum(
        torch.sum(p.square(), dtype=torch.float64).item()
        for p in (row_params, col_params)
    )
    return 0.5 * squared + 0.5 * l2 * penalty, squared
