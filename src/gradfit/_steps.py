"""Optimiser loops for the normalised factorisation objective.

Every loop keeps U and V as leaf tensors, evaluates the objective and its
gradient with autograd, and reports each epoch's loss to a ``Monitor``, which
decides whether to stop and raises DivergenceError when the run blows up.
Plain gradient descent, momentum, Adam and L-BFGS come from ``torch.optim``;
scaled gradient descent, which ``torch.optim`` lacks, is written out here.
"""

import math

import torch

from .errors import DivergenceError

__all__ = ["OPTIMIZERS", "Monitor", "default_lr", "run_optimizer"]

#: Optimiser names accepted by ``gradfit.factorise``.
OPTIMIZERS = ("scaledgd", "gd", "momentum", "adam", "lbfgs")

MOMENTUM = 0.9
ADAM_LR = 0.01
SCALEDGD_LR = 2 / 3
# Damping of ScaledGD's r x r preconditioner, relative to its mean eigenvalue.
# With 1e-10, 5 of 150 random full-rank problems up to 40 x 40 missed the
# optimum in 3000 epochs. 1e-3 solved all, at some cost on ill-conditioned A.
SCALEDGD_DAMPING = 1e-3
# L-BFGS's first trial step along its direction, torch's default.
LBFGS_LR = 1.0
# Loss evaluations allowed per L-BFGS iteration. torch's default, 5/4 of
# max_iter, is 1 for one iteration per epoch, which leaves the line search no
# evaluation to shorten a step that fails.
LBFGS_MAX_EVALUATIONS = 25
# Armijo's sufficient-decrease constant and the rounding slack, in units of
# the dtype's machine epsilon times ||A||^2, that a trial step may add.
ARMIJO_C = 1e-4
ROUNDING_SLACK = 16
# A line search that halves the step this many times in a row has stalled.
MAX_HALVINGS = 12
# Epochs without a new lowest loss after which a run has stalled, and epochs of
# consecutive growth above the first loss after which it has diverged.
STALL_EPOCHS = 50
GROWTH_EPOCHS = 10


class Monitor:
    """Record losses, call the callback, and decide when a run stops.

    ``record`` returns a stop reason ("tol", "stalled" or "callback") or None
    to go on, and raises DivergenceError on a non-finite loss or on a loss that
    grew for ``GROWTH_EPOCHS`` epochs in a row to above the first loss.
    """

    def __init__(self, objective, tol, callback, lr, suggested_lr):
        self.objective = objective
        self.tol = tol
        self.callback = callback
        self.lr = lr
        self.suggested_lr = suggested_lr
        self.losses = []
        self._best = math.inf
        self.best_epoch = 0
        self._growth = 0

    def start(self, loss):
        self.losses.append(loss)
        self._best = loss

    def record(self, epoch, loss):
        previous = self.losses[-1]
        if not math.isfinite(loss):
            self._diverge(epoch, "")
        self._growth = self._growth + 1 if loss > previous else 0
        if self._growth >= GROWTH_EPOCHS and loss > self.losses[0]:
            self._diverge(epoch, f" (the loss grew for {self._growth} epochs in a row)")
        self.losses.append(loss)
        if loss < self._best:
            self._best, self.best_epoch = loss, epoch

        if self.callback is not None:
            if self.callback(epoch, self.objective.to_user_units(loss)) is True:
                return "callback"
        # NOTE: a plateau also gives a small relative decrease. Slow optimisers
        # ("gd", "adam") can therefore stop well short of the optimum at the
        # default tol and need a lower one.
        if self.tol > 0 and 0 <= previous - loss <= self.tol * previous:
            return "tol"
        if epoch - self.best_epoch >= STALL_EPOCHS:
            return "stalled"
        return None

    def _diverge(self, epoch, detail):
        last = self.objective.to_user_units(self.losses[-1])
        raise DivergenceError(self.lr, epoch, last, self.suggested_lr, detail=detail)


