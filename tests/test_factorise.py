"""Tests of gradfit.factorise against the truncated SVD and hand-computed values."""

import math

import numpy as np
import pytest
import torch

from gradfit import ConvergenceWarning, DivergenceError, InputError, factorise
from gradfit._objective import build_objective, optimum
from gradfit._steps import OPTIMIZERS


def low_rank(m, n, rank, noise, seed, dtype=torch.float64):
    """Return a rank-``rank`` m x n matrix plus Gaussian noise of std ``noise``."""
    g = torch.Generator().manual_seed(seed)
    U = torch.randn(m, rank, generator=g, dtype=dtype)
    V = torch.randn(n, rank, generator=g, dtype=dtype)
    return U @ V.T + noise * torch.randn(m, n, generator=g, dtype=dtype)


@pytest.fixture(scope="module")
def small():
    return low_rank(30, 20, 3, 0.1, seed=0)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_optimizer_reaches_svd_optimum(small, optimizer):
    result = factorise(
        small, 3, optimizer=optimizer, tol=1e-12, max_epochs=5000, seed=0
    )
    assert result.stop_reason == "tol"
    assert result.optimum_gap is not None
    assert abs(result.optimum_gap) <= 1e-6
    assert result.U.shape == (30, 3)
    assert result.V.shape == (20, 3)
    direct = torch.sum((small - result.U @ result.V.T) ** 2).item()
    assert direct == pytest.approx(result.loss, rel=1e-9)


@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e6])
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_default_step_converges_at_any_scale(small, optimizer, scale):
    result = factorise(small * scale, 3, optimizer=optimizer, seed=1, max_epochs=5000)
    assert all(math.isfinite(loss) for loss in result.losses)
    assert result.stop_reason in ("tol", "stalled")
    assert result.optimum_gap <= 1e-3


@pytest.mark.filterwarnings("ignore::gradfit.ConvergenceWarning")
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_wide_dynamic_range_stays_finite(optimizer):
    # Row i is scaled by 10**(-6 + 12 i / (m - 1)): entries from about 1e-6 to 1e6.
    A = low_rank(13, 10, 2, 0.0, seed=2).abs() + 1.0
    A = A * torch.logspace(-6, 6, 13, dtype=torch.float64)[:, None]
    result = factorise(A, 2, optimizer=optimizer, seed=0, max_epochs=3000)
    assert all(math.isfinite(loss) for loss in result.losses)
    assert torch.isfinite(result.U).all()
    assert torch.isfinite(result.V).all()
    assert result.loss <= 0.5 * result.losses[0]


@pytest.mark.parametrize(
    ("optimizer", "lr"), [("gd", 10.0), ("momentum", 10.0), ("scaledgd", 50.0)]
)
def test_diverging_lr_raises(small, optimizer, lr):
    with pytest.raises(DivergenceError) as info:
        factorise(small, 3, optimizer=optimizer, lr=lr, seed=0)
    error = info.value
    assert error.lr == lr
    assert error.epoch >= 1
    assert error.last_finite_loss is not None
    assert math.isfinite(error.last_finite_loss)
    assert 0 < error.suggested_lr < lr
    assert f"learning rate {lr:g}" in str(error)


def test_suggested_lr_does_not_diverge(small):
    with pytest.raises(DivergenceError) as info:
        factorise(small, 3, optimizer="gd", lr=10.0, seed=0)
    result = factorise(
        small,
        3,
        optimizer="gd",
        lr=info.value.suggested_lr,
        seed=0,
        tol=1e-10,
        max_epochs=20000,
    )
    assert result.optimum_gap <= 1e-4


def test_masked_loss_and_gradient_by_hand():
    # Observed entries are +-1, so their root mean square, the internal scale, is 1.
    nan = math.nan
    A = torch.tensor([[1.0, nan, -1.0], [nan, 1.0, 1.0]], dtype=torch.float64)
    mask = ~torch.isnan(A)
    U = torch.tensor([[1.0, 2.0], [0.0, 1.0]], dtype=torch.float64, requires_grad=True)
    V = torch.tensor(
        [[1.0, 0.0], [1.0, 1.0], [0.0, -1.0]], dtype=torch.float64, requires_grad=True
    )

    objective = build_objective(A, mask, l2=0.0)
    assert objective.scale == 1.0
    loss = objective.loss(U, V)
    loss.backward()

    # U V^T = [[1, 3, -2], [0, 1, -1]]; observed residuals U V^T - A are
    # (0, 0) -> 0, (0, 2) -> -1, (1, 1) -> 0, (1, 2) -> -2.
    assert loss.item() == pytest.approx(5.0, abs=1e-12)
    # dL/dU = 2 R V with R the masked residual [[0, 0, -1], [0, 0, -2]].
    expected_gU = torch.tensor([[0.0, 2.0], [0.0, 4.0]], dtype=torch.float64)
    # dL/dV = 2 R^T U.
    expected_gV = torch.tensor(
        [[0.0, 0.0], [0.0, 0.0], [-2.0, -8.0]], dtype=torch.float64
    )
    torch.testing.assert_close(U.grad, expected_gU, rtol=0, atol=1e-12)
    torch.testing.assert_close(V.grad, expected_gV, rtol=0, atol=1e-12)


def test_masked_fit_keeps_nan_out():
    A = low_rank(20, 15, 2, 0.01, seed=3)
    A[0, 0] = A[5, 3] = A[19, 14] = math.nan
    result = factorise(A, 2, missing="nan", seed=0)
    assert torch.isfinite(result.U).all()
    assert torch.isfinite(result.V).all()
    assert all(math.isfinite(loss) for loss in result.losses)
    assert result.optimum is None
    assert result.optimum_gap is None


def test_completion_rmse_near_noise():
    sigma = 0.1
    m, n, rank = 200, 150, 3
    clean = low_rank(m, n, rank, 0.0, seed=4)
    g = torch.Generator().manual_seed(5)
    A = clean + sigma * torch.randn(m, n, generator=g, dtype=torch.float64)
    observed = torch.rand(m, n, generator=g) >= 0.3

    result = factorise(A, rank, mask=observed, seed=0)
    held_out = ~observed
    error = (result.U @ result.V.T - A)[held_out]
    rmse = torch.sqrt(torch.mean(error**2)).item()
    assert abs(rmse - sigma) <= 0.2 * sigma


def test_same_seed_same_factors(small):
    first = factorise(small, 3, seed=7)
    second = factorise(small, 3, seed=7)
    assert torch.equal(first.U, second.U)
    assert torch.equal(first.V, second.V)
    assert first.seed == 7


def test_generator_seed_leaves_global_generator_alone(small):
    before = torch.get_rng_state()
    result = factorise(small, 3, seed=torch.Generator().manual_seed(11))
    assert torch.equal(torch.get_rng_state(), before)
    assert result.seed == 11


def test_float32_agrees_with_float64(small):
    r64 = factorise(small, 3, seed=0, dtype=torch.float64, tol=1e-9)
    r32 = factorise(small, 3, seed=0, dtype=torch.float32, tol=1e-5)
    assert r32.U.dtype == torch.float32
    # float32's rounding limits the loss to about 1e-6 relative of ||A||^2.
    assert r32.loss == pytest.approx(r64.loss, rel=1e-3)
    diff = r32.U.double() @ r32.V.double().T - r64.U @ r64.V.T
    assert torch.linalg.matrix_norm(diff) / torch.linalg.matrix_norm(small) <= 1e-4


def test_convergence_warning_at_epoch_limit(small):
    with pytest.warns(ConvergenceWarning, match="max_epochs=3"):
        result = factorise(small, 3, optimizer="gd", max_epochs=3, seed=0)
    assert result.stop_reason == "max_epochs"
    assert result.epochs == 3
    assert not result.converged


