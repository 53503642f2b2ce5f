// Pure helpers the editor's apply step uses: file names, provenance sidecars, PBR channel packing,
// and the persisted list of pending jobs (survives domain reloads and a closed window).
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace DccBridge.Core
{
    public static class ResultFiles
    {
        /// <summary>"texture-1a2b3c4d-0-albedo.png": task, short job id, batch index, role.</summary>
        public static string FileName(string taskType, string jobId, ResultImage image)
        {
            string shortId = jobId.Length > 8 ? jobId.Substring(0, 8) : jobId;
            return Sanitize(string.IsNullOrEmpty(taskType) ? "result" : taskType) + "-" + Sanitize(shortId) + "-" +
                   image.Index.ToString(CultureInfo.InvariantCulture) + "-" + Sanitize(image.Role) + ".png";
        }

        private static string Sanitize(string s)
        {
            var sb = new StringBuilder();
            foreach (char c in s) sb.Append(char.IsLetterOrDigit(c) || c == '_' ? c : '-');
            return sb.Length == 0 ? "x" : sb.ToString();
        }

        /// <summary>The sidecar JSON next to each PNG: where it came from and how to make it again.</summary>
        public static string Sidecar(string serverUrl, JobInfo job, ResultImage image, string kind)
        {
            var j = JsonValue.NewObject()
                .Set("generator", "dccbridge-unity")
                .Set("server", serverUrl ?? "")
                .Set("job_id", job.JobId)
                .Set("task_type", job.TaskType)
                .Set("kind", kind ?? "")
                .Set("role", image.Role)
                .Set("index", image.Index)
                .Set("seed", image.Seed)
                .Set("width", image.Width)
                .Set("height", image.Height)
                .Set("parameters", image.Parameters)
                .Set("server_path", image.ServerPath)
                .Set("saved_utc", DateTime.UtcNow.ToString("o", CultureInfo.InvariantCulture));
            if (job.Result != null)
            {
                j.Set("metadata", ParseOrString(job.Result.MetadataJson));
                j.Set("extra", ParseOrString(job.Result.ExtraJson));
            }
            return j.ToString(true);
        }

        private static JsonValue ParseOrString(string text)
        {
            if (string.IsNullOrEmpty(text)) return JsonValue.Null;
            try { return JsonValue.Parse(text); } catch (FormatException) { return JsonValue.Str(text); }
        }
    }

    public enum RenderPipelineKind { BuiltIn, Universal, HighDefinition }

    public static class PbrPacking
    {
        public static byte SmoothnessFromRoughness(byte roughness) { return (byte)(255 - roughness); }

        /// <summary>One RGBA32 texture from a gray roughness map (one byte per pixel), packed where the
        /// pipeline's Lit shader reads smoothness: Standard/URP metallic map (R = metallic, A = smoothness);
        /// HDRP mask map (R = metallic, G = occlusion, B = detail mask, A = smoothness).</summary>
        public static byte[] PackSmoothness(byte[] roughness, byte[] occlusion, RenderPipelineKind pipeline, float metallic)
        {
            if (occlusion != null && occlusion.Length != roughness.Length) throw new ArgumentException("occlusion and roughness sizes differ");
            byte m = (byte)Math.Round(Math.Max(0f, Math.Min(1f, metallic)) * 255f);
            var rgba = new byte[roughness.Length * 4];
            for (int i = 0; i < roughness.Length; i++)
            {
                rgba[i * 4] = m;
                if (pipeline == RenderPipelineKind.HighDefinition)
                {
                    rgba[i * 4 + 1] = occlusion != null ? occlusion[i] : (byte)255;
                    rgba[i * 4 + 2] = 255;
                }
                else
                {
                    rgba[i * 4 + 1] = m;
                    rgba[i * 4 + 2] = m;
                }
                rgba[i * 4 + 3] = SmoothnessFromRoughness(roughness[i]);
            }
            return rgba;
        }
    }

    /// <summary>A job the editor is waiting for; persisted so a domain reload or a closed window does not lose it.</summary>
    public sealed class PendingJob
    {
        public string JobId = "";
        public string ServerUrl = "";
        public string Kind = "";            // "generate", "texture", "projection", "upscale", "depth2img"
        public string Target = "";          // what to apply the result to (renderer global ids, texture asset path)
        public string Label = "";
        public long SubmittedUnixMs;

        public static string Serialize(IEnumerable<PendingJob> jobs)
        {
            var arr = JsonValue.NewArray();
            foreach (var p in jobs)
                arr.Add(JsonValue.NewObject()
                    .Set("jobId", p.JobId).Set("serverUrl", p.ServerUrl).Set("kind", p.Kind)
                    .Set("target", p.Target).Set("label", p.Label)
                    .Set("submitted", JsonValue.Str(p.SubmittedUnixMs.ToString(CultureInfo.InvariantCulture))));
            return arr.ToString();
        }

        /// <summary>Reads what Serialize wrote; an empty, missing or corrupt value is an empty list.</summary>
        public static List<PendingJob> Parse(string text)
        {
            var list = new List<PendingJob>();
            if (string.IsNullOrEmpty(text)) return list;
            JsonValue arr;
            try { arr = JsonValue.Parse(text); } catch (FormatException) { return list; }
            foreach (var j in arr.Items)
            {
                string id = j["jobId"].AsString();
                if (id.Length == 0) continue;
                list.Add(new PendingJob
                {
                    JobId = id, ServerUrl = j["serverUrl"].AsString(), Kind = j["kind"].AsString(),
                    Target = j["target"].AsString(), Label = j["label"].AsString(), SubmittedUnixMs = j["submitted"].AsLong(),
                });
            }
            return list;
        }
    }
}
