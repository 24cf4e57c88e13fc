"""The Iris study report: compute every result, then write Markdown, HTML and JSON."""

import platform
from dataclasses import dataclass

import numpy as np
import torch

from .. import _io
from ..data import IRIS_MD5, iris_bytes, md5_hex
from .collapse import collapse_section
from .document import Document, Heading, Paragraph
from .factorisation import factorisation_sections
from .mlp import mlp_section

__all__ = ["ReportOptions", "SECTIONS", "build_report", "write_report"]


@dataclass(frozen=True)
class ReportOptions:
    """Settings shared by every report section.

    seed : int
        Seed passed to ``torch.manual_seed`` before each section's experiment.
    runs : int
        Number of repeated MLP trainings in the study's table.
    collapse_runs : int
        Number of trainings per configuration in the section on collapsed runs.
    """

    seed: int = 0
    runs: int = 10
    collapse_runs: int = 1000


#: Section builders in report order. Each takes ReportOptions and returns
#: ``(blocks, results)``: report blocks and a dict merged into results.json.
SECTIONS = (factorisation_sections, mlp_section, collapse_section)


def build_report(options=ReportOptions(), *, on_section=None):
    """Run every section and return ``(document, results)`` without writing files.

    The global torch generator is seeded by the sections; its state and torch's
    thread count are saved and restored around the whole run, so the caller's
    settings are untouched.
    ``on_section(name)``, if given, is called after each section finishes.
    """
    data_md5 = md5_hex(iris_bytes())
    document = Document("gradfit: the Iris autograd study, reproduced")
    document.add(
        Paragraph(
            "Every number, table and figure below was computed by this run of gradfit "
            f"on the bundled UCI Iris file (MD5 `{data_md5}`) with seed {options.seed}."
        )
    )
    results = {}
    threads = torch.get_num_threads()
    # The study's tensors are tiny (150 x 4), so a second thread only adds
    # synchronisation: one thread runs about 7x faster and its reductions
    # always run in the same order.
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            for section in SECTIONS:
                blocks, section_results = section(options)
                document.add(*blocks)
                results.update(section_results)
                if on_section is not None:
                    on_section(section.__name__)
    finally:
        torch.set_num_threads(threads)

    results["data"] = {
        "file": "iris.data",
        "md5": data_md5,
        "md5_matches_uci": data_md5 == IRIS_MD5,
    }
    results["environment"] = environment(options)
    document.add(
        Heading("Environment"),
        Paragraph(", ".join(f"{k} {v}" for k, v in results["environment"].items())),
    )
    return document, results


def environment(options):
    """Return the versions and settings that reproduce this report."""
    from .. import __version__

    return {
        "gradfit": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch_threads": 1,
        "seed": options.seed,
        "runs": options.runs,
        "collapse_runs": options.collapse_runs,
    }


def write_report(out_dir, options=ReportOptions(), *, on_section=None):
    """Build the report and write it into ``out_dir``; return the results dict.

    Writes ``report.md``, ``report.html`` (figures embedded), one PNG per figure
    and ``results.json``. Everything is computed before the first file is
    written, and each file is written under a temporary name and then renamed,
    so an interrupted run leaves no half-written file.
    """
    out_dir = _io.ensure_dir(out_dir)
    documents = ("report.md", "report.html", "results.json")
    _io.check_output_files(out_dir / name for name in documents)
    document, results = build_report(options, on_section=on_section)
    _io.check_output_files(out_dir / figure.filename for figure in document.figures)
    for figure in document.figures:
        _io.atomic_write(out_dir / figure.filename, lambda f, b=figure.png: f.write(b))
    _io.write_text(out_dir / "report.md", document.to_markdown())
    _io.write_text(out_dir / "report.html", document.to_html())
    _io.write_json(out_dir / "results.json", results)
    return results
