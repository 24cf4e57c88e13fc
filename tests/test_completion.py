import math

import numpy as np
import pytest
import torch

from gradfit import (
    ConvergenceWarning,
    DivergenceError,
    InputError,
    Ratings,
    fit_completion,
    split_ratings,
)
from gradfit import _completion_steps as steps


def low_rank_ratings(m, n, rank, noise, observed, seed):
    """Ratings of a rank-``rank`` matrix plus offsets and Gaussian noise ``noise``."""
    g = np.random.default_rng(seed)
    U = g.normal(size=(m, rank)) / rank**0.25
    V = g.normal(size=(n, rank)) / rank**0.25
    A = 3.0 + g.normal(size=(m, 1)) * 0.3 + g.normal(size=(1, n)) * 0.3 + U @ V.T
    mask = g.random((m, n)) < observed
    rows, cols = np.nonzero(mask)
    values = A[rows, cols] + noise * g.normal(size=len(rows))
    row_ids = tuple(f"u{k}" for k in range(m))
    col_ids = tuple(f"i{k}" for k in range(n))
    return Ratings(rows, cols, values, row_ids, col_ids)


@pytest.fixture(scope="module")
def noisy():
    return low_rank_ratings(150, 100, 3, noise=0.1, observed=0.7, seed=0)


def test_completion_rmse_near_noise(noisy):
    train, test = split_ratings(noisy, 0.2, seed=1)
    model = fit_completion(train, 3)
    scores = model.score(test)
    # 30 % of cells are missing and 20 % of the rest are held out. The best
    # possible RMSE is the noise level 0.1.
    assert scores.rmse == pytest.approx(0.1, rel=0.2)
    assert scores.mae <= scores.rmse
    assert scores.n_unknown == 0


def test_same_seed_same_factors(noisy):
    first = fit_completion(noisy, 3, seed=5, max_epochs=4, tol=0)
    second = fit_completion(noisy, 3, seed=5, max_epochs=4, tol=0)
    other = fit_completion(noisy, 3, seed=6, max_epochs=4, tol=0)
    torch.testing.assert_close(first.U, second.U, rtol=0, atol=0)
    torch.testing.assert_close(first.V, second.V, rtol=0, atol=0)
    torch.testing.assert_close(first.row_bias, second.row_bias, rtol=0, atol=0)
    assert (first.U - other.U).abs().max().item() > 1e-3


def test_fit_leaves_global_generator_alone(noisy):
    state = torch.get_rng_state()
    fit_completion(noisy, 3, max_epochs=2, tol=0)
    assert torch.equal(state, torch.get_rng_state())


def test_split_is_reproducible_and_sized(noisy):
    train, test = split_ratings(noisy, 0.25, seed=3)
    again_train, again_test = split_ratings(noisy, 0.25, seed=3)
    assert len(test) == round(0.25 * len(noisy))
    assert len(train) + len(test) == len(noisy)
    np.testing.assert_array_equal(test.values, again_test.values)
    np.testing.assert_array_equal(train.rows, again_train.rows)

    def keys(part):
        pairs = zip(part.rows, part.cols, strict=True)
        return {(part.row_ids[r], part.col_ids[c]) for r, c in pairs}

    assert keys(train).isdisjoint(keys(test))
    assert len(keys(train) | keys(test)) == len(noisy)
    _, other_test = split_ratings(noisy, 0.25, seed=4)
    assert keys(other_test) != keys(test)


@pytest.mark.parametrize("fraction", [0, 1, 1.5, -0.1, 1e-9, True])
def test_split_rejects_bad_fraction(noisy, fraction):
    with pytest.raises(InputError, match="test_fraction"):
        split_ratings(noisy, fraction)


def tiny():
    rows = np.array([0, 0, 1, 1, 2, 2, 3])
    cols = np.array([0, 1, 1, 2, 0, 2, 1])
    values = np.array([4.0, 3.0, 2.0, 5.0, 1.0, 3.0, 4.0])
    return Ratings(rows, cols, values, ("007", "7", "a", "b"), ("x", "y", "z"))


def test_predict_by_raw_ids():
    model = fit_completion(tiny(), 1, max_epochs=3, tol=0)
    predicted = model.predict(["7", "007"], ["z", "x"])
    for k, (u, i) in enumerate([(1, 2), (0, 0)]):
        expected = (
            model.mean + model.row_bias[u] + model.col_bias[i] + model.U[u] @ model.V[i]
        ).item()
        assert predicted[k] == pytest.approx(expected, rel=1e-6, abs=1e-6)


def test_unknown_id_error_and_bias_fallback():
    model = fit_completion(tiny(), 1, max_epochs=3, tol=0)
    with pytest.raises(InputError, match="row id '07' is unknown"):
        model.predict(["07"], ["x"])
    with pytest.raises(InputError, match="ids are matched as strings"):
        model.predict([7], ["x"])
    predicted = model.predict(["07", "7", "07"], ["x", "w", "w"], unknown="bias")
    assert predicted[0] == pytest.approx(
        model.mean + model.col_bias[0].item(), abs=1e-6
    )
    assert predicted[1] == pytest.approx(
        model.mean + model.row_bias[1].item(), abs=1e-6
    )
    assert predicted[2] == pytest.approx(model.mean, abs=1e-12)


