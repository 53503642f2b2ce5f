// The one place where domain types meet the wire: proto3 JSON as Connect writes it
// (lowerCamelCase names, int64 as strings, bytes as base64, enums by name, defaults left out).
using System;
using System.Collections.Generic;
using System.Globalization;

namespace DccBridge.Core
{
    public static class WireFormat
    {
        // -- requests ------------------------------------------------------------------------------

        public static JsonValue SubmitRequest(JsonValue task, JobOptions options)
        {
            var request = JsonValue.NewObject().Set("task", task);
            if (options != null) request.Set("options", Options(options));
            return request;
        }

        public static JsonValue Options(JobOptions o)
        {
            var j = JsonValue.NewObject();
            if (o.PreviewEveryNSteps > 0) j.Set("previewEveryNSteps", o.PreviewEveryNSteps);
            if (o.PreviewMaxSize > 0) j.Set("previewMaxSize", o.PreviewMaxSize);
            if (!string.IsNullOrEmpty(o.Label)) j.Set("label", o.Label);
            if (o.OmitImageData) j.Set("omitImageData", true);
            return j;
        }

        public static JsonValue Task(GenerateRequest r)
        {
            var g = Diffusion(r);
            if (r.InitImagePng != null) g.Set("initImage", Image(r.InitImagePng));
            if (r.Strength.HasValue) g.Set("strength", r.Strength.Value);
            if (r.MaskPng != null) g.Set("maskImage", Image(r.MaskPng));
            if (r.ControlUnits.Count > 0) g.Set("controlUnits", Units(r.ControlUnits));
            FaceRestorationWire.Set(g, r.RestoreFaces);
            return JsonValue.NewObject().Set("generate", g);
        }

        public static JsonValue Task(Depth2ImgRequest r)
        {
            var d = Diffusion(r);
            if (r.InitImagePng != null) d.Set("initImage", Image(r.InitImagePng));
            if (r.Strength.HasValue) d.Set("strength", r.Strength.Value);
            if (r.DepthPass != null) d.Set("depthPass", Depth(r.DepthPass));
            return JsonValue.NewObject().Set("depth2img", d);
        }

        public static JsonValue Task(TextureRequest r)
        {
            var t = Diffusion(r);
            t.Set("tiling", "TILING_AXES_" + r.Tiling.ToString().ToUpperInvariant());
            if (r.PbrMaps) t.Set("pbrMaps", true);
            t.Set("normalConvention", "NORMAL_CONVENTION_OPENGL");   // Unity is +Y up
            if (r.InitImagePng != null) t.Set("initImage", Image(r.InitImagePng));
            if (r.Strength.HasValue) t.Set("strength", r.Strength.Value);
            if (r.ControlUnits.Count > 0) t.Set("controlUnits", Units(r.ControlUnits));
            if (r.ProjectionCamera != null)
            {
                var view = JsonValue.NewObject();
                if (r.ProjectionDepth != null) view.Set("depthPass", Depth(r.ProjectionDepth));
                if (r.ProjectionViewPng != null) view.Set("viewImage", Image(r.ProjectionViewPng));
                view.Set("camera", Camera(r.ProjectionCamera));
                t.Set("projection", view);
            }
            return JsonValue.NewObject().Set("texture", t);
        }

        public static JsonValue Task(UpscaleRequest r)
        {
            var u = JsonValue.NewObject().Set("image", Image(r.ImagePng));
            if (r.Method != UpscaleMethod.Auto) u.Set("method", "UPSCALE_METHOD_" + UpscaleName(r.Method));
            if (!string.IsNullOrEmpty(r.UpscalerId)) u.Set("upscalerId", r.UpscalerId);
            if (r.Scale.HasValue) u.Set("scale", r.Scale.Value);
            if (!string.IsNullOrEmpty(r.ModelId)) u.Set("modelId", r.ModelId);
            if (!string.IsNullOrEmpty(r.Prompt)) u.Set("prompt", r.Prompt);
            if (!string.IsNullOrEmpty(r.NegativePrompt)) u.Set("negativePrompt", r.NegativePrompt);
            if (r.Steps.HasValue || r.Seed.HasValue)
            {
                var s = JsonValue.NewObject();
                if (r.Steps.HasValue) s.Set("numInferenceSteps", r.Steps.Value);
                if (r.Seed.HasValue) s.Set("seed", JsonValue.Str(r.Seed.Value.ToString(CultureInfo.InvariantCulture)));
                u.Set("sampling", s);
            }
            if (r.Strength.HasValue) u.Set("strength", r.Strength.Value);
            SetAdapters(u, r.Adapters);
            FaceRestorationWire.Set(u, r.RestoreFaces);
            return JsonValue.NewObject().Set("upscale", u);
        }