def default_lr(optimizer, objective, U, V):
    """Return the default step size of ``optimizer`` for the normalised problem.

    For plain and momentum gradient descent it is ``1 / (8 s)`` with
    ``s = max(||U||_F^2, ||V||_F^2, ||A||_F) + l2``. The gradient of the
    objective is Lipschitz with a constant of about
    ``2 (||U||_2^2 + ||V||_2^2) + 2 ||A - U V^T||_2 + 2 l2``, and the Frobenius
    norms bound the spectral ones from above.
    """
    if optimizer == "scaledgd":
        return SCALEDGD_LR
    if optimizer == "adam":
        return ADAM_LR
    if optimizer == "lbfgs":
        return LBFGS_LR
    with torch.no_grad():
        s = max(
            torch.sum(U.double() ** 2).item(),
            torch.sum(V.double() ** 2).item(),
            math.sqrt(objective.norm2),
        )
        s += objective.l2
    return 1.0 / (8.0 * s)


def run_optimizer(optimizer, objective, U, V, *, lr, max_epochs, monitor):
    """Run ``optimizer`` on U and V in place and return ``(stop_reason, lr)``.

    ``lr=None`` selects the default: a backtracking (Armijo) line search for
    "gd" and "scaledgd", a fixed step otherwise. The stop reason is
    "max_epochs" when the loop ran out of epochs. The returned ``lr`` is the
    step size in use at the end.
    """
    U.requires_grad_(True)
    V.requires_grad_(True)
    if optimizer == "scaledgd":
        return _scaled_gd(objective, U, V, lr, max_epochs, monitor)
    if optimizer == "gd" and lr is None:
        return _gd_line_search(objective, U, V, max_epochs, monitor)
    if lr is None:
        lr = default_lr(optimizer, objective, U, V)
    if optimizer == "lbfgs":
        return _lbfgs(objective, U, V, lr, max_epochs, monitor)
    return _torch_optim(optimizer, objective, U, V, lr, max_epochs, monitor)


def _evaluate(objective, U, V):
    """Return the loss at (U, V) as a float and leave its gradient in ``.grad``."""
    U.grad = None
    V.grad = None
    loss = objective.loss(U, V)
    loss.backward()
    return loss.item()


def _slack(objective, U):
    return ROUNDING_SLACK * torch.finfo(U.dtype).eps * (objective.norm2 + 1e-300)


def _torch_optim(optimizer, objective, U, V, lr, max_epochs, monitor):
    if optimizer == "adam":
        opt = torch.optim.Adam([U, V], lr=lr)
    else:
        momentum = MOMENTUM if optimizer == "momentum" else 0.0
        opt = torch.optim.SGD([U, V], lr=lr, momentum=momentum)
    monitor.lr = lr

    # These optimisers can leave a minimum and not come back (Adam started at
    # the optimum does), so a stalled run returns its lowest-loss iterate.
    monitor.start(_evaluate(objective, U, V))
    best = U.detach().clone(), V.detach().clone()
    for epoch in range(1, max_epochs + 1):
        opt.step()
        reason = monitor.record(epoch, _evaluate(objective, U, V))
        if monitor.best_epoch == epoch:
            best = U.detach().clone(), V.detach().clone()
        if reason == "stalled":
            _restore(U, V, *best)
            del monitor.losses[monitor.best_epoch + 1 :]
        if reason is not None:
            return reason, lr
    return "max_epochs", lr


def _lbfgs(objective, U, V, lr, max_epochs, monitor):
    # One epoch is one L-BFGS iteration: a direction from the curvature
    # history, then a strong-Wolfe line search along it. When the search finds
    # no decrease, the loop restarts L-BFGS with an empty history, whose first
    # direction is the negative gradient with a short step
    # (lr / ||gradient||_1), and stops as stalled after five failures in a row.
    def make():
        return torch.optim.LBFGS(
            [U, V],
            lr=lr,
            max_iter=1,
            max_eval=LBFGS_MAX_EVALUATIONS,
            history_size=10,
            line_search_fn="strong_wolfe",
            tolerance_grad=0.0,
            tolerance_change=0.0,
        )

    def closure():
        opt.zero_grad()
        loss = objective.loss(U, V)
        loss.backward()
        return loss

    opt = make()
    monitor.lr = lr
    loss = _evaluate(objective, U, V)
    monitor.start(loss)
    for epoch in range(1, max_epochs + 1):
        U0, V0 = U.detach().clone(), V.detach().clone()
        for _attempt in range(5):
            opt.step(closure)
            with torch.no_grad():
                trial = objective.loss(U, V).item()
            if trial < loss or not math.isfinite(trial):
                break
            _restore(U, V, U0, V0)
            opt = make()
        else:
            return "stalled", lr

        loss = trial
        reason = monitor.record(epoch, loss)
        if reason is not None:
            return reason, lr
    return "max_epochs", lr


