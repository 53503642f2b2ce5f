// Live mode without a server: proto3 JSON of every live message the HTTP/1.1 client writes or reads (round trips
// and names), frame numbering with only changed inputs resent, latest-wins bookkeeping. The same JSON is checked
// against the server's own protobuf JSON by LiveWireFixtureTests (fixtures written by tests/test_unity_core.py).
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using DccBridge.Core;
using NUnit.Framework;

namespace DccBridge.Tests
{
    public static class LiveSamples
    {
        public static DepthPassData Depth(float near = 0.5f)
        {
            var d = DepthPlane.FromBottomFirst(new float[] { 1, 2, 3, 0 }, 2, 2, near, 100f);
            d.Normalization = DepthNormalization.NearFar;
            return d;
        }

        public static PoseRigData Pose(float shift = 0f)
        {
            var rig = new PoseRigData { CanvasWidth = 64, CanvasHeight = 64 };
            var person = new Keypoint[18];
            for (int k = 0; k < 18; k++) person[k] = k == 3 ? new Keypoint(0, 0, false) : new Keypoint(10.5f + k + shift, 20.25f + k, true);
            rig.People.Add(person);
            return rig;
        }

        public static LiveConfig Config()
        {
            var c = new LiveConfig
            {
                ModelId = "tiny", Prompt = "a castle", NegativePrompt = "blurry", Width = 64, Height = 48, Steps = 4, GuidanceScale = 1.5f,
                Scheduler = "lcm", Seed = 42, Strength = 0.5f, SimilarityThreshold = 0.75f, Feedback = 0.25f, Priority = LivePriority.Throughput,
                JpegResults = true, IdleTimeoutMs = 5000, Label = "unity: scene",
            };
            c.Controls.Add(new LiveSlot(ControlType.Depth, 0.75f) { GuidanceStart = 0.25f, GuidanceEnd = 0.5f, ControlnetId = "depth-a" });
            c.Controls.Add(new LiveSlot(ControlType.Openpose));
            c.Adapters.Loras.Add(new LoraSpec("style", 0.5f));
            c.Adapters.Embeddings.Add("mystyle");
            c.Adapters.VaeId = "warm-vae";
            return c;
        }

        public static byte[] Png(byte tag) { return new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', tag }; }
    }

    [TestFixture]
    public class LiveWireTests
    {
        private static void RoundTrips(JsonValue written, Func<JsonValue, JsonValue> parseAndWrite)
        {
            string text = written.ToString();
            Assert.AreEqual(text, parseAndWrite(JsonValue.Parse(text)).ToString());
        }

        [Test]
        public void ConfigRoundTripsWithProto3Names()
        {
            var j = LiveWire.Config(LiveSamples.Config());
            RoundTrips(j, x => LiveWire.Config(LiveWire.ParseConfig(x)));
            Assert.AreEqual("LIVE_PRIORITY_THROUGHPUT", j["priority"].AsString());
            Assert.AreEqual(4, j["sampling"]["numInferenceSteps"].AsInt());
            Assert.AreEqual("42", j["sampling"]["seed"].AsString(), "int64 as a string");
            Assert.AreEqual("CONTROL_TYPE_DEPTH", j["controls"][0]["controlType"].AsString());
            Assert.AreEqual(0.75, j["controls"][0]["controlnetConditioningScale"].AsDouble());
            Assert.IsFalse(j["controls"][1].Has("controlnetConditioningScale"), "unset stays unset");
            Assert.AreEqual(0.75, j["similarityThreshold"].AsDouble());
            Assert.IsTrue(j["jpegResults"].AsBool());
            Assert.AreEqual("warm-vae", j["adapters"]["vaeId"].AsString());
            Assert.AreEqual("{}", LiveWire.Config(new LiveConfig()).ToString(), "an empty config is {}: every default the server's");
        }