        /// <summary>PreprocessTask: the control map a unit would use (role "control"), for previews.</summary>
        public static JsonValue PreprocessTask(ControlUnitSpec unit, int width, int height)
        {
            var p = JsonValue.NewObject().Set("unit", Unit(unit));
            if (width > 0) p.Set("width", width);
            if (height > 0) p.Set("height", height);
            return JsonValue.NewObject().Set("preprocess", p);
        }

        private static string UpscaleName(UpscaleMethod m)
        {
            switch (m)
            {
                case UpscaleMethod.Lanczos: return "LANCZOS";
                case UpscaleMethod.Esrgan: return "ESRGAN";
                case UpscaleMethod.SdX4: return "SD_X4";
                case UpscaleMethod.TiledDiffusion: return "TILED_DIFFUSION";
                default: return "UNSPECIFIED";
            }
        }

        private static JsonValue Diffusion(DiffusionParams p)
        {
            var j = JsonValue.NewObject();
            if (!string.IsNullOrEmpty(p.ModelId)) j.Set("modelId", p.ModelId);
            j.Set("prompt", p.Prompt ?? "");
            if (!string.IsNullOrEmpty(p.NegativePrompt)) j.Set("negativePrompt", p.NegativePrompt);
            if (p.Width > 0) j.Set("width", p.Width);
            if (p.Height > 0) j.Set("height", p.Height);
            var s = JsonValue.NewObject();
            if (p.Steps.HasValue) s.Set("numInferenceSteps", p.Steps.Value);
            if (p.GuidanceScale.HasValue) s.Set("guidanceScale", p.GuidanceScale.Value);
            if (!string.IsNullOrEmpty(p.Scheduler)) s.Set("scheduler", p.Scheduler);
            if (p.Seed.HasValue) s.Set("seed", JsonValue.Str(p.Seed.Value.ToString(CultureInfo.InvariantCulture)));
            if (p.BatchSize.HasValue) s.Set("numImagesPerPrompt", p.BatchSize.Value);
            if (s.Count > 0) j.Set("sampling", s);
            SetAdapters(j, p.Adapters);
            return j;
        }

        /// <summary>Adapters { loras: [{id, weight}], embeddings: [id], vaeId }, left out when nothing is chosen.</summary>
        public static void SetAdapters(JsonValue task, AdapterSelection a)
        {
            if (a == null || a.IsEmpty) return;
            var j = JsonValue.NewObject();
            if (a.Loras.Count > 0)
            {
                var loras = JsonValue.NewArray();
                foreach (var lora in a.Loras)
                {
                    var l = JsonValue.NewObject().Set("id", lora.Id ?? "");
                    if (lora.Weight.HasValue) l.Set("weight", lora.Weight.Value);
                    loras.Add(l);
                }
                j.Set("loras", loras);
            }
            if (a.Embeddings.Count > 0)
            {
                var embeddings = JsonValue.NewArray();
                foreach (var e in a.Embeddings) embeddings.Add(JsonValue.Str(e));
                j.Set("embeddings", embeddings);
            }
            if (!string.IsNullOrEmpty(a.VaeId)) j.Set("vaeId", a.VaeId);
            task.Set("adapters", j);
        }

        public static JsonValue Image(byte[] png)
        {
            return JsonValue.NewObject().Set("data", Convert.ToBase64String(png));
        }

        public static JsonValue Units(List<ControlUnitSpec> units)
        {
            var arr = JsonValue.NewArray();
            foreach (var u in units) arr.Add(Unit(u));
            return arr;
        }

