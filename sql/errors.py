"""Re-export of the one error hierarchy (defined in `quorumdb.storage.errors`)."""

from quorumdb.storage.errors import *  # noqa: F403
from quorumdb.storage.errors import __all__  # noqa: F401
