"""Every command in the README and the docs is one the tool accepts.

The commands are `python tools/...`, `python benchmarks/...` and `segkit SUBCOMMAND ...`, in
README.md and every `docs/**/*.md` page, in fenced blocks or inline code. Each is parsed by the
tool's own argparse parser (its `main` stops right after parsing), so a renamed or removed flag
fails here instead of in a user's terminal. `tools/NAME.py` are shims over `segmodel.cli`, so a
tools command and a `segkit` command run the same `segmodel.cli.<module>.main`. What the commands
do is covered by the tools' own tests and by `make demo`.
"""

import argparse
import importlib
import importlib.util
import pathlib
import re
import shlex
import sys

import pytest

from segmodel import cli

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
PAGES = {"README.md": README} | {
    str(p.relative_to(ROOT)): p.read_text() for p in sorted((ROOT / "docs").rglob("*.md"))}
# tools/<module>.py -> its segkit subcommand (the shims call segmodel.cli.run("NAME", ...))
TOOL_COMMANDS = {f"tools/{module}.py": name for name, (module, _) in cli.COMMANDS.items()}

_START = re.compile(r"\s*(python (tools|benchmarks)/|segkit )")


class _Parsed(Exception):
    pass


def _commands(text):
    lines, fenced = [], False
    for line in text.replace("\\\n", " ").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif fenced:
            lines.append(line)
    lines += re.findall(r"`(python (?:tools|benchmarks)/[^`]+)`", text)
    # inline `segkit NAME` alone names a subcommand; with flags it is a command
    lines += re.findall(r"`(segkit [\w-]+ [^`]+)`", text)
    commands = []
    for line in lines:
        if not _START.match(line):
            continue
        words = shlex.split(line, comments=True)
        if "..." in words:  # an elided example, e.g. `tools/train.py ... --cpu-replicas 2`
            continue
        if len(words) >= 2 and words[0] == "python" and re.match(r"(tools|benchmarks)/\w+\.py$",
                                                                words[1]):
            commands.append(words[1:])
        elif len(words) >= 2 and words[0] == "segkit" and words[1] in cli.COMMANDS:
            commands.append(words)  # `segkit --help`, `segkit SUBCOMMAND --help`: not a command
    return commands


COMMANDS = [(source, command) for source, text in PAGES.items() for command in _commands(text)]


def _load(script):
    # `python benchmarks/x.py` puts the script's folder first on sys.path; its sibling
    # modules (e.g. benchmarks/pipeline_loaders.py) import the same way here.
    sys.path.insert(0, str(script.parent))
    spec = importlib.util.spec_from_file_location(f"readme_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _main(command):
    """The `main(argv)` that runs `command` ([script or "segkit", ...]) and its argv."""
    if command[0] == "segkit":
        return cli.load(command[1]).main, command[2:]
    if command[0] in TOOL_COMMANDS:
        shim = (ROOT / command[0]).read_text()
        assert f'run("{TOOL_COMMANDS[command[0]]}"' in shim, f"{command[0]} is not a segkit shim"
        return cli.load(TOOL_COMMANDS[command[0]]).main, command[1:]
    return _load(ROOT / command[0]).main, command[1:]


def test_readme_names_every_tool():
    named = {c[0] if c[0] != "segkit" else "tools/{}.py".format(cli.COMMANDS[c[1]][0])
             for _, c in COMMANDS}
    for tool in ("make_sample_data", "download_pets", "build_records", "train", "export",
                 "predict", "sam_predict", "sam_label", "export_sam"):
        assert f"tools/{tool}.py" in named, f"README and docs have no example of tools/{tool}.py"
    for name, (module, _) in cli.COMMANDS.items():
        assert f"tools/{module}.py" in named, f"README and docs have no example of segkit {name}"
    assert "make demo" in README and "make test" in README


def test_readme_shows_segkit_and_tools_forms():
    front = {c[0] for c in _commands(README)}
    assert "segkit" in front, "README has no `segkit SUBCOMMAND` example"
    assert any(c.startswith("tools/") for c in front), "README has no `python tools/...` example"


def test_every_tool_is_a_segkit_subcommand():
    for script in sorted((ROOT / "tools").glob("*.py")):
        assert f"tools/{script.name}" in TOOL_COMMANDS, f"{script.name} is not in segmodel.cli.COMMANDS"


@pytest.mark.parametrize("source, command", COMMANDS,
                         ids=[f"{s}: {' '.join(c)}"[:80] for s, c in COMMANDS])
def test_readme_command_parses(source, command, monkeypatch):
    original = argparse.ArgumentParser.parse_args

    def parse_then_stop(self, args=None, namespace=None):
        original(self, args, namespace)
        raise _Parsed

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
    main, argv = _main(command)
    with pytest.raises((_Parsed, SystemExit)) as caught:
        main(argv)
    if caught.type is SystemExit:  # argparse exits 2 on a bad flag, 0 only for --help
        assert caught.value.code == 0, f"{source}: command rejected: {' '.join(command)}"
