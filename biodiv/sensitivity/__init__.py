"""Sensitive species: the SINP sensitivity levels, applied to every public output.

:mod:`.referential` reads the national and regional referentials (pure), :mod:`.rules` decides
an observation's level (pure), :mod:`.levels` stores the levels and keeps them current, and
:mod:`.public` is the one door every public output (dashboard in public mode, Mode atelier,
``biodiv export --public``) goes through. docs/sensibilite.md is the officer's guide.
"""
