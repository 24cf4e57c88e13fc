"""Run the command line in-process and capture its exit status and output."""

import contextlib
import io

from gradfit.cli import main


def run_cli(*args):
    """Return ``(status, stdout, stderr)`` of ``gradfit ARGS``."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main([str(a) for a in args])
        except SystemExit as exc:
            status = exc.code
    return status, out.getvalue(), err.getvalue()


def assert_one_line_error(status, stderr, expected_status, *fragments):
    """Check a failure's status, its single stderr line and the fragments in it."""
    assert status == expected_status, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
