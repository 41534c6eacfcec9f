import subprocess
import sys

from crbm import __version__
from crbm.cli import main


def test_version(capsys):
    try:
        main(["--version"])
    except SystemExit as e:
        assert e.code == 0
    assert __version__ in capsys.readouterr().out


def test_help_lists_commands(capsys):
    try:
        main(["--help"])
    except SystemExit as e:
        assert e.code == 0
    out = capsys.readouterr().out
    assert "demo" in out


def test_module_entry_point():
    r = subprocess.run([sys.executable, "-m", "crbm", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and __version__ in r.stdout
