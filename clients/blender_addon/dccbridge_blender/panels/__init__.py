from .live import DCCBRIDGE_PT_image_live, DCCBRIDGE_PT_live
from .main import CLASSES as _MAIN_CLASSES, draw_status_bar
from .multiview import DCCBRIDGE_PT_multiview

CLASSES = (*_MAIN_CLASSES, DCCBRIDGE_PT_live, DCCBRIDGE_PT_image_live, DCCBRIDGE_PT_multiview)

__all__ = ["CLASSES", "draw_status_bar"]
