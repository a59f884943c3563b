"""The `segkit` command: every subcommand's --help, the shared error mapping, and the package
installed as a wheel into a fresh virtual environment, outside the source tree, running
`segkit build-records` and `segkit train` for one epoch on generated data."""

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile

import pytest

from segmodel import cli

pytestmark = pytest.mark.slow

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_every_subcommand_has_help_and_a_tool_shim(capsys):
    assert cli.main(["--help"]) == 0
    listing = capsys.readouterr().out
    for command, (module, _) in cli.COMMANDS.items():
        assert command in listing
        with pytest.raises(SystemExit) as done:
            cli.run(command, ["--help"])
        assert done.value.code == 0, command
        out = capsys.readouterr().out
        assert out.startswith(f"usage: segkit {command}"), (command, out[:80])
        shim = (ROOT / "tools" / f"{module}.py").read_text()
        assert f'run("{command}"' in shim and len(shim.splitlines()) <= 8, module


def test_unknown_subcommand_and_user_errors_give_exit_2_without_traceback(tmp_path, capsys):
    assert cli.main(["nope"]) == 2
    assert "unknown subcommand 'nope'" in capsys.readouterr().err
    # A missing folder: the converter's own message, through the one mapping.
    code = cli.main(["build-records", "--data-dir", str(tmp_path / "missing"),
                     "--output-dir", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "missing" in err and "Traceback" not in err


def test_a_corrupt_record_reported_by_the_pipeline_is_one_line_and_exit_2(monkeypatch, capsys):
    import types

    import tensorflow as tf

    def main(argv):
        raise tf.errors.InvalidArgumentError(
            None, None, "{{function_node x}} segkit: shard r-train.tfrecord-00000-of-00002 is "
                        "corrupt: read 5 of 6 records]\n\t [[{{node IteratorGetNext}}]]")

    monkeypatch.setattr(cli, "load", lambda command: types.SimpleNamespace(main=main))
    assert cli.run("train", []) == 2
    err = capsys.readouterr().err
    assert err.strip() == ("segkit train: error: segkit: shard r-train.tfrecord-00000-of-00002 "
                           "is corrupt: read 5 of 6 records")

    def bug(argv):
        raise tf.errors.InvalidArgumentError(None, None, "shapes do not match")

    monkeypatch.setattr(cli, "load", lambda command: types.SimpleNamespace(main=bug))
    with pytest.raises(tf.errors.InvalidArgumentError):  # a real bug keeps its traceback
        cli.run("train", [])


def _wheel(tmp_path):
    # Built from a copy of the tracked files, so the build leaves no build/ or egg-info behind
    # in the checkout (an egg-info there would make pip think segkit is installed).
    source = tmp_path / "source"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                             check=True).stdout.decode().split("\0")
    for name in filter(None, tracked):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--quiet", "-w", str(dist), str(source)], check=True, timeout=600,
                   capture_output=True, cwd=tmp_path)
    (wheel,) = dist.glob("segkit-*.whl")
    return wheel


def test_wheel_installs_the_command_and_the_page_files(tmp_path):
    wheel = _wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    page = [n for n in names if "/label_app/page/" in n]
    assert {pathlib.Path(n).suffix for n in page} >= {".html", ".js"}, page
    assert not any(n.startswith(("tests/", "tools/")) for n in names)
    # A fresh venv whose dependencies come from this one (a .pth file), so the test needs no
    # network; segkit itself only from the wheel.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next(venv.glob("lib/python*/site-packages"))
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    python = venv / "bin" / "python"
    work = tmp_path / "work"  # outside the source tree, so nothing is imported from it
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                    "--no-deps", "--no-index", "--force-reinstall", "--quiet", str(wheel)],
                   check=True, timeout=600, cwd=work, env=env)
    segkit = venv / "bin" / "segkit"
    assert segkit.is_file()

    def segkit_run(*args):
        proc = subprocess.run([str(segkit), *map(str, args)], cwd=work, env=env,
                              capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, (args, proc.stderr[-3000:])
        return proc.stdout

    assert "build-records" in segkit_run("--help")
    where = subprocess.run([str(python), "-c", "import segmodel, segdata; print(segmodel.__file__,"
                            " segdata.__file__)"], cwd=work, env=env, capture_output=True,
                           text=True, check=True).stdout
    assert str(ROOT) not in where and str(site) in where, where
    segkit_run("make-sample-data", "--output-dir", "pets", "--num-images", "16", "--seed", "0")
    segkit_run("build-records", "--data-dir", "pets", "--output-dir", "records", "--split",
               "holdout", "--val-size", "4", "--num-shards", "1", "--no-progress")
    log = segkit_run("train", "--records", "records", "--output-dir", "run", "--model",
                     "chapter", "--image-size", "32", "--batch-size", "4", "--epochs", "2",
                     "--seed", "0", "--no-tensorboard")
    # Into a pipe, no progress bar: one line an epoch.
    epoch_lines = re.findall(r"^\d+/\d+ - .* - val_loss: ", log, re.M)
    assert "━" not in log and len(epoch_lines) == 2, log[-2000:]
    summary = json.loads((work / "run" / "run.json").read_text())
    assert summary["status"] == "completed" and summary["epochs_completed"] == 2
    assert (work / "run" / "model.keras").is_file()
