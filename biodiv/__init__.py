"""biodiv: citizen biodiversity observations (iNaturalist) turned into maps, figures and SQL
for a French territory. Library first; the ``biodiv`` CLI and the Streamlit app are thin
layers over it."""

__version__ = "0.1.0"
