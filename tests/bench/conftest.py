"""Make the repository's `bench` package importable however pytest is started.

Appended, not prepended: the harness package must not shadow anything, and
this directory deliberately has no __init__.py so that it is never itself
importable as `bench`.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.append(ROOT)
