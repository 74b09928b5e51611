"""What every command module shares: user errors as one line and exit status 2.

``pyzswap.cli.main`` prints a ``click.ClickException`` as ``pyzswap: error: <message>`` on one
line; :func:`one_line_errors` makes a command turn the errors a user can cause (a
:class:`~pyzswap.errors.ZswapError`, an ``OSError`` such as a missing file) into one, so no
traceback ever reaches the terminal. Anything else is a bug and propagates.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .errors import ZswapError

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["EXIT_USAGE", "PIPE_WIDTH", "console", "error_message", "one_line_errors"]

#: Output width when stdout/stderr is not a terminal: wide enough that no table or line is
#: wrapped (rich would otherwise wrap at 80 columns and split values across lines in a file).
PIPE_WIDTH = 4096

#: The exit status of every user error (as argparse and click use for usage errors).
EXIT_USAGE = 2
F = TypeVar("F", bound=Callable[..., Any])


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
