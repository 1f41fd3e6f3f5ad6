"""Writing tables to .csv or .xlsx files that open cleanly in Excel on Chinese Windows."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from pathlib import Path

import openpyxl

SUFFIXES = (".csv", ".xlsx")


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
                csv.writer(handle).writerows(lines)
        else:
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