        [Test]
        public void FramesCarryOnlyWhatTheyGiveEachSourceRoundTrips()
        {
            var f = new LiveFrameData { Frame = 7, ImagePng = LiveSamples.Png(1), Prompt = "", Seed = -1 };
            f.Controls.Add(LiveControlInput.Depth(0, LiveSamples.Depth()));
            f.Controls.Add(LiveControlInput.Pose(1, LiveSamples.Pose()));
            f.Controls.Add(new LiveControlInput { Slot = 2, PreprocessPng = LiveSamples.Png(2), CannyLow = 50, CannyHigh = 150 });
            f.Controls.Add(new LiveControlInput { Slot = 3, ImagePng = LiveSamples.Png(3) });
            var j = LiveWire.Frame(f);
            RoundTrips(j, x => LiveWire.Frame(LiveWire.ParseFrame(x)));
            Assert.AreEqual("7", j["frame"].AsString(), "uint64 as a string");
            Assert.IsFalse(j["controls"][0].Has("slot"), "slot 0 is proto3's default: left out");
            Assert.AreEqual(1, j["controls"][1]["slot"].AsInt());
            Assert.AreEqual("DEPTH_ENCODING_LINEAR", j["controls"][0]["depthPass"]["encoding"].AsString());
            Assert.AreEqual(150, j["controls"][2]["preprocess"]["canny"]["highThreshold"].AsInt());
            Assert.IsTrue(j.Has("prompt"), "an empty prompt is a change (to no prompt), not 'unchanged'");
            Assert.AreEqual("-1", j["seed"].AsString());
            var back = LiveWire.ParseFrame(j);
            CollectionAssert.AreEqual(f.Controls[0].DepthPass.Float32Le, back.Controls[0].DepthPass.Float32Le);
            Assert.AreEqual(DepthNormalization.NearFar, back.Controls[0].DepthPass.Normalization);
            Assert.IsFalse(back.Controls[1].PoseRig.People[0][3].Visible);
            Assert.AreEqual(12.5f, back.Controls[1].PoseRig.People[0][2].X);

            var bare = LiveWire.Frame(new LiveFrameData { Frame = 8 });
            Assert.AreEqual("{\"frame\":\"8\"}", bare.ToString(), "nothing changed: only the number");
            Assert.IsNull(LiveWire.ParseFrame(bare).Prompt);
            Assert.Throws<ArgumentException>(delegate { LiveWire.Frame(new LiveFrameData()); }, "frame 0");
            Assert.Throws<ArgumentException>(delegate { LiveWire.ControlInput(new LiveControlInput { Slot = 1 }); }, "no source");
        }

        [Test]
        public void EveryEventKindRoundTrips()
        {
            var events = new[]
            {
                new LiveEvent { SessionId = "s1", Sequence = 1, TimeMs = 1700000000123, Kind = LiveEventKind.Opened, OpenedSessionId = "s1", OpenedConfig = LiveSamples.Config() },
                new LiveEvent { SessionId = "s1", Sequence = 2, Kind = LiveEventKind.Result, Result = new LiveResultInfo
                {
                    Frame = 3, ImageData = LiveSamples.Png(9), MimeType = "image/jpeg", Width = 64, Height = 48, Reused = true, ReusedFromFrame = 2,
                    Similarity = 0.5f, Seed = 42, Timings = new LiveTimings { WaitMs = 1.5f, PrepareMs = 2.5f, PipelineMs = 30.25f, EncodeMs = 0.5f, TotalMs = 35f, StreamBatch = 2 },
                } },
                new LiveEvent { SessionId = "s1", Sequence = 3, Kind = LiveEventKind.Superseded, Frame = 4, ByFrame = 5 },
                new LiveEvent { SessionId = "s1", Sequence = 4, Kind = LiveEventKind.FrameFailed, Frame = 5, Failure = new JobFailure { Code = "invalid_argument", Message = "bad", Field = "controls[0].depth_pass" } },
                new LiveEvent { SessionId = "s1", Sequence = 5, Kind = LiveEventKind.Closed, Closed = new LiveClosedInfo { Reason = "client closed", FramesReceived = 5, FramesComputed = 2, FramesReused = 1, FramesSuperseded = 1 } },
            };
            foreach (var e in events)
            {
                var j = LiveWire.Event(e);
                RoundTrips(j, x => LiveWire.Event(LiveWire.ParseEvent(x)));
                var back = LiveWire.ParseEvent(j);
                Assert.AreEqual(e.Kind, back.Kind);
                Assert.AreEqual(e.Sequence, back.Sequence);
                Assert.AreEqual(e.AnsweredFrame, back.AnsweredFrame);
            }
            var result = LiveWire.ParseEvent(LiveWire.Event(events[1])).Result;
            Assert.AreEqual(30.25f, result.Timings.PipelineMs);
            Assert.AreEqual(2, result.Timings.StreamBatch);
            Assert.AreEqual(2L, result.ReusedFromFrame);
            Assert.AreEqual("invalid_argument", LiveWire.ParseEvent(LiveWire.Event(events[3])).Failure.Code);
            Assert.AreEqual("ERROR_CODE_INVALID_ARGUMENT", LiveWire.Event(events[3])["frameFailed"]["failure"]["code"].AsString());
            Assert.AreEqual(LiveEventKind.Unknown, LiveWire.ParseEvent(JsonValue.Parse("{\"sequence\":\"9\",\"somethingNew\":{}}")).Kind,
                            "an event kind from a newer server is read as Unknown, not an error");
        }

