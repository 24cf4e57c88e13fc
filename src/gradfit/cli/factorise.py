"""``gradfit factorise``: factorise a matrix file and compare with the truncated SVD."""

import argparse
import json
import math
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

from .. import _io
from .._checks import INITS
from .._factorise import factorise
from .._steps import OPTIMIZERS
from ..data import read_matrix
from ..errors import ConvergenceWarning, DivergenceError
from ._common import output_path, positive_float, positive_int, progress, random_seed

HELP = "factorise a numeric CSV, TSV or .npy matrix as A ~ U V^T"

# Rows of the matrix per block when the final loss is summed in float64.
_LOSS_CHUNK_ROWS = 4096

EPILOG = """\
The input is a numeric matrix: CSV (comma), TSV (tab) or a NumPy .npy file. A
first row with no numbers in it is read as a header and skipped. With
--missing nan, empty and NaN cells are missing: the loss sums over the other
cells only, and every row and column needs at least one observed cell.

The loss is the summed squared error over observed cells plus
L2 * (||U||_F^2 + ||V||_F^2). For a complete matrix the command also prints the
optimum from the singular values of A (the truncated-SVD error when L2 is 0)
and the relative gap (loss - optimum) / optimum. The fit time leaves out
reading the file and that SVD. The loss printed and stored as "loss" is summed
in float64 from the final factors. The losses per epoch are those of the fit,
in its working precision.

Outputs, each written whole or not at all:
  PREFIX_U.csv       U, m rows and RANK columns
  PREFIX_V.csv       V, n rows and RANK columns, so that A ~ U @ V.T
  PREFIX.json        shape, loss, losses (one per epoch, from epoch 0),
                     optimum and optimum_gap (null with missing cells),
                     stop_reason, epochs, wall_time_s, final_lr and the
                     settings of the run

Exit status: 0 on success (also when the epoch limit is reached, with a
warning), 1 when the fit diverges, 2 for invalid options or input.

examples:
  gradfit factorise matrix.csv --rank 5 --out fit
  gradfit factorise scores.csv --rank 3 --missing nan --l2 0.1 --out fit
  gradfit factorise matrix.npy --rank 5 --optimizer adam --lr 0.01 --max-epochs 2000
"""


def add_parser(commands, formatter):
    parser = commands.add_parser(
        "factorise",
        help=HELP,
        description=HELP,
        epilog=EPILOG,
        formatter_class=formatter,
    )
    parser.add_argument("file", metavar="FILE", help="matrix file (.csv, .tsv or .npy)")
    parser.add_argument(
        "--rank",
        type=positive_int,
        required=True,
        help="number of columns of U and V, 1 <= RANK <= min(m, n)",
    )
    parser.add_argument(
        "--missing",
        choices=("nan",),
        default=None,
        help="read empty and NaN cells as missing (default: every "
        "cell must be a finite number)",
    )

    parser.add_argument(
        "--optimizer",
        choices=OPTIMIZERS,
        default="scaledgd",
        help="scaledgd (scaled gradient descent), gd, momentum, adam "
        "or lbfgs (default: %(default)s)",
    )
    parser.add_argument(
        "--init",
        choices=INITS,
        default="random",
        help="start: random factors at the scale of A, or spectral, a randomized "
        "range finder with two power iterations (default: %(default)s)",
    )
    parser.add_argument(
        "--lr",
        type=positive_float,
        default=None,
        help="fixed step size for the problem scaled to unit root "
        "mean square (default: chosen from the matrix, with a "
        "line search for scaledgd and gd)",
    )
    parser.add_argument(
        "--max-epochs",
        "--epochs",
        dest="max_epochs",
        type=positive_int,
        default=1000,
        help="epoch limit; --epochs is an alias (default: %(default)s)",
    )
    parser.add_argument(
        "--tol",
        type=_non_negative_float,
        default=1e-5,
        help="stop once an epoch lowers the loss by at most TOL "
        "times its value; 0 never stops early "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--l2",
        type=_non_negative_float,
        default=0.0,
        help="weight of the penalty ||U||^2 + ||V||^2 (default: %(default)s)",
    )
    parser.add_argument(
        "--seed",
        type=random_seed,
        default=0,
        help="seed of the random start, an integer >= 0 (default: %(default)s)",
    )

    parser.add_argument(
        "--device",
        default="cpu",
        help="torch device, such as cpu or cuda (default: %(default)s)",
    )
    parser.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        default="float64",
        help="working precision (default: %(default)s)",
    )

    parser.add_argument(
        "--out",
        type=output_path,
        metavar="PREFIX",
        default=None,
        help="write PREFIX_U.csv, PREFIX_V.csv and PREFIX.json; a PREFIX "
        "ending in / is a folder, and the files inside it take the "
        "input's name (default: the input's name without its extension, "
        "in the current folder)",
    )
    parser.add_argument("--quiet", action="store_true", help="show no progress bar")
    parser.set_defaults(run=run)
    return parser


