"""``gradfit report``: reproduce the Iris study and write it as a report."""

from ..report import SECTIONS, ReportOptions, write_report
from ._common import output_path, positive_int, progress, random_seed

HELP = "reproduce the Iris autograd study and write a report (Markdown, HTML, JSON)"

EPILOG = """\
Writes into DIR: report.md, report.html (self-contained, figures embedded), one
PNG per figure and results.json with every number. The same seed gives the same
numbers on the same machine.

example:
  gradfit report --out report --seed 0 --runs 10
"""


def add_parser(commands, formatter):
    parser = commands.add_parser(
        "report",
        help=HELP,
        description=HELP,
        epilog=EPILOG,
        formatter_class=formatter,
    )
    parser.add_argument(
        "--out",
        type=output_path,
        metavar="DIR",
        default="report",
        help="output folder, created if missing (default: %(default)s)",
    )
    parser.add_argument(
        "--seed",
        type=random_seed,
        default=0,
        help="seed for torch.manual_seed before each experiment (default: %(default)s)",
    )
    parser.add_argument(
        "--runs",
        type=positive_int,
        default=10,
        help="number of repeated MLP trainings (default: %(default)s)",
    )
    parser.add_argument(
        "--collapse-runs",
        type=positive_int,
        default=1000,
        help="trainings per configuration in the section on collapsed "
        "runs (default: %(default)s)",
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="print nothing but errors and show no progress bar",
    )
    parser.set_defaults(run=run)
    return parser


def run(args):
    options = ReportOptions(
        seed=args.seed, runs=args.runs, collapse_runs=args.collapse_runs
    )
    with progress(len(SECTIONS), "report", quiet=args.quiet, unit="section") as bar:
        results = write_report(args.out, options, on_section=lambda _: bar.update(1))
    if not args.quiet:
        print(summary(results, args.out))
    return 0


def summary(results, out_dir):
    """Format the two losses and the MLP accuracy table for the terminal."""
    f = results["factorisation"]
    lines = [
        f"rank-{f['rank']} reconstruction of the centred Iris features",
        f"  GD loss            {f['gd_loss']:.6f}",
        f"  truncated SVD      {f['svd_loss']:.6f}",
        f"  relative gap       {f['relative_gap']:.2e}",
        "  principal angles   "
        + ", ".join(f"{a:.3g}°" for a in results["pca"]["principal_angles_deg"]),
        "",
        "MLP accuracy per run",
        f"  {'run':>4}  {'train':>6}  {'valid':>6}",
    ]
    for k, r in enumerate(results["mlp"]["runs"], 1):
        lines.append(
            f"  {k:>4}  {r['train_accuracy']:6.3f}  {r['validation_accuracy']:6.3f}"
        )
    s = results["mlp"]["summary"]
    for name in ("mean", "sd", "min", "max"):
        lines.append(
            f"  {name:>4}  {s['train_accuracy'][name]:6.3f}  "
            f"{s['validation_accuracy'][name]:6.3f}"
        )
    collapse = results.get("collapse")
    if collapse is not None:
        lines += ["", f"failure rate over {collapse['runs']} runs per configuration"]
        for config in collapse["configurations"]:
            low, high = config["failure_rate_ci95"]
            lines.append(
                f"  {config['name']:<30} {config['failure_rate']:6.1%}"
                f"  [95 % CI {low:.1%} to {high:.1%}]"
            )
    lines += ["", f"wrote {out_dir}/report.md, report.html, results.json and figures"]
    return "\n".join(lines)
