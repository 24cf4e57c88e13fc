import math

import numpy as np
import pytest
import scipy.linalg
import torch

from gradfit import (
    InputError,
    best_linear_map,
    gd_factorise_ad,
    pca_projection,
    principal_angles,
)


def test_principal_angles_match_scipy():
    generator = torch.Generator().manual_seed(0)
    X = torch.randn(20, 3, generator=generator, dtype=torch.float64)
    Y = torch.randn(20, 2, generator=generator, dtype=torch.float64)
    ours = principal_angles(X, Y).numpy()
    reference = np.sort(scipy.linalg.subspace_angles(X.numpy(), Y.numpy()))
    np.testing.assert_allclose(ours, reference, rtol=1e-10, atol=1e-12)


def test_principal_angles_of_known_planes():
    e = torch.eye(3, dtype=torch.float64)
    theta = 0.3
    tilted = torch.stack([e[0], math.cos(theta) * e[1] + math.sin(theta) * e[2]], dim=1)
    angles = principal_angles(e[:, :2], tilted)
    torch.testing.assert_close(
        angles, torch.tensor([0.0, theta], dtype=torch.float64), rtol=0, atol=1e-12
    )


def test_small_angle_is_accurate():
    """A 1e-9 rad angle survives; arccos of the cosine alone would return 0."""
    e = torch.eye(3, dtype=torch.float64)
    theta = 1e-9
    Y = (math.cos(theta) * e[0] + math.sin(theta) * e[1])[:, None]
    assert principal_angles(e[:, :1], Y).item() == pytest.approx(theta, rel=1e-6)


def test_pca_projection_matches_sklearn_convention(iris_centred):
    A = iris_centred.double()
    projection = pca_projection(A, 2)
    # Scores are uncorrelated and their variances are the top eigenvalues.
    covariance = projection.T @ projection / (A.shape[0] - 1)
    eigenvalues = torch.linalg.eigvalsh(A.T @ A / (A.shape[0] - 1)).flip(0)[:2]
    torch.testing.assert_close(torch.diag(covariance), eigenvalues, rtol=1e-10, atol=0)
    assert abs(covariance[0, 1].item()) < 1e-10


def test_iris_u_spans_principal_subspace(iris_centred):
    torch.manual_seed(0)
    U, _ = gd_factorise_ad(iris_centred, 2)
    projection = pca_projection(iris_centred, 2)
    degrees = torch.rad2deg(principal_angles(U, projection))
    assert degrees.max().item() < 0.1
    fit = best_linear_map(U, projection)
    assert fit.relative_residual < 1e-3


def test_best_linear_map_recovers_rotation_and_scale():
    generator = torch.Generator().manual_seed(2)
    X = torch.randn(50, 2, generator=generator, dtype=torch.float64)
    angle = math.radians(30.0)
    R = torch.tensor(
        [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]],
        dtype=torch.float64,
    )
    fit = best_linear_map(X, X @ (2.5 * R))
    assert fit.relative_residual < 1e-12
    assert fit.rotation_deg == pytest.approx(30.0, abs=1e-9)
    torch.testing.assert_close(
        fit.scales, torch.tensor([2.5, 2.5], dtype=torch.float64), rtol=1e-12, atol=0
    )
    assert fit.reflection is False


def test_principal_angles_rejects_row_mismatch():
    with pytest.raises(InputError, match=r"X has shape \(5, 2\) and Y has shape"):
        principal_angles(torch.randn(5, 2), torch.randn(4, 2))
