"""Exception and warning classes raised by gradfit."""

__all__ = [
    "ConstantFeatureWarning",
    "ConvergenceWarning",
    "DivergenceError",
    "InputError",
]


class InputError(ValueError):
    """Invalid input: a malformed file, a bad parameter or an unusable matrix.

    The message is one sentence that names the problem, the value received and
    what to do about it, so the command line prints it as it is.
    """


class DivergenceError(ArithmeticError):
    """Gradient descent diverged: the loss became non-finite or kept growing.

    Attributes
    ----------
    lr : float
        The learning rate that diverged.
    epoch : int
        The 1-based epoch at which divergence was detected.
    last_finite_loss : float or None
        The last finite loss seen before divergence, None if there was none.
    suggested_lr : float or None
        A learning rate computed from the problem that is expected to be safe.

    The message ends with ``advice`` when given, else with the suggested
    learning rate, else with a request for a smaller learning rate.
    """

    def __init__(
        self, lr, epoch, last_finite_loss, suggested_lr=None, *, detail="", advice=None
    ):
        self.lr = lr
        self.epoch = epoch
        self.last_finite_loss = last_finite_loss
        self.suggested_lr = suggested_lr
        last = "none" if last_finite_loss is None else f"{last_finite_loss:.6g}"
        message = (
            f"gradient descent diverged at epoch {epoch} with learning rate {lr:g}"
            f"{detail} (last finite loss {last})"
        )
        if advice is not None:
            message += f"; {advice}"
        elif suggested_lr is not None:
            message += f"; use a learning rate of {suggested_lr:.3g} or smaller"
        else:
            message += "; use a smaller learning rate"
        super().__init__(message)


class ConvergenceWarning(UserWarning):
    """An iterative fit stopped at its epoch limit before meeting its tolerance."""


class ConstantFeatureWarning(UserWarning):
    """A feature takes one value on every row, so scaling sets it to zero."""