        [Test]
        public void RpcEnvelopesUseTheServiceFieldNames()
        {
            Assert.AreEqual("tiny", LiveWire.OpenRequest(LiveSamples.Config())["config"]["modelId"].AsString());
            var opened = LiveWire.ParseOpenResponse(JsonValue.Parse("{\"opened\":{\"sessionId\":\"abc\",\"config\":{\"width\":64,\"height\":64,\"sampling\":{\"numInferenceSteps\":2}}}}"));
            Assert.AreEqual("abc", opened.OpenedSessionId);
            Assert.AreEqual(2, opened.OpenedConfig.Steps);
            Assert.Throws<FormatException>(delegate { LiveWire.ParseOpenResponse(JsonValue.Parse("{}")); });
            var send = LiveWire.SendFrameRequest("abc", new LiveFrameData { Frame = 1 });
            Assert.AreEqual("{\"sessionId\":\"abc\",\"frame\":{\"frame\":\"1\"}}", send.ToString());
            Assert.AreEqual("{\"sessionId\":\"abc\",\"update\":{\"prompt\":\"x\",\"seed\":\"3\"}}", LiveWire.SendUpdateRequest("abc", "x", 3).ToString());
            Assert.AreEqual(4L, LiveWire.ParseSendFrameResponse(JsonValue.Parse("{\"supersededFrame\":\"4\"}")));
            Assert.AreEqual(0L, LiveWire.ParseSendFrameResponse(JsonValue.Parse("{}")));
            Assert.AreEqual("{\"sessionId\":\"abc\",\"afterSequence\":\"12\",\"waitMs\":5000}", LiveWire.PollRequest("abc", 12, 5000).ToString());
            Assert.AreEqual("{\"sessionId\":\"abc\"}", LiveWire.PollRequest("abc", 0, 0).ToString());
            Assert.AreEqual(2, LiveWire.ParsePollResponse(JsonValue.Parse("{\"events\":[{\"sequence\":\"1\",\"opened\":{}},{\"sequence\":\"2\",\"superseded\":{\"frame\":\"1\"}}]}")).Count);
            Assert.AreEqual(0, LiveWire.ParsePollResponse(JsonValue.Parse("{}")).Count);
            Assert.AreEqual("idle timeout", LiveWire.ParseCloseResponse(JsonValue.Parse("{\"closed\":{\"reason\":\"idle timeout\",\"framesReceived\":\"3\"}}")).Reason);
        }
    }