def test_test_only_id_is_unknown_to_model():
    ratings = tiny()
    train = Ratings(
        ratings.rows[:6],
        ratings.cols[:6],
        ratings.values[:6],
        ratings.row_ids[:3],
        ratings.col_ids,
    )
    model = fit_completion(train, 1, max_epochs=3, tol=0)
    with pytest.raises(InputError, match="row id 'b' is unknown"):
        model.score(ratings)
    scores = model.score(ratings, unknown="bias")
    assert scores.n_unknown == 1
    assert math.isfinite(scores.rmse)


def test_id_without_rating_is_named():
    ratings = tiny()
    extra = Ratings(
        ratings.rows,
        ratings.cols,
        ratings.values,
        ratings.row_ids + ("ghost",),
        ratings.col_ids,
    )
    with pytest.raises(InputError, match="row id 'ghost' has no rating"):
        fit_completion(extra, 1)


def dense_objective(ratings, row_params, col_params, l2):
    """f on the dense m x n matrix with a mask, for autograd."""
    m, n = ratings.n_rows, ratings.n_cols
    mask = torch.zeros(m, n, dtype=torch.float64)
    target = torch.zeros(m, n, dtype=torch.float64)
    mask[ratings.rows, ratings.cols] = 1.0
    target[ratings.rows, ratings.cols] = torch.from_numpy(ratings.values)
    prediction = (
        row_params[:, :1]
        + col_params[:, :1].T
        + row_params[:, 1:] @ col_params[:, 1:].T
    )
    errors = (prediction - target) * mask
    penalty = row_params.square().sum() + col_params.square().sum()
    return 0.5 * errors.square().sum() + 0.5 * l2 * penalty


