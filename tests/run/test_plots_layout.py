"""Comparison charts stay readable: the legend lies outside every plot area and inside the
figure, titles are not cut, and many runs get distinct colours (issue: legends clipped off the
latency chart, titles cut, 15 legend entries over the data)."""

from __future__ import annotations

from typing import Any

import pytest

from pyzswap.run import plots


def _run(i: int) -> dict[str, Any]:
    n = 20
    return {"workload": "default", "label": f"compressor{i} max_pool_percent={10 * i}",
            "compressor": "lzo",
            "series": {"ops": list(range(n)), "pool_total_size": [j * 4096 * (i + 1)
                                                                  for j in range(n)],
                       "compressed_bytes": [j * 2048 for j in range(n)],
                       "resident_pages": [100 - j for j in range(n)],
                       "stored_pages": [j for j in range(n)],
                       "written_back_pages": [j // 2 for j in range(n)]},
            "ratio_histogram": {"edges": [1.0, 2.0, 4.0, 4096.0], "counts": [i, 2, 3]},
            "latency_us": {"store": [1.0 + i + j for j in range(30)],
                           "load": [2.0 + i + j for j in range(30)]}}


@pytest.mark.parametrize("nruns", [2, 15])
@pytest.mark.parametrize("draw", ["_draw_pool_size", "_draw_ratio_histogram",
                                  "_draw_latency_cdf"])
def test_comparison_legend_is_outside_the_data_and_inside_the_figure(nruns: int,
                                                                     draw: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    runs = plots._runs({"runs": [_run(i) for i in range(nruns)]})
    fig = getattr(plots, draw)(Figure, runs)
    FigureCanvasAgg(fig)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    figbox = fig.bbox
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    assert legends
    for legend in legends:
        box = legend.get_window_extent(renderer)
        assert box.x0 >= figbox.x0 - 1 and box.x1 <= figbox.x1 + 1, "legend clipped"
        assert box.y0 >= figbox.y0 - 1 and box.y1 <= figbox.y1 + 1, "legend clipped"
        for ax in fig.axes:
            assert not box.overlaps(ax.get_window_extent(renderer)), "legend over the data"
    texts = [t for ax in fig.axes for t in (ax.title, ax._left_title) if t.get_text()]
    if fig._suptitle is not None:
        texts.append(fig._suptitle)
    for t in texts:
        box = t.get_window_extent(renderer)
        assert box.x0 >= figbox.x0 - 1 and box.x1 <= figbox.x1 + 1, f"title cut: {t}"
    colors = plots._colors(nruns)
    assert len({str(c) for c in colors}) == nruns
