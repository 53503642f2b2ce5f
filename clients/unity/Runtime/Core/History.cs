// History: past jobs of this client (or every client, with the admin token) through ListJobs, a page at a time,
// with small JPEG thumbnails; re-run a job's stored Task with the same or a new seed. The server keeps the task
// with its image bytes stripped, so a re-run names the inputs that must be captured again (StrippedInputs) and
// takes them from the caller; tasks without image inputs (txt2img, a pose rig, a seamless texture) re-run as they are.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Threading;
using System.Threading.Tasks;

namespace DccBridge.Core
{
    /// <summary>ListJobs filters; every one that is set must hold. TaskTypes are the proto names without the
    /// prefix ("TXT2IMG", "IMG2IMG", "INPAINT", "DEPTH2IMG", "TEXTURE", "UPSCALE", "PREPROCESS", "OUTPAINT").</summary>
    public sealed class HistoryQuery
    {
        public const int MaxPageSize = 500, MaxThumbnailSize = 512;
        public int PageSize = 20;
        public string PageToken = "";
        public string Client = "";
        public List<string> TaskTypes = new List<string>();
        public List<JobState> States = new List<JobState>();
        public long CreatedAfterMs, CreatedBeforeMs;
        public string Text = "";
        public string ModelId = "";
        public int ThumbnailSize = 96;
    }

    public sealed class HistoryEntry
    {
        public JobInfo Job;
        public string Client = "";
        public long CreatedMs;
        public byte[] ThumbnailJpeg;
        /// <summary>The stored Task as the server returned it (proto3 JSON, image bytes stripped).</summary>
        public JsonValue Task = JsonValue.Null;
        /// <summary>"generate", "depth2img", "texture", "upscale", "preprocess" or "outpaint": the Task's case.</summary>
        public string TaskCase = "";
        public string Prompt = "", NegativePrompt = "";
        public int Width, Height, Steps;
        public float Guidance;
        /// <summary>The seed the first result was made with (the one to repeat), else the task's own; null if neither.</summary>
        public long? Seed;
        /// <summary>Control units by type ("DEPTH", "OPENPOSE", ...), in order.</summary>
        public List<string> Controls = new List<string>();
        /// <summary>Paths of image inputs whose bytes the server stripped (e.g. "controlUnits[0].depthPass",
        /// "controlUnits[1].reference.images[0]").</summary>
        public List<string> StrippedInputs = new List<string>();
    }

    public sealed class HistoryPage
    {
        public List<HistoryEntry> Entries = new List<HistoryEntry>();
        public string NextPageToken = "";
        public bool HasMore { get { return NextPageToken.Length > 0; } }
    }

    public static class History
    {
        public static readonly string[] TaskTypeNames = { "TXT2IMG", "IMG2IMG", "INPAINT", "DEPTH2IMG", "TEXTURE", "UPSCALE", "PREPROCESS", "OUTPAINT" };

        // -- the wire --------------------------------------------------------------------------------

        /// <summary>The ListJobs request; values out of range are refused here with the field and its range.</summary>
        public static JsonValue ListJobsRequest(HistoryQuery q)
        {
            if (q.PageSize < 1 || q.PageSize > HistoryQuery.MaxPageSize)
                throw new ArgumentOutOfRangeException("PageSize", q.PageSize, "page_size must be 1.." + HistoryQuery.MaxPageSize);
            if (q.ThumbnailSize < 0 || q.ThumbnailSize > HistoryQuery.MaxThumbnailSize)
                throw new ArgumentOutOfRangeException("ThumbnailSize", q.ThumbnailSize, "thumbnail_size must be 0.." + HistoryQuery.MaxThumbnailSize);
            var j = JsonValue.NewObject().Set("pageSize", q.PageSize);
            if (!string.IsNullOrEmpty(q.PageToken)) j.Set("pageToken", q.PageToken);
            if (q.States.Count > 0)
            {
                var states = JsonValue.NewArray();
                foreach (var s in q.States) states.Add(JsonValue.Str("JOB_STATE_" + s.ToString().ToUpperInvariant()));
                j.Set("states", states);
            }
            if (!string.IsNullOrEmpty(q.Client)) j.Set("client", q.Client);
            if (q.TaskTypes.Count > 0)
            {
                var types = JsonValue.NewArray();
                foreach (var t in q.TaskTypes)
                {
                    string name = t.ToUpperInvariant();
                    if (Array.IndexOf(TaskTypeNames, name) < 0)
                        throw new ArgumentException("task type '" + t + "' is not one of " + string.Join(", ", TaskTypeNames), "TaskTypes");
                    types.Add(JsonValue.Str("TASK_TYPE_" + name));
                }
                j.Set("taskTypes", types);
            }
            if (q.CreatedAfterMs > 0) j.Set("createdAfterMs", Int64(q.CreatedAfterMs));
            if (q.CreatedBeforeMs > 0) j.Set("createdBeforeMs", Int64(q.CreatedBeforeMs));
            if (!string.IsNullOrEmpty(q.Text)) j.Set("text", q.Text);
            if (!string.IsNullOrEmpty(q.ModelId)) j.Set("modelId", q.ModelId);
            if (q.ThumbnailSize > 0) j.Set("thumbnailSize", q.ThumbnailSize);
            return j;
        }