        public static JsonValue Unit(ControlUnitSpec u)
        {
            var j = JsonValue.NewObject().Set("controlType", "CONTROL_TYPE_" + u.Type.ToString().ToUpperInvariant());
            if (u.Weight.HasValue) j.Set("controlnetConditioningScale", u.Weight.Value);
            if (u.GuidanceStart.HasValue) j.Set("controlGuidanceStart", u.GuidanceStart.Value);
            if (u.GuidanceEnd.HasValue) j.Set("controlGuidanceEnd", u.GuidanceEnd.Value);
            if (!string.IsNullOrEmpty(u.ControlnetId)) j.Set("controlnetId", u.ControlnetId);
            if (!string.IsNullOrEmpty(u.AdapterId)) j.Set("adapterId", u.AdapterId);
            int sources = (u.ImagePng != null ? 1 : 0) + (u.PreprocessPng != null ? 1 : 0) +
                          (u.DepthPass != null ? 1 : 0) + (u.PoseRig != null ? 1 : 0) + (u.ReferencePngs != null ? 1 : 0);
            if (sources != 1)
                throw new ArgumentException("a control unit needs exactly one source (image, preprocess, depth pass, pose rig or reference images), got " + sources);
            if ((u.ReferencePngs != null) != (u.Type == ControlType.Reference))
                throw new ArgumentException("reference images go with ControlType.Reference units only (ControlUnitSpec.ReferenceFrom)");
            if (u.ReferencePngs != null) j.Set("reference", Reference(u));
            if (u.ImagePng != null) j.Set("image", Image(u.ImagePng));
            if (u.PreprocessPng != null)
            {
                var pre = JsonValue.NewObject().Set("image", Image(u.PreprocessPng));
                if (u.CannyLow.HasValue || u.CannyHigh.HasValue)
                {
                    var canny = JsonValue.NewObject();
                    if (u.CannyLow.HasValue) canny.Set("lowThreshold", u.CannyLow.Value);
                    if (u.CannyHigh.HasValue) canny.Set("highThreshold", u.CannyHigh.Value);
                    pre.Set("canny", canny);
                }
                j.Set("preprocess", pre);
            }
            if (u.DepthPass != null) j.Set("depthPass", Depth(u.DepthPass));
            if (u.PoseRig != null) j.Set("poseRig", Pose(u.PoseRig));
            return j;
        }

        public static JsonValue Reference(ControlUnitSpec u)
        {
            var images = JsonValue.NewArray();
            foreach (var png in u.ReferencePngs) images.Add(Image(png));
            var reference = JsonValue.NewObject().Set("images", images);
            if (u.ReferenceWeights.Count > 0)
            {
                var weights = JsonValue.NewArray();
                foreach (var w in u.ReferenceWeights) weights.Add(JsonValue.Number(w));
                reference.Set("weights", weights);
            }
            return reference;
        }

        public static JsonValue Depth(DepthPassData d)
        {
            var j = JsonValue.NewObject()
                .Set("float32Le", Convert.ToBase64String(d.Float32Le))
                .Set("width", d.Width)
                .Set("height", d.Height)
                .Set("encoding", "DEPTH_ENCODING_" + d.Encoding.ToString().ToUpperInvariant());
            if (d.Near > 0) j.Set("near", d.Near);
            if (d.Far > 0) j.Set("far", d.Far);
            if (d.Normalization != DepthNormalization.Auto) j.Set("normalization", NormalizationName(d.Normalization));
            return j;
        }

        public static string NormalizationName(DepthNormalization n)
        {
            switch (n)
            {
                case DepthNormalization.Percentile: return "DEPTH_NORMALIZATION_PERCENTILE";
                case DepthNormalization.MinMax: return "DEPTH_NORMALIZATION_MIN_MAX";
                case DepthNormalization.NearFar: return "DEPTH_NORMALIZATION_NEAR_FAR";
                default: return "DEPTH_NORMALIZATION_UNSPECIFIED";
            }
        }

        public static JsonValue Pose(PoseRigData rig)
        {
            var people = JsonValue.NewArray();
            foreach (var person in rig.People)
            {
                if (person.Length != HumanoidPose.KeypointCount)
                    throw new ArgumentException("a person needs exactly 18 COCO-18 keypoints, got " + person.Length);
                var body = JsonValue.NewArray();
                foreach (var k in person)
                {
                    var kp = JsonValue.NewObject();
                    if (k.Visible)
                    {
                        kp.Set("x", (double)k.X).Set("y", (double)k.Y).Set("visible", true);
                    }
                    body.Add(kp);
                }
                people.Add(JsonValue.NewObject().Set("body", body));
            }
            return JsonValue.NewObject()
                .Set("canvasWidth", rig.CanvasWidth)
                .Set("canvasHeight", rig.CanvasHeight)
                .Set("people", people);
        }

