"""CSV for scripts and spreadsheets.

Two dialects, one set of columns (:data:`~biodiv.analysis.exports.select.TABLE_COLUMNS`,
named after iNaturalist's own CSV export where they mean the same thing):

* ``standard``: ``,``-separated UTF-8 without BOM, decimal point (pandas, R, DuckDB);
* ``spreadsheet``: what a French spreadsheet (LibreOffice, Excel in French) opens without an
  import dialog: ``;``-separated, UTF-8 with a BOM, decimal comma. Same separator and
  encoding as the dashboard's species CSV.

Instants are text that does not depend on the host: the observation time in the
observation's own zone with its offset (``2018-09-05T00:30:00+02:00``), record times in UTC.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from biodiv.analysis.exports.select import table_frame, text_times

DIALECTS = ("standard", "spreadsheet")


def write(obs: pd.DataFrame, tmp: Path, dialect: str = "standard") -> None:
    table = pa.Table.from_pandas(text_times(table_frame(obs), obs), preserve_index=False)
    delimiter = ","
    if dialect == "spreadsheet":
        delimiter = ";"
        for i, fld in enumerate(table.schema):
            if pa.types.is_floating(fld.type):
                text = pc.replace_substring(pc.cast(table.column(i), pa.string()), ".", ",")
                table = table.set_column(i, fld.name, text)
    with open(tmp, "wb") as fh:
        if dialect == "spreadsheet":
            fh.write("\ufeff".encode("utf-8"))
        fh.write((delimiter.join(table.column_names) + "\n").encode("utf-8"))   # names need no quotes
        pacsv.write_csv(table, fh, pacsv.WriteOptions(include_header=False, delimiter=delimiter,
                                                      quoting_style="needed"))