def _gd_line_search(objective, U, V, max_epochs, monitor):
    # Backtracking (Armijo): halve the step until the loss falls by at least
    # ARMIJO_C * step * ||gradient||^2, then try twice that step next epoch.
    step = default_lr("gd", objective, U, V)
    opt = torch.optim.SGD([U, V], lr=step)
    slack = _slack(objective, U)

    loss = _evaluate(objective, U, V)
    monitor.start(loss)
    for epoch in range(1, max_epochs + 1):
        U0, V0 = U.detach().clone(), V.detach().clone()
        gU, gV = U.grad, V.grad
        slope = torch.sum(gU.double() ** 2).item() + torch.sum(gV.double() ** 2).item()
        for halvings in range(MAX_HALVINGS + 1):
            opt.param_groups[0]["lr"] = step
            opt.step()
            trial = _evaluate(objective, U, V)
            if trial <= loss - ARMIJO_C * step * slope + slack:
                grow = halvings == 0
                break
            _restore(U, V, U0, V0)
            U.grad, V.grad = gU, gV
            step /= 2
        else:
            return "stalled", step

        loss = trial
        monitor.lr = step
        reason = monitor.record(epoch, loss)
        if reason is not None:
            return reason, step
        if grow:
            step *= 2
    return "max_epochs", step


def _scaled_gd(objective, U, V, lr, max_epochs, monitor):
    # Scaled gradient descent (Tong, Ma and Chi, "Accelerating ill-conditioned
    # low-rank matrix estimation via scaled gradient descent", JMLR 2021):
    #     U <- U - lr * grad_U (V^T V)^-1,   V <- V - lr * grad_V (U^T U)^-1,
    # with the gradient of the halved loss. The preconditioner makes the step
    # invariant to the conditioning of A. Of the steps 0.5, 2/3, 0.8 and 1.0, 2/3
    # took the fewest epochs on benchmarks/bench_dense.py's matrix and the test
    # matrices. With lr=None a trial step that fails Armijo's test is halved,
    # as for "gd".
    search = lr is None
    step = SCALEDGD_LR if search else lr
    monitor.lr = step
    slack = _slack(objective, U)

    loss = _evaluate(objective, U, V)
    monitor.start(loss)
    for epoch in range(1, max_epochs + 1):
        dU = _precondition(U.grad, V, objective)
        dV = _precondition(V.grad, U, objective)
        slope = torch.sum(U.grad * dU, dtype=torch.float64).item()
        slope += torch.sum(V.grad * dV, dtype=torch.float64).item()
        U0, V0 = U.detach().clone(), V.detach().clone()
        for halvings in range(MAX_HALVINGS + 1):
            with torch.no_grad():
                U.copy_(U0 - step * dU)
                V.copy_(V0 - step * dV)
            # The backward pass, a product with A^T, waits until the step is
            # accepted and the run goes on.
            graph = objective.loss(U, V)
            trial = graph.item()
            if not search or trial <= loss - ARMIJO_C * step * slope + slack:
                grow = search and halvings == 0
                break
            step /= 2
        else:
            _restore(U, V, U0, V0)
            return "stalled", step

        loss = trial
        monitor.lr = step
        reason = monitor.record(epoch, loss)
        if reason is not None:
            return reason, step
        U.grad = V.grad = None
        graph.backward()
        if grow:
            step = min(2 * step, SCALEDGD_LR)
    return "max_epochs", step


def _precondition(grad, other, objective):
    """Return ``grad / 2`` times the inverse of ``p other^T other + l2 I``.

    ``p`` is the observed fraction: with a mask each row of the gradient sums
    over about ``p n`` cells. A damping of ``SCALEDGD_DAMPING`` times the mean
    eigenvalue keeps the step bounded when a factor nearly loses rank. The
    r x r work runs in float64.
    """
    other = other.detach()
    gram = objective.observed_fraction * (other.T @ other).double()
    rank = gram.shape[0]
    damping = objective.l2 + SCALEDGD_DAMPING * torch.trace(gram).item() / rank
    damping += 1e-300
    gram += damping * torch.eye(rank, dtype=gram.dtype, device=gram.device)
    inverse = torch.cholesky_inverse(torch.linalg.cholesky(gram))
    return grad @ (inverse / 2).to(grad.dtype)


def _restore(U, V, U0, V0):
    with torch.no_grad():
        U.copy_(U0)
        V.copy_(V0)
