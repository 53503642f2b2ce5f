// Live mode ⇄ proto3 JSON as Connect writes it (lowerCamelCase, 64-bit integers as strings, bytes base64, enums by
// name, defaults left out). Both directions for every message the HTTP/1.1 client uses, so each is tested as a
// round trip (and against the server's own protobuf JSON in tests/test_unity_core.py).
using System;
using System.Collections.Generic;
using System.Globalization;

namespace DccBridge.Core
{
    public static class LiveWire
    {
        // -- RPC envelopes ---------------------------------------------------------------------------

        public static JsonValue OpenRequest(LiveConfig config) { return JsonValue.NewObject().Set("config", Config(config)); }

        /// <summary>OpenLiveResponse { opened: LiveOpened } → (session id, resolved config).</summary>
        public static LiveEvent ParseOpenResponse(JsonValue j)
        {
            var opened = j["opened"];
            string id = opened["sessionId"].AsString();
            if (id.Length == 0) throw new FormatException("OpenLive answered without a session id: " + j);
            return new LiveEvent { Kind = LiveEventKind.Opened, SessionId = id, OpenedSessionId = id, OpenedConfig = ParseConfig(opened["config"]) };
        }

        public static JsonValue SendFrameRequest(string sessionId, LiveFrameData frame)
        {
            return JsonValue.NewObject().Set("sessionId", sessionId).Set("frame", Frame(frame));
        }

        public static JsonValue SendUpdateRequest(string sessionId, string prompt, long? seed)
        {
            return JsonValue.NewObject().Set("sessionId", sessionId).Set("update", Update(prompt, seed));
        }

        /// <summary>SendLiveFrameResponse.superseded_frame: the waiting frame this one replaced (0 = none).</summary>
        public static long ParseSendFrameResponse(JsonValue j) { return j["supersededFrame"].AsLong(); }

        public static JsonValue PollRequest(string sessionId, long afterSequence, int waitMs)
        {
            var j = JsonValue.NewObject().Set("sessionId", sessionId);
            if (afterSequence > 0) j.Set("afterSequence", U64(afterSequence));
            if (waitMs > 0) j.Set("waitMs", waitMs);
            return j;
        }

        public static List<LiveEvent> ParsePollResponse(JsonValue j)
        {
            var events = new List<LiveEvent>();
            foreach (var e in j["events"].Items) events.Add(ParseEvent(e));
            return events;
        }

        public static JsonValue CloseRequest(string sessionId) { return JsonValue.NewObject().Set("sessionId", sessionId); }

        public static LiveClosedInfo ParseCloseResponse(JsonValue j) { return ParseClosed(j["closed"]); }

        // -- LiveConfig ------------------------------------------------------------------------------

        public static JsonValue Config(LiveConfig c)
        {
            var j = JsonValue.NewObject();
            if (!string.IsNullOrEmpty(c.ModelId)) j.Set("modelId", c.ModelId);
            if (!string.IsNullOrEmpty(c.Prompt)) j.Set("prompt", c.Prompt);
            if (!string.IsNullOrEmpty(c.NegativePrompt)) j.Set("negativePrompt", c.NegativePrompt);
            if (c.Width > 0) j.Set("width", c.Width);
            if (c.Height > 0) j.Set("height", c.Height);
            var s = OutpaintWire.Sampling(c.Steps, c.GuidanceScale, c.Scheduler, c.Seed);
            if (s.Count > 0) j.Set("sampling", s);
            if (c.Strength.HasValue) j.Set("strength", c.Strength.Value);
            if (c.Controls.Count > 0)
            {
                var slots = JsonValue.NewArray();
                foreach (var slot in c.Controls) slots.Add(Slot(slot));
                j.Set("controls", slots);
            }
            WireFormat.SetAdapters(j, c.Adapters);
            if (c.SimilarityThreshold.HasValue) j.Set("similarityThreshold", c.SimilarityThreshold.Value);
            if (c.Feedback.HasValue) j.Set("feedback", c.Feedback.Value);
            if (c.Priority != LivePriority.Unspecified) j.Set("priority", "LIVE_PRIORITY_" + c.Priority.ToString().ToUpperInvariant());
            if (c.JpegResults) j.Set("jpegResults", true);
            if (c.IdleTimeoutMs > 0) j.Set("idleTimeoutMs", c.IdleTimeoutMs);
            if (!string.IsNullOrEmpty(c.Label)) j.Set("label", c.Label);
            return j;
        }

