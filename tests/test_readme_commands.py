"""Every `python tools/...` and `python benchmarks/...` command in the README is one the tool accepts.

The commands are parsed by the tool's own argparse parser (its `main` stops right after
parsing), so a renamed or removed flag fails here instead of in a user's terminal. What the
commands do is covered by the tools' own tests and by `make demo`.
"""

import argparse
import importlib.util
import pathlib
import re
import shlex

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


class _Parsed(Exception):
    pass


def _readme_commands():
    lines, fenced = [], False
    for line in README.replace("\\\n", " ").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif fenced:
            lines.append(line)
    lines += re.findall(r"`(python (?:tools|benchmarks)/[^`]+)`", README)
    commands = []
    for line in lines:
        if not re.match(r"\s*python (tools|benchmarks)/", line):
            continue
        words = shlex.split(line, comments=True)
        if len(words) >= 2 and words[0] == "python" and re.match(r"(tools|benchmarks)/\w+\.py$",
                                                                words[1]):
            if "..." not in words:  # an elided example, e.g. `tools/train.py ... --cpu-replicas 2`
                commands.append(words[1:])
    return commands


COMMANDS = _readme_commands()


def _load(script):
    spec = importlib.util.spec_from_file_location(f"readme_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_names_every_tool():
    named = {c[0] for c in COMMANDS}
    for tool in ("make_sample_data", "download_pets", "build_records", "train", "export",
                 "predict", "sam_predict", "sam_label", "export_sam"):
        assert f"tools/{tool}.py" in named, f"README has no runnable example of tools/{tool}.py"
    assert "make demo" in README and "make test" in README


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c)[:60] for c in COMMANDS])
def test_readme_command_parses(command, monkeypatch):
    original = argparse.ArgumentParser.parse_args

    def parse_then_stop(self, args=None, namespace=None):
        original(self, args, namespace)
        raise _Parsed

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
    module = _load(ROOT / command[0])
    with pytest.raises((_Parsed, SystemExit)) as caught:
        module.main(command[1:])
    if caught.type is SystemExit:  # argparse exits 2 on a bad flag, 0 only for --help
        assert caught.value.code == 0, f"README command rejected: python {' '.join(command)}"
