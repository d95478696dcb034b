"""Shared test set-up: the tests folder is importable, for the oracle helpers (oracles.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
