import bpy
from bpy.props import (BoolProperty, CollectionProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty,
                       StringProperty)

from .adapters import DCCBRIDGE_PG_lora, vae_enum
from .history import DCCBRIDGE_PG_history_runtime, DCCBRIDGE_PG_history_settings, workspace_enum
from .live import DCCBRIDGE_PG_live, DCCBRIDGE_PG_live_runtime
from .reference import DCCBRIDGE_PG_reference


class DCCBRIDGE_PG_name(bpy.types.PropertyGroup):
    """An id from the server's capabilities (models, schedulers, adapters), for search fields and dropdowns."""
    family: StringProperty()
    description: StringProperty()


class DCCBRIDGE_PG_unit(bpy.types.PropertyGroup):
    enabled: BoolProperty(name="Enabled", default=False)
    weight: FloatProperty(name="Weight", default=1.0, min=0.0, max=2.0,
                          description="controlnet_conditioning_scale")
    start: FloatProperty(name="Start", default=0.0, min=0.0, max=1.0, subtype="FACTOR",
                         description="control_guidance_start: fraction of the steps where the unit starts acting")
    end: FloatProperty(name="End", default=1.0, min=0.0, max=1.0, subtype="FACTOR",
                       description="control_guidance_end: fraction of the steps where the unit stops acting")


class DCCBRIDGE_PG_job(bpy.types.PropertyGroup):
    """A server job this scene asked for; kept so a result is never lost (Fetch re-reads it with GetJob)."""
    job_id: StringProperty(name="Job id")
    kind: StringProperty(name="Kind")
    state: StringProperty(name="State")
    message: StringProperty(name="Message")
    applied: BoolProperty(name="Applied", default=False)
    context_json: StringProperty(name="Context", description="What the result is applied to (JSON)")
    result_names: StringProperty(name="Results")


