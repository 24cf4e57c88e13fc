"""A small report document model rendered to Markdown and self-contained HTML.

A report is a list of blocks (headings, paragraphs, tables, figures). Markdown
links each figure to its PNG file; HTML embeds it as a base64 data URI so that
the one file can be mailed or opened anywhere.
"""

import base64
import html
import re
from dataclasses import dataclass, field

__all__ = ["Document", "Figure", "Heading", "Paragraph", "Table"]


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    """Text with `code` spans; blank lines are not allowed inside."""

    text: str


@dataclass(frozen=True)
class Table:
    """A table of preformatted cells; ``align`` gives "l" or "r" per column."""

    header: tuple
    rows: tuple
    align: tuple = ()
    caption: str = ""


@dataclass(frozen=True)
class Figure:
    """A PNG figure stored as ``filename`` next to the Markdown report."""

    filename: str
    png: bytes
    caption: str


@dataclass
class Document:
    title: str
    blocks: list = field(default_factory=list)

    def add(self, *blocks):
        self.blocks.extend(blocks)
        return self

    @property
    def figures(self):
        return [b for b in self.blocks if isinstance(b, Figure)]

    def to_markdown(self):
        parts = [f"# {self.title}"]
        for block in self.blocks:
            parts.append(_markdown_block(block))
        return "\n\n".join(parts) + "\n"

    def to_html(self):
        body = "\n".join(_html_block(b) for b in self.blocks)
        return _HTML_PAGE.format(title=html.escape(self.title), body=body)


def _markdown_block(block):
    if isinstance(block, Heading):
        return f"{'#' * block.level} {block.text}"
    if isinstance(block, Paragraph):
        return block.text
    if isinstance(block, Table):
        align = block.align or ("l",) * len(block.header)
        rule = ["---:" if a == "r" else "---" for a in align]
        lines = [_md_row(block.header), _md_row(rule)]
        lines += [_md_row(row) for row in block.rows]
        text = "\n".join(lines)
        return f"{text}\n\n{block.caption}" if block.caption else text
    if isinstance(block, Figure):
        return f"![{block.caption}]({block.filename})\n\n*{block.caption}*"
    raise TypeError(f"unknown report block {type(block).__name__}")


def _md_row(cells):
    return "| " + " | ".join(str(c) for c in cells) + " |"


_CODE = re.compile(r"`([^`]+)`")


def _inline_html(text):
    return _CODE.sub(r"<code>\1</code>", html.escape(text, quote=False))


def _html_block(block):
    if isinstance(block, Heading):
        return f"<h{block.level}>{_inline_html(block.text)}</h{block.level}>"
    if isinstance(block, Paragraph):
        return f"<p>{_inline_html(block.text)}</p>"
    if isinstance(block, Table):
        align = block.align or ("l",) * len(block.header)
        style = ['class="num"' if a == "r" else "" for a in align]
        head = "".join(
            f"<th {s}>{_inline_html(str(c))}</th>" for c, s in zip(block.header, style)
        )
        rows = "".join(
            "<tr>"
            + "".join(
                f"<td {s}>{_inline_html(str(c))}</td>" for c, s in zip(row, style)
            )
            + "</tr>"
            for row in block.rows
        )
        caption = (
            f"<caption>{_inline_html(block.caption)}</caption>" if block.caption else ""
        )
        head = f"<thead><tr>{head}</tr></thead>"
        return f"<table>{caption}{head}<tbody>{rows}</tbody></table>"
    if isinstance(block, Figure):
        data = base64.b64encode(block.png).decode("ascii")
        caption = _inline_html(block.caption)
        return (
            f'<figure><img src="data:image/png;base64,{data}" '
            f'alt="{html.escape(block.caption)}">'
            f"<figcaption>{caption}</figcaption></figure>"
        )
    raise TypeError(f"unknown report block {type(block).__name__}")


_HTML_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto;
       padding: 0 1rem; line-height: 1.5; color: #222; }}
table {{ border-collapse: collapse; margin: 1rem 0; }}
caption {{ caption-side: bottom; font-size: 0.9em; color: #555; text-align: left; }}
th, td {{ border: 1px solid #ccc; padding: 0.25rem 0.6rem; }}
th {{ background: #f3f3f3; }}
.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
figure {{ margin: 1rem 0; }}
img {{ max-width: 100%; }}
figcaption {{ font-size: 0.9em; color: #555; }}
code {{ background: #f3f3f3; padding: 0 0.2em; }}
</style>
</head>
<body>
<h1>{title}</h1>
{body}
</body>
</html>
"""
