"""GeoNature / SINP: the CSV that GeoNature's import module reads into its synthesis.

Why this layout: French regional platforms (SINP) run GeoNature, whose import module maps a
``;``-separated UTF-8 CSV onto ``gn_synthese.synthese``. The columns are exactly those of
GeoNature's own synthesis import test file (``COLUMNS``, checked against
``../shared/data/sinp/geonature_synthese_columns.txt``); nomenclature columns hold French
labels, as in that file ("Terrain", "Présent", "Non"...). docs/exports.md says which column
comes from where.

What is never invented: a taxon without a TAXREF link (``biodiv refs import TAXREFvNN.txt``)
has no ``cd_nom``, and a private record has no geometry, so both are left out, counted, and
the taxa are listed in a side file; nomenclatures that iNaturalist does not tell
(life stage, sex, count) are left empty, so GeoNature applies its defaults.

Sensitivity: ``niveau_sensibilite`` is the SINP level biodiv computed from the imported
referential (biodiv.sensitivity; GeoNature recomputes its own on import), and in a public
export a sensitive record is blurred (``niveau_precision_diffusion``, ``floutage_dee``): its
geometry is its 10 km cell (level 2) or its commune (level 1), and a level-3 record, which has
no place finer than the department, is left out and counted.

Obscured records (iNaturalist's 0.2° cell, not the SINP 10 km « Maille »): the geometry is the
cell itself, its centre the centroid, « Inventoriel » its nature (the observation is somewhere
inside), « Précise » its diffusion level (the geometry is diffused as it is) and ``communes``
the communes the cell overlaps when it lies in no single one. Times (``date_creation``,
``date_modification``) are local times of the record's zone, as GeoNature stores them. The
observer's notes follow the iNaturalist link in ``comment_occurrence`` when the export keeps
free text (private, or ``--free-text``).

Deletions: :func:`deletions` lists the observations removed upstream (since a date), with
their ``id_origine``, ``uuid_perm_sinp`` and removal date, for the administrator to delete
them from GeoNature too.
"""

from __future__ import annotations

import csv
import io
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

from biodiv.analysis.exports.select import local_iso
from biodiv.attach.precision import OBSCURED_CELL_DEG as CELL_DEG
from biodiv.sensitivity.rules import DIFFUSION_FR

COLUMNS = (
    "id_synthese;id_origine;comment_releve;comment_occurrence;date_debut;date_fin;heure_debut;heure_fin;"
    "cd_nom;cd_ref;nom_valide;nom_vernaculaire;nom_cite;regne;group1_inpn;group2_inpn;classe;ordre;famille;"
    "rang_taxo;nombre_min;nombre_max;alti_min;alti_max;prof_min;prof_max;observateurs;determinateur;communes;"
    "geometrie_wkt_4326;x_centroid_4326;y_centroid_4326;nom_lieu;validateur;niveau_validation;date_validation;"
    "comment_validation;preuve_numerique_url;preuve_non_numerique;jdd_nom;jdd_uuid;jdd_id;ca_nom;ca_uuid;ca_id;"
    "cd_habref;cd_habitat;nom_habitat;precision_geographique;nature_objet_geo;type_regroupement;"
    "methode_regroupement;technique_observation;biologique_statut;etat_biologique;biogeographique_statut;"
    "naturalite;preuve_existante;niveau_precision_diffusion;stade_vie;sexe;objet_denombrement;"
    "type_denombrement;niveau_sensibilite;statut_observation;floutage_dee;statut_source;type_info_geo;"
    "methode_determination;comportement;reference_biblio;uuid_perm_sinp;uuid_perm_grp_sinp;date_creation;"
    "date_modification"
).split(";")

