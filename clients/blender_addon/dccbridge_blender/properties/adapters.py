"""LoRA rows and the LoRA/VAE dropdowns: the scene stores ids as strings (they survive save/load whatever the
server lists); the dropdowns are dynamic enums over the server's adapters of the chosen model's family, plus the
stored id marked unavailable when the server no longer offers it for that family."""

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, StringProperty

from .. import adapters

NOTHING = "__none__"   # the "nothing chosen" item of a dropdown (an empty identifier would be a menu heading)
MODEL_VAE = "__model__"
# Blender needs Python to keep the strings of dynamic enum items alive while they are shown.
_ITEMS_ALIVE: dict = {}


def catalog(context) -> dict | None:
    """The server's models and adapters from the last Test connection; None while not connected."""
    return catalog_of(getattr(context.window_manager, "dccbridge", None))


def catalog_of(rt) -> dict | None:
    if rt is None or not rt.server_version:
        return None

    def listing(collection):
        return [{"id": item.name, "family": item.family, "description": item.description} for item in collection]

    return {"models": listing(rt.models), "default_model": rt.default_model, "loras": listing(rt.loras),
            "embeddings": listing(rt.embeddings), "vaes": listing(rt.vaes)}


def chosen(rt, settings) -> tuple[dict, list]:
    """What the scene's LoRA rows, prompt tokens and VAE send, and the problems that stop a job (adapters.choose)."""
    rows = [(row.lora_id.strip(), row.weight, row.enabled) for row in settings.loras]
    return adapters.choose(catalog_of(rt), settings.model.strip(), rows,
                           (settings.prompt, settings.negative_prompt),
                           [item.name for item in settings.embeddings_used], settings.vae_id.strip())


def model_family(context) -> str | None:
    known = catalog(context)
    if known is None:
        return None
    return adapters.family_of(context.scene.dccbridge.model.strip(), known["models"], known["default_model"])


def matching(context, kind: str) -> list[dict]:
    """The server's adapters of `kind` that fit the chosen model."""
    known = catalog(context)
    return [] if known is None else adapters.offered(known[kind], model_family(context))


def stale_reason(context, kind: str, adapter_id: str) -> str:
    """Why a stored id cannot be sent now ("" when it can, or when not connected and nobody can tell)."""
    known = catalog(context)
    if not adapter_id or known is None or adapter_id in {item["id"] for item in matching(context, kind)}:
        return ""
    return adapters.unavailable(kind, adapter_id, model_family(context), known[kind],
                                context.scene.dccbridge.model.strip())


def _items(context, kind: str, current: str, empty: tuple) -> list:
    context = context or bpy.context
    items = [(*empty, "NONE", 0)]
    for item in matching(context, kind):
        items.append((item["id"], item["id"], item["description"] or f"{item['family']} {kind[:-1]}", "NONE",
                      len(items)))
    if current and current not in {item[0] for item in items}:
        why = stale_reason(context, kind, current) or "not checked: Test connection to list the server's choices"
        items.append((current, f"{current} (unavailable)" if catalog(context) else current, why,
                      "ERROR" if catalog(context) else "QUESTION", len(items)))
    _ITEMS_ALIVE[(kind, current)] = items
    return items


def _index_of(items, value: str) -> int:
    return next((number for identifier, *_, number in items if identifier == value), 0)


def _lora_items(self, context):
    return _items(context, "loras", self.lora_id, (NOTHING, "Choose a LoRA…", "Pick one of the server's LoRAs"))


def _get_lora(self):
    return _index_of(_lora_items(self, None), self.lora_id or NOTHING)


def _set_lora(self, number):
    identifier = next(i for i, *_, n in _lora_items(self, None) if n == number)
    self.lora_id = "" if identifier == NOTHING else identifier


def _vae_items(self, context):
    return _items(context, "vaes", self.vae_id, (MODEL_VAE, "Model's own", "The VAE that comes with the model"))


def _get_vae(self):
    return _index_of(_vae_items(self, None), self.vae_id or MODEL_VAE)


def _set_vae(self, number):
    identifier = next(i for i, *_, n in _vae_items(self, None) if n == number)
    self.vae_id = "" if identifier == MODEL_VAE else identifier


class DCCBRIDGE_PG_lora(bpy.types.PropertyGroup):
    """One LoRA row: which LoRA (by id), how strongly, and whether it is on."""
    enabled: BoolProperty(name="Use", default=True, description="Send this LoRA with the jobs")
    lora_id: StringProperty(name="LoRA id", description="The server's LoRA id (kept in the .blend)")
    lora: EnumProperty(name="LoRA", items=_lora_items, get=_get_lora, set=_set_lora,
                       description="The server's LoRAs for the chosen model's family")
    weight: FloatProperty(name="Weight", default=1.0, min=-4.0, max=4.0,
                          description="How strongly the LoRA acts (0 = not at all; negative pushes away from it)")


def vae_enum():
    """The VAE dropdown for the scene settings (backed by settings.vae_id)."""
    return EnumProperty(name="VAE", items=_vae_items, get=_get_vae, set=_set_vae,
                        description="Decode with this VAE instead of the model's own (the server's VAEs for the "
                                    "chosen model's family)")