        public static JsonValue Slot(LiveSlot s)
        {
            var j = JsonValue.NewObject().Set("controlType", "CONTROL_TYPE_" + s.Type.ToString().ToUpperInvariant());
            if (s.Weight.HasValue) j.Set("controlnetConditioningScale", s.Weight.Value);
            if (s.GuidanceStart.HasValue) j.Set("controlGuidanceStart", s.GuidanceStart.Value);
            if (s.GuidanceEnd.HasValue) j.Set("controlGuidanceEnd", s.GuidanceEnd.Value);
            if (!string.IsNullOrEmpty(s.ControlnetId)) j.Set("controlnetId", s.ControlnetId);
            return j;
        }

        public static LiveConfig ParseConfig(JsonValue j)
        {
            var s = j["sampling"];
            var c = new LiveConfig
            {
                ModelId = j["modelId"].AsString(), Prompt = j["prompt"].AsString(), NegativePrompt = j["negativePrompt"].AsString(),
                Width = j["width"].AsInt(), Height = j["height"].AsInt(),
                Steps = s.Has("numInferenceSteps") ? s["numInferenceSteps"].AsInt() : (int?)null,
                GuidanceScale = s.Has("guidanceScale") ? s["guidanceScale"].AsFloat() : (float?)null,
                Scheduler = s["scheduler"].AsString(),
                Seed = s.Has("seed") ? s["seed"].AsLong() : (long?)null,
                Strength = OptionalFloat(j, "strength"),
                SimilarityThreshold = OptionalFloat(j, "similarityThreshold"),
                Feedback = OptionalFloat(j, "feedback"),
                Priority = ParsePriority(j["priority"].AsString()),
                JpegResults = j["jpegResults"].AsBool(),
                IdleTimeoutMs = j["idleTimeoutMs"].AsInt(),
                Label = j["label"].AsString(),
                Adapters = ParseAdapters(j["adapters"]),
            };
            foreach (var slot in j["controls"].Items)
                c.Controls.Add(new LiveSlot
                {
                    Type = ParseControlType(slot["controlType"].AsString()),
                    Weight = OptionalFloat(slot, "controlnetConditioningScale"),
                    GuidanceStart = OptionalFloat(slot, "controlGuidanceStart"),
                    GuidanceEnd = OptionalFloat(slot, "controlGuidanceEnd"),
                    ControlnetId = slot["controlnetId"].AsString(),
                });
            return c;
        }

        private static LivePriority ParsePriority(string name)
        {
            if (name == "LIVE_PRIORITY_LATENCY") return LivePriority.Latency;
            if (name == "LIVE_PRIORITY_THROUGHPUT") return LivePriority.Throughput;
            return LivePriority.Unspecified;
        }

        private static AdapterSelection ParseAdapters(JsonValue j)
        {
            var a = new AdapterSelection { VaeId = j["vaeId"].AsString() };
            foreach (var l in j["loras"].Items) a.Loras.Add(new LoraSpec(l["id"].AsString(), OptionalFloat(l, "weight")));
            foreach (var e in j["embeddings"].Items) a.Embeddings.Add(e.AsString());
            return a;
        }

        // -- LiveFrame, LiveUpdate, LiveControlInput ---------------------------------------------------

        public static JsonValue Frame(LiveFrameData f)
        {
            if (f.Frame <= 0) throw new ArgumentException("a live frame's number must be > 0, got " + f.Frame);
            var j = JsonValue.NewObject().Set("frame", U64(f.Frame));
            if (f.ImagePng != null) j.Set("image", WireFormat.Image(f.ImagePng));
            if (f.Controls.Count > 0)
            {
                var controls = JsonValue.NewArray();
                foreach (var c in f.Controls) controls.Add(ControlInput(c));
                j.Set("controls", controls);
            }
            if (f.Prompt != null) j.Set("prompt", f.Prompt);
            if (f.Seed.HasValue) j.Set("seed", JsonValue.Str(f.Seed.Value.ToString(CultureInfo.InvariantCulture)));
            return j;
        }

