"""Helpers shared by the CLI tests: invoke `fastrnn` in-process, check one-line errors."""
from __future__ import annotations

from click.testing import CliRunner

from fastrnn.cli import cli


def invoke(*args, input=None):
    """Invoke the CLI in-process with stringified args: its result, whatever the exit code."""
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


def run(*args, ok=True, input=None, code=None):
    """Invoke the CLI; never a traceback; exit code `code` if given, else 0 when ok."""
    result = invoke(*args, input=input)
    assert "Traceback" not in result.output
    if code is not None:
        assert result.exit_code == code, result.output
    elif ok:
        assert result.exit_code == 0, result.output
    return result


def one_line_error(result, exit_code=None, ignore=()):
    """The single `Error: ...` line of a failed command (lines starting with `ignore` are
    progress output); asserts a non-zero exit (or exactly exit_code) and no traceback."""
    assert result.exit_code != 0 if exit_code is None else result.exit_code == exit_code, \
        result.output
    lines = [line for line in result.output.splitlines()
             if line.strip() and not (ignore and line.startswith(tuple(ignore)))]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert "Traceback" not in result.output
    return lines[0]
