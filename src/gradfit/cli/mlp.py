"""``gradfit mlp``: train MLPs per configuration, diagnose failures, write results."""

import argparse
import math
import statistics
import sys
import warnings
from pathlib import Path

import torch

from .. import _io
from ..batched import BIAS_STARTS, INIT_SCHEMES, NORMAL_INIT_STD, OPTIMIZERS
from ..diagnosis import DEFAULT_FAIL_BELOW
from ..errors import ConstantFeatureWarning, InputError
from ..experiment import config_grid, config_json, run_config, runs_csv
from ..mlp import RunAccuracy
from ..tabular import (
    FEATURE_SCALINGS,
    iris_study_split,
    read_labelled_csv,
    split_labelled,
)
from ._common import output_path, positive_float, positive_int, progress, random_seed

#: Files that --out DIR receives, in the order they are written.
OUTPUT_FILES = (
    "results.json",
    "runs.csv",
    "accuracy_distribution.png",
    "loss_curves.png",
)
#: Largest number of runs of a single configuration printed one line per run.
MAX_RUNS_LISTED = 20

HELP = "train the study's MLP many times per configuration and diagnose failed runs"

EPILOG = f"""\
Without --data the input is the bundled Iris data, shuffled and split 100 / 50 as
the study did, with scaling statistics from all 150 rows. With --data FILE the
input is a CSV file with a header row: the --target column holds the labels (any
text, such as names or 1-based integers, coded 0..C-1 in sorted order) and every
other column a numeric feature. Its split is stratified and seeded with --seed,
and the scaling statistics come from the training rows only.

Every combination of --init, --scaling, --bias and --optimizer is trained --runs
times, each from a generator seeded with --seed, so the default configuration
repeats the study's runs exactly (unless --fast is given). Initialisations:
uniform01 (the study's, in [0, 1)), kaiming (uniform +-sqrt(6 / fan_in)), xavier
(uniform +-sqrt(6 / (fan_in + fan_out))), normal (mean 0, sd {NORMAL_INIT_STD:g}).
Scalings: variance ((x - mean) / variance, the study's), standard (z-score), none.

A run fails when its loss becomes non-finite or its validation accuracy is below
--fail-below. One configuration of at most {MAX_RUNS_LISTED} runs prints one line
per run, otherwise each configuration prints one line. --out DIR also writes
results.json (the settings, and per configuration the accuracy quantiles,
failure counts and rate), runs.csv (one line per run with its diagnosis),
accuracy_distribution.png and loss_curves.png.

examples:
  gradfit mlp --runs 10 --seed 0
  gradfit mlp --runs 1000 --init uniform01,kaiming --scaling variance,standard --out mlp
  gradfit mlp --data wine.csv --target class --hidden 64,32 --runs 200 --out wine
"""


def add_parser(commands, formatter):
    parser = commands.add_parser(
        "mlp",
        help=HELP,
        description=HELP,
        epilog=EPILOG,
        formatter_class=formatter,
    )
    parser.add_argument(
        "--data",
        metavar="FILE",
        default=None,
        help="CSV file with a header row (default: the bundled Iris data)",
    )
    parser.add_argument(
        "--target",
        metavar="COLUMN",
        default=None,
        help="name of the label column of --data, required with --data",
    )
    parser.add_argument(
        "--validation-fraction",
        type=open_fraction,
        default=1 / 3,
        metavar="F",
        help="share of each class of --data held out (default: 1/3)",
    )

    parser.add_argument(
        "--runs",
        type=positive_int,
        default=10,
        help="trainings per configuration (default: %(default)s)",
    )
    parser.add_argument(
        "--epochs",
        type=positive_int,
        default=100,
        help="full-batch gradient steps per training (default: %(default)s)",
    )
    parser.add_argument(
        "--lr",
        type=positive_float,
        default=0.01,
        help="learning rate, the step size on the summed loss (default: %(default)s)",
    )
    parser.add_argument(
        "--hidden",
        type=layer_widths,
        default=(12,),
        metavar="H[,H...]",
        help="hidden layer widths, such as 12 or 64,32 (default: 12)",
    )

    parser.add_argument(
        "--init",
        type=choice_list(INIT_SCHEMES, "initialisation"),
        default=("uniform01",),
        metavar="NAME[,NAME...]",
        help=f"weight initialisations to compare: {', '.join(INIT_SCHEMES)}, "
        "described below (default: uniform01)",
    )
    parser.add_argument(
        "--scaling",
        type=choice_list(FEATURE_SCALINGS, "scaling"),
        default=("variance",),
        metavar="NAME[,NAME...]",
        help=f"feature scalings to compare: {', '.join(FEATURE_SCALINGS)}, "
        "described below (default: variance)",
    )
    parser.add_argument(
        "--bias",
        type=choice_list(BIAS_STARTS, "bias start"),
        default=("uniform01",),
        metavar="NAME[,NAME...]",
        help="start of the scalar biases: uniform01 or zeros (default: uniform01)",
    )
    parser.add_argument(
        "--optimizer",
        type=choice_list(OPTIMIZERS, "optimizer"),
        default=("gd",),
        metavar="NAME[,NAME...]",
        help="gd (plain gradient descent), momentum (0.9) or adam (default: gd)",
    )

    parser.add_argument(
        "--fail-below",
        type=accuracy_threshold,
        default=DEFAULT_FAIL_BELOW,
        metavar="ACC",
        help="a run fails below this validation accuracy (default: %(default)s)",
    )
    parser.add_argument(
        "--seed",
        type=random_seed,
        default=0,
        help="seed of the weight generator and of the --data split "
        "(default: %(default)s)",
    )

    parser.add_argument(
        "--out",
        type=output_path,
        metavar="DIR",
        default=None,
        help="write results.json, runs.csv and two PNG figures into DIR, "
        "created if missing (default: write no files)",
    )
    parser.add_argument(
        "--fast",
        action="store_true",
        help="train about twice as fast in a layout that rounds differently, so "
        "runs no longer repeat train_mlp's digit for digit",
    )
    parser.add_argument("--quiet", action="store_true", help="show no progress bar")
    parser.set_defaults(run=run)
    return parser


