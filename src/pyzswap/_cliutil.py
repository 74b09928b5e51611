"""What every command module shares: user errors as one line and exit status 2, the bounds of
numeric options, and SIGTERM handling.

``pyzswap.cli.main`` prints a ``click.ClickException`` as ``pyzswap: error: <message>`` on one
line; :func:`one_line_errors` makes a command turn the errors a user can cause (a
:class:`~pyzswap.errors.ZswapError`, an ``OSError`` such as a missing file) into one, so no
traceback ever reaches the terminal; :func:`main_error_message` is the last line of defence of
the entry points (a ``ValueError``, ``OverflowError`` or ``MemoryError`` from input too large
or malformed for some layer also ends as one line, status 2).

Options take bounded values (:data:`SEED`, :data:`MAX_SECONDS`, :func:`finite_float`): an
absurd size, seed or duration is refused before any work, with the bound in the message.
"""

from __future__ import annotations

import functools
import math
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .errors import ZswapError

#: Exit status of every user error: one line on stderr, nothing changed.
EXIT_USAGE = 2
#: The largest ``--ram`` (1 TiB), and the most runs one ``--sweep`` or compressor list asks for.
MAX_RAM_BYTES = 1 << 40
MAX_RUNS = 32


class CliError(click.ClickException):
    """A user error of a pyzswap command (exit status 2, one line)."""

    exit_code = EXIT_USAGE


if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "EXIT_USAGE",
    "MAX_RAM_BYTES",
    "MAX_RUNS",
    "MAX_SECONDS",
    "PIPE_WIDTH",
    "SEED",
    "CliError",
    "console",
    "error_message",
    "finite_float",
    "main_error_message",
    "one_line_errors",
    "terminate_on_sigterm",
]

#: Output width when stdout/stderr is not a terminal: wide enough that no table or line is
#: wrapped (rich would otherwise wrap at 80 columns and split values across lines in a file).
PIPE_WIDTH = 4096

#: The exit status of every user error (as argparse and click use for usage errors).
EXIT_USAGE = 2
#: Seeds are 32-bit (what numpy's and every workload generator's seeding takes whole).
SEED = click.IntRange(0, 2**32 - 1)
#: The longest run a duration option accepts: one week.
MAX_SECONDS = 7 * 24 * 3600.0
F = TypeVar("F", bound=Callable[..., Any])


class _FiniteFloatRange(click.FloatRange):
    """A FloatRange that also refuses NaN and infinities (which compare as "in range")."""

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        rv = super().convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return rv


def finite_float(lo: float, hi: float, *, min_open: bool = False) -> click.FloatRange:
    """A click type for a finite float in ``lo..hi``."""
    return _FiniteFloatRange(lo, hi, min_open=min_open)


def main_error_message(exc: BaseException) -> str | None:
    """The entry points' one line for an error no command turned into one: user errors
    (see :func:`error_message`), and a ``ValueError``/``OverflowError`` or ``MemoryError``
    that input too large or malformed for some layer raised. None for anything else."""
    message = error_message(exc)
    if message is not None:
        return message
    if isinstance(exc, MemoryError):
        return f"out of memory{f': {exc}' if str(exc) else ''} (the input is too large)"
    if isinstance(exc, ValueError | OverflowError):
        return str(exc) or type(exc).__name__
    return None


def terminate_on_sigterm() -> None:
    """Make SIGTERM end the process as Ctrl-C does: an exception in the main thread, so every
    ``finally`` and ``with`` runs (temporary directories and swap files are removed, partial
    output files deleted) before it exits with status 143."""
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def error_message(exc: BaseException,
                  prefixes: Sequence[tuple[type[BaseException], str]] = ()) -> str | None:
    """The one-line message for a user error, or None if ``exc`` is not one. ``prefixes``
    put a word in front of some kinds (checked first, in order)."""
    for kind, prefix in prefixes:
        if isinstance(exc, kind):
            return f"{prefix}{exc}"
    if isinstance(exc, ZswapError):
        return str(exc)
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}"
    return None


def one_line_errors(error: type[click.ClickException], *,
                    prefixes: Sequence[tuple[type[BaseException], str]] = ()
                    ) -> Callable[[F], F]:
    """Decorate a command so user errors leave it as ``error(message)`` (see the module)."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except click.ClickException:
                raise
            except Exception as exc:
                message = error_message(exc, prefixes)
                if message is None:
                    raise
                raise error(message) from None

        return wrapper  # type: ignore[return-value]

    return decorate


def console(*, stderr: bool = False) -> Console:
    """A rich console for a command's output: the terminal's width on a TTY, and
    :data:`PIPE_WIDTH` (no wrapping) when redirected to a file or a pipe."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr)
    return Console(stderr=stderr, width=PIPE_WIDTH, file=stream)