        public static JsonValue Camera(CameraData c)
        {
            if (c.CameraToWorld == null || c.CameraToWorld.Length != 16)
                throw new ArgumentException("camera_to_world needs 16 numbers");
            var m = JsonValue.NewArray();
            foreach (var v in c.CameraToWorld) m.Add(JsonValue.Number((double)v));
            var j = JsonValue.NewObject()
                .Set("cameraToWorld", m)
                .Set("projection", c.Orthographic ? "CAMERA_PROJECTION_ORTHOGRAPHIC" : "CAMERA_PROJECTION_PERSPECTIVE")
                .Set("near", c.Near).Set("far", c.Far).Set("host", c.Host ?? "unity");
            if (c.Orthographic) j.Set("orthoHeight", c.OrthoHeight); else j.Set("fovYDegrees", c.FovYDegrees);
            if (c.Width > 0 && c.Height > 0) j.Set("width", c.Width).Set("height", c.Height);
            return j;
        }

        public static JsonValue GetJobRequest(string jobId, int waitMs, long afterSequence, bool omitImageData)
        {
            var j = JsonValue.NewObject().Set("jobId", jobId);
            if (waitMs > 0) j.Set("waitMs", waitMs);
            if (afterSequence > 0) j.Set("afterSequence", JsonValue.Str(afterSequence.ToString(CultureInfo.InvariantCulture)));
            if (omitImageData) j.Set("omitImageData", true);
            return j;
        }

        // -- responses -----------------------------------------------------------------------------

        public static Capabilities ParseCapabilities(JsonValue j)
        {
            var caps = new Capabilities
            {
                ServerVersion = j["serverVersion"].AsString(),
                ApiVersion = j["apiVersion"].AsString(),
                DeviceType = j["device"]["type"].AsString(),
                DeviceName = j["device"]["name"].AsString(),
                DefaultModelId = j["defaultModelId"].AsString(),
            };
            foreach (var m in j["models"].Items)
            {
                var info = new ModelInfo
                {
                    Id = m["id"].AsString(),
                    Family = m["family"].AsString(),
                    IsDefault = m["isDefault"].AsBool(),
                    DefaultWidth = m["defaultWidth"].AsInt(),
                    DefaultHeight = m["defaultHeight"].AsInt(),
                    DefaultSteps = m["defaultSteps"].AsInt(),
                    DefaultGuidanceScale = m["defaultGuidanceScale"].AsFloat(),
                    Description = m["description"].AsString(),
                };
                foreach (var t in m["tasks"].Items) info.Tasks.Add(StripPrefix(t.AsString(), "TASK_TYPE_"));
                foreach (var c in m["controlTypes"].Items)
                {
                    ControlType ct;
                    if (TryControlType(c.AsString(), out ct)) info.ControlTypes.Add(ct);
                }
                info.ReferenceAdapters.AddRange(ParseAdapters(m["referenceAdapters"]));
                caps.Models.Add(info);
            }
            foreach (var s in j["schedulers"].Items) caps.Schedulers.Add(s["id"].AsString());
            foreach (var s in j["upscalers"].Items) caps.Upscalers.Add(s["id"].AsString());
            foreach (var f in j["features"].Items) caps.Features.Add(f.AsString());
            var l = j["limits"];
            caps.MaxWidth = l["maxWidth"].AsInt();
            caps.MaxHeight = l["maxHeight"].AsInt();
            caps.MaxPixels = l["maxPixels"].AsLong();
            caps.MaxSteps = l["maxSteps"].AsInt();
            caps.MaxControlUnits = l["maxControlUnits"].AsInt();
            caps.MaxMessageBytes = l["maxMessageBytes"].AsLong();
            caps.SizeMultiple = l["sizeMultiple"].AsInt(8);
            caps.MaxReferenceImages = l["maxReferenceImages"].AsInt();
            caps.Loras.AddRange(ParseAdapters(j["loras"]));
            caps.Embeddings.AddRange(ParseAdapters(j["embeddings"]));
            caps.Vaes.AddRange(ParseAdapters(j["vaes"]));
            caps.Restorers.AddRange(FaceRestorationWire.ParseRestorers(j["restorers"]));
            return caps;
        }