        public static HistoryPage ParsePage(JsonValue j)
        {
            var page = new HistoryPage { NextPageToken = j["nextPageToken"].AsString() };
            foreach (var job in j["jobs"].Items) page.Entries.Add(ParseEntry(job));
            return page;
        }

        public static HistoryEntry ParseEntry(JsonValue j)
        {
            var e = new HistoryEntry
            {
                Job = WireFormat.ParseJob(j),
                Client = j["client"].AsString(),
                CreatedMs = j["createdMs"].AsLong(),
                Task = j["task"],
            };
            string thumb = j["thumbnail"]["data"].AsString();
            if (thumb.Length > 0) e.ThumbnailJpeg = Convert.FromBase64String(thumb);
            foreach (var m in e.Task.Members) { e.TaskCase = m.Key; break; }
            var body = e.Task[e.TaskCase];
            e.Prompt = body["prompt"].AsString();
            e.NegativePrompt = body["negativePrompt"].AsString();
            e.Width = body["width"].AsInt();
            e.Height = body["height"].AsInt();
            var sampling = body["sampling"];
            e.Steps = sampling["numInferenceSteps"].AsInt();
            e.Guidance = sampling["guidanceScale"].AsFloat();
            if (sampling.Has("seed")) e.Seed = sampling["seed"].AsLong();
            if (e.Job.Result != null && e.Job.Result.Images.Count > 0 && e.Job.Result.Images[0].Seed != 0) e.Seed = e.Job.Result.Images[0].Seed;
            foreach (var unit in body["controlUnits"].Items)
                e.Controls.Add(unit["controlType"].AsString("CONTROL_TYPE_UNSPECIFIED").Replace("CONTROL_TYPE_", ""));
            CollectStripped(body, "", e.StrippedInputs);
            return e;
        }

        /// <summary>Image inputs are Image (bytes "data") and DepthPass (bytes "float32Le" or "png16") messages;
        /// the server keeps their other fields, so a stripped one is an object at an image-like key without bytes.</summary>
        private static void CollectStripped(JsonValue node, string path, List<string> found)
        {
            foreach (var m in node.Members)
            {
                string at = path.Length == 0 ? m.Key : path + "." + m.Key;
                if (m.Value.Kind == JsonKind.Array)
                {
                    for (int i = 0; i < m.Value.Count; i++)
                    {
                        if (m.Value[i].Kind != JsonKind.Object) continue;
                        if (m.Key == "images" && IsStripped(m.Value[i])) found.Add(at + "[" + i + "]");   // a reference unit's images
                        else CollectStripped(m.Value[i], at + "[" + i + "]", found);
                    }
                }
                else if (m.Value.Kind == JsonKind.Object)
                {
                    if (IsImageInput(m.Key) && IsStripped(m.Value)) found.Add(at);
                    else CollectStripped(m.Value, at, found);
                }
            }
        }

        private static bool IsStripped(JsonValue v) { return !v.Has("data") && !v.Has("float32Le") && !v.Has("png16"); }

        private static bool IsImageInput(string key)
        {
            return key == "depthPass" || key == "image" || key.EndsWith("Image", StringComparison.Ordinal);
        }

