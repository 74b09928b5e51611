"""A small stand-in for a real service, to snapshot (docs/DECIDING.md): it loads the sources of
Python's standard library into memory (the text, a word index over it and an SQLite in-memory
table), prints its pid, then waits an hour. About 500 MiB resident with CPython 3.11."""

import os
import re
import sqlite3
import sysconfig
import time

root = sysconfig.get_paths()["stdlib"]
sources: dict[str, str] = {}
index: dict[str, list[str]] = {}
db = sqlite3.connect(":memory:")
db.execute("create table files(path text, size int, body text)")
for directory, _, files in os.walk(root):
    for name in files:
        if not name.endswith(".py"):
            continue
        path = os.path.join(directory, name)
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                body = fh.read()
        except OSError:
            continue
        sources[path] = body
        db.execute("insert into files values (?, ?, ?)", (path, len(body), body))
        for word in set(re.findall(r"[A-Za-z_]{4,}", body)):
            index.setdefault(word, []).append(path)
db.commit()
print(os.getpid(), len(sources), len(index), flush=True)
time.sleep(3600)