    /// <summary>Cross-checks the JSON with the server's protobuf: tests/test_unity_core.py writes every live message
    /// with google.protobuf.json_format into $DCCBRIDGE_LIVE_FIXTURES/in; this reads each with the core, writes it
    /// back to out/, and the Python side parses that strictly and compares the messages.</summary>
    [TestFixture]
    public class LiveWireFixtureTests
    {
        private static readonly Dictionary<string, Func<JsonValue, JsonValue>> Rewrite = new Dictionary<string, Func<JsonValue, JsonValue>>
        {
            { "LiveConfig", j => LiveWire.Config(LiveWire.ParseConfig(j)) },
            { "LiveFrame", j => LiveWire.Frame(LiveWire.ParseFrame(j)) },
            { "LiveUpdate", j => LiveWire.Update(j.Has("prompt") ? j["prompt"].AsString() : null, j.Has("seed") ? j["seed"].AsLong() : (long?)null) },
            { "LiveEvent", j => LiveWire.Event(LiveWire.ParseEvent(j)) },
            { "OpenLiveRequest", j => LiveWire.OpenRequest(LiveWire.ParseConfig(j["config"])) },
            { "OpenLiveResponse", j => JsonValue.NewObject().Set("opened", LiveWire.Event(LiveWire.ParseOpenResponse(j))["opened"]) },
            { "SendLiveFrameRequest", j => j.Has("frame") ? LiveWire.SendFrameRequest(j["sessionId"].AsString(), LiveWire.ParseFrame(j["frame"]))
                                                          : LiveWire.SendUpdateRequest(j["sessionId"].AsString(), j["update"].Has("prompt") ? j["update"]["prompt"].AsString() : null,
                                                                                       j["update"].Has("seed") ? j["update"]["seed"].AsLong() : (long?)null) },
            { "SendLiveFrameResponse", j => JsonValue.NewObject().Set("supersededFrame", LiveWire.ParseSendFrameResponse(j).ToString()) },
            { "PollLiveRequest", j => LiveWire.PollRequest(j["sessionId"].AsString(), j["afterSequence"].AsLong(), j["waitMs"].AsInt()) },
            { "PollLiveResponse", j =>
                {
                    var events = JsonValue.NewArray();
                    foreach (var e in LiveWire.ParsePollResponse(j)) events.Add(LiveWire.Event(e));
                    return JsonValue.NewObject().Set("events", events);
                } },
            { "CloseLiveRequest", j => LiveWire.CloseRequest(j["sessionId"].AsString()) },
            { "CloseLiveResponse", j => JsonValue.NewObject().Set("closed", LiveWire.Closed(LiveWire.ParseCloseResponse(j))) },
        };

        [Test]
        public void EveryFixtureIsReadAndWrittenBack()
        {
            string root = Environment.GetEnvironmentVariable("DCCBRIDGE_LIVE_FIXTURES") ?? "";
            if (root.Length == 0) Assert.Ignore("set DCCBRIDGE_LIVE_FIXTURES (tests/test_unity_core.py does) to run this");
            var inputs = Directory.GetFiles(Path.Combine(root, "in"), "*.json");
            Assert.Greater(inputs.Length, 10);
            Directory.CreateDirectory(Path.Combine(root, "out"));
            foreach (var path in inputs)
            {
                string name = Path.GetFileNameWithoutExtension(path);
                string type = name.Split('.')[0];
                Assert.IsTrue(Rewrite.ContainsKey(type), "no reader for " + name);
                var written = Rewrite[type](JsonValue.Parse(File.ReadAllText(path)));
                File.WriteAllText(Path.Combine(root, "out", name + ".json"), written.ToString());
            }
        }
    }

    [TestFixture]
    public class LiveFrameBuilderTests
    {
        private static LiveCapture Capture(float near = 0.5f, float poseShift = 0f, byte colour = 1, string prompt = "a castle")
        {
            var c = new LiveCapture { ImagePng = LiveSamples.Png(colour), Prompt = prompt };
            c.Controls.Add(LiveControlInput.Depth(0, LiveSamples.Depth(near)));
            c.Controls.Add(LiveControlInput.Pose(1, LiveSamples.Pose(poseShift)));
            return c;
        }