# Nomenclature labels (GeoNature's ref_nomenclatures, label_default), the values biodiv knows.
STATUT_SOURCE = "Terrain"                               # STATUT_SOURCE Te: field observation
STATUT_OBSERVATION = "Présent"                          # STATUT_OBS Pr
METHODE_DETERMINATION = "Autre méthode de détermination"  # METH_DETERMIN 2: community identification on photos/sounds
NIVEAU_VALIDATION = "En attente de validation"          # STATUT_VALID: iNaturalist grades are not SINP validation
TYPE_INFO_GEO = "Géoréférencement"                      # TYP_INF_GEO 1: the point itself
TYPE_REGROUPEMENT = "OBS"                               # TYP_GRP OBS: one observation
FLOU_OUI, FLOU_NON = "Oui", "Non"                       # DEE_FLOU
PRECIS_PRECISE, PRECIS_MAILLE = "Précise", "Maille"     # NIV_PRECIS 5 / 2 (Maille: the SINP 10 km cell)
PRECIS_COMMUNE = "Commune"                              # NIV_PRECIS 1: a sensitive record at level 1
NATURE_INVENTORIEL = "Inventoriel"                      # NAT_OBJ_GEO In: somewhere inside the geometry
NATURALITE = {False: "Sauvage", True: "Cultivé/élevé"}  # NATURALITE 1 / 2
PREUVE_OUI = "Oui"                                      # PREUVE_EXIST 1: a photo on iNaturalist

_UUID_NAMESPACE = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")  # RFC 4122 URL namespace


def _uuid(value, url: str) -> str:
    """The iNaturalist uuid; a stable uuid derived from the observation URL when it is not one."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return str(uuid.uuid5(_UUID_NAMESPACE, url))


def _fmt_number(v) -> str:
    if v is None or pd.isna(v):
        return ""
    f = float(v)
    return str(int(f)) if f.is_integer() else repr(round(f, 7))


def selection_gaps(obs: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(rows without a TAXREF link, rows without coordinates nor blurred geometry): both are left out."""
    no_taxref = obs["cd_nom"].isna()
    no_place = (obs["lat"].isna() | obs["lon"].isna()) & _optional_col(obs, "blurred_wkt").isna()
    return no_taxref, no_place & ~no_taxref


def _optional_col(obs: pd.DataFrame, name: str) -> pd.Series:
    return obs[name] if name in obs else pd.Series(None, index=obs.index, dtype=object)


