"""Every command a message suggests exists as written: each ```biodiv ...``` (or
``[bold]biodiv ...[/]``) in the package's strings is walked through the real Typer tree,
subcommands and options included, so a renamed command or option cannot leave a message
pointing at nothing. Suggestions name the installed command (``biodiv``), never a path into
a checkout."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from conftest import REPO

SUGGESTION = re.compile(r"`(biodiv(?: [^`]*)?)`|\[bold\](biodiv [^\[]+)\[/\]|no SQL given: (biodiv sql .+)")


def strings(path: Path) -> list[tuple[int, str, bool]]:
    """(line, text, is_docstring) of every string literal of ``path``, f-strings' literal
    parts included."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = getattr(node, "body", [])
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            out.append((node.lineno, node.value, id(node) in docstrings))
        elif isinstance(node, ast.JoinedStr):   # an f-string: its literal parts, joined
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
            out.append((node.lineno, text, False))
    return out


def suggestions() -> list[tuple[str, str]]:
    """(where, command) for every suggested command in biodiv/**/*.py (messages, help texts
    and docstrings alike). Implicit string concatenation is one literal for ast, so a
    message split over source lines is read whole."""
    found = []
    for path in sorted((REPO / "biodiv").rglob("*.py")):
        for line, text, _ in strings(path):
            for m in SUGGESTION.finditer(text):
                command = next(g for g in m.groups() if g)
                found.append((f"{path.relative_to(REPO)}:{line}", command.strip()))
    return found


def root_command():
    from biodiv.cli.root import command

    return command()


def check(root, command: str) -> str | None:
    """None when ``command`` (``biodiv areas import FILE --type TYPE``) names an existing
    command with existing options, else what is wrong. Words in capitals, quoted text and
    ``{}`` (an f-string's value) are placeholders for arguments."""
    words = command.replace('\\"', '"').split()[1:]
    current = root
    i = 0
    while i < len(words):
        word = words[i]
        if word.startswith("-"):
            name = word.split("=", 1)[0]
            options = {o: p for p in current.params for o in (*p.opts, *p.secondary_opts)}
            if name not in options:
                return f"{current.name} has no option {name}"
            param = options[name]
            if not param.is_flag and not param.count and "=" not in word:
                i += 1   # its value
        elif hasattr(current, "commands") and word in ("…", "..."):   # ``biodiv store …``
            return None if i == len(words) - 1 else f"{word!r} must come last"
        elif hasattr(current, "commands") and "|" in word:   # ``biodiv query list|run``
            missing = [w for w in word.split("|") if w not in current.commands]
            if missing:
                return f"{current.name} has no command {missing[0]!r}"
            return None if i == len(words) - 1 else f"alternatives {word!r} must come last"
        elif hasattr(current, "commands"):
            if word not in current.commands:
                return f"{current.name} has no command {word!r}"
            current = current.commands[word]
        # else: an argument of a command (a value, a placeholder)
        i += 1
    return None


def test_the_checker_catches_what_does_not_exist():
    root = root_command()
    assert check(root, "biodiv areas import FILE --type TYPE") is None
    assert check(root, "biodiv --demo dashboard") is None
    assert check(root, "biodiv --db data/x.duckdb status --json") is None
    assert check(root, "biodiv areas") is None
    assert "no command 'fetchall'" in check(root, "biodiv areas fetchall")
    assert "no option --dmeo" in check(root, "biodiv dashboard --dmeo")
    assert "no command 'serve'" in check(root, "biodiv serve")
    assert check(root, "biodiv query list|run") is None
    assert check(root, "biodiv areas …") is None
    assert "no command 'show'" in check(root, "biodiv query list|show")


def test_messages_are_found():
    found = {c for _, c in suggestions()}
    for expected in ("biodiv demo", "biodiv dashboard --demo", "biodiv init", "biodiv migrate",
                     "biodiv areas import FILE --type commune"):
        assert expected in found


def test_every_suggested_command_exists():
    root = root_command()
    wrong = [f"{where}: `{command}`: {problem}" for where, command in suggestions()
             if (problem := check(root, command)) is not None]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("pattern", [r"\.venv/bin/biodiv", r"python3? -m biodiv\b", r"streamlit run"])
def test_messages_name_the_installed_command(pattern):
    """What a user is told to type works where biodiv is installed (pip, pipx): not a path
    into a checkout, not a script only a checkout has."""
    bad = []
    for path in sorted((REPO / "biodiv").rglob("*.py")):
        for line, text, docstring in strings(path):
            if not docstring and re.search(pattern, text):
                bad.append(f"{path.relative_to(REPO)}:{line}: {text[:80]!r}")
    assert not bad, "\n".join(bad)