        private static LiveFrameBuilder Opened()
        {
            var b = new LiveFrameBuilder();
            b.Opened("a castle", null);
            return b;
        }

        [Test]
        public void TheFirstFrameCarriesEveryInputThenOnlyWhatChanged()
        {
            var b = Opened();
            var first = b.Next(Capture());
            Assert.AreEqual(1L, first.Frame);
            Assert.IsNotNull(first.ImagePng);
            CollectionAssert.AreEqual(new[] { 0, 1 }, first.Controls.Select(c => c.Slot).ToArray());
            Assert.IsNull(first.Prompt, "the session was opened with this prompt");

            Assert.IsNull(b.Next(Capture()), "nothing changed: no frame");
            Assert.AreEqual(1L, b.LastFrame, "no number spent on it");

            var depthMoved = b.Next(Capture(near: 0.25f));
            Assert.AreEqual(2L, depthMoved.Frame);
            Assert.IsNull(depthMoved.ImagePng);
            CollectionAssert.AreEqual(new[] { 0 }, depthMoved.Controls.Select(c => c.Slot).ToArray(), "only the depth plane (near/far count)");

            var posed = b.Next(Capture(near: 0.25f, poseShift: 1f));
            CollectionAssert.AreEqual(new[] { 1 }, posed.Controls.Select(c => c.Slot).ToArray(), "only the pose");
            Assert.IsNull(posed.ImagePng);

            var coloured = b.Next(Capture(near: 0.25f, poseShift: 1f, colour: 2, prompt: "a ruin"));
            Assert.IsNotNull(coloured.ImagePng);
            Assert.AreEqual(0, coloured.Controls.Count);
            Assert.AreEqual("a ruin", coloured.Prompt);
            Assert.AreEqual(4L, coloured.Frame);

            Assert.IsNull(b.Next(Capture(near: 0.25f, poseShift: 1f, colour: 2, prompt: "a ruin")));
            var forced = b.Next(Capture(near: 0.25f, poseShift: 1f, colour: 2, prompt: "a ruin"), force: true);
            Assert.AreEqual(5L, forced.Frame);
            Assert.AreEqual("{\"frame\":\"5\"}", LiveWire.Frame(forced).ToString());
        }

        [Test]
        public void AfterForgetEverythingIsSentAgainAndNumbersGoOn()
        {
            var b = Opened();
            b.Next(Capture());
            b.Forget();
            var again = b.Next(Capture());
            Assert.AreEqual(2L, again.Frame);
            Assert.IsNotNull(again.ImagePng);
            Assert.AreEqual(2, again.Controls.Count);
            Assert.AreEqual("a castle", again.Prompt, "after Forget the prompt is repeated too");
            b.Updated("a ruin", 7);
            var capture = Capture(prompt: "a ruin");
            capture.Seed = 7;
            Assert.IsNull(b.Next(capture), "a LiveUpdate already sent that prompt and seed");
            var twice = Capture();
            twice.Controls.Add(LiveControlInput.Depth(0, LiveSamples.Depth()));
            Assert.Throws<ArgumentException>(delegate { b.Next(twice); });
        }
    }

    [TestFixture]
    public class LiveSizesTests
    {
        [Test]
        public void TheLiveSizeKeepsTheAspectInMultiplesOfEight()
        {
            CollectionAssert.AreEqual(new[] { 256, 256 }, LiveSizes.Fit(512, 512, 256));
            CollectionAssert.AreEqual(new[] { 256, 144 }, LiveSizes.Fit(1920, 1080, 256));
            CollectionAssert.AreEqual(new[] { 144, 256 }, LiveSizes.Fit(1080, 1920, 256));
            CollectionAssert.AreEqual(new[] { 256, 8 }, LiveSizes.Fit(4000, 10, 256), "never below one multiple");
            CollectionAssert.AreEqual(new[] { 96, 96 }, LiveSizes.Fit(64, 64, 100), "the longer side is at most maxSide, in multiples");
            CollectionAssert.AreEqual(new[] { 8, 8 }, LiveSizes.Fit(0, 0, 4), "nonsense in, the smallest size out");
        }

