"""Reading a table file (.csv or .xlsx) with named columns, as the roster and the reception rota are: the header
found among the first lines, Chinese or English headers mapped to columns, each data row as values by column name,
and every problem reported with its row and column."""

from __future__ import annotations

import csv
import io
import unicodedata
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from storage.errors import InvalidInput
from storage.exchange.spreadsheets import SUFFIXES, restored

HEADER_SEARCH_ROWS = 10  # a title line or two above the header is common in hand-made spreadsheets
QUOTE_LIMIT = 40  # a bad value is quoted back to the person, cut to this length


@dataclass(frozen=True)
class Column:
    """One column: its canonical English header, its Chinese header, whether the file must have it."""

    name: str
    chinese: str
    required: bool = False

    @property
    def label(self) -> str:
        return f"{self.chinese}/{self.name}"


@dataclass(frozen=True)
class RowProblem:
    """A problem with one cell (or one row) of a table file."""

    row: int  # 1-based spreadsheet row number as the person sees it
    column: str  # the header as written in the file, or the canonical name when the column is missing
    key: str  # catalog key
    params: dict[str, Any] = field(default_factory=dict)

    def message_params(self) -> dict[str, Any]:
        """Everything the catalog message needs: row, column and the problem's own values."""
        return {"row": self.row, "column": self.column, **self.params}


class TableInvalid(InvalidInput):
    """The file has problems; nothing was imported. `problems` lists every one found, in file order; the key is
    the heading said above them ("the roster has 3 problems")."""

    def __init__(self, key: str, problems: Sequence[RowProblem]) -> None:
        super().__init__(key, count=len(problems))
        self.problems: list[RowProblem] = list(problems)


def quoted(value: str) -> str:
    """A bad value as it is quoted back: cut to QUOTE_LIMIT characters."""
    return value if len(value) <= QUOTE_LIMIT else value[: QUOTE_LIMIT - 1] + "…"


@dataclass
class RowReader:
    """One data row's cells by column name, and the problems found in them, each said at its header as written."""

    number: int
    values: dict[str, str]
    headers: dict[str, str]
    problems: list[RowProblem] = field(default_factory=list)

    def problem(self, name: str, key: str, **params: Any) -> None:
        self.problems.append(RowProblem(self.number, self.headers.get(name, name), key, params))

    def required(self, name: str) -> str:
        value = self.values.get(name, "")
        if not value:
            self.problem(name, "roster.error.required")
        return value

    def limited(self, name: str, limit: int) -> str:
        value = self.values.get(name, "")
        if len(value) > limit:
            self.problem(name, "roster.error.too_long", max=limit)
        return value

    def choice(self, name: str, options: dict[str, Any], default: Any, *, key: str = "") -> Any:
        """One of the accepted values (compared case-folded), or the default when the cell is empty; another value
        is the problem `key` (by default roster.error.<name>)."""
        value = self.values.get(name, "")
        if not value:
            return default
        folded = unicodedata.normalize("NFKC", value).strip().casefold()
        if folded not in options:
            self.problem(name, key or f"roster.error.{name}", value=quoted(value))
            return default
        return options[folded]


@dataclass
class Table:
    """A file as read: where its header is, the columns it has (canonical name -> header as written), its data rows
    (spreadsheet row number, values by canonical name; blank rows left out) and the header's problems."""

    header_row: int
    present: dict[str, str]
    rows: list[tuple[int, dict[str, str]]]
    problems: list[RowProblem]

    @property
    def columns(self) -> frozenset[str]:
        return frozenset(self.present)


