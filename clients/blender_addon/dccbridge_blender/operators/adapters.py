import bpy

from .. import adapters
from ..properties.adapters import NOTHING, matching


class DCCBRIDGE_OT_lora_add(bpy.types.Operator):
    """Add a LoRA row (choose the LoRA and its weight in the row)"""
    bl_idname = "dccbridge.lora_add"
    bl_label = "Add LoRA"
    bl_options = {"REGISTER", "UNDO"}

    lora_id: bpy.props.StringProperty(name="LoRA id", description="Preselect this LoRA (empty: choose in the row)")

    def execute(self, context):
        row = context.scene.dccbridge.loras.add()
        row.lora_id = self.lora_id
        return {"FINISHED"}


class DCCBRIDGE_OT_lora_remove(bpy.types.Operator):
    """Remove this LoRA row"""
    bl_idname = "dccbridge.lora_remove"
    bl_label = "Remove LoRA"
    bl_options = {"REGISTER", "UNDO"}

    index: bpy.props.IntProperty(min=0)

    def execute(self, context):
        loras = context.scene.dccbridge.loras
        if self.index >= len(loras):
            return {"CANCELLED"}
        loras.remove(self.index)
        return {"FINISHED"}


_EMBEDDING_ITEMS: list = []  # Blender needs the dynamic items' strings kept alive


def _embedding_items(self, context):
    _EMBEDDING_ITEMS[:] = [(item["id"], item["id"], item["description"] or f"Token: {item['id']}")
                           for item in matching(context or bpy.context, "embeddings")]
    return _EMBEDDING_ITEMS or [(NOTHING, "No embeddings for this model", "")]


class DCCBRIDGE_OT_insert_embedding(bpy.types.Operator):
    """Write an embedding's token into the prompt; embeddings whose tokens are in the prompt are sent with the job"""
    bl_idname = "dccbridge.insert_embedding"
    bl_label = "Insert embedding"
    bl_property = "embedding"
    bl_options = {"REGISTER", "UNDO"}

    embedding: bpy.props.EnumProperty(name="Embedding", items=_embedding_items)
    target: bpy.props.EnumProperty(name="Into", default="PROMPT", items=(
        ("PROMPT", "Prompt", "Append the token to the prompt"),
        ("NEGATIVE", "Negative", "Append the token to the negative prompt")))

    def invoke(self, context, event):
        # The button opens a searchable list of the embeddings that fit the model; choosing one runs execute.
        context.window_manager.invoke_search_popup(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        settings = context.scene.dccbridge
        token = self.embedding
        if token == NOTHING:
            self.report({"ERROR"}, "The server offers no embeddings for this model (Test connection to refresh)")
            return {"CANCELLED"}
        key = "prompt" if self.target == "PROMPT" else "negative_prompt"
        setattr(settings, key, adapters.insert_token(getattr(settings, key), token))
        if token not in settings.embeddings_used:
            settings.embeddings_used.add().name = token
        return {"FINISHED"}
