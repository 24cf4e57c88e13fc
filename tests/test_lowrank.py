import pytest
import torch

from gradfit import (
    DivergenceError,
    InputError,
    gd_factorise_ad,
    squared_error,
    suggest_learning_rate,
    truncated_svd,
)

IRIS_SVD_LOSS = 15.22883  # rank-2 loss of the centred UCI Iris features


def test_iris_truncated_svd_loss(iris_centred):
    loss = squared_error(iris_centred, truncated_svd(iris_centred, 2)).item()
    assert loss == pytest.approx(IRIS_SVD_LOSS, rel=1e-5)


def test_iris_gd_reaches_svd_optimum(iris_centred):
    torch.manual_seed(0)
    U, V = gd_factorise_ad(iris_centred, 2)
    gd_loss = squared_error(iris_centred, U @ V.T).item()
    assert gd_loss == pytest.approx(IRIS_SVD_LOSS, rel=1e-4)
    assert not U.requires_grad
    assert not V.requires_grad
    assert U.shape == (150, 2)
    assert V.shape == (4, 2)


def test_gd_uses_global_generator(iris_centred):
    torch.manual_seed(3)
    first = gd_factorise_ad(iris_centred, 2, num_epochs=5)
    torch.manual_seed(3)
    second = gd_factorise_ad(iris_centred, 2, num_epochs=5)
    assert torch.equal(first[0], second[0])
    assert torch.equal(first[1], second[1])


@pytest.mark.parametrize(
    ("m", "n", "rank"), [(5, 3, 1), (12, 7, 3), (30, 30, 5), (8, 40, 2)]
)
def test_gd_loss_not_below_svd_optimum(m, n, rank):
    generator = torch.Generator().manual_seed(m * n + rank)
    A = torch.randn(m, n, generator=generator, dtype=torch.float64)
    torch.manual_seed(1)
    U, V = gd_factorise_ad(A, rank, num_epochs=300, lr=0.005)
    gd_loss = squared_error(A, U @ V.T).item()
    svd_loss = squared_error(A, truncated_svd(A, rank)).item()
    assert gd_loss >= svd_loss * (1 - 1e-12) - 1e-12


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (5, 5)])
def test_truncated_svd_full_rank_reconstructs(shape):
    A = torch.randn(
        *shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    torch.testing.assert_close(truncated_svd(A, min(shape)), A, rtol=1e-12, atol=1e-12)


def test_truncated_svd_keeps_top_singular_values():
    A = torch.randn(
        9, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64
    )
    S = torch.linalg.svdvals(A)
    reconstruction = truncated_svd(A, 2)
    torch.testing.assert_close(
        torch.linalg.svdvals(reconstruction)[:2], S[:2], rtol=1e-10, atol=1e-12
    )
    assert squared_error(A, reconstruction).item() == pytest.approx(
        (S[2:] ** 2).sum().item(), rel=1e-10
    )


def test_gd_divergence_names_epoch_and_suggests_lr():
    A = torch.full((20, 10), 1e3)
    torch.manual_seed(0)
    with pytest.raises(DivergenceError) as info:
        gd_factorise_ad(A, 2, num_epochs=100, lr=0.01)
    error = info.value
    assert 1 <= error.epoch <= 100
    assert error.lr == 0.01
    assert 0 < error.suggested_lr < 0.01
    assert "use a learning rate of" in str(error)


def test_gd_converges_with_suggested_lr():
    A = torch.full((20, 10), 1e3, dtype=torch.float64)
    torch.manual_seed(0)
    with pytest.raises(DivergenceError) as info:
        gd_factorise_ad(A, 1, num_epochs=50, lr=0.01)
    torch.manual_seed(0)
    U, V = gd_factorise_ad(A, 1, num_epochs=2000, lr=info.value.suggested_lr)
    assert squared_error(A, U @ V.T).item() < 1e-6 * squared_error(A, 0 * A).item()


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"rank": 0}, "rank=0 is out of range"),
        ({"rank": 5}, r"min\(m, n\)=4"),
        ({"rank": 2, "num_epochs": 0}, "num_epochs=0 is invalid"),
        ({"rank": 2, "lr": 0.0}, "lr=0.0 is invalid"),
        ({"rank": 2, "lr": float("nan")}, "lr=nan is invalid"),
        ({"rank": 2, "lr": -1}, "lr=-1 is invalid"),
    ],
)
def test_gd_rejects_bad_arguments(kwargs, fragment):
    with pytest.raises(InputError, match=fragment):
        gd_factorise_ad(torch.zeros(6, 4), **kwargs)


def test_gd_rejects_integer_matrix():
    with pytest.raises(TypeError, match="floating point"):
        gd_factorise_ad(torch.zeros(6, 4, dtype=torch.int64), 2)


def test_gd_rejects_nan_cell():
    A = torch.ones(6, 4)
    A[5, 1] = float("nan")
    with pytest.raises(InputError, match=r"A\[5, 1\] is nan, but A must be finite"):
        gd_factorise_ad(A, 2)
    with pytest.raises(InputError, match=r"A\[5, 1\] is nan, but A must be finite"):
        truncated_svd(A, 2)


def test_squared_error_rejects_shape_mismatch():
    with pytest.raises(InputError, match=r"A_hat has shape \(2, 2\)"):
        squared_error(torch.eye(3), torch.eye(2))


def test_suggest_learning_rate_rejects_nan():
    A = torch.ones(4, 3)
    A[1, 2] = float("nan")
    with pytest.raises(InputError, match="A contains NaN or infinite entries"):
        suggest_learning_rate(A, torch.ones(4, 1), torch.ones(3, 1))


def test_suggest_learning_rate_value():
    A = torch.diag(torch.tensor([4.0, 1.0]))
    U0 = torch.ones(2, 1)
    V0 = torch.ones(2, 1)
    # s = max(||U0||^2 = 2, ||V0||^2 = 2, ||A||_2 = 4) = 4, so 1 / (8 * 4).
    assert suggest_learning_rate(A, U0, V0) == pytest.approx(1 / 32, rel=1e-12)
