// "Extend texture/render": OutpaintTask (protos/dccbridge/v1/tasks.proto, docs/outpainting.md) as plain data,
// its proto3 JSON, and the placement the server reports (where the original sits in the larger result).
using System;
using System.Collections.Generic;
using System.Globalization;

namespace DccBridge.Core
{
    /// <summary>How the new area is started before diffusion (OutpaintFill).</summary>
    public enum OutpaintFill { Edge = 1, InpaintTelea = 2, InpaintNs = 3 }

    /// <summary>Where the original sits when growing to an aspect ratio (Anchor; Center is the server's default).</summary>
    public enum OutpaintAnchor { Center = 1, TopLeft = 2, Top = 3, TopRight = 4, Left = 5, Right = 6, BottomLeft = 7, Bottom = 8, BottomRight = 9 }

    /// <summary>Extend an image by margins (pixels per side) or to an aspect ratio. Set either Margins or
    /// AspectWidth/AspectHeight; the result is larger and its size a multiple of 8 (see OutpaintPlacement).</summary>
    public sealed class OutpaintRequest
    {
        public byte[] ImagePng;
        public string ModelId = "", Prompt = "", NegativePrompt = "", Scheduler = "";
        public int? Steps;
        public float? GuidanceScale;
        public long? Seed;                  // null or -1 = random
        public int[] Margins;               // left, top, right, bottom in image pixels (top = the image's top row)
        public int AspectWidth, AspectHeight;
        public OutpaintAnchor Anchor = OutpaintAnchor.Center;
        public int? Feather;                // 0..256; null = the server's 32
        public OutpaintFill Fill = OutpaintFill.Edge;
        public float? Strength;             // (0, 1]; null = 1.0 with an inpainting model, 0.85 without
        public AdapterSelection Adapters = new AdapterSelection();

        /// <summary>The window's shared settings (model, prompt, steps, guidance, seed, adapters); its size is not
        /// used: an extended image's size follows from the input and the margins.</summary>
        public static OutpaintRequest From(DiffusionParams p, byte[] imagePng)
        {
            return new OutpaintRequest
            {
                ImagePng = imagePng, ModelId = p.ModelId ?? "", Prompt = p.Prompt ?? "", NegativePrompt = p.NegativePrompt ?? "",
                Scheduler = p.Scheduler ?? "", Steps = p.Steps, GuidanceScale = p.GuidanceScale, Seed = p.Seed,
                Adapters = p.Adapters ?? new AdapterSelection(),
            };
        }

        public OutpaintRequest WithMargins(int left, int top, int right, int bottom)
        {
            Margins = new[] { left, top, right, bottom };
            AspectWidth = AspectHeight = 0;
            return this;
        }

        public OutpaintRequest WithAspect(int width, int height, OutpaintAnchor anchor = OutpaintAnchor.Center)
        {
            Margins = null;
            AspectWidth = width;
            AspectHeight = height;
            Anchor = anchor;
            return this;
        }
    }

    /// <summary>Where the original lies in the extended result (Result.extra_json), top-left origin, y down.
    /// In a Unity texture (row 0 = bottom) the original starts at row Height - OffsetY - OriginalHeight.</summary>
    public sealed class OutpaintPlacement
    {
        public int OffsetX, OffsetY, Width, Height, OriginalWidth, OriginalHeight;
        public int MarginLeft, MarginTop, MarginRight, MarginBottom;

        public int OffsetYFromBottom { get { return Height - OffsetY - OriginalHeight; } }

        /// <summary>Reads the placement from a finished outpaint job's extra_json; throws when it is missing.</summary>
        public static OutpaintPlacement Parse(string extraJson)
        {
            if (string.IsNullOrEmpty(extraJson)) throw new FormatException("the outpaint result has no placement (extra_json is empty)");
            var j = JsonValue.Parse(extraJson);
            if (!j.Has("width") || !j.Has("height")) throw new FormatException("the outpaint result's placement has no width/height: " + extraJson);
            var m = j["margins"];
            return new OutpaintPlacement
            {
                OffsetX = j["offset_x"].AsInt(), OffsetY = j["offset_y"].AsInt(),
                Width = j["width"].AsInt(), Height = j["height"].AsInt(),
                OriginalWidth = j["original_width"].AsInt(), OriginalHeight = j["original_height"].AsInt(),
                MarginLeft = m["left"].AsInt(), MarginTop = m["top"].AsInt(), MarginRight = m["right"].AsInt(), MarginBottom = m["bottom"].AsInt(),
            };
        }
    }

