from .adapters import DCCBRIDGE_OT_insert_embedding, DCCBRIDGE_OT_lora_add, DCCBRIDGE_OT_lora_remove
from .connection import DCCBRIDGE_OT_test_connection
from .generate import (DCCBRIDGE_OT_animation, DCCBRIDGE_OT_cancel, DCCBRIDGE_OT_depth2img, DCCBRIDGE_OT_fetch_job,
                       DCCBRIDGE_OT_generate, DCCBRIDGE_OT_show_control_map)
from .history import CLASSES as HISTORY_CLASSES
from .image import DCCBRIDGE_OT_extend_image, DCCBRIDGE_OT_upscale
from .live import DCCBRIDGE_OT_live
from .materials import DCCBRIDGE_OT_project_material, DCCBRIDGE_OT_texture_material
from .multiview import DCCBRIDGE_OT_propose_views, DCCBRIDGE_OT_texture_from_views
from .pose import DCCBRIDGE_OT_copy_pose_preset

CLASSES = (DCCBRIDGE_OT_test_connection, DCCBRIDGE_OT_generate, DCCBRIDGE_OT_depth2img, DCCBRIDGE_OT_animation,
           DCCBRIDGE_OT_show_control_map, DCCBRIDGE_OT_cancel, DCCBRIDGE_OT_fetch_job, DCCBRIDGE_OT_upscale,
           DCCBRIDGE_OT_texture_material, DCCBRIDGE_OT_project_material, DCCBRIDGE_OT_copy_pose_preset,
           DCCBRIDGE_OT_lora_add, DCCBRIDGE_OT_lora_remove, DCCBRIDGE_OT_insert_embedding, DCCBRIDGE_OT_extend_image)
CLASSES += (DCCBRIDGE_OT_live, DCCBRIDGE_OT_propose_views, DCCBRIDGE_OT_texture_from_views, *HISTORY_CLASSES)
