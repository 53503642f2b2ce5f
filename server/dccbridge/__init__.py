"""dccbridge: one inference server for Blender, Photoshop and Unity."""

__version__ = "0.1.0"
API_VERSION = "v1"
