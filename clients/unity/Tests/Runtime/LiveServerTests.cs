// Live mode against a real server's HTTP face (OpenLive, SendLiveFrame, PollLive, CloseLive) through LiveSession:
// frames with colour, a depth plane and a Humanoid pose; only changed inputs travel; latest frame wins and every
// frame is answered once; nearly identical frames are reused; a LiveUpdate computes the last frame again; bad input
// names its field. Ignored without DCCBRIDGE_HTTP_URL (tests/test_unity_core.py sets it).
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using DccBridge.Core;
using NUnit.Framework;

namespace DccBridge.Tests
{
    [TestFixture]
    public class LiveServerTests
    {
        private const int Size = 64;
        private static string Url { get { return Environment.GetEnvironmentVariable("DCCBRIDGE_HTTP_URL") ?? ""; } }
        private static string Token { get { return Environment.GetEnvironmentVariable("DCCBRIDGE_TOKEN") ?? ""; } }

        [SetUp]
        public void RequireServer()
        {
            if (Url.Length == 0) Assert.Ignore("set DCCBRIDGE_HTTP_URL to a dccbridge server's HTTP face to run these");
        }

        private static T Sync<T>(System.Threading.Tasks.Task<T> task) { return task.GetAwaiter().GetResult(); }

        private static LiveConfig Config(int size = Size, int steps = 2, float? threshold = 0f, bool depth = true, bool pose = true)
        {
            var config = new LiveConfig { Prompt = "a red cube", Width = size, Height = size, Steps = steps, Seed = 7, SimilarityThreshold = threshold, Label = "unity-live-test" };
            if (depth) config.Controls.Add(new LiveSlot(ControlType.Depth, 0.9f));
            if (pose) config.Controls.Add(new LiveSlot(ControlType.Openpose, 0.8f));
            return config;
        }

        private static byte[] Colour(int seed, int size = Size)
        {
            return TestPng.EncodeRgb(size, size, (x, y) => new[] { (byte)((x * 4 + seed * 37) & 255), (byte)((y * 4 + seed * 11) & 255), (byte)(seed * 50 & 255) });
        }

        /// <summary>A box at boxDistance in front of a wall at 8, in Unity's row order (DepthPlane flips it).</summary>
        private static DepthPassData Depth(float boxDistance, int size = Size)
        {
            var d = new float[size * size];
            for (int row = 0; row < size; row++)
                for (int x = 0; x < size; x++)
                    d[row * size + x] = row >= size / 4 && row < size * 3 / 4 && x >= size / 4 && x < size * 3 / 4 ? boxDistance : 8f;
            return DepthPlane.FromBottomFirst(d, size, size, 0.3f, 100f);
        }

        private static PoseRigData Pose(float x, int size = Size)
        {
            var cam = CameraProjection.Perspective(new Vec3(0, 1f, -5f), new Vec3(0, 0, 1), new Vec3(0, 1, 0), 40f, 0.3f, 100f, size, size);
            return HumanoidPose.Rig(new List<IDictionary<HumanoidBone, Vec3>> { Skeletons.TPose(x) }, cam);
        }

        private static LiveCapture Capture(int colour, float box, float poseX, bool depth = true, bool pose = true)
        {
            var c = new LiveCapture { ImagePng = Colour(colour), Prompt = "a red cube" };
            if (depth) c.Controls.Add(LiveControlInput.Depth(0, Depth(box)));
            if (pose) c.Controls.Add(LiveControlInput.Pose(depth ? 1 : 0, Pose(poseX)));
            return c;
        }

        /// <summary>Long-polls until `count` frame answers (result, superseded, frame_failed) have come.</summary>
        private static List<LiveEvent> Answers(LiveSession session, int count, int timeoutMs = 90000)
        {
            var answers = new List<LiveEvent>();
            var clock = Stopwatch.StartNew();
            while (answers.Count < count && clock.ElapsedMilliseconds < timeoutMs)
                foreach (var e in Sync(session.PollAsync(5000)))
                    if (e.AnsweredFrame > 0) answers.Add(e);
            Assert.AreEqual(count, answers.Count, "answers in " + timeoutMs + " ms: " + string.Join(", ", answers.Select(a => a.Kind + " " + a.AnsweredFrame).ToArray()));
            return answers;
        }

