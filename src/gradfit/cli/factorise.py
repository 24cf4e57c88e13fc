"""``gradfit factorise``: factorise a matrix file and compare with the truncated SVD."""

from pathlib import Path

import numpy as np
import torch

from .. import _io
from ..baselines import truncated_svd
from ..data import read_matrix
from ..lowrank import gd_factorise_ad, squared_error
from ._common import positive_float, positive_int, progress

HELP = "factorise a numeric CSV, TSV or .npy matrix as A ~ U V^T"

EPILOG = """\
The input is a numeric matrix: CSV (comma), TSV (tab) or a NumPy .npy file. A
first row with no numbers in it is read as a header and skipped.

U (m x rank) and V (n x rank) are written as PREFIX_U.csv and PREFIX_V.csv, so
that A ~ U @ V.T.

example:
  gradfit factorise ratings.csv --rank 5 --epochs 2000 --lr 0.001 --out fit
"""


def add_parser(commands, formatter):
    parser = commands.add_parser(
        "factorise", help=HELP, description=HELP, epilog=EPILOG,
        formatter_class=formatter,
    )
    parser.add_argument("file", metavar="FILE", help="matrix file (.csv, .tsv or .npy)")
    parser.add_argument("--rank", type=positive_int, required=True,
                        help="number of columns of U and V, 1 <= RANK <= min(m, n)")
    parser.add_argument("--epochs", type=positive_int, default=1000,
                        help="gradient descent steps (default: %(default)s)")
    parser.add_argument("--lr", type=positive_float, default=0.01,
                        help="learning rate, the step size (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of torch's generator for the start (default: %(default)s)")
    parser.add_argument("--out", metavar="PREFIX", default=None,
                        help="write PREFIX_U.csv and PREFIX_V.csv "
                             "(default: the input's name without its extension)")
    parser.add_argument("--quiet", action="store_true", help="show no progress bar")
    parser.set_defaults(run=run)
    return parser


def run(args):
    matrix = read_matrix(args.file)
    A = torch.from_numpy(np.asarray(matrix, dtype=np.float32))
    prefix = Path(args.out) if args.out is not None else Path(Path(args.file).stem)
    _io.ensure_dir(prefix.parent)

    torch.manual_seed(args.seed)
    with progress(args.epochs, "factorise", quiet=args.quiet) as bar:
        def on_epoch(epoch, loss):
            bar.update(1)
            if epoch % 50 == 0:
                bar.set_postfix(loss=f"{loss:.6g}")

        U, V = gd_factorise_ad(A, args.rank, args.epochs, args.lr, callback=on_epoch)

    gd_loss = squared_error(A, U @ V.T).item()
    svd_loss = squared_error(A, truncated_svd(A, args.rank)).item()
    paths = (Path(f"{prefix}_U.csv"), Path(f"{prefix}_V.csv"))
    for path, factor in zip(paths, (U, V)):
        _io.write_text(path, _to_csv(factor.numpy()))

    m, n = A.shape
    print(f"matrix           {m} x {n}, rank {args.rank}")
    print(f"GD loss          {gd_loss:.6f}")
    print(f"truncated SVD    {svd_loss:.6f}")
    print(f"relative gap     {_relative_gap(gd_loss, svd_loss):.3e}")
    print(f"wrote {paths[0]} and {paths[1]}")
    return 0


def _relative_gap(loss, optimum):
    return (loss - optimum) / optimum if optimum > 0 else loss


def _to_csv(array):
    return "\n".join(",".join(f"{x:.9g}" for x in row) for row in array) + "\n"