def read_table(path: Path, columns: Sequence[Column]) -> Table:
    """Read a .csv or .xlsx file against `columns`: raises InvalidInput for a file that cannot be read, has another
    format, or lacks a required header; a column written twice is a problem of the header row. Columns not listed
    (序号, 备注 ...) are allowed and ignored."""
    if path.suffix.lower() not in SUFFIXES:
        raise InvalidInput("roster.error.format", file=path.name, extension=path.suffix or "-")
    lines = _read_csv(path) if path.suffix.lower() == ".csv" else _read_xlsx(path)
    header_row, headers = _find_header(lines, path, columns)
    problems: list[RowProblem] = []
    present: dict[str, str] = {}
    positions: dict[str, int] = {}
    for index, written in enumerate(headers):
        column = _column_for(written, columns)
        if column is None:
            continue
        if column.name in present:
            first = {"first": present[column.name]}
            problems.append(RowProblem(header_row, written.strip(), "roster.error.duplicate_column", first))
            continue
        present[column.name] = written.strip()
        positions[column.name] = index
    rows: list[tuple[int, dict[str, str]]] = []
    for number, cells in lines:
        if number <= header_row:
            continue
        values = {name: cells[index].strip() if index < len(cells) else "" for name, index in positions.items()}
        if any(values.values()):
            rows.append((number, values))
    return Table(header_row, present, rows, problems)


def sort_problems(problems: list[RowProblem], present: dict[str, str], columns: Sequence[Column]) -> list[RowProblem]:
    """By row, then by the column's place in the file's format."""
    order = {column.name: index for index, column in enumerate(columns)}
    position = {written: order[name] for name, written in present.items()}
    return sorted(
        problems, key=lambda problem: (problem.row, position.get(problem.column, order.get(problem.column, 99)))
    )


def _column_for(header: str, columns: Sequence[Column]) -> Column | None:
    wanted = unicodedata.normalize("NFKC", header).strip().casefold()
    return next((column for column in columns if wanted in (column.name, column.chinese)), None)


def _find_header(lines: list[tuple[int, list[str]]], path: Path, columns: Sequence[Column]) -> tuple[int, list[str]]:
    """The first line (of the first few) that has every required header."""
    required = [column for column in columns if column.required]
    first: list[str] | None = None
    for number, cells in lines[:HEADER_SEARCH_ROWS]:
        if first is None and any(cells):
            first = cells
        found = {column.name for cell in cells if (column := _column_for(cell, columns)) is not None}
        if all(column.name in found for column in required):
            return number, cells
    found = {column.name for cell in first or [] if (column := _column_for(cell, columns)) is not None}
    missing = [column.label for column in required if column.name not in found]
    raise InvalidInput("roster.error.missing_header", file=path.name, columns=", ".join(missing))


def _read_csv(path: Path) -> list[tuple[int, list[str]]]:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InvalidInput("roster.error.unreadable", file=path.name) from error
    # UTF-8 with or without a byte order mark; else GB18030, a superset of the GBK that Excel on Chinese
    # Windows saves "CSV" in.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        break
    else:
        raise InvalidInput("roster.error.unreadable", file=path.name)
    try:
        # Numbered by record, not by line: a quoted cell with a line break is still one spreadsheet row.
        rows = enumerate(csv.reader(io.StringIO(text, newline="")), 1)
        return [(number, [restored(cell) for cell in cells]) for number, cells in rows]
    except csv.Error as error:
        raise InvalidInput("roster.error.unreadable", file=path.name) from error


def _read_xlsx(path: Path) -> list[tuple[int, list[str]]]:
    import openpyxl  # loaded for spreadsheets only: it costs every command start-up time
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (OSError, zipfile.BadZipFile, KeyError, ValueError, InvalidFileException) as error:
        raise InvalidInput("roster.error.unreadable", file=path.name) from error
    try:
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()  # some programs write a wrong sheet size, which would cut rows or columns
        lines: list[tuple[int, list[str]]] = []
        for number, values in enumerate(sheet.iter_rows(min_row=1, values_only=True), 1):
            lines.append((number, [_text(value) for value in values]))
        return lines
    finally:
        workbook.close()


def _text(value: object) -> str:
    """A cell as text: Excel keeps phone numbers and codes typed as numbers as int or float."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
