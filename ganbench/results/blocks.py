"""Document blocks of a report, rendered to HTML and Markdown by the jinja2 templates beside this module.

A report is a list of typed blocks (:class:`Heading`, :class:`Paragraph`, :class:`Toc`, :class:`Table`,
:class:`Figure`, :class:`Gallery`); ``render_html`` and ``render_markdown`` turn one list into both formats.
The HTML template autoescapes every value: run names, dataset descriptions and error messages are
shown as text. The only markup trusted as is comes from ``Table``'s ``DataFrame.to_html(escape=True)``.
Anchors are GitHub's heading slugs, so the same links work in ``index.html`` and on a README page.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Union

import jinja2
import pandas as pd
from markupsafe import Markup

__all__ = ["Block", "Figure", "Gallery", "Heading", "Link", "Paragraph", "Table", "Toc", "anchor", "figures",
           "render_html", "render_markdown"]  # fmt: skip


def anchor(heading: str) -> str:
    """GitHub's slug of a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


@dataclass(frozen=True)
class Link:
    """A link to a heading of the same document."""

    text: str
    anchor: str


@dataclass(frozen=True)
class Heading:
    """A heading; an anchored one carries an ``id`` in HTML that links can point to."""

    kind: ClassVar[str] = "heading"
    level: int
    text: str
    anchored: bool = False

    @property
    def anchor(self) -> str | None:
        return anchor(self.text) if self.anchored else None


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of plain text, optionally ending with a list of links (shown as code)."""

    kind: ClassVar[str] = "paragraph"
    text: str
    links: tuple[Link, ...] = ()


@dataclass(frozen=True)
class Toc:
    """A table of contents: a bullet list of links to headings."""

    kind: ClassVar[str] = "toc"
    links: tuple[Link, ...]


@dataclass(frozen=True, eq=False)
class Table:
    """A table; ``css`` is the HTML table's class (``wrap`` breaks long cells, ``board`` is compact)."""

    kind: ClassVar[str] = "table"
    frame: pd.DataFrame
    css: str = "wrap"


@dataclass(frozen=True)
class Figure:
    """A PNG image with a caption: embedded in HTML, written as ``file`` beside the Markdown."""

    kind: ClassVar[str] = "figure"
    file: str
    png: bytes
    caption: str

    @property
    def stem(self) -> str:
        return Path(self.file).stem


@dataclass(frozen=True)
class Gallery:
    """Figures side by side."""

    kind: ClassVar[str] = "gallery"
    figures: tuple[Figure, ...]


Block = Union[Heading, Paragraph, Toc, Table, Figure, Gallery]


def figures(blocks: Iterable[Block]) -> Iterator[Figure]:
    """Every figure of a document, galleries' included, in document order."""
    for b in blocks:
        if isinstance(b, Figure):
            yield b
        elif isinstance(b, Gallery):
            yield from b.figures


def _html_table(t: Table) -> Markup:
    # to_html escapes every cell and header itself, so its output is safe markup.
    return Markup(t.frame.to_html(index=False, border=0, escape=True, na_rep="", classes=t.css))


def _md_cell(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return str(v).replace("|", "\\|").replace("\n", " ")


def _md_table(t: Table) -> str:
    return t.frame.map(_md_cell).to_markdown(index=False)


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("ganbench.results", "templates"),
    autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined,
)
_ENV.filters.update(html_table=_html_table, md_table=_md_table, data_uri=_data_uri)


def render_html(blocks: Iterable[Block], title: str) -> str:
    """One self-contained HTML page: inline CSS, images as data URIs, every value escaped."""
    return _ENV.get_template("report.html.j2").render(blocks=list(blocks), title=title)


def render_markdown(blocks: Iterable[Block]) -> str:
    """The same document in GitHub Markdown, figures linked by file name."""
    return _ENV.get_template("report.md.j2").render(blocks=list(blocks))
