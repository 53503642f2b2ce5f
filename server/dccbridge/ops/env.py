"""What ops share: the model manager (with its estimators) and the limits."""

from __future__ import annotations

from dataclasses import dataclass

from .limits import Limits


@dataclass
class OpEnv:
    manager: object  # models.ModelManager (kept untyped so this module stays import-light)
    limits: Limits

    @property
    def catalog(self):
        return self.manager.catalog

    @property
    def estimators(self):
        """Server-side preprocessors that need weights (control.Estimators), loaded lazily by the manager."""
        return self.manager.estimators