        // -- re-run ----------------------------------------------------------------------------------

        /// <summary>A copy of the entry's task to submit again: the seed set (same = the entry's seed; null keeps the
        /// task's own), every stripped input replaced from <paramref name="recaptured"/> (path → Image/DepthPass JSON,
        /// e.g. WireFormat.Image(png) or WireFormat.Depth(pass)). A stripped input without a replacement is refused,
        /// naming every one missing: the server would otherwise get an empty image.</summary>
        public static JsonValue RerunTask(HistoryEntry entry, long? seed, IDictionary<string, JsonValue> recaptured = null)
        {
            if (entry.Task.Kind != JsonKind.Object || entry.TaskCase.Length == 0)
                throw new InvalidOperationException("job " + entry.Job.JobId + " has no stored task to run again");
            var missing = new List<string>();
            foreach (var path in entry.StrippedInputs)
                if (recaptured == null || !recaptured.ContainsKey(path)) missing.Add(path);
            if (missing.Count > 0)
                throw new InvalidOperationException("job " + entry.Job.JobId + " (" + entry.TaskCase + ") needs these inputs captured again: " +
                                                    string.Join(", ", missing.ToArray()));
            var task = JsonValue.Parse(entry.Task.ToString());   // a deep copy: the entry stays as listed
            var body = task[entry.TaskCase];
            if (recaptured != null)
                foreach (var r in recaptured) Replace(body, r.Key, r.Value);
            if (seed.HasValue)
            {
                var sampling = body["sampling"];
                if (sampling.IsNull) { sampling = JsonValue.NewObject(); body.Set("sampling", sampling); }
                sampling.Set("seed", Int64(seed.Value));
            }
            return task;
        }

        /// <summary>A fresh random seed (0..2^31-1), never the one given.</summary>
        public static long NewSeed(long? previous, Random random = null)
        {
            random = random ?? new Random();
            long seed;
            do seed = random.Next(0, int.MaxValue); while (previous.HasValue && seed == previous.Value);
            return seed;
        }

        private static void Replace(JsonValue body, string path, JsonValue value)
        {
            string[] parts = path.Split('.');
            var node = body;
            for (int i = 0; i < parts.Length; i++)
            {
                string key = parts[i];
                int index = -1;
                int bracket = key.IndexOf('[');
                if (bracket >= 0)
                {
                    index = int.Parse(key.Substring(bracket + 1, key.Length - bracket - 2), CultureInfo.InvariantCulture);
                    key = key.Substring(0, bracket);
                }
                if (i == parts.Length - 1 && index < 0) { node.Set(key, value); return; }
                if (i == parts.Length - 1 && index < node[key].Count) { node[key].Items[index] = value; return; }
                node = index >= 0 ? node[key][index] : node[key];
                if (node.IsNull) throw new ArgumentException("no input at " + path + " in the stored task", "recaptured");
            }
            throw new ArgumentException("no input at " + path + " in the stored task", "recaptured");
        }

        private static JsonValue Int64(long v) { return JsonValue.Str(v.ToString(CultureInfo.InvariantCulture)); }

        // -- calls -----------------------------------------------------------------------------------

        public static async Task<HistoryPage> ListJobsAsync(this DccBridgeClient client, HistoryQuery query,
                                                           CancellationToken ct = default(CancellationToken))
        {
            var j = await client.CallAsync("ListJobs", ListJobsRequest(query), ct).ConfigureAwait(false);
            return ParsePage(j);
        }

        /// <summary>Submits the entry's task again (see RerunTask); the new job is labelled as a re-run of the old.</summary>
        public static Task<JobInfo> RerunAsync(this DccBridgeClient client, HistoryEntry entry, long? seed,
                                               IDictionary<string, JsonValue> recaptured = null, JobOptions options = null,
                                               CancellationToken ct = default(CancellationToken))
        {
            var task = RerunTask(entry, seed, recaptured);
            options = options ?? new JobOptions();
            if (string.IsNullOrEmpty(options.Label)) options.Label = entry.Job.Label.Length > 0 ? entry.Job.Label : "re-run of " + entry.Job.JobId;
            return client.SubmitTaskAsync(task, options, ct);
        }
    }
}
