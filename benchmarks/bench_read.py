"""Time and peak memory of ``read_ratings`` on a large CSV file.

The file has a header and N lines ``user,item,rating,timestamp`` with 200,000
user ids such as ``u123``, 20,000 numeric item ids and ratings 0.5 to 5 in
steps of 0.5, like MovieLens. It is written to a temporary folder, then read
in a fresh Python process, so that the peak resident set size (VmHWM) is the
reader's alone. Repeated (user, item) pairs are averaged (``duplicates="mean"``).

Run: python benchmarks/bench_read.py [--lines 5e6]
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

USERS, ITEMS, CHUNK = 200_000, 20_000, 1_000_000


def write_csv(path, n_lines, seed=0):
    g = np.random.default_rng(seed)
    with open(path, "w") as file:
        file.write("user,item,rating,timestamp\n")
        for lo in range(0, n_lines, CHUNK):
            size = min(CHUNK, n_lines - lo)
            users = g.integers(0, USERS, size)
            items = g.integers(0, ITEMS, size)
            ratings = g.integers(1, 11, size) / 2
            file.writelines(
                f"u{u},{i},{r:g},964982703\n"
                for u, i, r in zip(users, items, ratings, strict=True)
            )


def child(path):
    from gradfit import read_ratings

    start = time.perf_counter()
    ratings = read_ratings(path, duplicates="mean")
    seconds = time.perf_counter() - start
    with open("/proc/self/status") as status:
        peak = next(
            int(line.split()[1]) for line in status if line.startswith("VmHWM:")
        )
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_rss_gib": peak / 2**20,
                "ratings": len(ratings),
                "users": ratings.n_rows,
                "items": ratings.n_cols,
            }
        )
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--lines",
        type=float,
        default=5e6,
        help="rating lines in the file (default: %(default)g)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ratings.csv"
        write_csv(path, int(args.lines))
        size_mib = path.stat().st_size / 2**20
        output = subprocess.run(
            [sys.executable, __file__, "--child", str(path)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    result = json.loads(output.strip().splitlines()[-1])
    rate = args.lines / result["seconds"] / 1e6
    print(
        f"{int(args.lines):,} lines ({size_mib:.0f} MiB) read in "
        f"{result['seconds']:.1f} s ({rate:.2f} million lines/s), peak RSS "
        f"{result['peak_rss_gib']:.2f} GiB; {result['ratings']:,} distinct pairs, "
        f"{result['users']:,} users, {result['items']:,} items"
    )


if __name__ == "__main__":
    main()
