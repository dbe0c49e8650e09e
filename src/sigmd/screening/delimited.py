"""Delimited text input (CSV, TSV) read with a fixed dialect, never a guessed one, to Parquet for the engines.

The dialect is stated, not sniffed: UTF-8 (a byte-order mark is allowed), the first line is the header,
one record per line (lines end in LF or CRLF; blank lines are not records), cells separated by a comma
(a tab for .tsv), a cell may be quoted with double quotes, and a quote inside a quoted cell is doubled
(RFC 4180, without line breaks inside cells). Every cell is text; an empty cell is missing.

Every non-blank line after the header is one record, so rows in = the records of the file. A line that
does not fit the dialect (more or fewer cells than the header, a stray or unterminated quote, bytes that
are not UTF-8, a carriage return inside the line) is kept, in order, with the reason in column
`LINE_PROBLEM`; the shared SQL turns that reason into a reject. A header that does not fit refuses the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from sigmd.screening.extras import require

LINE_PROBLEM = "sigmd_line_problem"
"""Column of the converted file that holds why a line could not be read (NULL when it could)."""
BLOCK_BYTES = 16 * 1024 * 1024
BOM = b"\xef\xbb\xbf"
_UNDECODED = re.compile("[\udc80-\udcff]")
"""Bytes that were not UTF-8, as `surrogateescape` keeps them."""

UNTERMINATED = "has a quoted cell with no closing double quote"
QUOTE_INSIDE = "has a double quote inside a cell that is not quoted"
AFTER_QUOTE = "has text after the closing double quote of a cell"
QUOTING = '; quote the whole cell and write each quote inside it twice ("")'
_QUOTED = re.compile(r'"((?:[^"]|"")*)"')


def delimiter_of(source: Path) -> str:
    """The cell separator, from the file name: a tab for .tsv, else a comma."""
    return "\t" if source.suffix.lower() == ".tsv" else ","


def split_line(line: str, delimiter: str) -> tuple[list[str], str]:
    """The cells of one line and, when the line does not fit the dialect, why ('' when it does).

    A line that does not fit is split at every delimiter, so that its reject shows the text as written.
    """
    if '"' not in line:
        return line.split(delimiter), ""
    cells: list[str] = []
    position = 0
    while True:
        if line.startswith('"', position):
            quoted = _QUOTED.match(line, position)
            if quoted is None:
                return line.split(delimiter), UNTERMINATED + QUOTING
            cells.append(quoted.group(1).replace('""', '"'))
            position = quoted.end()
            if position == len(line):
                return cells, ""
            if line[position] != delimiter:
                return line.split(delimiter), AFTER_QUOTE + QUOTING
            position += 1
        else:
            end = line.find(delimiter, position)
            cell = line[position:] if end < 0 else line[position:end]
            if '"' in cell:
                return line.split(delimiter), QUOTE_INSIDE + QUOTING
            cells.append(cell)
            if end < 0:
                return cells, ""
            position = end + 1


def _show(cell: str) -> str:
    """A cell decoded with surrogateescape, shown with its undecodable bytes as \\xNN."""
    return cell.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _text(raw: bytes) -> tuple[str, bool]:
    """The line as text, and whether it was valid UTF-8 (if not, bad bytes are kept as surrogates)."""
    try:
        return raw.decode("utf-8"), True
    except UnicodeDecodeError:
        return raw.decode("utf-8", "surrogateescape"), False


def _header(number: int, raw: bytes, source: Path, delimiter: str) -> list[str]:
    where = f"header (line {number} of {source.name!r})"
    if b"\r" in raw:
        raise ValueError(f"{where}: has a carriage return (CR) inside the line; lines must end in LF or CRLF")
    text, valid = _text(raw)
    if not valid:
        raise ValueError(f"{where}: '{_show(text)}' is not UTF-8 text; save the file as UTF-8")
    names, problem = split_line(text, delimiter)
    if problem:
        raise ValueError(f"{where}: {text!r} {problem}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"{where}: column {', '.join(map(repr, repeated))} appears more than once")
    if LINE_PROBLEM in names:
        raise ValueError(f"{where}: column {LINE_PROBLEM!r} is reserved for sigmd's own use")
    return names


def _open_header(source: Path, handle: BinaryIO) -> tuple[list[str], int]:
    """Read the header (the first non-blank line) from `handle`; return it with its line number."""
    for number, raw in enumerate(iter(handle.readline, b""), start=1):
        line = raw.removesuffix(b"\n").removesuffix(b"\r")
        if number == 1:
            line = line.removeprefix(BOM)
        if line:
            return _header(number, line, source, delimiter_of(source)), number
    raise ValueError(f"input: {str(source)!r} is empty: it has no header line")


def read_header(source: Path) -> list[str]:
    """The column names of a delimited file; ValueError when the file is empty or its header does not fit."""
    with source.open("rb") as handle:
        return _open_header(source, handle)[0]


def _blocks(handle: BinaryIO) -> Iterator[bytes]:
    """The rest of the file in blocks of whole lines (the last line's LF is left out of each block)."""
    carry = b""
    while chunk := handle.read(BLOCK_BYTES):
        data = carry + chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            carry = data
            continue
        carry = data[cut + 1 :]
        yield data[:cut]
    if carry:
        yield carry


def _record(number: int, text: str, valid: bool, header: list[str], delimiter: str) -> tuple[list[str], str | None]:
    """The cells of one line (without its line end) and the reason it cannot be read (None when it can)."""
    cells, problem = split_line(text, delimiter)
    if not valid:
        bad = next((i for i, cell in enumerate(cells) if _UNDECODED.search(cell)), len(cells))
        column = header[bad] if bad < len(header) else "line"
        shown = _show(cells[bad]) if bad < len(cells) else _show(text)
        reason = f"{column}: '{shown}' is not UTF-8 text (line {number}); save the file as UTF-8"
        return [_show(c) for c in cells], reason
    if "\r" in text:
        return cells, f"line_end: line {number} has a carriage return (CR) inside it; lines must end in LF or CRLF"
    if problem:
        return cells, f"quotes: line {number} {problem}"
    if len(cells) != len(header):
        kind = "extra" if len(cells) > len(header) else "missing"
        return cells, f"cells: line {number} has {len(cells)} cells where the header has {len(header)} ({kind} cells)"
    return cells, None


class _Converter:
    """Turns blocks of lines into Arrow tables: plain lines set-wise with Arrow's string kernels, the few
    lines that need a closer look (quotes, a CR, a wrong number of cells, bytes that are not UTF-8) one by one."""

    def __init__(self, header: list[str], keep: dict[str, str], delimiter: str) -> None:
        self.pa = require("pyarrow", "screen")
        self.pc = require("pyarrow.compute", "screen")
        self.header, self.delimiter = header, delimiter
        self.positions = [header.index(column) for column in keep.values()]
        self.schema = self.pa.schema([(name, self.pa.string()) for name in (*keep, LINE_PROBLEM)])
        d = re.escape(delimiter)
        cell = f'(?:"[^"{d}]*"|[^"{d}]*)'
        self.simple = f"^{cell}(?:{d}{cell})*$"

    def table(self, block: bytes, first: int) -> Any:
        """The records of `block`, whose first line is line `first` of the file, in file order."""
        pa, pc = self.pa, self.pc
        undecoded: dict[int, str] = {}
        try:
            whole = pa.array([block.decode("utf-8")], pa.string())
            text = pc.list_flatten(pc.split_pattern(whole, "\n"))
            del whole
        except UnicodeDecodeError:
            lines = []
            for index, raw in enumerate(block.split(b"\n")):
                line, valid = _text(raw)
                if not valid:
                    undecoded[index] = line.removesuffix("\r")
                lines.append(line if valid else "?")
            text = pa.array(lines, pa.string())
            del lines
        has_cr = b"\r" in block
        if has_cr:
            text = pc.if_else(pc.ends_with(text, "\r"), pc.utf8_slice_codeunits(text, 0, -1), text)
        numbers = pa.array(range(first, first + len(text)), pa.int64())
        # A line is read set-wise when it has the header's number of cells, no CR, and each cell is plain or
        # quoted with neither a quote nor the delimiter inside; any other line is read one by one.
        odd = pc.not_equal(pc.count_substring(text, self.delimiter), len(self.header) - 1)
        if has_cr:
            odd = pc.or_(odd, pc.match_substring(text, "\r"))
        if b'"' in block:
            odd = pc.or_(odd, pc.invert(pc.match_substring_regex(text, self.simple)))
        if undecoded:
            odd = pc.or_(odd, pa.array([i in undecoded for i in range(len(text))]))
        keep = pc.not_equal(pc.utf8_length(text), 0)
        text, numbers, odd = pc.filter(text, keep), pc.filter(numbers, keep), pc.filter(odd, keep)
        plain = pc.invert(odd)
        text_plain = pc.filter(text, plain)
        cells = pc.split_pattern(text_plain, self.delimiter)
        empty = pa.scalar(None, pa.string())
        columns = [pc.list_element(cells, position) for position in self.positions]
        if b'"' in block:
            columns = [pc.utf8_trim(c, '"') for c in columns]
        columns = [pc.if_else(pc.equal(c, ""), empty, c) for c in columns]
        parts = [
            pa.Table.from_arrays([*columns, pa.nulls(len(cells), pa.string())], schema=self.schema).append_column(
                "line", pc.filter(numbers, plain)
            )
        ]
        odd_rows = pc.indices_nonzero(odd).to_pylist()
        if odd_rows:
            found: list[list[str | None]] = [[] for _ in range(len(self.positions) + 1)]
            odd_numbers = [numbers[i].as_py() for i in odd_rows]
            for index, number in zip(odd_rows, odd_numbers, strict=True):
                original = number - first
                valid = original not in undecoded
                line = text[index].as_py() if valid else undecoded[original]
                values, problem = _record(number, line, valid, self.header, self.delimiter)
                for column, position in zip(found, self.positions, strict=False):
                    column.append(values[position] or None if position < len(values) else None)
                found[-1].append(problem)
            parts.append(
                pa.Table.from_arrays([pa.array(c, pa.string()) for c in found], schema=self.schema).append_column(
                    "line", pa.array(odd_numbers, pa.int64())
                )
            )
        if len(parts) == 1:
            return parts[0].drop_columns(["line"])
        return pa.concat_tables(parts).sort_by("line").drop_columns(["line"])


def convert_delimited(source: Path, keep: dict[str, str], target: Path) -> int:
    """Write every record of `source` to Parquet `target` (columns: the file columns named by `keep`'s values,
    renamed to its keys, as text, then LINE_PROBLEM), in file order; return the number of records."""
    pq = require("pyarrow.parquet", "screen")
    records = 0
    target.parent.mkdir(parents=True, exist_ok=True)
    with source.open("rb") as handle:
        header, number = _open_header(source, handle)
        convert = _Converter(header, keep, delimiter_of(source))
        with pq.ParquetWriter(str(target), convert.schema) as writer:
            first = number + 1
            for block in _blocks(handle):
                table = convert.table(block, first)
                writer.write_table(table)
                records += table.num_rows
                first += block.count(b"\n") + 1
            if records == 0:
                writer.write_table(convert.schema.empty_table())
    return records
