"""The "Restore faces" controls, drawn in the sampling panel (generate) and the Image Editor panel (upscale,
extend): a toggle, the restorer (from the server's capabilities, with its licence) and the blend strength."""


def draw_restore_faces(layout, settings, rt) -> None:
    col = layout.column(align=True)
    col.prop(settings, "restore_faces", icon="USER")
    sub = col.column(align=True)
    sub.active = settings.restore_faces
    sub.prop_search(settings, "face_restorer", rt, "restorers", text="Restorer")
    sub.prop(settings, "face_strength")
    chosen = rt.restorers.get(settings.face_restorer) if settings.face_restorer else None
    if chosen is not None and chosen.description:
        sub.label(text=chosen.description)