        public static LiveFrameData ParseFrame(JsonValue j)
        {
            var f = new LiveFrameData
            {
                Frame = j["frame"].AsLong(),
                ImagePng = j.Has("image") ? Bytes(j["image"]["data"]) : null,
                Prompt = j.Has("prompt") ? j["prompt"].AsString() : null,
                Seed = j.Has("seed") ? j["seed"].AsLong() : (long?)null,
            };
            foreach (var c in j["controls"].Items) f.Controls.Add(ParseControlInput(c));
            return f;
        }

        public static JsonValue Update(string prompt, long? seed)
        {
            var j = JsonValue.NewObject();
            if (prompt != null) j.Set("prompt", prompt);
            if (seed.HasValue) j.Set("seed", JsonValue.Str(seed.Value.ToString(CultureInfo.InvariantCulture)));
            return j;
        }

        public static JsonValue ControlInput(LiveControlInput c)
        {
            int sources = (c.ImagePng != null ? 1 : 0) + (c.PreprocessPng != null ? 1 : 0) + (c.DepthPass != null ? 1 : 0) + (c.PoseRig != null ? 1 : 0);
            if (sources != 1) throw new ArgumentException("a live control input needs exactly one source (image, preprocess, depth pass or pose rig), got " + sources);
            if (c.Slot < 0) throw new ArgumentException("a live control input's slot must be >= 0, got " + c.Slot);
            var j = JsonValue.NewObject();
            if (c.Slot > 0) j.Set("slot", c.Slot);
            if (c.ImagePng != null) j.Set("image", WireFormat.Image(c.ImagePng));
            if (c.PreprocessPng != null)
            {
                var pre = JsonValue.NewObject().Set("image", WireFormat.Image(c.PreprocessPng));
                if (c.CannyLow.HasValue || c.CannyHigh.HasValue)
                {
                    var canny = JsonValue.NewObject();
                    if (c.CannyLow.HasValue) canny.Set("lowThreshold", c.CannyLow.Value);
                    if (c.CannyHigh.HasValue) canny.Set("highThreshold", c.CannyHigh.Value);
                    pre.Set("canny", canny);
                }
                j.Set("preprocess", pre);
            }
            if (c.DepthPass != null) j.Set("depthPass", WireFormat.Depth(c.DepthPass));
            if (c.PoseRig != null) j.Set("poseRig", WireFormat.Pose(c.PoseRig));
            return j;
        }

        public static LiveControlInput ParseControlInput(JsonValue j)
        {
            var c = new LiveControlInput { Slot = j["slot"].AsInt() };
            if (j.Has("image")) c.ImagePng = Bytes(j["image"]["data"]);
            if (j.Has("preprocess"))
            {
                c.PreprocessPng = Bytes(j["preprocess"]["image"]["data"]);
                var canny = j["preprocess"]["canny"];
                if (canny.Has("lowThreshold")) c.CannyLow = canny["lowThreshold"].AsInt();
                if (canny.Has("highThreshold")) c.CannyHigh = canny["highThreshold"].AsInt();
            }
            if (j.Has("depthPass")) c.DepthPass = ParseDepth(j["depthPass"]);
            if (j.Has("poseRig")) c.PoseRig = ParsePose(j["poseRig"]);
            return c;
        }

        public static DepthPassData ParseDepth(JsonValue j)
        {
            var d = new DepthPassData
            {
                Float32Le = Bytes(j["float32Le"]), Width = j["width"].AsInt(), Height = j["height"].AsInt(),
                Near = j["near"].AsFloat(), Far = j["far"].AsFloat(), Encoding = DepthEncoding.Linear,
            };
            string encoding = j["encoding"].AsString();
            foreach (DepthEncoding e in Enum.GetValues(typeof(DepthEncoding)))
                if (encoding == "DEPTH_ENCODING_" + e.ToString().ToUpperInvariant()) d.Encoding = e;
            foreach (DepthNormalization n in Enum.GetValues(typeof(DepthNormalization)))
                if (n != DepthNormalization.Auto && j["normalization"].AsString() == WireFormat.NormalizationName(n)) d.Normalization = n;
            return d;
        }

        public static PoseRigData ParsePose(JsonValue j)
        {
            var rig = new PoseRigData { CanvasWidth = j["canvasWidth"].AsInt(), CanvasHeight = j["canvasHeight"].AsInt() };
            foreach (var person in j["people"].Items)
            {
                var body = person["body"];
                var points = new Keypoint[body.Count];
                for (int i = 0; i < points.Length; i++)
                    points[i] = new Keypoint(body[i]["x"].AsFloat(), body[i]["y"].AsFloat(), body[i]["visible"].AsBool());
                rig.People.Add(points);
            }
            return rig;
        }

