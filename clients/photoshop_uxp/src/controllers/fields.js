// Task fields that come from the form alone: the form's choices as wire enums, and the parts of a task that are
// plain data (a depth layer's grey as a DepthPass, an upscale's method and sampling). No document, no network.
import { encodePNG16 } from "../image/codec.js";
import { DepthEncoding, DepthNormalization, TilingAxes, UpscaleMethod } from "../transport/bridge.js";

// form.depthNormalization: "as_painted" sends the layer as a finished map (near = bright, used as is); the others
// send its grey as inverse depth (black = background) for the server to rescale: "auto" = the model family's
// default (min-max, as the depth ControlNets' annotators), or min-max / percentile explicitly.
const DEPTH_NORMALIZATIONS = {
  auto: DepthNormalization.UNSPECIFIED, min_max: DepthNormalization.MIN_MAX, percentile: DepthNormalization.PERCENTILE,
};
const UPSCALE_METHODS = {
  auto: UpscaleMethod.UNSPECIFIED, lanczos: UpscaleMethod.LANCZOS, esrgan: UpscaleMethod.ESRGAN,
  sd_x4: UpscaleMethod.SD_X4, tiled: UpscaleMethod.TILED_DIFFUSION,
};
const TILING = { none: TilingAxes.NONE, x: TilingAxes.X, y: TilingAxes.Y, both: TilingAxes.BOTH };

/** A depth map layer's grey (near = bright) as a DepthPass, read as the form's depthNormalization says. */
export function depthPassFromGray(gray, choice) {
  const rescale = DEPTH_NORMALIZATIONS[choice];
  return {
    data: { case: "png16", value: encodePNG16(gray) }, width: gray.width, height: gray.height,
    encoding: rescale === undefined ? DepthEncoding.NORMALIZED : DepthEncoding.INVERSE, png16Scale: 1 / 65535,
    normalization: rescale ?? DepthNormalization.UNSPECIFIED,
  };
}

export const upscaleMethod = (choice) => UPSCALE_METHODS[choice] ?? UpscaleMethod.UNSPECIFIED;

/** The diffusion upscale methods (SD x4, tiled) take steps and seed; their guidance and strength keep the server's defaults. */
export const upscaleSampling = (form) => ({
  ...(["sd_x4", "tiled"].includes(form.upscaleMethod) ? { numInferenceSteps: Number(form.steps) } : {}),
  ...(Number(form.seed) >= 0 ? { seed: BigInt(Math.floor(Number(form.seed))) } : {}),
});

export const tilingAxes = (choice) => TILING[choice] ?? TilingAxes.BOTH;