def synthese_frame(obs: pd.DataFrame, dataset: dict, public_mode: bool) -> pd.DataFrame:
    """One row per exportable observation, the :data:`COLUMNS` as text (pure)."""
    n = len(obs)
    idx = obs.index
    empty = pd.Series([""] * n, index=idx, dtype=object)
    local = local_iso(obs["observed_at"], obs["zone"])
    date = obs["observed_on"].map(lambda d: d.isoformat() if d is not None and not pd.isna(d) else "")
    hour = local.map(lambda s: s[11:19] if isinstance(s, str) else "")
    ids = obs["id"].astype("int64").astype(str)
    url = obs["uri"].where(obs["uri"].fillna("") != "", "https://www.inaturalist.org/observations/" + ids)
    ref = _optional_col(obs, "occurrence_ref")         # a blurred sensitive record: no iNaturalist link
    blurred = ref.notna()
    ids = ids.where(~blurred, ref)
    url = url.where(~blurred, ref)
    level = obs["sensitivity_level"].fillna(0).astype(int) if "sensitivity_level" in obs else pd.Series(0, index=idx)
    obscured = obs["obscured"].fillna(False).astype(bool) | blurred
    people = empty if public_mode else obs.get("user_name", empty).where(
        obs.get("user_name", empty).fillna("").astype(str) != "", obs.get("user_login", empty)).fillna("")
    determiner = empty if public_mode else obs.get("identified_by", empty).fillna("")
    photo = obs["photo_url"].fillna("").astype(str) != ""
    captive = obs["captive"].astype("boolean")
    grade = obs["quality_grade"].fillna("").astype(str)
    created, modified = local_time(obs["created_at"], obs["zone"]), local_time(obs["updated_at"], obs["zone"])
    lon, lat = obs["lon"].map(_fmt_number), obs["lat"].map(_fmt_number)
    wkt = ("POINT(" + lon + " " + lat + ")").where(lon != "", "")
    # an obscured record: iNaturalist's 0.2° cell (what is known), its centre as centroid
    cell = _optional_col(obs, "cell_wkt").where(~blurred, None)
    in_cell = cell.notna()
    if in_cell.any():
        x0 = np.floor((obs["lon"].astype(float) / CELL_DEG).round(9)) * CELL_DEG
        y0 = np.floor((obs["lat"].astype(float) / CELL_DEG).round(9)) * CELL_DEG
        lon = lon.where(~in_cell, (x0 + CELL_DEG / 2).round(6).map(_fmt_number))
        lat = lat.where(~in_cell, (y0 + CELL_DEG / 2).round(6).map(_fmt_number))
        wkt = wkt.where(~in_cell, cell)
    shape = _optional_col(obs, "blurred_wkt")        # level 1: the commune; level 2: the 10 km cell
    wkt = wkt.where(shape.isna(), shape)
    # the SINP "Maille" is the 10 km grid cell: only a sensitive record blurred to it (level 2);
    # an obscured record is diffused as its geometry says (the 0.2° cell itself, « Précise »)
    precision = pd.Series(PRECIS_PRECISE, index=idx).where(~(blurred & (level == 2)), PRECIS_MAILLE).where(
        ~(blurred & (level == 1)), PRECIS_COMMUNE)
    communes = obs["commune_name"].where(obs["commune_name"].notna(), _optional_col(obs, "cell_communes"))
    notes = _optional_col(obs, "description").map(
        lambda t: " ".join(str(t).split()) if isinstance(t, str) and t.strip() else None)
    comment = ("Observation iNaturalist " + url + " (qualité : " + grade + ")").where(
        ~blurred, "Observation iNaturalist, donnée sensible floutée (qualité : " + grade + ")")
    comment = comment.where(notes.isna(), comment + ". Remarques de l'observateur : " + notes.fillna(""))
    values = {
        "id_origine": ids,
        "comment_occurrence": comment,
        "date_debut": date, "date_fin": date, "heure_debut": hour, "heure_fin": hour,
        "cd_nom": obs["cd_nom"], "cd_ref": obs["cd_ref"],
        "nom_valide": obs["nom_valide"].fillna(obs["taxref_name"]), "nom_vernaculaire": obs.get("taxref_vernacular", empty),
        "nom_cite": obs["scientific_name"], "regne": obs.get("regne", obs["kingdom_name"]),
        "group1_inpn": obs.get("group1_inpn", empty), "group2_inpn": obs["group2_inpn"],
        "classe": obs["class_name"], "ordre": obs["order_name"], "famille": obs["family_name"],
        "rang_taxo": obs.get("taxref_rank", empty),
        "observateurs": people, "determinateur": determiner, "communes": communes,
        "geometrie_wkt_4326": wkt,
        "x_centroid_4326": lon, "y_centroid_4326": lat, "nom_lieu": obs["place_guess"],
        "niveau_validation": pd.Series(NIVEAU_VALIDATION, index=idx),
        "preuve_numerique_url": url.where(photo, ""),
        "jdd_nom": dataset.get("jdd_nom") or "", "jdd_uuid": dataset.get("jdd_uuid") or "",
        "ca_nom": dataset.get("ca_nom") or "", "ca_uuid": dataset.get("ca_uuid") or "",
        "precision_geographique": obs["coordinate_uncertainty_m"].map(
            lambda v: "" if pd.isna(v) else str(int(round(v)))),
        "type_regroupement": pd.Series(TYPE_REGROUPEMENT, index=idx),
        "nature_objet_geo": pd.Series("", index=idx).where(~in_cell, NATURE_INVENTORIEL),
        "naturalite": captive.map(NATURALITE).astype(object).where(captive.notna(), ""),
        "preuve_existante": pd.Series(PREUVE_OUI, index=idx).where(photo, ""),
        "niveau_precision_diffusion": precision,
        "niveau_sensibilite": level.map(DIFFUSION_FR),
        "statut_observation": pd.Series(STATUT_OBSERVATION, index=idx),
        "floutage_dee": pd.Series(FLOU_NON, index=idx).where(~obscured, FLOU_OUI),
        "statut_source": pd.Series(STATUT_SOURCE, index=idx),
        "type_info_geo": pd.Series(TYPE_INFO_GEO, index=idx),
        "methode_determination": pd.Series(METHODE_DETERMINATION, index=idx),
        "uuid_perm_sinp": [_uuid(u, l) for u, l in zip(obs["uuid"], url)],
        "date_creation": created, "date_modification": modified,
    }
    frame = pd.DataFrame({c: values.get(c, empty) for c in COLUMNS}, index=idx)
    return frame.fillna("").astype(str).replace({"nan": "", "None": "", "<NA>": ""})


