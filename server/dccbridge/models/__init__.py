"""Model catalog, the built-in tiny preset, schedulers and the loader that puts models on the device."""

from .catalog import Catalog, ModelEntry
from .manager import LoadedModel, ModelManager

__all__ = ["Catalog", "LoadedModel", "ModelEntry", "ModelManager"]
