"""Atomic file output: write to a temporary name in the same folder, then rename."""

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .errors import InputError

__all__ = [
    "atomic_write",
    "check_output_files",
    "ensure_dir",
    "save_npy",
    "write_json",
    "write_text",
]


def ensure_dir(path):
    """Create folder ``path`` (and its parents) or raise InputError saying why not."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(_mkdir_failure(path, exc)) from None
    if not os.access(path, os.W_OK):
        raise InputError(
            f"output folder {str(path)!r} is not writable; "
            "choose a folder you can write to"
        )
    return path


def _mkdir_failure(path, exc):
    """Return the message for a failed ``mkdir``, naming a file in the way if any."""
    for folder in (path, *path.parents):
        try:
            blocked = folder.exists() and not folder.is_dir()
        except OSError:
            continue
        if blocked and folder == path:
            return (
                f"output folder {str(path)!r} is an existing file; choose a folder "
                "you can write to"
            )
        if blocked:
            return (
                f"cannot create output folder {str(path)!r} because {str(folder)!r} "
                "is a file; choose a folder you can write to"
            )
    return (
        f"cannot create output folder {str(path)!r}: {exc.strerror}; "
        "choose a folder you can write to"
    )


def check_output_files(paths):
    """Raise InputError if an output file's path is an existing folder.

    Callers run this before any work, so that a run does not stop with part
    of its outputs written.
    """
    for path in paths:
        if Path(path).is_dir():
            raise InputError(
                f"output file {str(path)!r} is an existing folder; remove it or "
                "choose another output location"
            )


def atomic_write(path, write):
    """Call ``write(file)`` on a temporary binary file, then rename it to ``path``.

    A run interrupted part-way leaves either the old file or none, never a
    truncated one.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
        # mkstemp creates the file as 0600; give it the permissions open() would.
        os.chmod(tmp, 0o666 & ~_current_umask())
        try:
            os.replace(tmp, path)
        except OSError as exc:
            # Name the destination, not the temporary file.
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
    except BaseException:
        os.unlink(tmp)
        raise


def write_text(path, text):
    atomic_write(path, lambda file: file.write(text.encode("utf-8")))


def write_json(path, obj):
    """Write ``obj`` as indented JSON; NaN and infinity are rejected, not written."""
    text = json.dumps(obj, indent=2, allow_nan=False) + "\n"
    write_text(path, text)


def save_npy(path, array):
    atomic_write(
        path, lambda file: np.save(file, np.asarray(array), allow_pickle=False)
    )


def _current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask
