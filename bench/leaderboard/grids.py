"""Image grids that say what their rows and columns are.

A task that returns a PNG grid (e.g. infotransfer's inversion: originals, inversions, inversions
with weight noise once, effective images) declares its layout inside the PNG, as text chunks:

=========================  =====================================================================
keyword                    value
=========================  =====================================================================
``robarena:grid-rows``     JSON list of strings: one label per grid row, top to bottom
``robarena:grid-columns``  JSON list of strings: one label per grid column, left to right
=========================  =====================================================================

The layout travels with the image (through the artifact cache and into the snapshot), so it is
right for every configuration of the task (a variant switched off is a row fewer) and the
leaderboard never guesses it. Pillow writes the chunks
(``PngInfo().add_text("robarena:grid-rows", json.dumps(labels))``); a plugin needs no import
from here. The web page labels each grid row beside the image and lists the layout in the
caption; a PNG without the chunks is shown unlabelled.
"""
from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass

ROWS_KEY = "robarena:grid-rows"
COLUMNS_KEY = "robarena:grid-columns"
_MAGIC = b"\x89PNG\r\n\x1a\n"
_MAX_LABELS = 1000


@dataclass(frozen=True)
class GridLayout:
    """The declared labels of a grid's rows and columns (empty when not declared)."""

    rows: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.rows or self.columns)


def png_text(data: bytes) -> dict[str, str]:
    """The tEXt, zTXt and iTXt entries of a PNG (keyword -> text); {} for anything that is not a PNG.

    A small chunk reader (no image decoding): stops at the first malformed chunk or at IEND."""
    if not data.startswith(_MAGIC):
        return {}
    out: dict[str, str] = {}
    pos = len(_MAGIC)
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if len(body) != length or kind == b"IEND":
            break
        pos += 12 + length
        try:
            if kind == b"tEXt":
                key, _, value = body.partition(b"\x00")
                out[key.decode("latin-1")] = value.decode("latin-1")
            elif kind == b"zTXt":
                key, _, rest = body.partition(b"\x00")
                out[key.decode("latin-1")] = zlib.decompress(rest[1:]).decode("latin-1")
            elif kind == b"iTXt":
                key, _, rest = body.partition(b"\x00")
                compressed, rest = rest[0], rest[2:]
                _language, _, rest = rest.partition(b"\x00")
                _translated, _, text = rest.partition(b"\x00")
                out[key.decode("latin-1")] = (zlib.decompress(text) if compressed else text).decode("utf-8")
        except (zlib.error, UnicodeDecodeError, IndexError):
            continue  # one unreadable text chunk: the others still count
    return out


def _labels(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    try:
        value = json.loads(text)
    except ValueError:
        return ()
    if not isinstance(value, list) or len(value) > _MAX_LABELS or not all(isinstance(v, str) for v in value):
        return ()
    return tuple(value)


def grid_layout(data: bytes) -> GridLayout:
    """The layout a PNG declares (``robarena:grid-rows`` / ``robarena:grid-columns``); empty if none
    or malformed (a label list must be a JSON list of strings)."""
    text = png_text(data)
    return GridLayout(_labels(text.get(ROWS_KEY)), _labels(text.get(COLUMNS_KEY)))
