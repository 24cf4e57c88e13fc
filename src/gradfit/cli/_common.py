"""Argument types, exit statuses and progress bars shared by the subcommands."""

import argparse
import math
import sys

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_FAILURE",
    "EXIT_USAGE",
    "CommandParser",
    "output_path",
    "positive_float",
    "positive_int",
    "progress",
    "random_seed",
]

#: Exit status for invalid arguments or input files (argparse uses 2 too).
EXIT_USAGE = 2
#: Exit status for a run that started and then failed, such as a divergence.
EXIT_FAILURE = 1
#: Exit status when the reader of stdout has gone, as a shell reports a
#: process ended by SIGPIPE (128 + 13).
EXIT_BROKEN_PIPE = 141


class CommandParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr and exit 2."""

    def error(self, message):
        self.exit(
            EXIT_USAGE,
            f"{self.prog}: error: {message}; run '{self.prog} --help' for usage\n",
        )


def positive_int(text):
    """Parse an integer >= 1 for argparse."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an integer; use an integer >= 1"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is below 1; use an integer >= 1")
    return value


def positive_float(text):
    """Parse a positive finite number for argparse."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number; use a positive number"
        ) from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not positive and finite; use a positive number"
        )
    return value


def output_path(text):
    """Parse an output path for argparse, rejecting an empty or blank one."""
    if not text.strip():
        raise argparse.ArgumentTypeError(
            f"{text!r} is empty or blank; give a folder or file name such as out"
        )
    return text


def random_seed(text):
    """Parse a random seed, an integer in [0, 2**64) as torch.Generator accepts."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an integer; use an integer >= 0"
        ) from None
    if not 0 <= value < 2**64:
        raise argparse.ArgumentTypeError(
            f"{text!r} is out of range; use 0 <= SEED < 2**64"
        )
    return value


def progress(total, description, *, quiet=False, unit="epoch"):
    """Return a tqdm progress bar on stderr, disabled off a terminal or when quiet."""
    from tqdm import tqdm

    enabled = not quiet and sys.stderr.isatty()
    return tqdm(
        total=total,
        desc=description,
        unit=unit,
        disable=not enabled,
        leave=False,
        file=sys.stderr,
        dynamic_ncols=True,
    )