        [Test]
        public void FramesWithColourDepthAndPoseAreAnsweredAndOnlyChangesTravel()
        {
            using (var c = new DccBridgeClient(Url, Token))
            {
                var session = Sync(LiveSession.OpenAsync(c, Config()));
                Assert.IsNotEmpty(session.SessionId);
                Assert.AreEqual(Size, session.Resolved.Width);
                Assert.AreEqual("tiny", session.Resolved.ModelId, "the resolved config names the default model");
                Assert.AreEqual(2, session.Resolved.Controls.Count);

                var first = Sync(session.SendAsync(Capture(1, 2f, 0f)));
                Assert.AreEqual(1L, first.Frame);
                Assert.IsNotNull(first.ImagePng);
                Assert.AreEqual(2, first.Controls.Count, "the first frame gives every slot's input");
                var r1 = Answers(session, 1)[0];
                Assert.AreEqual(LiveEventKind.Result, r1.Kind, r1.Failure == null ? "" : r1.Failure.Message);
                Assert.AreEqual(1L, r1.Result.Frame);
                Assert.IsFalse(r1.Result.Reused);
                Assert.AreEqual(7L, r1.Result.Seed);
                Assert.AreEqual("image/png", r1.Result.MimeType);
                Assert.AreEqual(Size, TestPng.Decode(r1.Result.ImageData).Width);
                Assert.Greater(r1.Result.Timings.TotalMs, 0f);
                Assert.Greater(r1.Result.Timings.PipelineMs, 0f);

                // The character moved; colour and depth did not: only the pose travels, and the server keeps the rest.
                var second = Sync(session.SendAsync(Capture(1, 2f, 0.6f)));
                Assert.IsNull(second.ImagePng);
                CollectionAssert.AreEqual(new[] { 1 }, second.Controls.Select(x => x.Slot).ToArray());
                Assert.Less(LiveWire.Frame(second).ToString().Length * 5, LiveWire.Frame(first).ToString().Length, "the pose-only frame is small");
                Assert.IsNull(Sync(session.SendAsync(Capture(1, 2f, 0.6f))), "nothing changed: nothing sent");
                var third = Sync(session.SendAsync(Capture(1, 1f, 0.6f)));
                CollectionAssert.AreEqual(new[] { 0 }, third.Controls.Select(x => x.Slot).ToArray(), "only the depth plane");
                var answers = Answers(session, 2);
                Assert.IsTrue(answers.All(a => a.Kind == LiveEventKind.Result || a.Kind == LiveEventKind.Superseded));
                Assert.AreEqual(3L, answers.Last().Result.Frame, "the newest frame is computed");
                Assert.AreNotEqual(r1.Result.ImageData, answers.Last().Result.ImageData);
                Assert.AreEqual(3L, session.Book.Shown.Frame);
                Assert.AreEqual(0, session.Book.Outstanding);

                var closed = Sync(session.CloseAsync());
                Assert.AreEqual("client closed", closed.Reason);
                Assert.AreEqual(3L, closed.FramesReceived);
                Assert.AreEqual(closed.FramesReceived, closed.FramesComputed + closed.FramesSuperseded + closed.FramesReused);
                var e = Assert.Throws<DccBridgeException>(delegate { Sync(session.SendAsync(Capture(2, 1f, 0.6f))); });
                Assert.AreEqual("not_found", e.Code, "a closed session takes no frames");
            }
        }

        [Test]
        public void LatestFrameWinsAndEveryFrameIsAnsweredOnceInOrder()
        {
            const int count = 12;
            using (var c = new DccBridgeClient(Url, Token))
            {
                var session = Sync(LiveSession.OpenAsync(c, Config(size: 128, steps: 8, depth: false, pose: false)));   // a frame computes far slower than one is sent
                long supersededBySend = 0;
                for (int i = 1; i <= count; i++)   // far faster than the model answers: most wait and are replaced
                {
                    var sent = Sync(session.SendAsync(new LiveCapture { ImagePng = Colour(i, 128) }));
                    Assert.AreEqual((long)i, sent.Frame);
                }
                supersededBySend = session.Book.Superseded;
                var answers = Answers(session, count);
                CollectionAssert.AreEqual(Enumerable.Range(1, count).Select(i => (long)i).ToArray(), answers.Select(a => a.AnsweredFrame).ToArray(),
                                          "each frame answered once, in frame order");
                Assert.AreEqual(LiveEventKind.Result, answers.Last().Kind, "the newest frame is computed");
                var superseded = answers.Where(a => a.Kind == LiveEventKind.Superseded).ToList();
                Assert.IsNotEmpty(superseded, "frames that waited were replaced by newer ones");
                Assert.IsTrue(superseded.All(s => s.ByFrame > s.Frame));
                Assert.AreEqual(superseded.Count, supersededBySend, "SendLiveFrame said which frame each one replaced");
                Assert.AreEqual(superseded.Count, session.Book.Superseded, "counted once, whichever told first");
                Assert.AreEqual((long)count, session.Book.Shown.Frame);
                Assert.AreEqual(0, session.Book.Outstanding);
                Assert.AreEqual(count - superseded.Count, session.Book.Results);
                Assert.AreEqual((long)superseded.Count, Sync(session.CloseAsync()).FramesSuperseded);
            }
        }

