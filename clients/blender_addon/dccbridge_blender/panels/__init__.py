from .live import DCCBRIDGE_PT_image_live, DCCBRIDGE_PT_live
from .main import CLASSES, draw_status_bar

CLASSES = (*CLASSES, DCCBRIDGE_PT_live, DCCBRIDGE_PT_image_live)

__all__ = ["CLASSES", "draw_status_bar"]
