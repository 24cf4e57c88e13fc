"""Benchmark dense factorisation: gradfit.factorise against its peers.

On one rank-20-plus-noise matrix (default 20000 x 1000, float32) it times, in
the same process and on the same data:

- ``torch.svd_lowrank(A, q=30, niter=2)``, cut to rank 20;
- scikit-learn's ``TruncatedSVD(n_components=20)`` with its default settings;
- ``gradfit.factorise(A, 20)`` with its defaults (ScaledGD, random start, line
  search), and with ``init="spectral"``;
- with ``--slow``, Adam, plain gradient descent and L-BFGS through
  ``factorise``, once each.

Each row gives the median wall time of ``--repeats`` runs after one warm-up
run (a single run for the slow rows) and the relative gap
``(loss - optimum) / optimum`` of the result. The loss is the squared error
summed in float64, and the optimum comes from all singular values of A in
float64. A second table gives the cost of one epoch of the default optimiser,
the median gap between successive callbacks, and the largest single allocation
that torch's profiler records in a whole default run.

Usage: python benchmarks/bench_dense.py [--repeats 5] [--threads N] [--slow]
"""

import argparse
import platform
import statistics
import time
import warnings

import numpy as np
import torch

import gradfit
from gradfit import factorise

GOAL_GAP = 1e-4
GOAL_TIME_RATIO = 3.0
GOAL_EPOCH_RATIO = 0.3
CHUNK_ROWS = 2048


def make_matrix(m, n, rank, noise, seed):
    """Return a float32 (m, n) matrix: a rank-``rank`` product plus Gaussian noise."""
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(m, rank, generator=g) @ torch.randn(rank, n, generator=g)
    A += noise * torch.randn(m, n, generator=g)
    return A


def squared_error(A, U, V):
    """Return ||A - U V^T||_F^2 in float64, a block of rows at a time."""
    V64 = V.double()
    total = 0.0
    for start in range(0, A.shape[0], CHUNK_ROWS):
        block = A[start : start + CHUNK_ROWS].double()
        residual = block - U[start : start + CHUNK_ROWS].double() @ V64.T
        total += torch.sum(residual * residual).item()
    return total


def svd_lowrank(A, rank):
    torch.manual_seed(0)  # torch.svd_lowrank draws from the global generator
    U, S, V = torch.svd_lowrank(A, q=30, niter=2)
    return U[:, :rank] * S[:rank], V[:, :rank]


def sklearn_truncated_svd(A, rank):
    from sklearn.decomposition import TruncatedSVD

    model = TruncatedSVD(n_components=rank, random_state=0)
    scores = model.fit_transform(A.numpy())
    return torch.from_numpy(scores), torch.from_numpy(model.components_.T.copy())


def gradfit_factorise(**options):
    def fit(A, rank):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", gradfit.ConvergenceWarning)
            result = factorise(A, rank, seed=0, compare_svd=False, **options)
        fit.epochs = result.epochs
        return result.U, result.V

    fit.epochs = None
    return fit


def time_method(fit, A, rank, repeats):
    """Return (median seconds, all seconds, U, V of the last run) after a warm-up."""
    fit(A, rank)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        U, V = fit(A, rank)
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, U, V


def epoch_seconds(A, rank, repeats):
    """Return the median seconds between successive epochs of the default fit."""
    gaps = []
    for _ in range(repeats):
        stamps = []
        factorise(
            A,
            rank,
            seed=0,
            compare_svd=False,
            callback=lambda epoch, loss, stamps=stamps: stamps.append(
                time.perf_counter()
            ),
        )
        gaps.extend(np.diff(stamps))
    return statistics.median(gaps), len(gaps)