        // -- LiveEvent and its parts -------------------------------------------------------------------

        public static LiveEvent ParseEvent(JsonValue j)
        {
            var e = new LiveEvent { SessionId = j["sessionId"].AsString(), Sequence = j["sequence"].AsLong(), TimeMs = j["timeMs"].AsLong() };
            if (j.Has("opened"))
            {
                e.Kind = LiveEventKind.Opened;
                e.OpenedSessionId = j["opened"]["sessionId"].AsString();
                e.OpenedConfig = ParseConfig(j["opened"]["config"]);
            }
            else if (j.Has("result"))
            {
                e.Kind = LiveEventKind.Result;
                e.Result = ParseResult(j["result"]);
            }
            else if (j.Has("superseded"))
            {
                e.Kind = LiveEventKind.Superseded;
                e.Frame = j["superseded"]["frame"].AsLong();
                e.ByFrame = j["superseded"]["byFrame"].AsLong();
            }
            else if (j.Has("frameFailed"))
            {
                e.Kind = LiveEventKind.FrameFailed;
                e.Frame = j["frameFailed"]["frame"].AsLong();
                e.Failure = WireFormat.ParseFailure(j["frameFailed"]["failure"]);
            }
            else if (j.Has("closed"))
            {
                e.Kind = LiveEventKind.Closed;
                e.Closed = ParseClosed(j["closed"]);
            }
            return e;
        }

        /// <summary>The inverse of ParseEvent (the server writes events; tests and tools write them too).</summary>
        public static JsonValue Event(LiveEvent e)
        {
            var j = JsonValue.NewObject();
            if (!string.IsNullOrEmpty(e.SessionId)) j.Set("sessionId", e.SessionId);
            if (e.Sequence > 0) j.Set("sequence", U64(e.Sequence));
            if (e.TimeMs != 0) j.Set("timeMs", JsonValue.Str(e.TimeMs.ToString(CultureInfo.InvariantCulture)));
            switch (e.Kind)
            {
                case LiveEventKind.Opened:
                    var opened = JsonValue.NewObject();
                    if (!string.IsNullOrEmpty(e.OpenedSessionId)) opened.Set("sessionId", e.OpenedSessionId);
                    if (e.OpenedConfig != null) opened.Set("config", Config(e.OpenedConfig));
                    j.Set("opened", opened);
                    break;
                case LiveEventKind.Result: j.Set("result", Result(e.Result)); break;
                case LiveEventKind.Superseded:
                    var s = JsonValue.NewObject();
                    if (e.Frame > 0) s.Set("frame", U64(e.Frame));
                    if (e.ByFrame > 0) s.Set("byFrame", U64(e.ByFrame));
                    j.Set("superseded", s);
                    break;
                case LiveEventKind.FrameFailed:
                    var f = JsonValue.NewObject();
                    if (e.Frame > 0) f.Set("frame", U64(e.Frame));
                    if (e.Failure != null) f.Set("failure", Failure(e.Failure));
                    j.Set("frameFailed", f);
                    break;
                case LiveEventKind.Closed: j.Set("closed", Closed(e.Closed)); break;
            }
            return j;
        }

        public static LiveResultInfo ParseResult(JsonValue r)
        {
            var image = r["image"];
            var t = r["timings"];
            return new LiveResultInfo
            {
                Frame = r["frame"].AsLong(),
                ImageData = image.Has("data") ? Bytes(image["data"]) : null,
                MimeType = image["mimeType"].AsString(), Width = image["width"].AsInt(), Height = image["height"].AsInt(),
                Reused = r["reused"].AsBool(), ReusedFromFrame = r["reusedFromFrame"].AsLong(),
                Similarity = r["similarity"].AsFloat(), Seed = r["seed"].AsLong(),
                Timings = new LiveTimings
                {
                    WaitMs = t["waitMs"].AsFloat(), PrepareMs = t["prepareMs"].AsFloat(), PipelineMs = t["pipelineMs"].AsFloat(),
                    EncodeMs = t["encodeMs"].AsFloat(), TotalMs = t["totalMs"].AsFloat(), StreamBatch = t["streamBatch"].AsInt(),
                },
            };
        }

