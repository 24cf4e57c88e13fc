"""``gradfit complete``: fit the biased matrix-factorisation model to a ratings file."""

import json
import sys
import warnings
from pathlib import Path

import torch

from .. import _io
from ..completion import (
    _check_fit_arguments,
    check_rating_range,
    fit_completion,
    split_ratings,
)
from ..errors import ConvergenceWarning
from ..ratings import DUPLICATE_POLICIES, read_ratings
from ._common import output_path, positive_float, positive_int, progress, random_seed

HELP = "complete a ratings matrix: fit biases and rank-R factors, report test RMSE"

EPILOG = """\
The input is a CSV or TSV file with a header line and one rating per line;
--row, --col and --value name its columns (other columns are ignored). Ids are
matched as exact strings, so "007" and "7" are different users.

A seeded random share of the ratings (--test-fraction) is held out and the
model, mu + b[u] + c[i] + U[u] . V[i], is fitted to the rest. Test ratings
whose user or item has no training rating are predicted from the mean and the
known bias, and counted in the output. The loss printed and stored per epoch
is half the mean squared training error plus L2 / 2 times the summed squares
of the biases and factors, divided by the number of training ratings.

Files written to DIR: U.npy (m x R), V.npy (n x R), row_bias.npy (m),
col_bias.npy (n), ids.json (row and column ids in the order of the arrays) and
summary.json (test_rmse, test_mae, test_ratings_with_unseen_id, n_train,
n_test, mean, epochs, converged, losses and settings).

example:
  gradfit complete ratings.csv --rank 10 --row userId --col movieId \\
      --scale 0.5 5 --out fit
"""


OUTPUT_FILES = (
    "U.npy",
    "V.npy",
    "row_bias.npy",
    "col_bias.npy",
    "ids.json",
    "summary.json",
)


def add_parser(commands, formatter):
    parser = commands.add_parser(
        "complete",
        help=HELP,
        description=HELP,
        epilog=EPILOG,
        formatter_class=formatter,
    )
    parser.add_argument(
        "ratings", metavar="RATINGS", help="ratings file (.csv or .tsv)"
    )
    parser.add_argument(
        "--rank", type=positive_int, required=True, help="number of factor columns R"
    )
    parser.add_argument(
        "--row",
        default="user",
        metavar="COL",
        help="header name of the row (user) id column (default: %(default)s)",
    )
    parser.add_argument(
        "--col",
        default="item",
        metavar="COL",
        help="header name of the column (item) id column (default: %(default)s)",
    )
    parser.add_argument(
        "--value",
        default="rating",
        metavar="COL",
        help="header name of the rating column (default: %(default)s)",
    )
    parser.add_argument(
        "--delimiter",
        default=None,
        metavar="CHAR",
        help="cell delimiter (default: comma for .csv, tab for .tsv, "
        "else guessed from the header)",
    )
    parser.add_argument(
        "--duplicates",
        choices=DUPLICATE_POLICIES,
        default="error",
        help="treatment of a user-item pair rated twice: reject the "
        "file, keep the mean or the last rating "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--scale",
        nargs=2,
        type=float,
        metavar=("LOW", "HIGH"),
        help="rating scale; a rating outside it is an error (default: no range check)",
    )
    parser.add_argument(
        "--test-fraction",
        type=float,
        default=0.1,
        metavar="F",
        help="share of ratings held out for testing, 0 < F < 1 (default: %(default)s)",
    )
    parser.add_argument(
        "--max-epochs",
        type=positive_int,
        default=100,
        metavar="N",
        help="maximum number of epochs, each one Newton step on "
        "the rows and one on the columns (default: %(default)s)",
    )
    parser.add_argument(
        "--tol",
        type=float,
        default=1e-4,
        help="stop when an epoch lowers the objective by less than "
        "this fraction of its value; 0 runs every epoch (default: %(default)s)",
    )
    parser.add_argument(
        "--lr",
        type=positive_float,
        default=1.0,
        help="step as a fraction of the Newton step, below 2 (default: %(default)s)",
    )
    parser.add_argument(
        "--l2",
        type=positive_float,
        default=0.05,
        help="L2 penalty weight on biases and factors, in squared rating "
        "units (default: %(default)s)",
    )
    parser.add_argument(
        "--seed",
        type=random_seed,
        default=0,
        help="seed of the split and the initial factors (default: %(default)s)",
    )
    parser.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        default="float32",
        help="floating-point type of the fit (default: %(default)s)",
    )
    parser.add_argument(
        "--device",
        default="cpu",
        help="torch device of the fit, such as cpu or cuda (default: %(default)s)",
    )
    parser.add_argument(
        "--out",
        type=output_path,
        metavar="DIR",
        default=None,
        help="folder for the fitted model (default: write no files)",
    )
    parser.add_argument("--quiet", action="store_true", help="show no progress bar")
    parser.set_defaults(run=run)
    return parser


