"""Fiche site Natura 2000 (and any other non-commune area type loaded): ``?site=<code>``."""

from biodiv.dashboard import data, ui
from biodiv.dashboard.sheets import area_sheet

_db = ui.open_db()
_types = tuple(t for t in ui.q(_db, data.area_types_present) if t != "commune") or ("n2000_zsc", "n2000_zps")
area_sheet(_types, "Fiche site Natura 2000", "Site ou zonage",
           "Aucun site Natura 2000 n'est chargé : importez-les avec les commandes `biodiv areas`.", kind="site")
