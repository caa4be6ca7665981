"""The embedded Label Studio and connections to any Label Studio."""

from pathlib import Path

#: Where ``stance studio start`` keeps the embedded server's database, log and credentials.
DEFAULT_DATA_DIR = Path(".stance/studio")

#: Where ``stance serve`` (the ML backend Label Studio calls) listens by default.
ML_BACKEND_PORT = 9090