def run(args):
    ratings = read_ratings(
        args.ratings,
        row=args.row,
        col=args.col,
        value=args.value,
        delimiter=args.delimiter,
        duplicates=args.duplicates,
        scale=args.scale,
    )
    dtype = getattr(torch, args.dtype)
    check_rating_range(ratings, dtype)
    train, test = split_ratings(ratings, args.test_fraction, seed=args.seed)
    # The folder is created only once the file and the fit's arguments have
    # passed their checks, so that bad input leaves no empty folder behind.
    _check_fit_arguments(
        train, args.rank, args.l2, args.max_epochs, args.tol, args.lr, dtype, None
    )
    out = _io.ensure_dir(args.out) if args.out is not None else None
    if out is not None:
        _io.check_output_files(out / name for name in OUTPUT_FILES)

    with progress(args.max_epochs, "complete", quiet=args.quiet) as bar:

        def on_epoch(epoch, loss):
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.6g}", refresh=False)

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            model = fit_completion(
                train,
                args.rank,
                l2=args.l2,
                max_epochs=args.max_epochs,
                tol=args.tol,
                lr=args.lr,
                seed=args.seed,
                dtype=dtype,
                device=args.device,
                callback=on_epoch,
            )
    scores = model.score(test, unknown="bias")
    # The files come first, so a reader that closes stdout early, such as
    # head, cannot keep them from being written.
    if out is not None:
        _write_model(out, model, scores, args, len(train), len(test))

    print(
        f"ratings       {len(ratings)} ({ratings.n_rows} rows x {ratings.n_cols} "
        f"columns), {len(train)} for training, {len(test)} for testing"
    )
    print(f"epochs        {len(model.losses)} (final loss {model.losses[-1]:.6g})")
    print(f"test RMSE     {scores.rmse:.6f}")
    print(f"test MAE      {scores.mae:.6f}")
    if scores.n_unknown:
        print(
            f"cold start    {scores.n_unknown} test ratings with an unseen id, "
            "predicted from the mean and biases"
        )
    for warning in caught:
        print(f"gradfit complete: warning: {warning.message}", file=sys.stderr)
    if out is not None:
        print(f"wrote {out}")
    return 0


def _write_model(out, model, scores, args, n_train, n_test):
    arrays = {
        "U.npy": model.U,
        "V.npy": model.V,
        "row_bias.npy": model.row_bias,
        "col_bias.npy": model.col_bias,
    }
    ids = {
        "row_ids": list(model.row_ids),
        "col_ids": list(model.col_ids),
    }
    summary = _summary(model, scores, args, n_train, n_test)
    # Both documents are rendered before the first file is written, so a value
    # that JSON cannot hold leaves no partial set of outputs.
    texts = {
        name: json.dumps(document, indent=2, allow_nan=False) + "\n"
        for name, document in (("ids.json", ids), ("summary.json", summary))
    }
    for name, tensor in arrays.items():
        _io.save_npy(out / name, tensor.cpu().numpy())
    for name, text in texts.items():
        _io.write_text(out / name, text)


def _summary(model, scores, args, n_train, n_test):
    return {
        "test_rmse": scores.rmse,
        "test_mae": scores.mae,
        "test_ratings_with_unseen_id": scores.n_unknown,
        "n_train": n_train,
        "n_test": n_test,
        "mean": model.mean,
        "epochs": len(model.losses),
        "converged": model.converged,
        "losses": model.losses,
        "settings": {
            "ratings": str(Path(args.ratings)),
            "rank": args.rank,
            "row": args.row,
            "col": args.col,
            "value": args.value,
            "duplicates": args.duplicates,
            "scale": args.scale,
            "test_fraction": args.test_fraction,
            "max_epochs": args.max_epochs,
            "tol": args.tol,
            "lr": args.lr,
            "l2": args.l2,
            "seed": args.seed,
            "dtype": args.dtype,
            "device": args.device,
        },
    }
