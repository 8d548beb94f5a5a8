-- 007: TAXREF, the French national taxonomic reference (`biodiv refs import TAXREFvNN.txt`).
-- One row per TAXREF name (CD_NOM): the accepted name of a taxon has CD_NOM = CD_REF, its
-- synonyms point to the same CD_REF. Each iNaturalist taxon is linked to one CD_NOM/CD_REF
-- by normalised name (macro name_key of 003), within its kingdom; a name shared by several
-- TAXREF taxa is recorded as ambiguous with its candidates, never guessed.
CREATE TABLE taxref (
    cd_nom       INTEGER PRIMARY KEY,
    cd_ref       INTEGER NOT NULL,
    lb_nom       VARCHAR NOT NULL,           -- the name without author
    lb_auteur    VARCHAR,
    nom_valide   VARCHAR,                    -- accepted name of cd_ref, with author
    nom_vern     VARCHAR,                    -- French vernacular name(s)
    rang         VARCHAR,                    -- ES, SSES, GN, FAM...
    regne        VARCHAR,                    -- Animalia, Plantae, Fungi, Chromista...
    classe       VARCHAR,
    ordre        VARCHAR,
    famille      VARCHAR,
    group1_inpn  VARCHAR,                    -- Chordés, Arthropodes, Trachéophytes...
    group2_inpn  VARCHAR,                    -- Oiseaux, Amphibiens, Angiospermes...
    fr           VARCHAR,                    -- status in metropolitan France (P, E, S, ...)
    name_key     VARCHAR NOT NULL            -- name_key(lb_nom)
);

-- How each iNaturalist taxon was linked to TAXREF (rewritten on every import and harvest).
--   status 'matched': one TAXREF taxon (through its accepted name, else through one synonym);
--   status 'ambiguous': the name belongs to several TAXREF taxa (candidates: their CD_REF).
CREATE TABLE taxon_taxref (
    taxon_id     BIGINT PRIMARY KEY,
    status       VARCHAR NOT NULL,           -- matched, ambiguous
    via          VARCHAR,                    -- accepted, synonym
    cd_nom       INTEGER,                    -- the TAXREF name matched
    cd_ref       INTEGER,                    -- its accepted taxon
    candidates   INTEGER[],                  -- CD_REFs when ambiguous
    taxon_name   VARCHAR
);

-- The TAXREF link of each matched taxon, with the accepted name, the French name and the INPN
-- groups of its CD_REF: join it to v_observations or v_species on taxon_id.
CREATE VIEW v_taxon_taxref AS
SELECT m.taxon_id, CAST(m.cd_nom AS VARCHAR) AS cd_nom, CAST(m.cd_ref AS VARCHAR) AS cd_ref,
       m.via, coalesce(r.lb_nom, n.lb_nom) AS taxref_name, coalesce(r.nom_valide, n.nom_valide) AS nom_valide,
       coalesce(r.nom_vern, n.nom_vern) AS taxref_vernacular,
       coalesce(r.group1_inpn, n.group1_inpn) AS group1_inpn, coalesce(r.group2_inpn, n.group2_inpn) AS group2_inpn,
       coalesce(r.rang, n.rang) AS taxref_rank, coalesce(r.regne, n.regne) AS regne,
       coalesce(r.classe, n.classe) AS classe, coalesce(r.ordre, n.ordre) AS ordre,
       coalesce(r.famille, n.famille) AS famille
FROM taxon_taxref m
JOIN taxref n ON n.cd_nom = m.cd_nom                 -- the name matched
LEFT JOIN taxref r ON r.cd_nom = m.cd_ref            -- its accepted name (always there in TAXREF)
WHERE m.status = 'matched';