def choice_list(choices, kind):
    """Return an argparse type that parses comma-separated names from ``choices``."""

    def parse(text):
        names = [name.strip() for name in text.split(",")]
        for name in names:
            if name not in choices:
                raise argparse.ArgumentTypeError(
                    f"unknown {kind} {name!r}; use one or more of {', '.join(choices)}"
                )
        return tuple(dict.fromkeys(names))

    return parse


def layer_widths(text):
    """Parse comma-separated hidden layer widths, each an integer >= 1."""
    widths = []
    for part in text.split(","):
        try:
            widths.append(positive_int(part.strip()))
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a list of layer widths; use integers >= 1 such as 12 "
                "or 64,32"
            ) from None
    return tuple(widths)


def accuracy_threshold(text):
    """Parse an accuracy between 0 and 1 for argparse."""
    value = _parse_float(text, "an accuracy between 0 and 1")
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(
            f"{text!r} is outside [0, 1]; use an accuracy between 0 and 1"
        )
    return value


def open_fraction(text):
    """Parse a number strictly between 0 and 1 for argparse."""
    value = _parse_float(text, "a fraction strictly between 0 and 1")
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not strictly between 0 and 1; use a fraction such as 0.33"
        )
    return value


def _parse_float(text, expected):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number; use {expected}"
        ) from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not finite; use {expected}")
    return value


def run(args):
    if (args.data is None) != (args.target is None):
        raise InputError(
            "--data and --target must be given together; give both, or neither to "
            "use the bundled Iris data"
        )
    splits, class_names = _prepare_splits(args)
    out_dir = _io.ensure_dir(args.out) if args.out is not None else None
    if out_dir is not None:
        _io.check_output_files(out_dir / name for name in OUTPUT_FILES)

    configs = config_grid(args.init, args.scaling, args.bias, args.optimizer)
    results = []
    threads = torch.get_num_threads()
    # Each operation here is small, so a second thread gains little and loses
    # much when other jobs share the cores: on a loaded two-core machine,
    # benchmarks/bench_mlp.py measured two threads from 1.8 times faster to
    # 7 times slower than one. One thread is the predictable choice.
    torch.set_num_threads(1)
    try:
        with progress(
            len(configs) * args.runs, "mlp", quiet=args.quiet, unit="run"
        ) as bar:
            on_epoch = run_counter(bar, args.epochs)
            for config in configs:
                results.append(
                    run_config(
                        splits[config.scaling],
                        config,
                        args.runs,
                        hidden=args.hidden,
                        num_epochs=args.epochs,
                        lr=args.lr,
                        seed=args.seed,
                        fail_below=args.fail_below,
                        exact=not args.fast,
                        callback=on_epoch,
                    )
                )
    finally:
        torch.set_num_threads(threads)

    # The files come first, so a reader that closes stdout early, such as
    # head, cannot keep them from being written.
    paths = None
    if out_dir is not None:
        paths = write_outputs(out_dir, args, results, splits, class_names)

    if args.data is not None:
        print(
            "labels: "
            + ", ".join(f"{name!r} -> {k}" for k, name in enumerate(class_names))
        )
    if len(results) == 1 and args.runs <= MAX_RUNS_LISTED:
        print(format_run_table(results[0]))
    else:
        print(format_config_table(results))
    if paths is not None:
        print(f"wrote {', '.join(str(p) for p in paths)}")
    return 0


