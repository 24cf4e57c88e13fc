"""Peak memory and epoch time of ``fit_completion`` at 1, 5 and 20 million ratings.

Each size runs in a fresh Python process, so its peak resident set size
(VmHWM, which includes generating the ratings) belongs to that size alone.
The matrix is 200,000 x 20,000 at every size and the rank is 10, so only the
number of ratings changes. Ratings are a rank-10 matrix plus noise at cells
drawn with replacement, and the first cells cover every row and column. A
repeated cell is one more observation of it.

Run: python benchmarks/bench_scale.py [--sizes 1e6 5e6 2e7] [--epochs 5] [--threads N]
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

M, N_COLS, RANK, NOISE = 200_000, 20_000, 10, 0.1
CHUNK = 1_000_000
MEMORY_GOAL_GIB = 4.0


def make_ratings(n_ratings, seed=0):
    """Return Ratings with int32 indices and float32 values, built in chunks."""
    from gradfit import Ratings

    g = np.random.default_rng(seed)
    U = (g.normal(size=(M, RANK)) / RANK**0.25).astype(np.float32)
    V = (g.normal(size=(N_COLS, RANK)) / RANK**0.25).astype(np.float32)
    rows = g.integers(0, M, n_ratings, dtype=np.int32)
    cols = g.integers(0, N_COLS, n_ratings, dtype=np.int32)
    # Every row and column needs a rating, so the first cells cover them all.
    rows[:M] = np.arange(M)
    cols[:N_COLS] = np.arange(N_COLS)
    values = np.empty(n_ratings, dtype=np.float32)
    for lo in range(0, n_ratings, CHUNK):
        hi = min(lo + CHUNK, n_ratings)
        dots = np.einsum("ij,ij->i", U[rows[lo:hi]], V[cols[lo:hi]])
        values[lo:hi] = 3.0 + dots + NOISE * g.standard_normal(hi - lo, np.float32)
    row_ids = tuple(str(k) for k in range(M))
    col_ids = tuple(str(k) for k in range(N_COLS))
    return Ratings(rows, cols, values, row_ids, col_ids)


def peak_rss_gib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20
    raise RuntimeError("VmHWM not found in /proc/self/status")


def child(n_ratings, epochs):
    from gradfit import fit_completion

    ratings = make_ratings(n_ratings)
    stamps = []
    start = time.perf_counter()
    model = fit_completion(
        ratings,
        RANK,
        max_epochs=epochs,
        tol=0,
        callback=lambda epoch, loss: stamps.append(time.perf_counter()),
    )
    total = time.perf_counter() - start
    epoch_seconds = np.diff([start] + stamps)[1:].tolist()
    print(
        json.dumps(
            {
                "n_ratings": n_ratings,
                "peak_rss_gib": peak_rss_gib(),
                "fit_seconds": total,
                "first_epoch_seconds": stamps[0] - start,
                "epoch_seconds": epoch_seconds,
                "train_rmse": float(np.sqrt(model.losses[-1])),
            }
        )
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        type=float,
        nargs="+",
        default=[1e6, 5e6, 2e7],
        help="numbers of ratings (default: %(default)s)",
    )
    parser.add_argument(
        "--epochs", type=int, default=5, help="epochs per fit (default: %(default)s)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads (default: torch's choice)",
    )
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child:
        child(args.child, args.epochs)
        return

    print(
        f"python {platform.python_version()}, torch {torch.__version__}, "
        f"numpy {np.__version__}, torch threads {torch.get_num_threads()}, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print(f"{M} x {N_COLS}, rank {RANK}, {args.epochs} epochs per fit")
    results = []
    for size in args.sizes:
        output = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                str(int(size)),
                "--epochs",
                str(args.epochs),
                "--threads",
                str(torch.get_num_threads()),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        result = json.loads(output.strip().splitlines()[-1])
        results.append(result)
        per_epoch = statistics.median(result["epoch_seconds"])
        print(
            f"{result['n_ratings']:>10,} ratings  peak RSS "
            f"{result['peak_rss_gib']:.2f} GiB  median epoch {per_epoch:.2f} s "
            f"({per_epoch / result['n_ratings'] * 1e9:.0f} ns per rating)  "
            f"first epoch incl. set-up {result['first_epoch_seconds']:.2f} s  "
            f"fit {result['fit_seconds']:.1f} s"
        )
    if len(results) >= 2:
        sizes = np.array([r["n_ratings"] for r in results], dtype=float)
        medians = np.array([statistics.median(r["epoch_seconds"]) for r in results])
        slope, intercept = np.polyfit(sizes, medians, 1)
        worst = np.max(np.abs(intercept + slope * sizes - medians) / medians)
        print(
            f"least-squares line: epoch = {intercept:.2f} s + {slope * 1e9:.0f} ns "
            f"per rating, largest deviation {worst:.0%} of a measured median"
        )
    largest = max(results, key=lambda r: r["n_ratings"])
    verdict = "within" if largest["peak_rss_gib"] <= MEMORY_GOAL_GIB else "over"
    print(
        f"peak RSS at {largest['n_ratings']:,} ratings is {verdict} "
        f"{MEMORY_GOAL_GIB:g} GiB"
    )


if __name__ == "__main__":
    main()
