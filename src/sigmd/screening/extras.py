"""Optional dependencies of screening, imported only where used."""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, extra: str) -> ModuleType:
    """Import an optional module, or fail with the `pip install` line that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"{module} is needed for this feature of sigmd screening: pip install 'sigmd[{extra}]'"
        ) from error