def local_time(utc: pd.Series, zones: pd.Series) -> pd.Series:
    """'YYYY-MM-DD HH:MM:SS' in each record's zone (GeoNature stores local times without a
    zone, ``timestamp without time zone``); '' where missing."""
    text = local_iso(utc, zones)
    return text.map(lambda s: s[:19].replace("T", " ") if isinstance(s, str) else "")


def unmatched_taxa(obs: pd.DataFrame) -> pd.DataFrame:
    """The taxa of the left-out records without a TAXREF link, most observed first (records
    without a taxon at all are counted apart: there is no taxon to link)."""
    no_taxref, _ = selection_gaps(obs)
    sub = obs[no_taxref & obs["taxon_id"].notna()]
    return (sub.groupby(["taxon_id", "scientific_name"], dropna=False).size().rename("n_observations")
            .reset_index().sort_values(["n_observations", "scientific_name"], ascending=[False, True]))


def write(obs: pd.DataFrame, tmp: Path, dataset: dict, public_mode: bool) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Write the synthesis CSV to ``tmp``; returns (rows written, unmatched taxa, notes)."""
    no_taxref, no_place = selection_gaps(obs)
    kept = obs[~no_taxref & ~no_place]
    frame = synthese_frame(kept, dataset, public_mode) if len(kept) else pd.DataFrame(columns=COLUMNS)
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=";", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(COLUMNS)
    writer.writerows(frame.itertuples(index=False, name=None))
    tmp.write_text(buf.getvalue(), encoding="utf-8")
    notes = []
    no_taxon = no_taxref & obs["taxon_id"].isna()
    if (no_taxref & ~no_taxon).any():
        notes.append(f"{int((no_taxref & ~no_taxon).sum())} record(s) left out: their taxon has no TAXREF link "
                     "(biodiv refs import TAXREFvNN.txt; the taxa are listed beside the export)")
    if no_taxon.any():
        notes.append(f"{int(no_taxon.sum())} record(s) left out: no taxon (not identified yet)")
    if no_place.any():
        sensitive = no_place & (_optional_col(obs, "occurrence_ref").notna())
        if (no_place & ~sensitive).any():
            notes.append(f"{int((no_place & ~sensitive).sum())} record(s) left out: no coordinates (private geoprivacy)")
        if sensitive.any():
            notes.append(f"{int(sensitive.sum())} sensitive record(s) left out: published at the department level "
                         "only (SINP level 3), no geometry GeoNature can take")
    if not dataset.get("jdd_uuid"):
        notes.append("no [exports] jdd_uuid in the configuration: choose the dataset in GeoNature's import")
    return frame, unmatched_taxa(obs), notes


DELETION_COLUMNS = ["id_origine", "uuid_perm_sinp", "date_suppression"]


def deletions(con, since=None) -> pd.DataFrame:
    """Observations removed upstream (deleted on iNaturalist, or gone from the harvest) since
    ``since`` (a date in Paris time, whatever the host's zone; None: all), oldest removal first: the identifiers the export gave them
    and the removal's local date-time (Europe/Paris: the SINP's)."""
    rows = con.execute(
        """SELECT id, uuid, uri, timezone('UTC', removed_at) AS removed FROM observations
           WHERE removed_at IS NOT NULL
             AND ($since IS NULL OR CAST(timezone('Europe/Paris', removed_at) AS DATE) >= CAST($since AS DATE))
           ORDER BY removed_at, id""", {"since": since}).df()
    if rows.empty:
        return pd.DataFrame(columns=DELETION_COLUMNS)
    ids = rows["id"].astype("int64").astype(str)
    url = rows["uri"].where(rows["uri"].fillna("") != "", "https://www.inaturalist.org/observations/" + ids)
    removed = pd.to_datetime(rows["removed"]).dt.tz_localize("UTC")
    return pd.DataFrame({
        "id_origine": ids,
        "uuid_perm_sinp": [_uuid(u, l) for u, l in zip(rows["uuid"], url)],
        "date_suppression": local_time(removed, pd.Series("Europe/Paris", index=rows.index)),
    })
