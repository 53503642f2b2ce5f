// "Restore faces": the finishing option (FaceRestoration) that generate, upscale and extend canvas send when the
// form's toggle is on, and the restorers the server offers (with their licences: several are non-commercial).
// Plain data: no document, no network.

/** The task field for the form: { restoreFaces } when the toggle is on, else nothing. */
export function restoreFacesField(form) {
  if (!form.restoreFaces) return {};
  const strength = Number(form.faceStrength);
  return {
    restoreFaces: {
      enabled: true,
      restorerId: form.faceRestorerId ?? "",
      ...(Number.isFinite(strength) ? { strength } : {}),
    },
  };
}

/** The capabilities' restorers as menu entries: "id (Architecture · licence[ · non-commercial])". */
export const restorerOptions = (caps) => (caps.restorers ?? []).map((r) => ({
  id: r.id,
  label: `${r.id} (${[r.architecture, r.license, r.commercialUse ? "" : "non-commercial"].filter(Boolean).join(" · ")})`,
  commercialUse: r.commercialUse,
}));
