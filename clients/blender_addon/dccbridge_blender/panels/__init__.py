from .main import CLASSES, draw_status_bar

__all__ = ["CLASSES", "draw_status_bar"]