def test_sparse_gradient_matches_autograd(noisy):
    g = torch.Generator().manual_seed(0)
    rank, l2 = 3, 0.3
    row_params = torch.randn(noisy.n_rows, rank + 1, generator=g, dtype=torch.float64)
    col_params = torch.randn(noisy.n_cols, rank + 1, generator=g, dtype=torch.float64)
    data = steps.SparseRatings(
        torch.from_numpy(noisy.rows),
        torch.from_numpy(noisy.cols),
        torch.from_numpy(noisy.values),
        noisy.n_rows,
        noisy.n_cols,
    )
    _, row_gradient = steps.block_gradient(data.by_row, row_params, col_params, l2)
    _, col_gradient = steps.block_gradient(data.by_col, col_params, row_params, l2)

    rp, cp = row_params.clone().requires_grad_(), col_params.clone().requires_grad_()
    dense_objective(noisy, rp, cp, l2).backward()
    # float64 sums of about 100 terms of size ~10: agreement to 1e-10 relative.
    torch.testing.assert_close(row_gradient, rp.grad, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(col_gradient, cp.grad, rtol=1e-10, atol=1e-10)

    value, _ = steps.objective(data, row_params, col_params, l2)
    dense = dense_objective(noisy, row_params, col_params, l2).item()
    assert value == pytest.approx(dense, rel=1e-12)


def test_sparse_hessian_matches_autograd(noisy):
    g = torch.Generator().manual_seed(1)
    rank, l2 = 2, 0.1
    row_params = torch.randn(noisy.n_rows, rank + 1, generator=g, dtype=torch.float64)
    col_params = torch.randn(noisy.n_cols, rank + 1, generator=g, dtype=torch.float64)
    data = steps.SparseRatings(
        torch.from_numpy(noisy.rows),
        torch.from_numpy(noisy.cols),
        torch.from_numpy(noisy.values),
        noisy.n_rows,
        noisy.n_cols,
    )
    hessian, _ = steps.block_gradient(data.by_row, row_params, col_params, l2, 4, 6)

    for u in (4, 5):

        def f_of_row(theta, u=u):
            params = torch.cat([row_params[:u], theta[None], row_params[u + 1 :]])
            return dense_objective(noisy, params, col_params, l2)

        expected = torch.autograd.functional.hessian(f_of_row, row_params[u])
        torch.testing.assert_close(hessian[u - 4], expected, rtol=1e-10, atol=1e-10)


def test_balance_keeps_product_and_lowers_penalty():
    g = torch.Generator().manual_seed(2)
    row_params = torch.randn(30, 4, generator=g, dtype=torch.float64)
    col_params = torch.randn(20, 4, generator=g, dtype=torch.float64) * 5
    rows, cols = steps.balance(row_params, col_params)
    before = row_params[:, 1:] @ col_params[:, 1:].T
    after = rows[:, 1:] @ cols[:, 1:].T
    torch.testing.assert_close(after, before, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(rows[:, 0], row_params[:, 0], rtol=0, atol=0)
    torch.testing.assert_close(
        rows[:, 1:].T @ rows[:, 1:], cols[:, 1:].T @ cols[:, 1:], rtol=1e-10, atol=1e-10
    )
    penalty_before = row_params[:, 1:].square().sum() + col_params[:, 1:].square().sum()
    penalty_after = rows[:, 1:].square().sum() + cols[:, 1:].square().sum()
    assert penalty_after.item() < penalty_before.item() * 0.9


@pytest.mark.parametrize("lr", [1.0, 0.5, 1.5])
def test_loss_never_increases(noisy, lr):
    model = fit_completion(noisy, 3, lr=lr, max_epochs=15, tol=0, dtype=torch.float64)
    for before, after in zip(model.losses[:-1], model.losses[1:], strict=True):
        assert after <= before * (1 + 1e-9)


def test_loss_is_half_mse_plus_penalty(noisy):
    l2 = 0.2
    model = fit_completion(noisy, 3, l2=l2, max_epochs=5, tol=0, dtype=torch.float64)
    mse = model.score(noisy).rmse ** 2
    parameters = (model.row_bias, model.col_bias, model.U, model.V)
    squares = sum(float(torch.sum(p * p)) for p in parameters)
    expected = mse / 2 + l2 * squares / (2 * len(noisy))
    assert model.losses[-1] == pytest.approx(expected, rel=1e-9)


def test_callback_can_stop(noisy):
    seen = []

    def stop_at_two(epoch, loss):
        seen.append((epoch, loss))
        return epoch == 2

    model = fit_completion(noisy, 3, tol=0, callback=stop_at_two)
    assert [e for e, _ in seen] == [1, 2]
    assert model.losses == [loss for _, loss in seen]


def test_epoch_limit_warns(noisy):
    with pytest.warns(ConvergenceWarning, match="max_epochs=1") as caught:
        model = fit_completion(noisy, 3, max_epochs=1)
    assert not model.converged
    assert "raise l2=0.05" in str(caught[0].message)


def test_overflow_raises_divergence():
    ratings = tiny()
    huge = Ratings(
        ratings.rows,
        ratings.cols,
        ratings.values * 1e30,
        ratings.row_ids,
        ratings.col_ids,
    )
    with pytest.raises(DivergenceError, match="float32") as info:
        fit_completion(huge, 1)
    assert info.value.epoch == 1
    assert info.value.lr == 1.0


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"rank": 0}, "rank=0"),
        ({"rank": 4}, "rank=4"),
        ({"rank": 1, "l2": 0}, "l2=0"),
        ({"rank": 1, "lr": 2.0}, "lr=2.0"),
        ({"rank": 1, "max_epochs": 0}, "max_epochs=0"),
        ({"rank": 1, "tol": -1}, "tol=-1"),
        ({"rank": 1, "device": "nowhere"}, "device='nowhere'"),
        ({"rank": 1, "seed": 1.5}, "seed=1.5"),
        ({"rank": 1, "l2": 1e300}, r"l2=1e\+300 is beyond the torch.float32 range"),
    ],
)
def test_fit_rejects_bad_arguments(kwargs, fragment):
    with pytest.raises(InputError, match=fragment):
        fit_completion(tiny(), **kwargs)


def test_overflow_names_dtype_remedy():
    generator = np.random.default_rng(0)
    cells = np.unique(generator.integers(0, 20 * 15, 400))
    rows, cols = cells // 15, cells % 15
    values = generator.normal(size=len(cells)) * 1e25
    ratings = Ratings(
        rows, cols, values, tuple(map(str, range(20))), tuple(map(str, range(15)))
    )
    with pytest.raises(DivergenceError, match="overflowed float32") as info:
        fit_completion(ratings, 2, dtype=torch.float32)
    assert info.value.epoch == 1
    assert "use float64" in str(info.value)


@pytest.mark.parametrize("seed", [-1, 2**64])
def test_split_seed_out_of_range(seed):
    ratings = Ratings(
        np.array([0, 1]), np.array([0, 1]), np.array([1.0, 2.0]), ["a", "b"], ["x", "y"]
    )
    with pytest.raises(InputError, match=f"seed={seed} is out of range"):
        split_ratings(ratings, 0.5, seed=seed)


def test_rating_beyond_float32_is_input_error():
    ratings = tiny()
    values = ratings.values.copy()
    values[3] = -1e300
    huge = Ratings(ratings.rows, ratings.cols, values, ratings.row_ids, ratings.col_ids)
    with pytest.raises(InputError, match=r"magnitude 1e\+300 is beyond"):
        fit_completion(huge, 1)


def test_score_of_huge_error_is_finite():
    model = fit_completion(tiny(), 1, max_epochs=3, tol=0)
    far = Ratings(
        np.array([0, 1]),
        np.array([0, 0]),
        np.array([1e200, 1e200]),
        ("007", "7"),
        ("x",),
    )
    scores = model.score(far)
    assert scores.rmse == pytest.approx(1e200)
    assert scores.mae == pytest.approx(1e200)
