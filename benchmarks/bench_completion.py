"""Matrix completion against scikit-surprise's SVD on the same ratings and split.

The ratings are 500,000 distinct cells of a 5000 x 2000 matrix U V^T of rank
10. U and V are Gaussian, so the entries have mean 0 and variance 1, and each
rating adds Gaussian noise of standard deviation 0.1, so 0.1 is the best test
RMSE any method can reach. 10 % of the ratings, drawn with
``gradfit.split_ratings`` and a fixed seed, are the test set for both libraries.

gradfit runs ``fit_completion`` with its defaults, and its time includes
sorting the ratings into sparse form. surprise's ``SVD`` runs with its
defaults, with ``biased=False, reg_all=0, n_epochs=100``, and with that
setting plus ``lr_all=0.02``, the best of the learning rates 0.002, 0.005,
0.01 and 0.02 tried here. Only surprise's ``fit`` is timed, not building its
Trainset.

Run: python benchmarks/bench_completion.py [--repeats 5] [--surprise-repeats 1]
     [--threads N]
"""

import argparse
import os
import platform
import statistics
import time
from collections import defaultdict

import numpy as np
import torch

from gradfit import Ratings, fit_completion, split_ratings

M, N_COLS, RANK, N_RATINGS, NOISE = 5000, 2000, 10, 500_000, 0.1
UNBIASED = {"biased": False, "reg_all": 0.0, "n_epochs": 100}
SURPRISE_SETTINGS = {
    "defaults": {},
    "unbiased, 100 epochs": UNBIASED,
    "unbiased, lr 0.02": {**UNBIASED, "lr_all": 0.02},
}


def make_ratings(seed=0):
    """Return the benchmark's Ratings, drawn from numpy's generator ``seed``."""
    g = np.random.default_rng(seed)
    U = g.normal(size=(M, RANK)) / RANK**0.25
    V = g.normal(size=(N_COLS, RANK)) / RANK**0.25
    cells = g.choice(M * N_COLS, N_RATINGS, replace=False)
    rows, cols = cells // N_COLS, cells % N_COLS
    values = np.einsum("ij,ij->i", U[rows], V[cols])
    values += NOISE * g.normal(size=N_RATINGS)
    row_ids = tuple(f"u{k}" for k in range(M))
    col_ids = tuple(f"i{k}" for k in range(N_COLS))
    return Ratings(rows, cols, values, row_ids, col_ids)


def run_gradfit(train, test, repeats):
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        model = fit_completion(train, RANK)
        seconds.append(time.perf_counter() - start)
    return model.score(test), len(model.losses), seconds


def surprise_sets(train, test):
    """Build a surprise Trainset and test list with the same raw ids."""
    from surprise import Trainset

    user_ratings, item_ratings = defaultdict(list), defaultdict(list)
    for u, i, r in zip(
        train.rows.tolist(), train.cols.tolist(), train.values.tolist(), strict=True
    ):
        user_ratings[u].append((i, r))
        item_ratings[i].append((u, r))
    low = min(train.values.min(), test.values.min())
    high = max(train.values.max(), test.values.max())
    trainset = Trainset(
        user_ratings,
        item_ratings,
        train.n_rows,
        train.n_cols,
        len(train),
        (float(low), float(high)),
        {raw: k for k, raw in enumerate(train.row_ids)},
        {raw: k for k, raw in enumerate(train.col_ids)},
    )
    testset = [
        (test.row_ids[u], test.col_ids[i], r)
        for u, i, r in zip(
            test.rows.tolist(), test.cols.tolist(), test.values.tolist(), strict=True
        )
    ]
    return trainset, testset


def run_surprise(trainset, testset, repeats, **options):
    from surprise import SVD, accuracy

    seconds = []
    for _ in range(repeats):
        algo = SVD(random_state=0, **options)
        start = time.perf_counter()
        algo.fit(trainset)
        seconds.append(time.perf_counter() - start)
    predictions = algo.test(testset)
    rmse = accuracy.rmse(predictions, verbose=False)
    mae = accuracy.mae(predictions, verbose=False)
    return rmse, mae, seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeats",
        type=int,
        default=5,
        help="gradfit fits to time (default: %(default)s)",
    )
    parser.add_argument(
        "--surprise-repeats",
        type=int,
        default=1,
        help="surprise fits to time per setting (default: %(default)s)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads (default: torch's choice)",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    import surprise

    ratings = make_ratings()
    train, test = split_ratings(ratings, 0.1, seed=0)
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, "
        f"numpy {np.__version__}, surprise {surprise.__version__}, "
        f"torch threads {torch.get_num_threads()}, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print(
        f"{len(train)} training and {len(test)} test ratings, {M} x {N_COLS}, "
        f"rank {RANK}, noise {NOISE}"
    )

    scores, epochs, seconds = run_gradfit(train, test, args.repeats)
    gradfit_median = statistics.median(seconds)
    print(
        f"gradfit  fit_completion defaults   RMSE {scores.rmse:.4f}  "
        f"MAE {scores.mae:.4f}  {epochs} epochs  median {gradfit_median:.2f} s  "
        f"min {min(seconds):.2f} s  (runs: {', '.join(f'{s:.2f}' for s in seconds)})"
    )

    trainset, testset = surprise_sets(train, test)
    for name, options in SURPRISE_SETTINGS.items():
        rmse, mae, seconds = run_surprise(
            trainset, testset, args.surprise_repeats, **options
        )
        median = statistics.median(seconds)
        print(
            f"surprise SVD {name:<21} RMSE {rmse:.4f}  MAE {mae:.4f}  "
            f"median {median:.2f} s  ratio to gradfit {median / gradfit_median:.1f}x"
        )


if __name__ == "__main__":
    main()