        private static List<AdapterInfo> ParseAdapters(JsonValue list)
        {
            var adapters = new List<AdapterInfo>();
            foreach (var a in list.Items)
                adapters.Add(new AdapterInfo
                {
                    Id = a["id"].AsString(),
                    Family = a["family"].AsString(),
                    Label = a["label"].AsString(),
                    Description = a["description"].AsString(),
                    Token = a["token"].AsString(),
                });
            return adapters;
        }

        private static bool TryControlType(string name, out ControlType type)
        {
            string bare = StripPrefix(name, "CONTROL_TYPE_");
            foreach (ControlType t in Enum.GetValues(typeof(ControlType)))
                if (string.Equals(t.ToString(), bare, StringComparison.OrdinalIgnoreCase)) { type = t; return true; }
            type = ControlType.Canny;
            return false;
        }

        public static JobInfo ParseJob(JsonValue j)
        {
            var job = new JobInfo
            {
                JobId = j["jobId"].AsString(),
                State = ParseState(j["state"].AsString()),
                TaskType = j["taskType"].AsString(),
                ModelId = j["modelId"].AsString(),
                Label = j["label"].AsString(),
                QueuePosition = j["queuePosition"].AsInt(),
                Sequence = j["sequence"].AsLong(),
            };
            if (j.Has("progress")) job.Progress = ParseProgress(j["progress"]);
            if (j.Has("result")) job.Result = ParseResult(j["result"]);
            if (j.Has("failure")) job.Failure = ParseFailure(j["failure"]);
            if (j.Has("cancelled")) job.CancelReason = j["cancelled"]["reason"].AsString();
            return job;
        }

        public static JobState ParseState(string name)
        {
            switch (name)
            {
                case "JOB_STATE_QUEUED": return JobState.Queued;
                case "JOB_STATE_RUNNING": return JobState.Running;
                case "JOB_STATE_SUCCEEDED": return JobState.Succeeded;
                case "JOB_STATE_FAILED": return JobState.Failed;
                case "JOB_STATE_CANCELLED": return JobState.Cancelled;
                default: return JobState.Unspecified;
            }
        }

        public static ProgressInfo ParseProgress(JsonValue p)
        {
            var info = new ProgressInfo { Stage = p["stage"].AsString(), Step = p["step"].AsInt(), Total = p["total"].AsInt() };
            string preview = p["preview"]["data"].AsString();
            if (preview.Length > 0) info.PreviewJpeg = Convert.FromBase64String(preview);
            return info;
        }

        public static JobResult ParseResult(JsonValue r)
        {
            var result = new JobResult { MetadataJson = r["metadataJson"].AsString(), ExtraJson = r["extraJson"].AsString() };
            foreach (var i in r["images"].Items)
            {
                string data = i["image"]["data"].AsString();
                result.Images.Add(new ResultImage
                {
                    Data = data.Length > 0 ? Convert.FromBase64String(data) : null,
                    MimeType = i["image"]["mimeType"].AsString(),
                    Width = i["image"]["width"].AsInt(),
                    Height = i["image"]["height"].AsInt(),
                    Role = i["role"].AsString("image"),
                    Seed = i["seed"].AsLong(),
                    Index = i["index"].AsInt(),
                    Parameters = i["parameters"].AsString(),
                    ServerPath = i["path"].AsString(),
                });
            }
            return result;
        }

        public static JobFailure ParseFailure(JsonValue f)
        {
            string code = StripPrefix(f["code"].AsString("ERROR_CODE_UNKNOWN"), "ERROR_CODE_").ToLowerInvariant();
            if (code == "cancelled") code = "canceled";   // Connect's spelling, as for RPC errors
            return new JobFailure { Code = code, Message = f["message"].AsString(), Field = f["field"].AsString() };
        }

        private static string StripPrefix(string s, string prefix)
        {
            return s.StartsWith(prefix, StringComparison.Ordinal) ? s.Substring(prefix.Length) : s;
        }
    }
}
