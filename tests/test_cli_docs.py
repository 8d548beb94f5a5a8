"""The command line documents itself completely, and its help reads whole:

* every command of the real Typer tree has its section in docs/commands.md, and every
  option of the command (each spelling: ``--progress`` and ``--no-progress``) appears in
  that section (the global options in the ``biodiv`` section);
* ``--help`` shows no ``<bool>`` placeholder after a flag, every option's help text whole,
  every command's summary whole in its group's listing, and a command quoted in a help
  text on one line, even in a narrow terminal."""

from __future__ import annotations

import re

import pytest

from conftest import REPO

COMMANDS_MD = REPO / "docs" / "commands.md"


def tree():
    """[(path, click command, parent path)] of the real command tree, root first."""
    from biodiv.cli.root import command

    out = []

    def walk(cmd, path, parent):
        out.append((path, cmd, parent))
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            if not sub.hidden:
                walk(sub, f"{path} {name}", path)

    walk(command(), "biodiv", None)
    return out


def sections(markdown: str) -> dict[str, str]:
    """Heading's command path (`` ## `biodiv query run` ``) -> the text until the next
    heading of the same or a higher level."""
    found = {}
    heads = list(re.finditer(r"^(#+) `(biodiv[^`]*)`.*$", markdown, re.M))
    for i, h in enumerate(heads):
        level = len(h.group(1))
        end = next((n.start() for n in heads[i + 1:] if len(n.group(1)) <= level), len(markdown))
        found[h.group(2)] = markdown[h.end():end]
    return found


def option_names(cmd) -> list[str]:
    return [o for p in cmd.params if p.param_type_name == "option" and p.name != "help"
            for o in (*p.opts, *p.secondary_opts) if o.startswith("--")]


def test_sections_are_read():
    found = sections(COMMANDS_MD.read_text(encoding="utf-8"))
    assert "--epci-file" in found["biodiv init"] and "--epci-file" not in found["biodiv attach"]
    assert "--verbose" in found["biodiv query list"] and "--param" not in found["biodiv query list"]
    assert "--db" in found["biodiv"] and "--epci" not in found["biodiv"]   # ends where init begins


def test_every_command_and_option_is_in_docs_commands_md():
    found = sections(COMMANDS_MD.read_text(encoding="utf-8"))
    missing = []
    for path, cmd, _ in tree():
        if path not in found:
            missing.append(f"no section `{path}`")
            continue
        missing += [f"`{path}`: {name}" for name in option_names(cmd) if name not in found[path]]
    assert not missing, "add to docs/commands.md: " + "; ".join(missing)


def help_text(path: str, cmd, width: int) -> str:
    from biodiv.cli.root import command

    root = command()
    ctx = None
    current = root
    for i, word in enumerate(path.split()):
        if i:
            current = current.commands[word]
        ctx = current.context_class(current, info_name=word, parent=ctx, terminal_width=width,
                                    max_content_width=width)
    return current.get_help(ctx)


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("width", [60, 100])
def test_help_is_whole_and_has_no_bool_placeholders(width):
    problems = []
    for path, cmd, _ in tree():
        text = help_text(path, cmd, width)
        if "<bool>" in text:
            problems.append(f"{path}: <bool>")
        for line in text.splitlines():
            if line.count("`") % 2:
                problems.append(f"{path}: a quoted command is broken across lines: {line.strip()!r}")
        whole = flat(text)
        for p in cmd.params:
            if p.help and flat(p.help) not in whole:
                problems.append(f"{path} {p.opts[0]}: help cut: {p.help!r}")
        for name, sub in getattr(cmd, "commands", {}).items():
            summary = flat((sub.help or "").split("\n\n")[0])
            if summary and summary not in whole:
                problems.append(f"{path}: summary of {name} cut: {summary!r}")
    assert not problems, "\n".join(problems)