class DCCBRIDGE_PG_settings(bpy.types.PropertyGroup):
    model: StringProperty(name="Model", default="", description="Model id (empty: the server's default)")
    prompt: StringProperty(name="Prompt", default="")
    negative_prompt: StringProperty(name="Negative", default="")
    use_render_size: BoolProperty(name="Render size", default=True,
                                  description="Use the scene's render resolution (× percentage), rounded to 8")
    width: IntProperty(name="Width", default=512, min=64, max=4096, step=8)
    height: IntProperty(name="Height", default=512, min=64, max=4096, step=8)
    steps: IntProperty(name="Steps", default=20, min=1, max=150)
    guidance: FloatProperty(name="Guidance", default=7.5, min=0.0, max=30.0)
    scheduler: StringProperty(name="Scheduler", default="", description="Scheduler id (empty: the model's default)")
    seed_mode: EnumProperty(name="Seed", default="RANDOM", items=(
        ("RANDOM", "Random", "A new random seed each time (reported back)"),
        ("FIXED", "Fixed", "The seed below"),
        ("REUSE", "Reuse last", "The seed of the last result")))
    seed: IntProperty(name="Seed", default=42, min=0)
    last_seed: IntProperty(name="Last seed", default=-1)
    strength: FloatProperty(name="Strength", default=0.75, min=0.01, max=1.0, subtype="FACTOR",
                            description="Depth2Img: how far the result may move from the render")

    unit_depth: PointerProperty(type=DCCBRIDGE_PG_unit)
    unit_pose: PointerProperty(type=DCCBRIDGE_PG_unit)
    unit_canny: PointerProperty(type=DCCBRIDGE_PG_unit)
    unit_reference: PointerProperty(type=DCCBRIDGE_PG_reference)
    depth_normalization: EnumProperty(name="Normalisation", default="AUTO", items=(
        ("AUTO", "Auto", "The model family's default: min-max, the scaling the depth ControlNets were trained on"),
        ("MIN_MAX", "Min-max", "Nearest surface white, farthest dark, per frame (as the ControlNet annotators)"),
        ("PERCENTILE", "Percentile", "Between the 2nd and 98th percentile: stray near pixels cannot flatten the rest"),
        ("NEAR_FAR", "Camera clip range", "Fixed from the camera's clip start/end: the same depth gives the same "
                                          "grey in every frame of an animation")),
        description="How the depth pass becomes grey levels (depth unit, Depth2Img, projection)")
    canny_low: IntProperty(name="Low", default=100, min=0, max=255)
    canny_high: IntProperty(name="High", default=200, min=0, max=255)
    pose_preset: EnumProperty(name="Rig", default="METARIG", items=(
        ("METARIG", "Blender metarig", "Rigify's human meta-rig bone names"),
        ("RIGIFY", "Rigify", "A generated Rigify rig (ORG- bones)"),
        ("MIXAMO", "Mixamo", "mixamorig: bone names"),
        ("TEXT", "Custom (text)", "The JSON mapping in the text block below")))
    pose_text: PointerProperty(name="Mapping", type=bpy.types.Text,
                               description="A text block with a JSON bone → keypoint table (Copy preset makes one)")
    capture_engine: EnumProperty(name="Capture engine", default="CYCLES", items=(
        ("CYCLES", "Cycles", "Exact depth; set samples low"), ("BLENDER_EEVEE", "Eevee", "Fast on a GPU")))
    capture_samples: IntProperty(name="Samples", default=8, min=1, max=4096,
                                 description="Render samples for the depth/colour capture")

    texture_tiling: EnumProperty(name="Tiling", default="BOTH", items=(
        ("BOTH", "Both", ""), ("X", "X", ""), ("Y", "Y", ""), ("NONE", "None", "")))
    texture_pbr: BoolProperty(name="PBR maps", default=True, description="Normal, roughness and height from the albedo")
    upscale_scale: FloatProperty(name="Scale", default=2.0, min=1.0, max=8.0)
    upscale_method: EnumProperty(name="Method", default="AUTO", items=(
        ("AUTO", "Auto", "The server's best"), ("LANCZOS", "Lanczos", ""), ("ESRGAN", "ESRGAN", ""),
        ("SD_X4", "SD x4", ""), ("TILED_DIFFUSION", "Tiled diffusion", "")))
    extend_left: IntProperty(name="Left", default=0, min=0, max=2048, subtype="PIXEL")
    extend_top: IntProperty(name="Top", default=0, min=0, max=2048, subtype="PIXEL")
    extend_right: IntProperty(name="Right", default=256, min=0, max=2048, subtype="PIXEL")
    extend_bottom: IntProperty(name="Bottom", default=0, min=0, max=2048, subtype="PIXEL")
    extend_feather: IntProperty(name="Feather", default=-1, min=-1, max=256, subtype="PIXEL",
                                description="Blend band inside the original; -1: the server's default (32)")
    extend_fill: EnumProperty(name="Fill", default="EDGE", items=(
        ("EDGE", "Edge extend", "Border pixels replicated outward, blurred with distance"),
        ("INPAINT_TELEA", "Inpaint (Telea)", "OpenCV inpainting"), ("INPAINT_NS", "Inpaint (Navier-Stokes)", "")))
    restore_faces: BoolProperty(name="Restore faces", default=False,
                                description="Restore faces in the result (generate, upscale, extend): the server "
                                            "finds each face, restores it and blends it back")
    face_restorer: StringProperty(name="Restorer", default="",
                                  description="Face restorer id (empty: the server's default); licences differ")
    face_strength: FloatProperty(name="Face strength", default=1.0, min=0.0, max=1.0, subtype="FACTOR",
                                 description="How much of the restored face replaces the original")
    anim_use_scene_range: BoolProperty(name="Scene range", default=True)
    anim_start: IntProperty(name="Start", default=1)
    anim_end: IntProperty(name="End", default=2)

    loras: CollectionProperty(type=DCCBRIDGE_PG_lora)
    embeddings_used: CollectionProperty(type=DCCBRIDGE_PG_name,
                                        description="Embeddings inserted into the prompt (recognised before connecting)")
    vae_id: StringProperty(name="VAE id", default="", description="The server's VAE id (empty: the model's own)")
    vae: vae_enum()

    jobs: CollectionProperty(type=DCCBRIDGE_PG_job)
    live: PointerProperty(type=DCCBRIDGE_PG_live)
    workspace: workspace_enum()
    history: PointerProperty(type=DCCBRIDGE_PG_history_settings)
    source_image: PointerProperty(name="Image", type=bpy.types.Image,
                                  description="The image the Upscale workspace upscales or extends")


class DCCBRIDGE_PG_runtime(bpy.types.PropertyGroup):
    """What is happening now (not saved with the file's meaning; lives on the window manager)."""
    status: StringProperty(name="Status", default="")
    error: StringProperty(name="Error", default="")
    progress: FloatProperty(name="Progress", default=0.0, min=0.0, max=1.0, subtype="FACTOR")
    busy: BoolProperty(default=False)
    retry_job_id: StringProperty(default="")
    server_version: StringProperty(default="")
    device: StringProperty(default="")
    default_model: StringProperty(default="")
    models: CollectionProperty(type=DCCBRIDGE_PG_name)
    loras: CollectionProperty(type=DCCBRIDGE_PG_name)
    embeddings: CollectionProperty(type=DCCBRIDGE_PG_name)
    vaes: CollectionProperty(type=DCCBRIDGE_PG_name)
    # The IP-Adapters of the server's models (family = the model id they belong to), for the Reference unit.
    reference_adapters: CollectionProperty(type=DCCBRIDGE_PG_name)
    schedulers: CollectionProperty(type=DCCBRIDGE_PG_name)
    restorers: CollectionProperty(type=DCCBRIDGE_PG_name)  # description: architecture and licence
    preview_image: PointerProperty(type=bpy.types.Image)
    live: PointerProperty(type=DCCBRIDGE_PG_live_runtime)
    history: PointerProperty(type=DCCBRIDGE_PG_history_runtime)


def attach():
    bpy.types.Scene.dccbridge = PointerProperty(type=DCCBRIDGE_PG_settings)
    bpy.types.WindowManager.dccbridge = PointerProperty(type=DCCBRIDGE_PG_runtime)


def detach():
    del bpy.types.WindowManager.dccbridge
    del bpy.types.Scene.dccbridge
