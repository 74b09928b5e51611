"""The kernel commands' one-line errors (shared by :mod:`.cli` and :mod:`.replay_cli`)."""

from __future__ import annotations

import click

from ..._cliutil import EXIT_USAGE
from ..._cliutil import one_line_errors as _one_line_errors
from ._host import KernelUnavailable

__all__ = ["KernelCliError", "one_line_errors"]


class KernelCliError(click.ClickException):
    exit_code = EXIT_USAGE


#: ZswapError/OSError -> one line, exit 2; the host is restored by then, because every host
#: change is undone before the exception leaves the library.
one_line_errors = _one_line_errors(
    KernelCliError, prefixes=((KernelUnavailable, "kernel side unavailable: "),))