def test_callback_can_stop(small):
    seen = []

    def stop_at_four(epoch, loss):
        seen.append((epoch, loss))
        return epoch == 4

    result = factorise(small, 3, optimizer="adam", callback=stop_at_four, seed=0)
    assert result.stop_reason == "callback"
    assert result.epochs == 4
    assert [epoch for epoch, _ in seen] == [1, 2, 3, 4]
    assert [loss for _, loss in seen] == pytest.approx(result.losses[1:], rel=1e-12)


def test_line_search_loss_never_increases(small):
    for optimizer in ("gd", "scaledgd"):
        losses = np.array(factorise(small, 3, optimizer=optimizer, seed=0).losses)
        rises = np.diff(losses)
        assert rises.max() <= 1e-12 * losses[0], optimizer


def test_l2_reaches_shrinkage_optimum(small):
    l2 = 2.0
    result = factorise(small, 3, l2=l2, tol=1e-13, max_epochs=5000, seed=0)
    assert result.optimum == pytest.approx(optimum(small, 3, l2), rel=1e-12)
    assert abs(result.optimum_gap) <= 1e-6


def test_integer_matrix_is_cast_once():
    A = np.arange(20, dtype=np.int64).reshape(5, 4) % 7
    result = factorise(A, 2, seed=0)
    assert result.U.dtype == torch.float32
    assert result.optimum is not None


def test_all_true_mask_is_complete(small):
    result = factorise(small, 3, mask=torch.ones(30, 20, dtype=torch.bool), seed=0)
    assert result.optimum is not None


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"rank": 0}, InputError, r"rank=0 is out of range .* min\(m, n\)=20"),
        ({"rank": 21}, InputError, "rank=21 is out of range"),
        ({"rank": 2.0}, TypeError, "rank must be an int"),
        ({"optimizer": "sgd"}, InputError, "optimizer='sgd' is not supported"),
        ({"lr": 0.0}, InputError, "lr=0.0 is invalid; use a positive"),
        ({"lr": math.inf}, InputError, "lr=inf is invalid"),
        ({"max_epochs": 0}, InputError, "max_epochs=0 is invalid"),
        ({"tol": -1.0}, InputError, "tol=-1.0 is invalid"),
        ({"l2": math.nan}, InputError, "l2=nan is invalid"),
        ({"init": "zeros"}, InputError, "init='zeros' is not supported"),
        ({"seed": "1"}, TypeError, "seed must be an int"),
        ({"dtype": torch.float16}, InputError, "dtype=torch.float16 is not supported"),
        ({"callback": 3}, TypeError, "callback must be callable"),
        ({"missing": "zero"}, InputError, "missing='zero' is not supported"),
        ({"device": "gpu0"}, InputError, "device='gpu0' is not a valid torch device"),
        ({"device": "meta"}, InputError, "device='meta' is not supported"),
        (
            {"mask": torch.ones(20, 30, dtype=torch.bool)},
            InputError,
            r"mask has shape \(20, 30\) but A has shape \(30, 20\)",
        ),
        ({"mask": torch.ones(30, 20)}, TypeError, "mask must have dtype bool"),
    ],
)
def test_invalid_argument(small, kwargs, error, match):
    arguments = {"rank": 3, **kwargs}
    with pytest.raises(error, match=match):
        factorise(small, **arguments)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_unavailable_is_input_error(small):
    with pytest.raises(InputError, match="device='cuda' is not available"):
        factorise(small, 3, device="cuda")


def test_observed_nan_is_input_error(small):
    A = small.clone()
    A[2, 4] = math.nan
    with pytest.raises(InputError, match=r"A\[2, 4\] is nan .* missing='nan'"):
        factorise(A, 3)


def test_infinite_cell_is_input_error(small):
    A = small.clone()
    A[29, 0] = -math.inf
    with pytest.raises(InputError, match=r"A\[29, 0\] is -inf and observed"):
        factorise(A, 3)