    public static class OutpaintWire
    {
        /// <summary>Task { outpaint: OutpaintTask } in proto3 JSON. Client-side checks are only the shape ones the
        /// server cannot name better (one extent, four margins); ranges are the server's to judge.</summary>
        public static JsonValue Task(OutpaintRequest r)
        {
            if (r.ImagePng == null || r.ImagePng.Length == 0) throw new ArgumentException("an outpaint needs the image to extend");
            bool margins = r.Margins != null, aspect = r.AspectWidth != 0 || r.AspectHeight != 0;
            if (margins == aspect) throw new ArgumentException("an outpaint needs either margins or an aspect ratio (exactly one)");
            if (margins && r.Margins.Length != 4) throw new ArgumentException("margins are left, top, right, bottom: 4 numbers, got " + r.Margins.Length);

            var t = JsonValue.NewObject();
            if (!string.IsNullOrEmpty(r.ModelId)) t.Set("modelId", r.ModelId);
            t.Set("prompt", r.Prompt ?? "");
            if (!string.IsNullOrEmpty(r.NegativePrompt)) t.Set("negativePrompt", r.NegativePrompt);
            var s = Sampling(r.Steps, r.GuidanceScale, r.Scheduler, r.Seed);
            if (s.Count > 0) t.Set("sampling", s);
            t.Set("image", WireFormat.Image(r.ImagePng));
            if (margins)
                t.Set("margins", JsonValue.NewObject().Set("left", r.Margins[0]).Set("top", r.Margins[1])
                                          .Set("right", r.Margins[2]).Set("bottom", r.Margins[3]));
            else
            {
                t.Set("aspect", JsonValue.NewObject().Set("width", r.AspectWidth).Set("height", r.AspectHeight));
                t.Set("anchor", AnchorName(r.Anchor));
            }
            if (r.Feather.HasValue) t.Set("feather", r.Feather.Value);
            t.Set("fill", FillName(r.Fill));
            if (r.Strength.HasValue) t.Set("strength", r.Strength.Value);
            WireFormat.SetAdapters(t, r.Adapters);
            return JsonValue.NewObject().Set("outpaint", t);
        }

        public static JsonValue Sampling(int? steps, float? guidance, string scheduler, long? seed)
        {
            var s = JsonValue.NewObject();
            if (steps.HasValue) s.Set("numInferenceSteps", steps.Value);
            if (guidance.HasValue) s.Set("guidanceScale", guidance.Value);
            if (!string.IsNullOrEmpty(scheduler)) s.Set("scheduler", scheduler);
            if (seed.HasValue) s.Set("seed", JsonValue.Str(seed.Value.ToString(CultureInfo.InvariantCulture)));
            return s;
        }

        public static string FillName(OutpaintFill f)
        {
            switch (f)
            {
                case OutpaintFill.InpaintTelea: return "OUTPAINT_FILL_INPAINT_TELEA";
                case OutpaintFill.InpaintNs: return "OUTPAINT_FILL_INPAINT_NS";
                default: return "OUTPAINT_FILL_EDGE";
            }
        }

        private static readonly Dictionary<OutpaintAnchor, string> Anchors = new Dictionary<OutpaintAnchor, string>
        {
            { OutpaintAnchor.Center, "ANCHOR_CENTER" }, { OutpaintAnchor.TopLeft, "ANCHOR_TOP_LEFT" },
            { OutpaintAnchor.Top, "ANCHOR_TOP" }, { OutpaintAnchor.TopRight, "ANCHOR_TOP_RIGHT" },
            { OutpaintAnchor.Left, "ANCHOR_LEFT" }, { OutpaintAnchor.Right, "ANCHOR_RIGHT" },
            { OutpaintAnchor.BottomLeft, "ANCHOR_BOTTOM_LEFT" }, { OutpaintAnchor.Bottom, "ANCHOR_BOTTOM" },
            { OutpaintAnchor.BottomRight, "ANCHOR_BOTTOM_RIGHT" },
        };

        public static string AnchorName(OutpaintAnchor a)
        {
            string name;
            return Anchors.TryGetValue(a, out name) ? name : "ANCHOR_CENTER";
        }
    }
}
