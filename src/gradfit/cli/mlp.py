"""``gradfit mlp``: the study's MLP experiment, repeated trainings on Iris."""

import statistics

import torch

from ..mlp import prepare_iris_study, repeat_training
from ._common import positive_float, positive_int, progress

HELP = "train the study's 4-12-3 MLP on Iris several times and tabulate accuracy"

EPILOG = """\
The data are the bundled Iris rows, shuffled, normalised as (x - mean) / variance
and split 100 / 50 as the study did. Weights start uniform in [0, 1) from torch's
generator seeded with --seed; the runs draw from it one after another.

example:
  gradfit mlp --runs 10 --seed 0
"""


def add_parser(commands, formatter):
    parser = commands.add_parser(
        "mlp", help=HELP, description=HELP, epilog=EPILOG, formatter_class=formatter,
    )
    parser.add_argument("--runs", type=positive_int, default=10,
                        help="number of trainings (default: %(default)s)")
    parser.add_argument("--epochs", type=positive_int, default=100,
                        help="full-batch gradient steps per training (default: %(default)s)")
    parser.add_argument("--lr", type=positive_float, default=0.01,
                        help="learning rate (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of torch's generator (default: %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="show no progress bar")
    parser.set_defaults(run=run)
    return parser


def run(args):
    split = prepare_iris_study()
    torch.manual_seed(args.seed)
    with progress(args.runs, "mlp", quiet=args.quiet, unit="run") as bar:
        runs = repeat_training(split, args.runs, args.epochs, args.lr,
                               callback=lambda _: bar.update(1))
    print(format_accuracy_table(runs))
    return 0


def format_accuracy_table(runs):
    """Format per-run accuracies with their mean, standard deviation, min and max."""
    lines = [f"{'run':>5}  {'train':>6}  {'valid':>6}"]
    for k, run in enumerate(runs, 1):
        lines.append(f"{k:>5}  {run.train_accuracy:6.3f}  {run.validation_accuracy:6.3f}")
    train = [r.train_accuracy for r in runs]
    valid = [r.validation_accuracy for r in runs]
    sd = statistics.stdev if len(runs) > 1 else (lambda _: 0.0)
    for name, fn in (("mean", statistics.fmean), ("sd", sd), ("min", min), ("max", max)):
        lines.append(f"{name:>5}  {fn(train):6.3f}  {fn(valid):6.3f}")
    return "\n".join(lines)
