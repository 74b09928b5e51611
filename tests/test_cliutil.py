"""The shared one-line-error decorator of the command modules."""

from __future__ import annotations

import click
import pytest

from pyzswap._cliutil import EXIT_USAGE, error_message, one_line_errors
from pyzswap.errors import InvalidParameter, UnknownCompressor


class _Err(click.ClickException):
    exit_code = EXIT_USAGE


def test_messages_for_user_errors_only() -> None:
    assert error_message(InvalidParameter("bad value")) == "bad value"
    assert error_message(FileNotFoundError(2, "no such file", "x.bin")) == "x.bin: no such file"
    assert error_message(OSError("disk on fire")) == "disk on fire"
    prefixed = ((UnknownCompressor, "no: "),)
    assert error_message(UnknownCompressor("lz5"), prefixed) == "no: lz5"
    assert error_message(InvalidParameter("v"), prefixed) == "v"
    assert error_message(RuntimeError("a bug")) is None


def test_decorated_command_raises_one_line_click_errors_and_lets_bugs_through() -> None:
    @one_line_errors(_Err)
    def command(exc: BaseException) -> None:
        raise exc

    with pytest.raises(_Err, match=r"^bad value$") as info:
        command(InvalidParameter("bad value"))
    assert info.value.exit_code == 2 and info.value.__cause__ is None
    with pytest.raises(_Err, match="p: gone"):
        command(FileNotFoundError(2, "gone", "p"))
    with pytest.raises(click.UsageError):
        command(click.UsageError("usage"))  # click's own errors pass unchanged
    with pytest.raises(RuntimeError):
        command(RuntimeError("a bug"))
