"""Benchmark: batched vs sequential zswap stores (4K, 64K, 2M folios, reclaim batches of 32).

Run: ``.venv/bin/python benchmarks/bench_batching.py [--json] [pyzswap bench batching options]``
(the same as ``pyzswap bench batching``; see :mod:`pyzswap.tools.bench.batching` for the method).
Sequential = the software compressor; batched = the same algorithm on a
:class:`~pyzswap.compress.BatchingCompressor` with 2 engines; the same pages in the same run,
calls alternating between the two, median of the repetitions.
"""

from __future__ import annotations

import sys

from pyzswap.tools.bench.batching import batching

if __name__ == "__main__":
    batching.main(args=sys.argv[1:], prog_name="bench_batching.py")
