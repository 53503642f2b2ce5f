"""Property groups: per-scene settings (what to generate) and per-window-manager runtime state (what is happening)."""

from .adapters import DCCBRIDGE_PG_lora
from . import multiview as _multiview
from .history import CLASSES as HISTORY_CLASSES
from .live import DCCBRIDGE_PG_live, DCCBRIDGE_PG_live_runtime
from .reference import DCCBRIDGE_PG_reference
from .scene import (DCCBRIDGE_PG_job, DCCBRIDGE_PG_name, DCCBRIDGE_PG_runtime, DCCBRIDGE_PG_settings,
                    DCCBRIDGE_PG_unit)
from .scene import attach as _attach_scene
from .scene import detach as _detach_scene

CLASSES = (DCCBRIDGE_PG_name, DCCBRIDGE_PG_lora, DCCBRIDGE_PG_unit, DCCBRIDGE_PG_reference, DCCBRIDGE_PG_job,
           DCCBRIDGE_PG_live, DCCBRIDGE_PG_live_runtime, *HISTORY_CLASSES, DCCBRIDGE_PG_settings, DCCBRIDGE_PG_runtime)
CLASSES += (_multiview.DCCBRIDGE_PG_multiview,)


def attach():
    _attach_scene()
    _multiview.attach()


def detach():
    _multiview.detach()
    _detach_scene()


__all__ = ["CLASSES", "attach", "detach"]
