"""Python twins of pyzswap's C parts, the readable specifications the tests hold them to.

* :mod:`.zsmalloc` -- ``PyZsPool``, zsmalloc in Python (the C pool: ``pyzswap.zsmalloc.ZsPool``);
* :mod:`.lru` -- ``ListLru``, list_lru for any items in Python (zswap's: ``pyzswap.lru.EntryLru``
  over the C entry table).

Imported by the tests only; nothing in the package depends on them. (The zswap flows have their
own twin, the Python flow, which is part of the package: ``Zswap(flow="python")``.)
"""