def test_tiny_matrix_keeps_its_scale(small):
    # Entries near 1e-300 have squares that underflow float64.
    result = factorise(small * 1e-300, 3, seed=0, max_epochs=5000)
    fitted = (result.U / 1e-150) @ (result.V / 1e-150).T
    U, S, Vh = torch.linalg.svd(small)
    best = U[:, :3] @ torch.diag(S[:3]) @ Vh[:3]
    assert torch.allclose(fitted, best, atol=1e-3)


def test_float32_overflow_is_input_error(small):
    with pytest.raises(InputError, match="5e\\+150, beyond the float32 range"):
        factorise(small / small.abs().max() * 5e150, 3, dtype=torch.float32)


def test_float32_underflow_is_input_error(small):
    with pytest.raises(InputError, match="below float32's smallest normal number"):
        factorise(small * 1e-50, 3, dtype=torch.float32)


@pytest.mark.parametrize("layout", ["sparse", "meta"])
def test_tensor_without_dense_data_is_type_error(small, layout):
    A = small.to_sparse() if layout == "sparse" else small.to("meta")
    with pytest.raises(TypeError, match="A must be a dense tensor"):
        factorise(A, 3)


def test_overflowing_sum_of_squares_is_input_error(small):
    with pytest.raises(InputError, match="overflows float64"):
        factorise(small * 1e160, 3)


def test_row_without_observed_cell(small):
    mask = torch.ones(30, 20, dtype=torch.bool)
    mask[1] = False
    with pytest.raises(InputError, match=r"row index 1 \(row 2 counting from 1\)"):
        factorise(small, 3, mask=mask)


def test_column_without_observed_cell(small):
    A = small.clone()
    A[:, 19] = math.nan
    with pytest.raises(InputError, match="column index 19"):
        factorise(A, 3, missing="nan")


def test_numpy_view_with_negative_strides(small):
    A = small.numpy()[::-1]
    result = factorise(A, 3, seed=0)
    assert result.U.dtype == torch.float64
    assert abs(result.optimum_gap) <= 1e-4


def test_spectral_start_complete_and_masked(small):
    complete = factorise(small, 3, init="spectral", seed=0, tol=1e-12)
    assert abs(complete.optimum_gap) <= 1e-6
    mask = torch.rand(30, 20, generator=torch.Generator().manual_seed(1)) >= 0.2
    masked = factorise(small, 3, mask=mask, init="spectral", seed=0)
    error = (masked.U @ masked.V.T - small)[~mask]
    # The noise has standard deviation 0.1; the held-out error stays near it.
    assert torch.sqrt(torch.mean(error**2)).item() <= 0.3


def test_stalled_adam_returns_lowest_loss(small):
    # Adam's first steps, of about lr per entry, leave the spectral start,
    # which is already the optimum.
    result = factorise(small, 3, optimizer="adam", init="spectral", seed=0)
    assert result.stop_reason == "stalled"
    assert result.loss == min(result.losses)
    assert result.epochs == len(result.losses) - 1
    direct = torch.sum((small - result.U @ result.V.T) ** 2).item()
    assert direct == pytest.approx(result.loss, rel=1e-9)
    assert abs(result.optimum_gap) <= 1e-6


def test_float32_gap_summed_from_residual():
    """The float32 loss expansion is off by ~1e-7 ||A||^2; the gap must not be."""
    generator = torch.Generator().manual_seed(0)
    A = torch.randn(60, 4, generator=generator) @ torch.randn(
        4, 30, generator=generator
    )
    A += 0.01 * torch.randn(60, 30, generator=generator)
    result = factorise(A, 4, dtype=torch.float32, seed=0)
    assert result.optimum_gap >= -1e-9
    assert result.optimum_gap < 1e-6
    residual = A.double() - result.U.double() @ result.V.double().T
    exact = torch.sum(residual * residual).item()
    assert exact == pytest.approx(result.optimum * (1 + result.optimum_gap), rel=1e-9)
