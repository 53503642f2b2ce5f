"""What ops share: the model manager, the limits, optional estimators."""

from __future__ import annotations

from dataclasses import dataclass

from .limits import Limits


@dataclass
class OpEnv:
    manager: object  # models.ModelManager (kept untyped so this module stays import-light)
    limits: Limits
    estimators: object | None = None  # runs server-side preprocessors that need weights

    @property
    def catalog(self):
        return self.manager.catalog
