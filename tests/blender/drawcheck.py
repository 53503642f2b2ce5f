"""Inside Blender (tests/blender/scenarios.py): the add-on's panels drawn without a UI, each call checked.

Background Blender (and the `bpy` module) has no window to draw into, so a UI that breaks in a newer Blender — a
renamed icon, a removed property or keyword — would pass every other test. DrawCheck stands in for UILayout.
"""

import types

import bpy


class DrawCheck:
    """Stands in for UILayout, which background Blender has none of: a panel's draw() runs against it and every
    call is checked against the running Blender's RNA — the function exists, its keywords exist, enum values
    (icons) are valid, prop() names a property of its data, operator() an operator and its properties."""

    def __init__(self, problems, calls):
        object.__setattr__(self, "_problems", problems)
        object.__setattr__(self, "_calls", calls)

    def __setattr__(self, name, value):           # box.alert = True, sub.enabled = ...
        if name not in bpy.types.UILayout.bl_rna.properties:
            self._problems.append(f"UILayout has no property {name}")

    def __getattr__(self, name):
        function = bpy.types.UILayout.bl_rna.functions.get(name)

        def call(*args, **kwargs):
            self._calls.append(name)
            if function is None:
                self._problems.append(f"UILayout has no {name}()")
                return DrawCheck(self._problems, self._calls)
            for key, value in kwargs.items():
                param = function.parameters.get(key)
                if param is None:
                    self._problems.append(f"{name}(): no keyword {key}")
                elif param.type == "ENUM" and isinstance(value, str) and value and value not in param.enum_items:
                    self._problems.append(f"{name}(): {key}={value!r} is not valid here")
            if name in ("prop", "prop_search"):
                pairs = [args[:2]] + ([args[2:4]] if name == "prop_search" else [])
                for data, prop in pairs:
                    data = getattr(data, "_target", data)
                    if prop not in data.bl_rna.properties:
                        self._problems.append(f"{name}(): {type(data).__name__} has no property {prop}")
            if name == "operator":
                module, _, op = args[0].partition(".")
                if not hasattr(getattr(bpy.ops, module), op):
                    self._problems.append(f"operator(): no operator {args[0]}")
                    return DrawCheck(self._problems, self._calls)
                return OperatorCheck(getattr(getattr(bpy.ops, module), op).get_rna_type(), self._problems)
            return DrawCheck(self._problems, self._calls)
        return call


class OperatorCheck:
    def __init__(self, rna, problems):
        object.__setattr__(self, "_rna", rna)
        object.__setattr__(self, "_problems", problems)

    def __setattr__(self, name, value):
        if name not in self._rna.properties:
            self._problems.append(f"operator {self._rna.identifier} has no property {name}")


class DrawSelf:
    """The `self` a draw() sees: the layout stand-in, everything else from the real struct (preferences)."""

    def __init__(self, layout, target=None):
        self.layout, self._target = layout, target

    def __getattr__(self, name):
        return getattr(self._target, name)


def draw_every_panel(addon, module: str, image=None) -> dict:
    """Every panel and the preferences drawn once against DrawCheck: what they would call in the UI."""
    problems, calls = [], []
    context = types.SimpleNamespace(scene=bpy.context.scene, window_manager=bpy.context.window_manager,
                                    preferences=bpy.context.preferences,
                                    active_object=bpy.context.view_layer.objects.active,
                                    space_data=types.SimpleNamespace(image=image))
    prefs = bpy.context.preferences.addons[module].preferences
    for cls in addon.CLASSES:
        if issubclass(cls, bpy.types.Panel):
            cls.draw(DrawSelf(DrawCheck(problems, calls)), context)
        elif issubclass(cls, bpy.types.AddonPreferences):
            cls.draw(DrawSelf(DrawCheck(problems, calls), prefs), context)
    addon.panels.draw_status_bar(DrawSelf(DrawCheck(problems, calls)), context)
    return {"problems": sorted(set(problems)), "calls": len(calls)}
