"""The ``gradfit`` command line: report, factorise, complete and mlp subcommands."""

import errno
import os
import sys

from ..errors import DivergenceError, InputError
from . import complete, factorise, mlp, report
from ._common import EXIT_BROKEN_PIPE, EXIT_FAILURE, EXIT_USAGE, CommandParser

__all__ = ["build_parser", "main"]

SUBCOMMANDS = (report, factorise, complete, mlp)

# Errors that a path given on the command line causes, so exit status 2 applies.
# Others, such as a full disk, fail a valid run and exit 1.
PATH_ERRORS = frozenset(
    (
        errno.ENAMETOOLONG,
        errno.ENOENT,
        errno.ENOTDIR,
        errno.EISDIR,
        errno.ELOOP,
        errno.EACCES,
    )
)

DESCRIPTION = """\
Fit models by gradient descent with PyTorch autograd and check them against the
closed form or held-out data. The commands cover low-rank factorisation
A ~ U V^T against the truncated SVD, matrix completion of a ratings file, and
many small ReLU networks trained at once, with a diagnosis of the runs that fail.
"""

EPILOG = """\
examples:
  gradfit report --out report          reproduce the Iris study as a report
  gradfit factorise matrix.csv --rank 5 --out fit
  gradfit complete ratings.csv --rank 10 --out model
  gradfit mlp --runs 10

Run 'gradfit COMMAND --help' for the options of one command.
"""


def build_parser():
    """Build the top-level parser with one subparser per subcommand."""
    from .. import __version__

    parser = CommandParser(
        prog="gradfit",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=_formatter,
    )
    parser.add_argument("--version", action="version", version=f"gradfit {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in SUBCOMMANDS:
        module.add_parser(commands, _formatter)
    return parser


def _formatter(prog):
    import argparse

    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32)


def _silence_stdout():
    """Point stdout at the null device, also at the file-descriptor level."""
    devnull = open(os.devnull, "w")  # left open until the process exits
    try:
        os.dup2(devnull.fileno(), sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):
        pass
    sys.stdout = devnull


def main(argv=None):
    """Run the command line and return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status = args.run(args) or 0
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        # The reader of stdout has gone, as with 'gradfit mlp | head -1'. The
        # output files are written by then; stdout is silenced so that the
        # final flush at exit raises nothing.
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except InputError as exc:
        print(f"gradfit {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except DivergenceError as exc:
        print(f"gradfit {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except (MemoryError, RuntimeError) as exc:
        if not _is_out_of_memory(exc):
            raise
        print(
            f"gradfit {args.command}: error: out of memory{_allocation(exc)}; "
            "lower the sizes in the options, such as --rank, --hidden, --runs or "
            "--epochs",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    except OSError as exc:
        name = f" {exc.filename!r}" if exc.filename else ""
        if exc.errno in PATH_ERRORS:
            print(
                f"gradfit {args.command}: error: {exc.strerror}{name}; check the path",
                file=sys.stderr,
            )
            return EXIT_USAGE
        print(
            f"gradfit {args.command}: error: {exc.strerror or exc}{name}",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    except KeyboardInterrupt:
        # Each output file is renamed into place only once complete.
        print(
            f"gradfit {args.command}: interrupted; files not yet written are absent, "
            "none is half-written",
            file=sys.stderr,
        )
        return 130


def _is_out_of_memory(exc):
    """Return True for Python's MemoryError and torch's allocation failures."""
    import torch

    # torch raises OutOfMemoryError on CUDA and a plain RuntimeError from its
    # CPU allocator.
    return isinstance(exc, (MemoryError, torch.OutOfMemoryError)) or (
        "can't allocate memory" in str(exc)
    )


def _allocation(exc):
    """Return ' (N bytes requested)' from torch's message, or '' if it has none."""
    import re

    found = re.search(r"allocate (\d+) bytes", str(exc))
    return f" ({int(found.group(1)):,} bytes requested)" if found else ""
