"""Hostile input: the page-file reader, the trace parser, the parameter and cgroup setters and
the command line, fuzzed. Every bad input must end in a clear pyzswap error (or success), never
in another exception; the CLI must exit with status 0 or 2 and, on error, print exactly one line
and no traceback. The tests at the end pin bugs this suite found (since fixed)."""

from __future__ import annotations

import contextlib
import io
import os
import random
import string
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pyzswap import PAGE_SIZE, PARAMETERS, Zswap
from pyzswap.cli import main
from pyzswap.errors import CorruptData, InvalidParameter, ZswapError
from pyzswap.memcg import MEMCG_FILES, MemCgroup
from pyzswap.run.trace import TRACE_HEADER, parse_trace_text
from pyzswap.tools.pagesets import read_page_file
from pyzswap.tools.soak import main as soak_main

#: The behavioural suite runs once per flow (conftest.flow).
pytestmark = pytest.mark.usefixtures("flow")

FUZZ = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

#: anything a Python caller might pass as a value
any_value = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-5, 200),
    st.floats(allow_nan=True), st.text(max_size=12), st.binary(max_size=8),
    st.sampled_from(["", " ", "Y", "n", "on", "1", "0", "max", "100", "101", "-1", "0x10",
                     "010", "1k", "4M", "lz4", " zstd ", "lz5", "\x00", "1\n", "+1", "1_0",
                     "²", "٣", "１０"]),
    st.lists(st.integers(), max_size=2), st.just(object()),
)


def _one_line(err: str) -> None:
    assert "Traceback" not in err, err
    assert err.count("\n") == 1 and err.startswith("pyzswap: error: "), repr(err)


@contextlib.contextmanager
def _in_dir(path: Path) -> Iterator[None]:
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def _run_cli(argv: list[str], entry: object = main) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = entry(argv)  # type: ignore[operator]
    return rc, out.getvalue(), err.getvalue()


# ---------------------------------------------------------------------------- page files -----
@FUZZ
@given(pages=st.integers(0, 3), extra=st.sampled_from([0, 0, 1, 7, 4095]), seed=st.integers())
def test_read_page_file_accepts_whole_pages_and_names_the_bad_size(
        tmp_path: Path, pages: int, extra: int, seed: int) -> None:
    data = random.Random(seed).randbytes(pages * PAGE_SIZE + extra)
    path = tmp_path / f"f{seed & 0xffff}.pages"
    path.write_bytes(data)
    if extra:
        with pytest.raises(CorruptData, match="not a multiple of 4096"):
            read_page_file(path)
    else:
        assert read_page_file(path) == data


@FUZZ
@given(name=st.text(min_size=1, max_size=40).filter(lambda s: "\x00" not in s))
def test_read_page_file_bad_paths_are_oserrors_or_corrupt_data(tmp_path: Path, name: str) -> None:
    (tmp_path / "dir").mkdir(exist_ok=True)
    (tmp_path / "odd").write_bytes(b"x")
    for candidate in (tmp_path / name, tmp_path / "dir" / name, tmp_path / "dir",
                      tmp_path / "odd", tmp_path / "odd" / name):
        try:
            data = read_page_file(candidate)
        except (OSError, CorruptData) as exc:
            assert str(exc)
        else:
            assert len(data) % PAGE_SIZE == 0


def test_read_page_file_special_paths(tmp_path: Path) -> None:
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    with pytest.raises(InvalidParameter, match="character device"):  # devices are refused
        read_page_file("/dev/null")
    for path in (loop, tmp_path, tmp_path / "missing"):
        with pytest.raises(OSError):
            read_page_file(path)
    with pytest.raises(ValueError, match="null byte"):  # Python refuses the path itself
        read_page_file("pages\x00.bin")


# ---------------------------------------------------------------------------- traces ---------
VALID_TRACE = f"""{TRACE_HEADER}
proc 1 64 memcg=web seed=7
proc 2 16 memcg=/batch/job1 pageset=mixed
w 1 0-63
r 1 17
r 2 0-15   # a comment
exit 2
w 1 3
"""
TRACE_ALPHABET = string.digits + "rwexitpoc=-#/ \n\tmemcgseadfil" + "٣²\u2028\x0b"


@st.composite
def mutated_traces(draw: st.DrawFn) -> str:
    text = list(VALID_TRACE)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["insert", "delete", "replace", "dup_line"]))
        i = draw(st.integers(0, len(text)))
        ch = draw(st.sampled_from(TRACE_ALPHABET))
        if op == "insert":
            text.insert(i, ch)
        elif op == "delete" and i < len(text):
            del text[i]
        elif op == "replace" and i < len(text):
            text[i] = ch
        else:
            lines = "".join(text).splitlines(keepends=True)
            if lines:
                j = draw(st.integers(0, len(lines) - 1))
                lines.insert(j, lines[j])
            text = list("".join(lines))
    return "".join(text)


