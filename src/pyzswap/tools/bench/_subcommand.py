"""What every ``pyzswap bench`` subcommand of one measurement shares: its options and its output.

:func:`subcommand` makes a click command with the page options of the main benchmark
(``--pageset``, ``--pagefile``, ``--pages``, ``--seed``), ``--repeat``, ``--json`` and ``-q``,
and the one-line errors (exit 2) of :mod:`._cli`; :func:`emit` prints a report as one JSON
object, or leaves the table to the command.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

from ._cli import (
    _json_opt,
    _one_line_errors,
    _progress,
    _quiet_opt,
    _source,
    _source_options,
    _split_compressors,
)

__all__ = ["compressors_option", "emit", "page_source", "progress", "split_compressors",
           "subcommand"]

F = TypeVar("F", bound=Callable[..., Any])

#: ``(pageset, pagefile, pages, seed)`` -> the :class:`~._common.PageSource`.
page_source = _source
#: ``quiet`` -> the progress callback (None when quiet).
progress = _progress
#: ``"a,b"`` -> ``["a", "b"]``, each a registered compressor (else a one-line error).
split_compressors = _split_compressors


def subcommand(name: str, *, repeat: int = 5) -> Callable[[F], click.Command]:
    """``@subcommand("memcg")``: the command, with the options every measurement takes (the
    command's own options go below it). The function receives ``pageset``, ``pagefile``,
    ``pages``, ``seed``, ``repeat``, ``as_json`` and ``quiet`` besides its own."""
    def wrap(func: F) -> click.Command:
        func = _one_line_errors(func)
        func = _quiet_opt(func)
        func = _json_opt(func)
        func = click.option("--repeat", type=click.IntRange(1, 1000), default=repeat,
                            show_default=True,
                            help="repetitions (median, min and max are reported)")(func)
        return click.command(name)(_source_options(func))
    return wrap


def compressors_option(default: str) -> Callable[[F], F]:
    """``-c/--compressor NAME[,NAME...]`` into the parameter ``compressors``."""
    return click.option("--compressor", "-c", "compressors", default=default, show_default=True,
                        metavar="NAME[,NAME...]", help="compressors to measure")


def emit(report: dict[str, Any], as_json: bool) -> bool:
    """Print ``report`` as one JSON object if ``as_json``; True when it was printed."""
    if as_json:
        click.echo(json.dumps(report, indent=2))
    return as_json
