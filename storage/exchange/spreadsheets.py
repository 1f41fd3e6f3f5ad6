"""Writing tables to .csv or .xlsx files that open cleanly in Excel on Chinese Windows."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from pathlib import Path

SUFFIXES = (".csv", ".xlsx")


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def defused(cell: str) -> str:
    """A cell Excel would run as a formula (a resident's note starting with "=") is kept as text with a quote."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def restored(cell: str) -> str:
    """The cell as it was before `defused`, when a file this module wrote is read back."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS) else cell


def write_table(path: Path, lines: Iterable[list[str]], *, sheet_title: str) -> None:
    """Write next to `path` and rename, so a failed export never leaves half a file under the real name."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"unsupported table format {suffix!r}")
    partial = path.with_name(f".{path.name}.partial")
    try:
        if suffix == ".csv":
            # The byte order mark makes Excel on Chinese Windows read the file as UTF-8.
            with partial.open("w", encoding="utf-8-sig", newline="") as handle:
                csv.writer(handle).writerows([defused(cell) for cell in line] for line in lines)
        else:
            import openpyxl  # loaded for spreadsheets only: it costs every command start-up time

            workbook = openpyxl.Workbook()
            sheet = workbook.active
            sheet.title = sheet_title
            for values in lines:
                sheet.append(values)
            for cells in sheet.iter_rows():
                for cell in cells:
                    cell.data_type = "s"  # text, never a formula: a name starting with "=" stays a name
            workbook.save(partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
