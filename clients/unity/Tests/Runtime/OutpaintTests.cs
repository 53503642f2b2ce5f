// "Extend texture/render": the OutpaintTask JSON (pure) and the round trip against a real server (placement,
// the original's pixels kept exactly, field errors).
using System;
using DccBridge.Core;
using NUnit.Framework;

namespace DccBridge.Tests
{
    [TestFixture]
    public class OutpaintWireTests
    {
        private static readonly byte[] Png = { 0x89, (byte)'P', (byte)'N', (byte)'G' };

        [Test]
        public void MarginsTaskUsesProto3JsonNames()
        {
            var request = OutpaintRequest.From(new DiffusionParams { ModelId = "tiny", Prompt = "a wide valley", Steps = 3, Seed = 9 }, Png)
                .WithMargins(16, 0, 12, 4);
            request.Feather = 8;
            request.Fill = OutpaintFill.InpaintTelea;
            request.Strength = 0.9f;
            request.Adapters.Loras.Add(new LoraSpec("style", 0.5f));
            var t = OutpaintWire.Task(request)["outpaint"];
            Assert.AreEqual("tiny", t["modelId"].AsString());
            Assert.AreEqual("a wide valley", t["prompt"].AsString());
            Assert.AreEqual(3, t["sampling"]["numInferenceSteps"].AsInt());
            Assert.AreEqual(JsonKind.String, t["sampling"]["seed"].Kind, "int64 travels as a string");
            Assert.AreEqual(Convert.ToBase64String(Png), t["image"]["data"].AsString());
            Assert.AreEqual("{\"left\":16,\"top\":0,\"right\":12,\"bottom\":4}", t["margins"].ToString());
            Assert.IsFalse(t.Has("aspect") || t.Has("anchor"), "one extent only");
            Assert.AreEqual(8, t["feather"].AsInt());
            Assert.AreEqual("OUTPAINT_FILL_INPAINT_TELEA", t["fill"].AsString());
            Assert.AreEqual(0.9, t["strength"].AsDouble(), 1e-6);
            Assert.AreEqual("style", t["adapters"]["loras"][0]["id"].AsString());
        }

        [Test]
        public void AspectTaskCarriesItsAnchorAndNoMargins()
        {
            var t = OutpaintWire.Task(new OutpaintRequest { ImagePng = Png }.WithMargins(1, 1, 1, 1).WithAspect(16, 9, OutpaintAnchor.BottomRight))["outpaint"];
            Assert.AreEqual("{\"width\":16,\"height\":9}", t["aspect"].ToString());
            Assert.AreEqual("ANCHOR_BOTTOM_RIGHT", t["anchor"].AsString());
            Assert.IsFalse(t.Has("margins"));
            Assert.IsFalse(t.Has("feather") || t.Has("strength") || t.Has("adapters") || t.Has("sampling"), "unset stays unset");
            Assert.AreEqual("OUTPAINT_FILL_EDGE", t["fill"].AsString());
        }

        [Test]
        public void ShapeMistakesAreCaughtBeforeSending()
        {
            Assert.Throws<ArgumentException>(delegate { OutpaintWire.Task(new OutpaintRequest { ImagePng = Png }); }, "no extent");
            Assert.Throws<ArgumentException>(delegate { OutpaintWire.Task(new OutpaintRequest { ImagePng = Png, Margins = new[] { 1, 2 } }); });
            Assert.Throws<ArgumentException>(delegate { OutpaintWire.Task(new OutpaintRequest().WithMargins(8, 0, 0, 0)); }, "no image");
            var both = new OutpaintRequest { ImagePng = Png, AspectWidth = 16, AspectHeight = 9 };
            both.Margins = new[] { 8, 0, 0, 0 };
            Assert.Throws<ArgumentException>(delegate { OutpaintWire.Task(both); }, "margins and aspect");
        }

        [Test]
        public void PlacementIsReadFromExtraJsonAndFlippedForUnityRows()
        {
            var p = OutpaintPlacement.Parse("{\"offset_x\": 16, \"offset_y\": 0, \"width\": 88, \"height\": 56, \"original_width\": 60, " +
                                            "\"original_height\": 52, \"margins\": {\"left\": 16, \"top\": 0, \"right\": 12, \"bottom\": 4}}");
            Assert.AreEqual(16, p.OffsetX);
            Assert.AreEqual(88, p.Width);
            Assert.AreEqual(12, p.MarginRight);
            Assert.AreEqual(4, p.OffsetYFromBottom, "the bottom margin is below the original in Unity's row order");
            Assert.Throws<FormatException>(delegate { OutpaintPlacement.Parse(""); });
            Assert.Throws<FormatException>(delegate { OutpaintPlacement.Parse("{\"offset_x\": 1}"); });
        }
    }

