"""Fiche commune: one sheet per commune of the territory (``?commune=<INSEE code>``)."""

from biodiv.dashboard.sheets import area_sheet

area_sheet(("commune",), "Fiche commune", "Commune",
           "Les communes du territoire ne sont pas encore chargées : lancez `biodiv areas fetch` "
           "(ou `biodiv update`), puis rechargez la page.", kind="commune")
