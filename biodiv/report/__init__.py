"""Print and share: A4 sheets (territory, commune, Natura 2000 site, species), the atlas
booklet, maps and key-figure cards as images, all public unless asked otherwise.

:mod:`~biodiv.report.sheets` gathers a sheet's figures through the dashboard's own queries;
:mod:`~biodiv.report.svgmap` draws maps as SVG; :mod:`~biodiv.report.render` turns them
into HTML, PDF (WeasyPrint) and PNG (vl-convert). ``biodiv report`` is the command line's
mirror (:mod:`biodiv.cli.report`).
"""
