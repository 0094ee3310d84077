"""Make the engine tests' shared helpers (engine_helpers.py) importable."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
