"""Make the shared example models (dzip_examples.py) importable from the container tests."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