def run_counter(bar, num_epochs):
    """Return a ``train_batched`` callback that advances ``bar`` by finished runs.

    The callback receives the number of models that finished one more epoch;
    every ``num_epochs`` such model-epochs make one run, so the bar counts
    whole runs rather than fractions of one.
    """
    model_epochs = 0

    def on_epoch(n_models):
        nonlocal model_epochs
        model_epochs += n_models
        bar.update(model_epochs // num_epochs - bar.n)

    return on_epoch


def _prepare_splits(args):
    """Return one split per requested scaling and the class names, printing warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConstantFeatureWarning)
        if args.data is None:
            splits = {s: iris_study_split(s) for s in args.scaling}
        else:
            data = read_labelled_csv(args.data, args.target)
            splits = {
                s: split_labelled(data, s, args.validation_fraction, args.seed)
                for s in args.scaling
            }
    for message in dict.fromkeys(str(w.message) for w in caught):
        print(f"gradfit mlp: warning: {message}", file=sys.stderr)
    class_names = next(iter(splits.values())).class_names
    return splits, class_names


def format_run_table(result):
    """Format one configuration's runs, one line each, then the failure count."""
    d = result.diagnosis
    runs = [
        RunAccuracy(float(t), float(v))
        for t, v in zip(d.train_accuracy, d.validation_accuracy)
    ]
    s = result.summary
    low, high = s["failure_rate_ci95"]
    return "\n".join(
        [
            f"configuration {result.config.name}",
            format_accuracy_table(runs),
            f"failed {s['failures']} of {s['runs']} (validation accuracy < "
            f"{d.fail_below:g} or diverged), 95 % CI {low:.3f}-{high:.3f}",
        ]
    )


def format_config_table(results):
    """Format one line per configuration: accuracy, failure rate and its diagnosis."""
    width = max(len("config"), *(len(r.config.name) for r in results))
    lines = [
        f"{'config':<{width}}  {'runs':>5}  {'mean':>6}  {'sd':>6}  {'median':>6}  "
        f"{'failed':>6}  {'rate [95% CI]':>19}  {'dead':>5}  {'chance':>6}  "
        f"{'diverged':>8}"
    ]
    for r in results:
        s, v = r.summary, r.summary["validation_accuracy"]
        low, high = s["failure_rate_ci95"]
        lines.append(
            f"{r.config.name:<{width}}  {s['runs']:>5}  {v['mean']:6.3f}  "
            f"{v['sd']:6.3f}  {v['q50']:6.3f}  {s['failures']:>6}  "
            f"{s['failure_rate']:6.3f} [{low:.3f}, {high:.3f}]  "
            f"{s['failures_with_dead_units']:>5}  {s['failures_at_chance']:>6}  "
            f"{s['diverged']:>8}"
        )
    lines.append(
        "mean, sd, median: validation accuracy; dead, chance: failed runs with a dead "
        "hidden unit, at chance level"
    )
    return "\n".join(lines)


def format_accuracy_table(runs):
    """Format per-run accuracies with their mean, standard deviation, min and max."""
    lines = [f"{'run':>5}  {'train':>6}  {'valid':>6}"]
    for k, run in enumerate(runs, 1):
        lines.append(
            f"{k:>5}  {run.train_accuracy:6.3f}  {run.validation_accuracy:6.3f}"
        )
    train = [r.train_accuracy for r in runs]
    valid = [r.validation_accuracy for r in runs]
    sd = statistics.stdev if len(runs) > 1 else (lambda _: 0.0)
    for name, fn in (
        ("mean", statistics.fmean),
        ("sd", sd),
        ("min", min),
        ("max", max),
    ):
        lines.append(f"{name:>5}  {fn(train):6.3f}  {fn(valid):6.3f}")
    return "\n".join(lines)


def write_outputs(out_dir, args, results, splits, class_names):
    """Write results.json, runs.csv and the two figures; return their paths.

    Everything is rendered before the first file is written.
    """
    from ..report.figures import to_png
    from ..report.mlp_figures import accuracy_distribution_figure, loss_curves_figure

    names = [r.config.name for r in results]
    failed = [r.diagnosis.failed for r in results]
    accuracy_png = to_png(
        accuracy_distribution_figure(
            names, [r.diagnosis.validation_accuracy for r in results], args.fail_below
        )
    )
    loss_png = to_png(
        loss_curves_figure(names, [r.training.losses.numpy() for r in results], failed)
    )
    split = next(iter(splits.values()))
    document = {
        "data": args.data or "bundled iris.data, prepared as the study did",
        "target": args.target,
        "class_names": list(class_names),
        "n_train": len(split.targets_tr),
        "n_validation": len(split.targets_va),
        "hidden": list(args.hidden),
        "epochs": args.epochs,
        "lr": args.lr,
        "seed": args.seed,
        "runs": args.runs,
        "fail_below": args.fail_below,
        "exact": not args.fast,
        "validation_fraction": args.validation_fraction if args.data else None,
        "torch": torch.__version__,
        "configurations": [config_json(r) for r in results],
    }
    csv_text = runs_csv(results)

    paths = [Path(out_dir) / name for name in OUTPUT_FILES]
    _io.write_json(paths[0], document)
    _io.write_text(paths[1], csv_text)
    for path, png in zip(paths[2:], (accuracy_png, loss_png)):
        _io.atomic_write(path, lambda file, data=png: file.write(data))
    return paths