        [Test]
        public void NearlyIdenticalFramesAreReusedAndAnUpdateComputesTheLastFrameAgain()
        {
            using (var c = new DccBridgeClient(Url, Token))
            {
                var session = Sync(LiveSession.OpenAsync(c, Config(threshold: null, pose: false)));
                Assert.AreEqual(0.98f, session.Resolved.SimilarityThreshold.Value, 1e-6);
                var capture = Capture(1, 2f, 0f, pose: false);
                Sync(session.SendAsync(capture));
                var computed = Answers(session, 1)[0].Result;
                var again = Sync(session.SendAsync(capture, force: true));   // the camera came back: same inputs
                Assert.AreEqual("{\"frame\":\"2\"}", LiveWire.Frame(again).ToString(), "a frame with nothing in it");
                var reused = Answers(session, 1)[0].Result;
                Assert.IsTrue(reused.Reused);
                Assert.AreEqual(1L, reused.ReusedFromFrame);
                CollectionAssert.AreEqual(computed.ImageData, reused.ImageData);

                Sync(session.UpdateAsync("a blue sphere", null));
                var updated = Answers(session, 1)[0];
                Assert.AreEqual(LiveEventKind.Result, updated.Kind);
                Assert.AreEqual(2L, updated.Result.Frame, "the last frame, computed again with the new prompt");
                Assert.IsFalse(updated.Result.Reused);
                CollectionAssert.AreNotEqual(computed.ImageData, updated.Result.ImageData);
                Assert.AreSame(updated.Result, session.Book.Shown, "shown although its frame number is the one shown");
                Assert.IsNull(session.Frames.Next(new LiveCapture { ImagePng = capture.ImagePng, Controls = capture.Controls, Prompt = "a blue sphere" }),
                              "the update's prompt need not travel again");
                var closed = Sync(session.CloseAsync());
                Assert.AreEqual(1L, closed.FramesReused);
            }
        }

        [Test]
        public void BadInputNamesTheFieldAndTheSessionGoesOn()
        {
            using (var c = new DccBridgeClient(Url, Token))
            {
                var config = Config();
                config.Width = 100;
                var e = Assert.Throws<DccBridgeException>(delegate { Sync(LiveSession.OpenAsync(c, config)); });
                Assert.AreEqual("invalid_argument", e.Code);
                Assert.AreEqual("config.width", e.Field);
                config = Config();
                config.ModelId = "no-such-model";
                e = Assert.Throws<DccBridgeException>(delegate { Sync(LiveSession.OpenAsync(c, config)); });
                Assert.AreEqual("config.model_id", e.Field);
                StringAssert.Contains("tiny", e.ServerMessage, "the message names the models that exist");

                var session = Sync(LiveSession.OpenAsync(c, Config(pose: false)));
                // The first frame must give every slot's input: refused, answered frame_failed, the session goes on.
                e = Assert.Throws<DccBridgeException>(delegate { Sync(session.SendAsync(new LiveCapture { ImagePng = Colour(1) })); });
                Assert.AreEqual("invalid_argument", e.Code);
                Assert.AreEqual("frame.controls", e.Field);
                var failed = Answers(session, 1)[0];
                Assert.AreEqual(LiveEventKind.FrameFailed, failed.Kind);
                Assert.AreEqual(1L, failed.Frame);
                Assert.AreEqual("invalid_argument", failed.Failure.Code);
                Assert.AreEqual(1, session.Book.Failed);

                var next = Sync(session.SendAsync(Capture(1, 2f, 0f, pose: false)));
                Assert.AreEqual(2L, next.Frame);
                Assert.AreEqual(LiveEventKind.Result, Answers(session, 1)[0].Kind);
                Sync(session.CloseAsync());

                e = Assert.Throws<DccBridgeException>(delegate { Sync(c.PollLiveAsync("no-such-session", 0, 0)); });
                Assert.AreEqual("not_found", e.Code);
                StringAssert.Contains("no-such-session", e.ServerMessage);
            }
        }
    }
}
