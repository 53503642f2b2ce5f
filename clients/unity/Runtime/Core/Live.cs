// Live mode (protos/dccbridge/v1/live.proto) as plain data: a session's fixed settings, numbered frames whose
// omitted inputs keep their previous value, and the events that answer every frame exactly once (a result,
// "superseded" by a newer frame, or a failure). LiveWire.cs converts; LiveSession.cs keeps the books.
using System;
using System.Collections.Generic;

namespace DccBridge.Core
{
    public enum LivePriority { Unspecified = 0, Latency = 1, Throughput = 2 }

    /// <summary>One control unit of a session: fixed settings; each frame brings (or keeps) its input.</summary>
    public sealed class LiveSlot
    {
        public ControlType Type;
        public float? Weight, GuidanceStart, GuidanceEnd;
        public string ControlnetId = "";
        public LiveSlot() { }
        public LiveSlot(ControlType type, float? weight = null) { Type = type; Weight = weight; }
    }

    /// <summary>LiveConfig: unset (null / 0 / empty) takes the server's default; sampling defaults to the model's
    /// few-step path where it has one.</summary>
    public sealed class LiveConfig
    {
        public string ModelId = "", Prompt = "", NegativePrompt = "";
        public int Width, Height;           // 0 = the first frame's image size, else 512
        public int? Steps;
        public float? GuidanceScale;
        public string Scheduler = "";
        public long? Seed;
        public float? Strength;             // img2img strength when frames carry an image; null = 0.5
        public List<LiveSlot> Controls = new List<LiveSlot>();
        public AdapterSelection Adapters = new AdapterSelection();
        public float? SimilarityThreshold;  // null = 0.98; 0 = off
        public float? Feedback;             // 0..1 blend of the previous result into the init image
        public LivePriority Priority;
        public bool JpegResults;
        public int IdleTimeoutMs;           // 0 = 60000
        public string Label = "";
    }

    /// <summary>The input of one slot in a frame: exactly one source, as for a ControlUnitSpec.</summary>
    public sealed class LiveControlInput
    {
        public int Slot;
        public byte[] ImagePng;             // a ready control map
        public byte[] PreprocessPng;        // an image the server preprocesses (canny from the colour render)
        public int? CannyLow, CannyHigh;
        public DepthPassData DepthPass;
        public PoseRigData PoseRig;

        public static LiveControlInput Depth(int slot, DepthPassData depth) { return new LiveControlInput { Slot = slot, DepthPass = depth }; }
        public static LiveControlInput Pose(int slot, PoseRigData rig) { return new LiveControlInput { Slot = slot, PoseRig = rig }; }
        public static LiveControlInput CannyFrom(int slot, byte[] png) { return new LiveControlInput { Slot = slot, PreprocessPng = png }; }
    }

    /// <summary>One numbered frame as sent: what it leaves out (null) keeps the previous frame's value.</summary>
    public sealed class LiveFrameData
    {
        public long Frame;                  // > 0, strictly increasing within the session
        public byte[] ImagePng;             // the init image (img2img); never sent in a session = txt2img
        public List<LiveControlInput> Controls = new List<LiveControlInput>();
        public string Prompt;               // null = unchanged
        public long? Seed;                  // null = unchanged
    }

    /// <summary>What the host captured at one moment: every input, changed or not. LiveFrameBuilder turns it into
    /// a frame that carries only what changed.</summary>
    public sealed class LiveCapture
    {
        public byte[] ImagePng;
        public List<LiveControlInput> Controls = new List<LiveControlInput>();
        public string Prompt;
        public long? Seed;
    }

    public sealed class LiveTimings
    {
        public float WaitMs, PrepareMs, PipelineMs, EncodeMs, TotalMs;
        public int StreamBatch;
    }

    public sealed class LiveResultInfo
    {
        public long Frame;
        public byte[] ImageData;
        public string MimeType = "";
        public int Width, Height;
        public bool Reused;
        public long ReusedFromFrame;
        public float Similarity;
        public long Seed;
        public LiveTimings Timings = new LiveTimings();
    }

    public sealed class LiveClosedInfo
    {
        public string Reason = "";
        public long FramesReceived, FramesComputed, FramesReused, FramesSuperseded;
    }

    public enum LiveEventKind { Unknown = 0, Opened, Result, Superseded, FrameFailed, Closed }

    /// <summary>Small pure helpers the editor's live preview uses (tested under Mono).</summary>
    public static class LiveSizes
    {
        /// <summary>The reduced live size: the longer side maxSide, the other kept in proportion, both multiples
        /// of `multiple` (at least one multiple).</summary>
        public static int[] Fit(int width, int height, int maxSide, int multiple = 8)
        {
            if (width <= 0 || height <= 0) { width = height = 1; }
            if (maxSide < multiple) maxSide = multiple;
            double scale = (double)maxSide / Math.Max(width, height);
            int w = Math.Max(multiple, (int)Math.Round(width * scale / multiple) * multiple);
            int h = Math.Max(multiple, (int)Math.Round(height * scale / multiple) * multiple);
            return new[] { Math.Min(w, maxSide / multiple * multiple), Math.Min(h, maxSide / multiple * multiple) };
        }

        /// <summary>One status line from a session's books: what is shown, how fast, what was skipped.</summary>
        public static string Describe(LiveBook book)
        {
            if (book.Closed != null) return "closed (" + book.Closed.Reason + ")";
            if (book.Shown == null) return book.LatestSent > 0 ? "waiting for frame " + book.LatestSent : "waiting for a change";
            var t = book.Shown.Timings;
            return "frame " + book.Shown.Frame + (book.Shown.Reused ? " (reused " + book.Shown.ReusedFromFrame + ")" : "") +
                   " of " + book.LatestSent + ": " + Math.Round(book.ShownRoundTripMs) + " ms round trip, server " +
                   Math.Round(t.TotalMs) + " ms (pipeline " + Math.Round(t.PipelineMs) + ")" +
                   "; reused " + book.Reused + ", superseded " + book.Superseded + (book.Failed > 0 ? ", failed " + book.Failed : "");
        }
    }

    /// <summary>LiveEvent: Kind says which one of Opened/Result/Superseded/FrameFailed/Closed is set.</summary>
    public sealed class LiveEvent
    {
        public string SessionId = "";
        public long Sequence;
        public long TimeMs;
        public LiveEventKind Kind;
        public string OpenedSessionId;      // Opened
        public LiveConfig OpenedConfig;     // Opened: the settings as the server resolved them
        public LiveResultInfo Result;
        public long Frame;                  // Superseded / FrameFailed: the frame concerned
        public long ByFrame;                // Superseded: the newer frame that replaced it
        public JobFailure Failure;          // FrameFailed
        public LiveClosedInfo Closed;

        /// <summary>The frame this event answers (0 for opened/closed).</summary>
        public long AnsweredFrame { get { return Kind == LiveEventKind.Result ? Result.Frame : Kind == LiveEventKind.Superseded || Kind == LiveEventKind.FrameFailed ? Frame : 0; } }
    }
}