def largest_allocation(A, rank):
    """Return the largest single CPU allocation, in bytes, in one default fit."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        factorise(A, rank, seed=0, compare_svd=False)
    return max(event.cpu_memory_usage for event in prof.events())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--m", type=int, default=20000)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--rank", type=int, default=20)
    parser.add_argument("--noise", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads for torch and for NumPy's BLAS (default: torch's default)",
    )
    parser.add_argument(
        "--slow",
        action="store_true",
        help="add Adam, plain gradient descent and L-BFGS (minutes)",
    )
    args = parser.parse_args()
    if args.threads is not None:
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(args.threads)
        threadpool_limits(args.threads)

    import sklearn

    print(
        f"torch {torch.__version__}, scikit-learn {sklearn.__version__}, "
        f"numpy {np.__version__}, gradfit {gradfit.__version__}, "
        f"{torch.get_num_threads()} torch threads, {platform.processor() or 'cpu'}"
    )
    A = make_matrix(args.m, args.n, args.rank, args.noise, seed=0)
    start = time.perf_counter()
    s = torch.linalg.svdvals(A.double())
    optimum = torch.sum(s[args.rank :] ** 2).item()
    print(
        f"A: {args.m} x {args.n} float32, rank {args.rank} + N(0, {args.noise:g}^2) "
        f"noise; float64 optimum {optimum:.9g} "
        f"({time.perf_counter() - start:.1f} s for all singular values)\n"
    )

    methods = [
        ("torch.svd_lowrank(q=30, niter=2)", svd_lowrank),
        ("sklearn TruncatedSVD (defaults)", sklearn_truncated_svd),
        ("gradfit factorise (defaults)", gradfit_factorise()),
        ("gradfit factorise init='spectral'", gradfit_factorise(init="spectral")),
    ]
    if args.slow:
        methods += [
            ("gradfit factorise optimizer='adam'", gradfit_factorise(optimizer="adam")),
            (
                "gradfit factorise optimizer='gd'",
                gradfit_factorise(optimizer="gd", max_epochs=300),
            ),
            (
                "gradfit factorise optimizer='lbfgs'",
                gradfit_factorise(optimizer="lbfgs", max_epochs=300),
            ),
        ]

    rows = {}
    print("| method | median time (s) | runs (s) | epochs | relative gap |")
    print("| --- | ---: | --- | ---: | ---: |")
    for name, fit in methods:
        if "optimizer=" in name:
            start = time.perf_counter()
            U, V = fit(A, args.rank)
            times = [time.perf_counter() - start]
            median = times[0]
        else:
            median, times, U, V = time_method(fit, A, args.rank, args.repeats)
        gap = (squared_error(A, U, V) - optimum) / optimum
        epochs = getattr(fit, "epochs", None)
        rows[name] = (median, gap)
        runs = ", ".join(f"{t:.3f}" for t in times)
        print(f"| {name} | {median:.3f} | {runs} | {epochs or ''} | {gap:.2e} |")

    peer = rows["torch.svd_lowrank(q=30, niter=2)"][0]
    sklearn_time = rows["sklearn TruncatedSVD (defaults)"][0]
    fit_time, fit_gap = rows["gradfit factorise (defaults)"]
    epoch, count = epoch_seconds(A, args.rank, args.repeats)
    allocation = largest_allocation(A, args.rank)
    mn_bytes = args.m * args.n * A.element_size()

    print("\n| goal | measured | met |")
    print("| --- | --- | --- |")
    print(f"| default gap <= {GOAL_GAP:g} | {fit_gap:.2e} | {fit_gap <= GOAL_GAP} |")
    print(
        f"| default time <= {GOAL_TIME_RATIO:g} x svd_lowrank | "
        f"{fit_time / peer:.2f} x | {fit_time <= GOAL_TIME_RATIO * peer} |"
    )
    print(
        f"| default time < TruncatedSVD | {fit_time / sklearn_time:.2f} x | "
        f"{fit_time < sklearn_time} |"
    )
    print(
        f"| one epoch <= {GOAL_EPOCH_RATIO:g} x svd_lowrank | {epoch:.4f} s = "
        f"{epoch / peer:.2f} x (median of {count}) | "
        f"{epoch <= GOAL_EPOCH_RATIO * peer} |"
    )
    print(
        f"| no m x n temporary ({mn_bytes / 2**20:.0f} MiB) | largest allocation "
        f"{allocation / 2**20:.1f} MiB | {allocation < mn_bytes} |"
    )


if __name__ == "__main__":
    main()
