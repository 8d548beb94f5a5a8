"""Every CLI command is documented: each full command path (``biodiv query run``,
``biodiv areas import``...) found by walking the typer/click tree must appear in the
documentation (README.md or docs/*.md)."""

from __future__ import annotations

import typer

from conftest import REPO


def command_paths() -> list[str]:
    from biodiv.cli.root import _register, app

    names = {c.name for c in app.registered_commands} | {g.name for g in app.registered_groups}
    if "sql" not in names:  # _register() adds every area's commands once per process
        _register()
    root = typer.main.get_command(app)
    paths = []

    def walk(cmd, path: str) -> None:
        if hasattr(cmd, "commands"):  # a group (typer may vendor its own click)
            for name, sub in sorted(cmd.commands.items()):
                if not sub.hidden:
                    walk(sub, f"{path} {name}")
        else:
            paths.append(path)

    walk(root, "biodiv")
    return paths


def test_the_command_tree_is_walked():
    paths = command_paths()
    for expected in ("biodiv query list", "biodiv query run", "biodiv sql", "biodiv export",
                     "biodiv refs import", "biodiv refs fetch"):
        assert expected in paths


def test_every_command_is_documented():
    docs = "\n".join(p.read_text(encoding="utf-8") for p in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))])
    missing = [p for p in command_paths() if p not in docs]
    assert not missing, f"commands missing from README.md and docs/: {', '.join(missing)}"
