""":class:`ComponentDoc` as GitHub markdown (the reference pages) and as terminal text (``ls --long``).

Both show the same things: qualified id, spec version and distribution, summary, paper, declared
capabilities, implementation and every parameter with type, default (and the eps rule of a default
that scales with eps) and description.
"""
from __future__ import annotations

import re
import textwrap
from typing import Iterable, Optional

from bench.docs_gen.components import CONFIGURED_KINDS, ComponentDoc
from bench.docs_gen.fields import SCALES, ParamDoc
from bench.specs import Paper


# --------------------------------------------------------------------------- markdown
def md_escape(text: str) -> str:
    """Plain text for a markdown page or table cell: ``\\``, ``<`` (no raw HTML), ``|`` and ``*``
    escaped."""
    for char in ("\\", "<", "|", "*"):
        text = text.replace(char, "\\" + char)
    return text


def md_code(text: str) -> str:
    """``text`` as a code span (``|`` escaped for tables); escaped text if it holds a backtick."""
    if "`" in text:
        return md_escape(text)
    return "`" + text.replace("|", "\\|") + "`"


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation other than '-' and '_' dropped, spaces
    to '-' (``classics/pgd-at`` -> ``classicspgd-at``)."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def paper_markdown(paper: Paper) -> str:
    title = md_escape(paper.title)
    out = f"[{title}]({paper.url})" if paper.url else f"*{title}*"
    who = ", ".join(part for part in (md_escape(paper.authors), str(paper.year or "")) if part)
    if who:
        out += f", {who}"
    if paper.key:
        out += f" (key {md_code(paper.key)})"
    return out


def default_markdown(param: ParamDoc) -> str:
    if param.default == "required":
        return "required"
    out = md_code(param.default)
    if param.scales == SCALES:
        out += f", {SCALES}"
    elif param.scales:
        out += f", {SCALES}: {md_code(param.scales)}"
    return out


def params_markdown(doc: ComponentDoc) -> list[str]:
    if doc.error:
        return [f"Parameters unavailable: the implementation could not be imported ({md_escape(doc.error)}).", ""]
    note = f"{md_code(doc.config)}: {_note_markdown(doc.config_note)}" if doc.config and doc.config_note else ""
    if not doc.params:
        return [f"Parameters: none ({note.rstrip('.')})." if note else "Parameters: none.", ""]
    lines = [note, ""] if note else []
    lines += ["| parameter | type | default | description |", "|---|---|---|---|"]
    for p in doc.params:
        lines.append(f"| {md_code(p.name)} | {md_escape(p.type)} | {default_markdown(p)} | {md_escape(p.description)} |")
    return lines + [""]


def _note_markdown(note: str) -> str:
    """A config docstring (its inline code already in backticks) for markdown."""
    parts = re.split(r"(`[^`]*`)", note)
    return "".join(part if part.startswith("`") and part.endswith("`") and len(part) > 1 else md_escape(part)
                   for part in parts)


def component_markdown(doc: ComponentDoc, level: int = 2) -> list[str]:
    lines = [f"{'#' * level} {doc.qualified_id}", ""]
    if doc.summary:
        lines += [md_escape(doc.summary), ""]
    bullets = []
    if doc.paper is not None:
        bullets.append(("paper", paper_markdown(doc.paper)))
    bullets += [(label, _fact_markdown(text)) for label, text in doc.facts]
    impl = md_code(doc.target) + (f", config {md_code(doc.config)}" if doc.config else "")
    bullets.append(("spec", f"version {md_code(doc.version)} from {md_code(doc.distribution)}; implementation {impl}"))
    lines += [f"- **{label}:** {text}" for label, text in bullets] + [""]
    return lines + params_markdown(doc)


def _fact_markdown(text: str) -> str:
    """Facts may hold code spans (column names); everything else is escaped."""
    return _note_markdown(text)


def index_markdown(docs: Iterable[ComponentDoc], what: str) -> list[str]:
    lines = [f"| {what} | summary |", "|---|---|"]
    for doc in docs:
        lines.append(f"| [{doc.qualified_id}](#{slug(doc.qualified_id)}) | {md_escape(doc.summary) or '—'} |")
    return lines + [""]


# --------------------------------------------------------------------------- terminal text
def component_text(doc: ComponentDoc, width: int = 100, header: Optional[str] = None) -> str:
    """One component as an indented block of lines no wider than ``width`` (long words excepted)."""
    width = max(40, width)
    lines = [header or f"{doc.qualified_id}  v{doc.version}  {doc.distribution}"]

    def wrap(text: str, indent: str = "  ", hanging: Optional[str] = None) -> None:
        lines.extend(textwrap.wrap(text, width=width, initial_indent=indent,
                                   subsequent_indent=hanging if hanging is not None else indent + "  ",
                                   break_long_words=False, break_on_hyphens=False) or [indent.rstrip()])

    if doc.summary:
        wrap(doc.summary, hanging="  ")
    if doc.paper is not None:
        p = doc.paper
        who = ", ".join(part for part in (p.authors, str(p.year or "")) if part)
        wrap(f"paper: {p.title}" + (f". {who}" if who else "") + (f". {p.url}" if p.url else "")
             + (f" [{p.key}]" if p.key else ""))
    for label, text in doc.facts:
        wrap(f"{label}: {text.replace('`', '')}")
    if doc.kind not in CONFIGURED_KINDS:  # a suite file or a claim function: no parameters
        wrap(f"{'file' if doc.kind == 'suite' else 'implementation'}: {doc.target}")
        return "\n".join(lines)
    wrap(f"implementation: {doc.target}")
    if doc.config:
        wrap(f"config {doc.config}" + (f": {doc.config_note.replace('`', '')}" if doc.config_note else ""))
    if doc.error:
        wrap(f"parameters unavailable: {doc.error}")
        return "\n".join(lines)
    if not doc.params:
        lines.append("  parameters: none")
        return "\n".join(lines)
    lines.append("  parameters:")
    for p in doc.params:
        default = p.default + ("" if not p.scales else f" ({SCALES})" if p.scales == SCALES
                               else f" ({SCALES}: {p.scales})")
        wrap(f"{p.name}: {p.type} = {default}", indent="    ", hanging="        ")
        if p.description:
            wrap(p.description, indent="        ", hanging="        ")
    return "\n".join(lines)
