"""``pyzswap run`` against the kernel's recorded replays of the fidelity suite (issue 18).

Each case's trace is generated (its SHA-256 must be the recorded one), run through the CLI
with the case's contract options (and the host's memory cgroups the kernel runs recorded) and
compared with the kernel's three runs (``tests/fixtures/fidelity/<case>.json``, recorded with
the machine idle) by :func:`pyzswap.tools.kernel.fidelity.compare_results`: every target metric
within 10% of the kernel's mean where the kernel's spread is under 2%, within the kernel's
min-max widened by 25% otherwise, and the stored_pages timeline within 10% mean absolute
relative error. No host change: the kernel's side is the recording.

``make test`` runs the fast case (phased); ``make test-fidelity`` runs them all
(``-m fidelity``), and the cases recorded on a busy machine (``tests/fixtures/fidelity-busy``,
load around 9: the kernel's pool-limit worker then varies widely) against those too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pyzswap.cli import main
from pyzswap.tools.kernel.fidelity import compare_results, memcg_counts, model_args
from pyzswap.tools.kernel.replay_cli import options_from_args
from pyzswap.tools.kernel.suite import SUITE

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "fidelity"
#: Cases recorded while the machine was busy (another day, load around 9).
BUSY = FIXTURES.parent / "fidelity-busy"
#: Cases fast enough for ``make test`` (seconds); the others run with ``-m fidelity``.
FAST = ("phased",)


def _run(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
         fixtures: Path = FIXTURES) -> tuple[dict[str, Any], dict[str, Any]]:
    recorded = json.loads((fixtures / f"{case}.json").read_text())
    suite_case = SUITE[case]
    assert suite_case.sha256() == recorded["trace_sha256"], "the trace generator changed"
    trace = suite_case.write(tmp_path)
    args, _ = model_args(trace, options_from_args(trace, suite_case.args),
                         recorded["machine"]["ram_bytes"], memcg_counts(recorded["runs"]))
    code = main(args)
    out = capsys.readouterr()
    assert code == 0, out.err
    return recorded, json.loads(out.out)


def _check(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
           fixtures: Path = FIXTURES) -> None:
    recorded, model = _run(case, tmp_path, capsys, fixtures)
    cmp = compare_results(recorded["runs"], model)
    missed = [f"{r['metric']}: kernel {r['kernel_mean']} [{r['kernel_min']}..{r['kernel_max']}]"
              f", pyzswap {r['pyzswap']}" for r in cmp["metrics"]
              if r["target"] and not r["meets_target"]]
    assert not missed, f"{case}: targets missed: {'; '.join(missed)}"
    assert cmp["timeline_meets_target"], \
        f"{case}: stored_pages timeline error {cmp['timeline_stored_pages_mare']}"


@pytest.mark.parametrize("case", FAST)
def test_fidelity_fast_cases(case: str, tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    _check(case, tmp_path, capsys)


@pytest.mark.fidelity
@pytest.mark.parametrize("case", [c for c in SUITE if c not in FAST])
def test_fidelity_suite(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _check(case, tmp_path, capsys)


#: Known misses against the busy recordings: in ``poolhit`` the kernel's pool-limit worker
#: shared 2 CPUs with a load around 9 and walked a host whose memory cgroups were not recorded;
#: the model, given neither, runs its worker at the idle machine's pace (pswpin 19,279 against
#: the kernel's 26,432..28,194). Strict: passing it fails this mark.
BUSY_MISSES = {"poolhit"}


@pytest.mark.fidelity
@pytest.mark.parametrize("case", [
    pytest.param(c, marks=pytest.mark.xfail(strict=True, reason="CPU contention and the host's "
                                            "memory cgroups (see BUSY_MISSES)"))
    if c in BUSY_MISSES else c for c in sorted(p.stem for p in BUSY.glob("*.json"))])
def test_fidelity_against_the_busy_kernel(case: str, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    _check(case, tmp_path, capsys, BUSY)


def test_the_busy_recordings_are_suite_cases() -> None:
    busy = {p.stem for p in BUSY.glob("*.json")}
    assert len(busy) >= 6 and busy <= set(SUITE)