@FUZZ
@given(text=st.one_of(st.text(max_size=200), mutated_traces()), check=st.booleans())
def test_trace_parser_gives_a_trace_or_a_line_numbered_error(text: str, check: bool) -> None:
    try:
        trace = parse_trace_text(text, "fuzz.trace", base_dir=tempfile.gettempdir(),
                                 check_files=check)
    except CorruptData as exc:
        assert str(exc).startswith("fuzz.trace:"), exc
    else:
        assert all(ev.pid in trace.procs for ev in trace.events)


@FUZZ
@given(path=st.text(min_size=1, max_size=30).filter(
    lambda s: not any(c.isspace() or c in "#\x00" for c in s)))
def test_trace_file_option_with_any_path_is_checked(tmp_path: Path, path: str) -> None:
    (tmp_path / "ok.pages").write_bytes(bytes(2 * PAGE_SIZE))
    for given_path in (path, "ok.pages", f"ok.pages/{path}"):
        try:
            parse_trace_text(f"proc 1 2 file={given_path}\nr 1 1\n", "t", base_dir=tmp_path)
        except CorruptData as exc:
            assert str(exc).startswith("t:1: ")


# ---------------------------------------------------------------------------- setters --------
@FUZZ
@given(name=st.one_of(st.sampled_from(sorted(PARAMETERS)), st.text(max_size=20)),
       value=any_value)
def test_set_param_accepts_or_refuses_with_a_zswap_error_and_changes_nothing(
        name: str, value: object) -> None:
    z = Zswap(compressor="lz4", totalram_pages=1000, cpus=1)
    z.swapon(0, 16)
    before = z.params()
    try:
        z.set_param(name, value)
    except ZswapError as exc:
        event("set_param refused")
        assert str(exc)
        assert z.params() == before
    else:
        event("set_param accepted")
        assert name in PARAMETERS
    assert z.store(bytes(range(256)) * 16, 0, 1) in (True, False)  # still works


@FUZZ
@given(name=st.one_of(st.sampled_from(MEMCG_FILES), st.text(max_size=20)), value=any_value,
       on_root=st.booleans())
def test_memcg_write_accepts_or_refuses_with_a_zswap_error_and_changes_nothing(
        name: str, value: object, on_root: bool) -> None:
    root = MemCgroup()
    group = root if on_root else root.create("g")
    files = [f for f in MEMCG_FILES if not (on_root and f != "memory.stat"
                                            and f != "memory.zswap.writeback")]
    before = {f: group.read(f) for f in files}
    try:
        group.write(name, value)
    except ZswapError as exc:
        event("memcg write refused")
        assert str(exc)
        assert {f: group.read(f) for f in files} == before
    else:
        event("memcg write accepted")
        assert name in MEMCG_FILES


# ---------------------------------------------------------------------------- the CLI --------
SAFE_TOKEN = st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                            blacklist_characters="\x00"), max_size=12)
OPTION_VALUES = st.sampled_from(["0", "1", "2", "8", "-1", "x", "4097", "1e3", "lz4", "lz5",
                                 "zstd", "pool", "naive", "max", "4M", "0.5", "", "pages.bin",
                                 "missing.bin", ".", "a=1", "batch=64M", "ram=1M,2M"])
COMMANDS = {
    "store": ["--compressor", "-c", "--folio-pages", "--json", "--help", "pages.bin",
              "odd.bin", "missing.bin", "."],
    "pools": ["--cpus", "--offline", "--compressor", "--lifetime", "--pages", "--switch",
              "--json", "--help"],
    "run": ["--ram", "--compressor", "--max-pool-percent", "--accept-threshold-percent",
            "--shrinker", "--memcg-max", "--zswap-max", "--no-writeback", "--sweep", "--pattern",
            "--seed", "--json", "--no-verify", "default", "heap", "pages.bin", "missing.trace",
            "bad.trace"],
}
# A run that parses is kept tiny: these come last and win.
RUN_BOUND = ["--scale", "0.01", "--ops", "20"]


