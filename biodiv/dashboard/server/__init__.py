"""The dashboard's server plumbing, apart from its pages: Streamlit's own server with
middlewares (:mod:`.serve`, :mod:`.entry`, :mod:`.compress`), the offline Leaflet files
(:mod:`.assets`) and the headless Chromium driver of the tests and benchmarks (:mod:`.browser`)."""
