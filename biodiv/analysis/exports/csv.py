"""CSV for scripts and spreadsheets.

Two dialects, one set of columns (:data:`~biodiv.analysis.exports.select.TABLE_COLUMNS`,
named after iNaturalist's own CSV export where they mean the same thing):

* ``standard``: ``,``-separated UTF-8 without BOM, decimal point (pandas, R, DuckDB);
* ``spreadsheet``: what a French spreadsheet (LibreOffice, Excel in French) opens without an
  import dialog: ``;``-separated, UTF-8 with a BOM, decimal comma, dates and times as it
  recognises them (``05/09/2018``, ``05/09/2018 00:30:00``: the observation's local time,
  record times in Paris time), booleans « oui » / « non ». Same separator and encoding as
  the dashboard's species CSV.

In the standard dialect, instants are text that does not depend on the host: the
observation time in the observation's own zone with its offset
(``2018-09-05T00:30:00+02:00``), record times in UTC.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from biodiv.analysis.exports.select import local_iso, table_frame, text_times

DIALECTS = ("standard", "spreadsheet")


def spreadsheet_frame(obs: pd.DataFrame) -> pd.DataFrame:
    """The table as a French spreadsheet reads it: dd/mm/yyyy dates, local date-times without
    offset (the observation's own zone; record times in Paris time), « oui » / « non »."""
    table = table_frame(obs)
    if "observed_on" in table:
        table["observed_on"] = pd.array([d.strftime("%d/%m/%Y") if d is not None and d == d else None
                                         for d in table["observed_on"].tolist()], dtype="string")
    if "time_observed_at" in table:
        local = local_iso(obs["observed_at"], obs["zone"])
        table["time_observed_at"] = pd.array([f"{t[8:10]}/{t[5:7]}/{t[:4]} {t[11:19]}" if isinstance(t, str) else None
                                              for t in local], dtype="string")
    for col in ("created_at", "updated_at"):
        if col in table:
            paris = pd.to_datetime(obs[col], utc=True).dt.tz_convert("Europe/Paris")
            table[col] = pd.array(paris.dt.strftime("%d/%m/%Y %H:%M:%S").where(paris.notna(), None), dtype="string")
    for col in table.columns:
        if str(table[col].dtype) == "boolean":
            table[col] = pd.array([None if v is pd.NA else ("oui" if v else "non") for v in table[col]], dtype="string")
    return table


def write(obs: pd.DataFrame, tmp: Path, dialect: str = "standard") -> None:
    frame = spreadsheet_frame(obs) if dialect == "spreadsheet" else text_times(table_frame(obs), obs)
    table = pa.Table.from_pandas(frame, preserve_index=False)
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