    [TestFixture]
    public class OutpaintServerTests
    {
        private static string Url { get { return Environment.GetEnvironmentVariable("DCCBRIDGE_HTTP_URL") ?? ""; } }
        private static string Token { get { return Environment.GetEnvironmentVariable("DCCBRIDGE_TOKEN") ?? ""; } }

        [SetUp]
        public void RequireServer()
        {
            if (Url.Length == 0) Assert.Ignore("set DCCBRIDGE_HTTP_URL to a dccbridge server's HTTP face to run these");
        }

        private static T Sync<T>(System.Threading.Tasks.Task<T> task) { return task.GetAwaiter().GetResult(); }

        /// <summary>60 x 52 (not multiples of 8), every pixel distinct enough to see a shift.</summary>
        private static byte[] Pattern() { return TestPng.EncodeRgb(60, 52, (x, y) => new[] { (byte)(x * 4), (byte)(y * 4), (byte)((x + y) % 7 * 30) }); }

        private static OutpaintRequest Small() { return new OutpaintRequest { ImagePng = Pattern(), Prompt = "a wide valley", Steps = 2, Seed = 11 }; }

        [Test]
        public void ExtendByMarginsKeepsTheOriginalExactlyWhereThePlacementSays()
        {
            using (var c = new DccBridgeClient(Url, Token))
            {
                var request = Small().WithMargins(16, 0, 12, 4);
                request.Feather = 8;
                var done = Sync(c.WaitAsync(Sync(c.SubmitAsync(request)).JobId));
                Assert.AreEqual(JobState.Succeeded, done.State);
                Assert.AreEqual("outpaint", done.TaskType);
                var image = done.Result.Images[0];
                var p = OutpaintPlacement.Parse(done.Result.ExtraJson);
                Assert.AreEqual(new[] { 16, 0, 88, 56, 60, 52 }, new[] { p.OffsetX, p.OffsetY, p.Width, p.Height, p.OriginalWidth, p.OriginalHeight });
                Assert.AreEqual(11L, image.Seed);
                var result = TestPng.Decode(image.Data);
                Assert.AreEqual(88, result.Width);
                Assert.AreEqual(56, result.Height);
                var original = TestPng.Decode(Pattern());
                // Outside the 8-px feather band (from the left, right and bottom sides that grew) the original comes back exactly.
                foreach (var xy in new[] { new[] { 8, 0 }, new[] { 30, 10 }, new[] { 51, 43 }, new[] { 20, 30 } })
                    CollectionAssert.AreEqual(original.At(xy[0], xy[1]), Take3(result.At(xy[0] + p.OffsetX, xy[1] + p.OffsetY)), "pixel " + xy[0] + "," + xy[1]);
                StringAssert.Contains("Outpaint: 16,0,12,4", image.Parameters);
            }
        }

        [Test]
        public void ExtendToAnAspectRatioGrowsTheShorterSideByTheAnchor()
        {
            using (var c = new DccBridgeClient(Url, Token))
            {
                var done = Sync(c.WaitAsync(Sync(c.SubmitAsync(Small().WithAspect(2, 1, OutpaintAnchor.Left))).JobId));
                var p = OutpaintPlacement.Parse(done.Result.ExtraJson);
                // 52 * 2 = 104 wide, the original on the left; 52 high is padded to 56 at the bottom.
                Assert.AreEqual(new[] { 0, 0, 104, 56, 44, 4 }, new[] { p.OffsetX, p.OffsetY, p.Width, p.Height, p.MarginRight, p.MarginBottom });
                Assert.AreEqual(104, TestPng.Decode(done.Result.Images[0].Data).Width);
            }
        }

        [Test]
        public void BadExtentsAreInvalidArgumentsNamingTheField()
        {
            using (var c = new DccBridgeClient(Url, Token))
            {
                var e = Assert.Throws<DccBridgeException>(delegate { Sync(c.SubmitAsync(Small().WithMargins(0, 0, 0, 0))); });
                Assert.AreEqual("invalid_argument", e.Code);
                StringAssert.StartsWith("margins", e.Field);
                var feather = Small().WithMargins(8, 0, 0, 0);
                feather.Feather = 300;
                e = Assert.Throws<DccBridgeException>(delegate { Sync(c.SubmitAsync(feather)); });
                Assert.AreEqual("invalid_argument", e.Code);
                Assert.AreEqual("feather", e.Field);
                StringAssert.Contains("256", e.ServerMessage);
            }
        }

        private static byte[] Take3(byte[] p) { return new[] { p[0], p[1], p[2] }; }
    }
}