        public static JsonValue Result(LiveResultInfo r)
        {
            var j = JsonValue.NewObject();
            if (r.Frame > 0) j.Set("frame", U64(r.Frame));
            var image = JsonValue.NewObject();
            if (r.ImageData != null && r.ImageData.Length > 0) image.Set("data", Convert.ToBase64String(r.ImageData));
            if (!string.IsNullOrEmpty(r.MimeType)) image.Set("mimeType", r.MimeType);
            if (r.Width > 0) image.Set("width", r.Width);
            if (r.Height > 0) image.Set("height", r.Height);
            j.Set("image", image);
            if (r.Reused) j.Set("reused", true);
            if (r.ReusedFromFrame > 0) j.Set("reusedFromFrame", U64(r.ReusedFromFrame));
            if (r.Similarity != 0) j.Set("similarity", r.Similarity);
            if (r.Seed != 0) j.Set("seed", JsonValue.Str(r.Seed.ToString(CultureInfo.InvariantCulture)));
            var t = r.Timings ?? new LiveTimings();
            var timings = JsonValue.NewObject();
            if (t.WaitMs != 0) timings.Set("waitMs", t.WaitMs);
            if (t.PrepareMs != 0) timings.Set("prepareMs", t.PrepareMs);
            if (t.PipelineMs != 0) timings.Set("pipelineMs", t.PipelineMs);
            if (t.EncodeMs != 0) timings.Set("encodeMs", t.EncodeMs);
            if (t.TotalMs != 0) timings.Set("totalMs", t.TotalMs);
            if (t.StreamBatch != 0) timings.Set("streamBatch", t.StreamBatch);
            j.Set("timings", timings);
            return j;
        }

        public static LiveClosedInfo ParseClosed(JsonValue c)
        {
            return new LiveClosedInfo
            {
                Reason = c["reason"].AsString(), FramesReceived = c["framesReceived"].AsLong(), FramesComputed = c["framesComputed"].AsLong(),
                FramesReused = c["framesReused"].AsLong(), FramesSuperseded = c["framesSuperseded"].AsLong(),
            };
        }

        public static JsonValue Closed(LiveClosedInfo c)
        {
            var j = JsonValue.NewObject();
            if (!string.IsNullOrEmpty(c.Reason)) j.Set("reason", c.Reason);
            if (c.FramesReceived > 0) j.Set("framesReceived", U64(c.FramesReceived));
            if (c.FramesComputed > 0) j.Set("framesComputed", U64(c.FramesComputed));
            if (c.FramesReused > 0) j.Set("framesReused", U64(c.FramesReused));
            if (c.FramesSuperseded > 0) j.Set("framesSuperseded", U64(c.FramesSuperseded));
            return j;
        }

        /// <summary>Failure as jobs.proto writes it: ErrorCode by name (Connect's lower-case code upper-cased).</summary>
        public static JsonValue Failure(JobFailure f)
        {
            var j = JsonValue.NewObject();
            string code = f.Code == "canceled" ? "cancelled" : f.Code;
            if (!string.IsNullOrEmpty(code)) j.Set("code", "ERROR_CODE_" + code.ToUpperInvariant());
            if (!string.IsNullOrEmpty(f.Message)) j.Set("message", f.Message);
            if (!string.IsNullOrEmpty(f.Field)) j.Set("field", f.Field);
            return j;
        }

        // -- helpers --------------------------------------------------------------------------------

        private static JsonValue U64(long v) { return JsonValue.Str(v.ToString(CultureInfo.InvariantCulture)); }

        private static byte[] Bytes(JsonValue v)
        {
            string s = v.AsString();
            if (s.Length == 0) return new byte[0];
            // proto3 JSON readers accept URL-safe base64 too.
            s = s.Replace('-', '+').Replace('_', '/');
            while (s.Length % 4 != 0) s += "=";
            return Convert.FromBase64String(s);
        }

        private static float? OptionalFloat(JsonValue j, string key) { return j.Has(key) ? j[key].AsFloat() : (float?)null; }

        private static ControlType ParseControlType(string name)
        {
            foreach (ControlType t in Enum.GetValues(typeof(ControlType)))
                if (name == "CONTROL_TYPE_" + t.ToString().ToUpperInvariant()) return t;
            throw new FormatException("unknown control type " + name);
        }
    }
}
