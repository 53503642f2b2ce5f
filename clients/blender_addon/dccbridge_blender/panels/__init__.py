from .history import CLASSES as HISTORY_CLASSES
from .live import DCCBRIDGE_PT_image_live, DCCBRIDGE_PT_live
from .main import CLASSES as _MAIN_CLASSES, draw_status_bar
from .multiview import DCCBRIDGE_PT_multiview
from .workspaces import CLASSES as WORKSPACE_CLASSES

CLASSES = (*_MAIN_CLASSES, DCCBRIDGE_PT_live, DCCBRIDGE_PT_image_live, *WORKSPACE_CLASSES, DCCBRIDGE_PT_multiview,
           *HISTORY_CLASSES)
__all__ = ["CLASSES", "draw_status_bar"]
