"""The built-in game modes: one package each, registered on import.

The framework imports this package on first use of the registry
(`arena.engine.registry`); adding a built-in mode is one line here.
"""

from . import roast  # noqa: F401
from . import canvas  # noqa: F401
from . import lottery  # noqa: F401
from . import contest  # noqa: F401
from . import meme  # noqa: F401