#: option -> values, valid and not, so that some command lines parse and run
PAIRS: dict[str, dict[str, list[str]]] = {
    "store": {"--compressor": ["lz4", "zstd", "lz5", ""], "--folio-pages": ["1", "2", "512",
                                                                               "0", "x"]},
    "pools": {"--cpus": ["1", "2", "8", "0", "x"], "--offline": ["1", "0-1", "x", "9", "1-0"],
              "--compressor": ["lz4", "zstd", "lz5"], "--switch": ["zstd", "lz5"],
              "--lifetime": ["pool", "lock-retry", "naive", "x"], "--pages": ["0", "1", "64",
                                                                              "-1"]},
    "run": {"--ram": ["64M", "1", "x", "8M"], "--max-pool-percent": ["0", "20", "101"],
            "--pattern": ["zipf", "scan", "x"], "--seed": ["0", "-1", "x"],
            "--sweep": ["max_pool_percent=10,20", "ram=1M,4M", "x=1", "shrinker_enabled=2"],
            "--memcg-max": ["a=1M", "a", "=1"], "--compressor": ["lz4,zstd", "lz4", ",", "lz5"]},
}


@st.composite
def cli_argv(draw: st.DrawFn) -> list[str]:
    command = draw(st.sampled_from([*COMMANDS, *COMMANDS, "bogus", "--version", "--help", ""]))
    argv = [command] if command else []
    words = COMMANDS.get(command, [])
    pairs = PAIRS.get(command, {})
    if command == "store" and draw(st.booleans()):
        argv.append("pages.bin")
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.integers(0, 7))
        if kind <= 3 and pairs:
            option = draw(st.sampled_from(sorted(pairs)))
            argv += [option, draw(st.sampled_from(pairs[option]))]
        elif kind == 4 and words:
            argv.append(draw(st.sampled_from(words)))
        elif kind == 5:
            argv.append(draw(OPTION_VALUES))
        elif kind == 6:
            argv.append(draw(SAFE_TOKEN))
        else:
            argv.append("--" + draw(st.sampled_from(["json", "bogus", "seed", "pages", "cpus"])))
    if command == "run":
        argv += RUN_BOUND
    if command == "pools" and "--pages" in argv:
        argv += ["--pages", "64"]
    return argv


@pytest.fixture(scope="module")
def cli_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cli")
    (d / "pages.bin").write_bytes(bytes(PAGE_SIZE) + bytes(range(256)) * 16)
    (d / "odd.bin").write_bytes(b"x" * 10)
    (d / "bad.trace").write_text("proc 1 4\nr 1 9\n")
    return d


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(argv=cli_argv())
def test_cli_never_shows_a_traceback_and_errors_are_one_line(
        cli_dir: Path, argv: list[str]) -> None:
    with _in_dir(cli_dir):
        rc, _out, err = _run_cli(argv)
    assert rc in (0, 2), (argv, rc, err)
    event(f"{argv[0] if argv else '(none)'} -> {rc}")
    if rc == 2:
        _one_line(err)
    else:
        assert "Traceback" not in err


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(argv=st.lists(st.one_of(
    st.sampled_from(["--seconds", "--threads", "--seed", "--cpus", "--lifetime", "--json",
                     "--faults", "--no-faults", "--bogus"]), OPTION_VALUES, SAFE_TOKEN),
    max_size=4), bad=st.sampled_from([["--seconds", "0"], ["--threads", "0"], ["--seed", "-1"],
                                      ["--cpus", "1"], ["--lifetime", "naive"], ["extra"],
                                      ["--seconds", "x"], ["--bogus"]]))
def test_soak_command_usage_errors_are_one_line(argv: list[str], bad: list[str]) -> None:
    rc, _, err = _run_cli([*argv, *bad], soak_main)
    assert rc == 2, (argv, bad, err)
    _one_line(err)


# ------------------------------------------------------- gaps the first version had (fixed) -----
def test_set_param_refuses_non_ascii_digits_with_invalid_parameter() -> None:
    z = Zswap(compressor="lz4", totalram_pages=1000, cpus=1)
    for value in ("²", "٣"):
        with pytest.raises(ZswapError):
            z.set_param("max_pool_percent", value)


def test_trace_file_path_with_a_nul_is_corrupt_data(tmp_path: Path) -> None:
    trace = tmp_path / "nul.trace"
    trace.write_text("proc 1 1 file=a\x00b\nr 1 0\n")
    with pytest.raises(CorruptData):
        parse_trace_text(trace.read_text(), "nul.trace", base_dir=tmp_path)
    rc, _, err = _run_cli(["run", str(trace)])
    assert rc == 2
    _one_line(err)


def test_cli_error_for_an_argument_with_a_newline_is_one_line() -> None:
    rc, _, err = _run_cli(["pools", "a\nb"])
    assert rc == 2
    _one_line(err)


def test_cli_without_arguments_prints_help_or_one_line() -> None:
    rc, out, err = _run_cli([])
    assert (rc == 0 and "Usage" in out) or rc == 2
    if rc == 2:
        _one_line(err)
