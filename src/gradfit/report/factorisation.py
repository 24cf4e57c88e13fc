"""Report sections on the rank-2 factorisation of the centred Iris features."""

import torch

from ..baselines import best_linear_map, pca_projection, principal_angles, truncated_svd
from ..data import load_iris
from ..lowrank import gd_factorise_ad, squared_error
from .document import Figure, Heading, Paragraph, Table
from .figures import loss_curve_figure, pca_comparison_figure, to_png

RANK = 2
EPOCHS = 1000
LEARNING_RATE = 0.01


def factorisation_sections(options):
    """Fit the study's factorisation and compare it with the SVD and PCA.

    Returns ``(blocks, results)``: report blocks and a dict with the keys
    ``factorisation`` and ``pca`` for results.json.
    """
    seed = options.seed
    iris = load_iris()
    A = iris.features - iris.features.mean(dim=0)

    losses = []
    torch.manual_seed(seed)
    U, V = gd_factorise_ad(
        A, RANK, EPOCHS, LEARNING_RATE, callback=lambda _, loss: losses.append(loss)
    )
    gd_loss = squared_error(A, U @ V.T).item()
    svd_loss = squared_error(A, truncated_svd(A, RANK)).item()
    gap = (gd_loss - svd_loss) / svd_loss

    projection = pca_projection(A, RANK)
    fit = best_linear_map(U, projection)
    angles = torch.rad2deg(principal_angles(U, projection)).tolist()

    results = {
        "factorisation": {
            "rank": RANK,
            "epochs": EPOCHS,
            "lr": LEARNING_RATE,
            "dtype": "float32",
            "gd_loss": gd_loss,
            "svd_loss": svd_loss,
            "relative_gap": gap,
            "loss_history": losses,
        },
        "pca": {
            "map": fit.matrix.tolist(),
            "residual": fit.relative_residual,
            "rotation_deg": fit.rotation_deg,
            "reflection": fit.reflection,
            "scales": fit.scales.tolist(),
            "principal_angles_deg": angles,
        },
    }
    loss_png = to_png(loss_curve_figure(losses, svd_loss))
    pca_png = to_png(
        pca_comparison_figure(projection, U, iris.labels, iris.class_names)
    )
    blocks = _reconstruction_blocks(results["factorisation"], seed, loss_png)
    blocks += _pca_blocks(results["pca"], pca_png)
    return blocks, results


def _reconstruction_blocks(r, seed, loss_png):
    return [
        Heading("Reconstruction loss"),
        Paragraph(
            f"The Iris features (150 x 4, cm) are centred by subtracting each column's "
            f"mean, giving A. After `torch.manual_seed({seed})`, "
            f"U (150 x {r['rank']}) and V (4 x {r['rank']}) start uniform in [0, 1) "
            f"and take {r['epochs']} plain gradient steps of size {r['lr']} on the "
            f"summed squared error ||A - U Vᵀ||², in {r['dtype']}. The truncated SVD "
            f"of the same matrix gives the best possible rank-{r['rank']} loss "
            f"(Eckart-Young)."
        ),
        Table(
            ("method", "summed squared error"),
            (
                ("gradient descent", f"{r['gd_loss']:.6f}"),
                ("truncated SVD", f"{r['svd_loss']:.6f}"),
                ("relative gap", f"{r['relative_gap']:.2e}"),
            ),
            align=("l", "r"),
        ),
        Figure(
            "loss_curve.png",
            loss_png,
            "GD loss per epoch on a log scale, with the truncated-SVD optimum.",
        ),
    ]


def _pca_blocks(p, pca_png):
    angles = ", ".join(f"{a:.3g}°" for a in p["principal_angles_deg"])
    M = p["map"]
    if p["rotation_deg"] is not None:
        rotation = f"a rotation by {p['rotation_deg']:.2f}°"
    else:
        rotation = "an orthogonal factor that includes a reflection"
    scales = " and ".join(f"{s:.4g}" for s in p["scales"])
    return [
        Heading("Comparison with PCA"),
        Paragraph(
            "Panel (a) shows the projections of the centred data on its first two "
            "principal components (from the SVD); panel (b) the rows of U from the "
            "factorisation. The two look alike up to a linear change of axes, since "
            "U Vᵀ = (U M)(V M⁻ᵀ)ᵀ for any invertible 2 x 2 matrix M, so the fit only "
            "determines the column space of U."
        ),
        Figure(
            "pca_comparison.png",
            pca_png,
            "(a) PCA projection from the SVD, (b) rows of U from gradient descent.",
        ),
        Paragraph(
            f"The least-squares map M with U M ≈ P, where P is the PCA projection, is "
            f"[[{M[0][0]:.4f}, {M[0][1]:.4f}], [{M[1][0]:.4f}, {M[1][1]:.4f}]]. "
            f"Its polar decomposition is {rotation} combined with stretches of "
            f"{scales} along its principal axes. The relative residual "
            f"||U M - P||_F / ||P||_F is {p['residual']:.2e} and the principal angles "
            f"between the column spaces of U and of the projection are {angles}. "
            f"{_pca_verdict(p)}"
        ),
    ]


def _pca_verdict(p):
    """Summarise the map's numbers in one sentence, with thresholds stated."""
    if p["residual"] > 1e-2 or max(p["principal_angles_deg"]) > 1.0:
        return (
            "With a residual above 1e-2 or an angle above 1°, U does not span the "
            "principal subspace: the factorisation has not converged to the optimum."
        )
    low, high = min(p["scales"]), max(p["scales"])
    if high <= 1.01 * low:
        return (
            "U spans the principal subspace and M is a rotation times a uniform "
            "scale, so U is a rotated and scaled copy of the PCA projection."
        )
    kind = "a reflection" if p["reflection"] else "a rotation"
    return (
        f"U spans the principal subspace, but M stretches its two axes by factors "
        f"that differ by {high / low:.3g} times, so U is the PCA projection under "
        f"{kind} and an unequal stretch (a general linear map), not only a rotated "
        f"and uniformly scaled copy."
    )