        [Test]
        public void TheStatusLineSaysWhatIsShownAndWhatWasSkipped()
        {
            var book = new LiveBook();
            Assert.AreEqual("waiting for a change", LiveSizes.Describe(book));
            book.Sent(1, 0);
            Assert.AreEqual("waiting for frame 1", LiveSizes.Describe(book));
            book.Sent(2, 1);
            book.Apply(new LiveEvent { Sequence = 1, Kind = LiveEventKind.Result, Result = new LiveResultInfo
            {
                Frame = 2, Reused = true, ReusedFromFrame = 1, Timings = new LiveTimings { TotalMs = 40.4f, PipelineMs = 30f },
            } });
            string text = LiveSizes.Describe(book);
            StringAssert.StartsWith("frame 2 (reused 1) of 2: ", text);
            StringAssert.Contains("server 40 ms (pipeline 30)", text);
            StringAssert.EndsWith("reused 1, superseded 1", text);
            book.Apply(new LiveEvent { Sequence = 2, Kind = LiveEventKind.Closed, Closed = new LiveClosedInfo { Reason = "idle timeout" } });
            Assert.AreEqual("closed (idle timeout)", LiveSizes.Describe(book));
        }
    }

    [TestFixture]
    public class LiveBookTests
    {
        private static LiveEvent Result(long sequence, long frame, bool reused = false)
        {
            return new LiveEvent { Sequence = sequence, Kind = LiveEventKind.Result, Result = new LiveResultInfo { Frame = frame, Reused = reused } };
        }

        [Test]
        public void LatestResultWinsAndEveryFrameIsAnsweredOnce()
        {
            var book = new LiveBook();
            book.Sent(1, 0);
            book.Sent(2, 0);
            book.Sent(3, 2);   // frame 3 replaced the waiting frame 2
            Assert.AreEqual(2, book.Outstanding);
            Assert.AreEqual(1, book.Superseded);
            Assert.IsTrue(book.Apply(Result(1, 1)));
            Assert.IsFalse(book.Apply(new LiveEvent { Sequence = 2, Kind = LiveEventKind.Superseded, Frame = 2, ByFrame = 3 }));
            Assert.AreEqual(1, book.Superseded, "the event repeats what SendLiveFrame said: counted once");
            Assert.IsTrue(book.Apply(Result(3, 3, reused: true)));
            Assert.AreEqual(3L, book.Shown.Frame);
            Assert.AreEqual(0, book.Outstanding);
            Assert.AreEqual(1, book.Reused);
            Assert.IsFalse(book.Apply(Result(3, 3)), "a repeated poll's events are ignored by sequence");
            Assert.AreEqual(2, book.Results);
            Assert.IsFalse(book.Apply(Result(4, 2)), "an older frame's result never replaces a newer one");
            Assert.AreEqual(3L, book.Shown.Frame);
            Assert.AreEqual(1, book.StaleResults);
            book.Sent(3, 0);   // a LiveUpdate: frame 3 computed again with the new prompt
            Assert.IsTrue(book.Apply(Result(5, 3)), "the same frame computed again is shown");
            Assert.AreEqual(0, book.Outstanding);
            book.Sent(4, 0);
            book.Apply(new LiveEvent { Sequence = 6, Kind = LiveEventKind.FrameFailed, Frame = 4, Failure = new JobFailure { Code = "invalid_argument" } });
            Assert.AreEqual(1, book.Failed);
            Assert.AreEqual(0, book.Outstanding);
            Assert.AreEqual(6L, book.LastSequence);
            book.Apply(new LiveEvent { Sequence = 7, Kind = LiveEventKind.Closed, Closed = new LiveClosedInfo { Reason = "idle timeout" } });
            Assert.AreEqual("idle timeout", book.Closed.Reason);
        }
    }
}
