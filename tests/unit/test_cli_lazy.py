"""The command line imports only the command it runs (its other modules cost every run CPU time)."""
import subprocess
import sys

from codeckit.cli import COMMANDS, _command_of


def test_the_command_is_the_first_word_not_an_option():
    assert _command_of(["-v", "normalize", "x", "-o", "y"]) == "normalize"
    assert _command_of(["--help"]) is None
    assert _command_of([]) is None


def test_running_one_command_does_not_import_the_others():
    code = ("import sys; from codeckit.cli import _register, _command_of; _register(_command_of(['probe', 'x']));"
            "print(sorted(m.rsplit('.', 1)[1] for m in sys.modules if m.startswith('codeckit.cli.')"
            " and m.rsplit('.', 1)[1] in " + repr(COMMANDS) + "))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['probe']"


def test_help_lists_every_command():
    out = subprocess.run([sys.executable, "-m", "codeckit", "--help"], capture_output=True, text=True,
                         check=True).stdout
    assert all(name in out for name in COMMANDS)
