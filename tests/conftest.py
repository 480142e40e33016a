"""pytest configuration shared by every test tier."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
