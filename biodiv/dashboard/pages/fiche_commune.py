"""Fiche commune: one sheet per commune of the territory."""

from biodiv.dashboard.sheets import area_sheet

area_sheet(("commune",), "Fiche commune", "Commune",
           "Aucune commune du territoire n'est chargée : lancez `biodiv init`.")