def run(args):
    matrix = read_matrix(args.file, missing=args.missing)
    prefix = output_prefix(args.out, args.file)
    _io.ensure_dir(prefix.parent)
    paths = (Path(f"{prefix}_U.csv"), Path(f"{prefix}_V.csv"), Path(f"{prefix}.json"))
    _io.check_output_files(paths)
    A = torch.from_numpy(np.ascontiguousarray(matrix))

    with progress(args.max_epochs, "factorise", quiet=args.quiet) as bar:

        def on_epoch(epoch, loss):
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.6g}", refresh=False)

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            result = factorise(
                A,
                args.rank,
                missing=args.missing,
                optimizer=args.optimizer,
                init=args.init,
                lr=args.lr,
                max_epochs=args.max_epochs,
                tol=args.tol,
                l2=args.l2,
                seed=args.seed,
                device=args.device,
                dtype=args.dtype,
                callback=on_epoch,
            )
    for warning in caught:
        print(f"gradfit factorise: warning: {warning.message}", file=sys.stderr)

    U, V = result.U.cpu().double().numpy(), result.V.cpu().double().numpy()
    if not (np.isfinite(U).all() and np.isfinite(V).all()):
        raise DivergenceError(
            result.lr,
            result.epochs,
            None,
            None,
            detail=" (the factors contain non-finite values)",
        )
    loss = float64_loss(matrix, U, V, args.l2)
    gap = None
    if result.optimum is not None and result.optimum > 0:
        gap = (loss - result.optimum) / result.optimum

    # Every text is ready before the first file is written, so a failure while
    # formatting leaves no partial set of outputs.
    document = summary(result, args, matrix.shape, loss, gap)
    texts = (
        _to_csv(U),
        _to_csv(V),
        json.dumps(document, indent=2, allow_nan=False) + "\n",
    )
    for path, text in zip(paths, texts, strict=True):
        _io.write_text(path, text)

    m, n = matrix.shape
    print(
        f"matrix           {m} x {n}, rank {args.rank}, "
        f"{result.optimizer}, {result.epochs} epochs ({result.stop_reason})"
    )
    print(f"loss             {loss:.9g}")
    if result.optimum is not None:
        # With l2 > 0 the optimum shrinks the singular values, so it is no
        # longer the truncated SVD's error.
        label = "truncated SVD" if args.l2 == 0 else "optimum with l2"
        print(f"{label:<17}{result.optimum:.9g}")
        print(f"relative gap     {'n/a' if gap is None else f'{gap:.3e}'}")
    print(f"fit time         {result.wall_time:.3f} s")
    print(f"wrote {paths[0]}, {paths[1]} and {paths[2]}")
    return 0


def output_prefix(out, file):
    """Return the path prefix of the output files for ``--out`` and the input file.

    Without ``--out`` the prefix is the input's stem in the current folder. An
    ``--out`` that ends with a path separator names a folder, which receives
    files named after the input's stem.
    """
    stem = Path(file).stem
    if out is None:
        return Path(stem)
    if out.endswith(("/", os.sep)):
        return Path(out) / stem
    return Path(out)


def float64_loss(matrix, U, V, l2):
    """Return the objective at (U, V) in float64, summed over the non-NaN cells.

    The losses that ``factorise`` records come from an expansion of
    ||A - U V^T||^2 whose rounding error in float32 is about 1e-7 ||A||^2.
    That error can exceed the gap to the optimum, so the printed loss and gap
    are recomputed here from the residual, a block of rows at a time.
    """
    total = 0.0
    for start in range(0, matrix.shape[0], _LOSS_CHUNK_ROWS):
        block = np.asarray(matrix[start : start + _LOSS_CHUNK_ROWS], dtype=np.float64)
        residual = block - U[start : start + _LOSS_CHUNK_ROWS] @ V.T
        total += float(np.sum(np.square(residual[~np.isnan(block)])))
    return total + l2 * float(np.sum(U * U) + np.sum(V * V))


def summary(result, args, shape, loss, gap):
    """Return the JSON summary of a run: results, then the settings that made it.

    ``loss`` and ``gap`` are the float64 values from ``float64_loss``, while
    ``losses`` are the values the fit recorded in its working precision.
    """
    return {
        "shape": list(shape),
        "loss": _finite(loss),
        "losses": [_finite(value) for value in result.losses],
        "optimum": _finite(result.optimum),
        "optimum_gap": _finite(gap),
        "stop_reason": result.stop_reason,
        "epochs": result.epochs,
        "wall_time_s": result.wall_time,
        "final_lr": result.lr,
        "settings": {
            "file": str(args.file),
            "rank": args.rank,
            "missing": args.missing,
            "optimizer": args.optimizer,
            "init": args.init,
            "lr": args.lr,
            "max_epochs": args.max_epochs,
            "tol": args.tol,
            "l2": args.l2,
            "seed": args.seed,
            "device": args.device,
            "dtype": args.dtype,
        },
    }


def _finite(value):
    """Return ``value``, or None when it is None or not finite (JSON has no NaN)."""
    return value if value is not None and math.isfinite(value) else None


def _non_negative_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number; use a number >= 0"
        ) from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not finite and >= 0; use a number >= 0"
        )
    return value


def _to_csv(array):
    return "\n".join(",".join(f"{x:.9g}" for x in row) for row in array) + "\n"
