"""The HTML reports of run and advise in a real headless Chromium (Debian's chromium package,
installed by `make setup`): the page loads with no console or script errors and no request
leaves the file, every chart renders something visible, and a screenshot is not blank."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from pyzswap.cli import main

TINY = ["--scale", "0.05", "--ops", "3000"]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (make setup installs the Debian "
                             "package chromium; it could not be installed here)")

#: Put first in <head>: records script errors, console.error calls and failed loads; after
#: load, records what every chart drew.
_PROBE = """<script>
window.__errors=[];
window.addEventListener('error',function(e){window.__errors.push(String(e.message||
  (e.target&&(e.target.src||e.target.href))||'error'));},true);
(function(){var ce=console.error;console.error=function(){window.__errors.push(
  Array.prototype.join.call(arguments,' '));ce.apply(console,arguments);};})();
window.addEventListener('load',function(){setTimeout(function(){
  var charts=[].map.call(document.querySelectorAll('svg.chart'),function(svg){
    var marks=svg.querySelectorAll('[data-series]');var drawn=0;
    marks.forEach(function(m){var b=m.getBBox();if(b.width>0||b.height>0){drawn++;}});
    var r=svg.getBoundingClientRect();
    return {label:svg.getAttribute('aria-label'),marks:marks.length,drawn:drawn,
            width:r.width,height:r.height};});
  var out=document.createElement('pre');out.id='probe';
  out.textContent=JSON.stringify({errors:window.__errors,charts:charts,
    tables:document.querySelectorAll('table').length});
  document.body.appendChild(out);},0);});
</script>"""


def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-extensions", f"--user-data-dir={profile}", "--hide-scrollbars", *args],
        capture_output=True, text=True, timeout=120, check=False)


def _check_page(page: Path, tmp_path: Path, min_charts: int) -> None:
    text = page.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text), "external resource"
    probed = tmp_path / f"probe-{page.name}"
    probed.write_text(text.replace("<head>", "<head>" + _PROBE, 1))
    res = _chromium("--virtual-time-budget=3000", "--dump-dom", probed.as_uri(),
                    profile=tmp_path / "profile")
    match = re.search(r'<pre id="probe">(.*?)</pre>', res.stdout, re.S)
    assert match, f"the probe did not run: {res.stderr[-2000:]}"
    probe = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&")
                       .replace("&lt;", "<").replace("&gt;", ">"))
    assert probe["errors"] == []
    assert probe["tables"] >= 1
    assert len(probe["charts"]) >= min_charts
    for chart in probe["charts"]:
        assert chart["marks"] > 0 and chart["drawn"] > 0, chart
        assert chart["width"] > 300 and chart["height"] > 100, chart
    shot = tmp_path / f"{page.stem}.png"
    res = _chromium("--window-size=1280,1400", f"--screenshot={shot}", page.as_uri(),
                    profile=tmp_path / "profile")
    assert shot.exists(), res.stderr[-2000:]
    from matplotlib.image import imread

    pixels = np.asarray(imread(shot))[..., :3]
    background = pixels[0, 0]
    differs = np.abs(pixels - background).sum(axis=2) > 0.05
    assert differs.mean() > 0.03, "the screenshot is (nearly) blank"
    colours = {tuple(np.round(p, 2)) for p in pixels[::7, ::7].reshape(-1, 3)}
    assert len(colours) > 8  # text, lines of several colours, table borders


def test_run_report_in_chromium(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one, many = tmp_path / "run.html", tmp_path / "compare.html"
    assert main(["run", *TINY, "--html", str(one)]) == 0
    assert main(["run", *TINY, "-c", "lzo,lz4", "--seeds", "2", "--html", str(many)]) == 0
    capsys.readouterr()
    _check_page(one, tmp_path, min_charts=2)  # pool over time, latency CDF
    _check_page(many, tmp_path, min_charts=3)  # + savings against cost


def test_advise_report_in_chromium(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "advise.html"
    assert main(["advise", *TINY, "--pool-percents", "20", "--compressors", "lzo",
                 "--seeds", "1", "--html", str(page)]) == 0
    capsys.readouterr()
    _check_page(page, tmp_path, min_charts=1)
