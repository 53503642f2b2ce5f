// The core against a real dccbridge server's HTTP face (Connect JSON over HTTP/1.1).
// Set DCCBRIDGE_HTTP_URL (e.g. http://127.0.0.1:50052) and, for a server with a token, DCCBRIDGE_TOKEN;
// without a URL these tests are ignored (in the Unity editor too). tests/test_unity_core.py runs them under Mono
// against the tiny preset.
using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using DccBridge.Core;
using NUnit.Framework;

namespace DccBridge.Tests
{
    [TestFixture]
    public class ServerTests
    {
        private static string Url { get { return Environment.GetEnvironmentVariable("DCCBRIDGE_HTTP_URL") ?? ""; } }
        private static string Token { get { return Environment.GetEnvironmentVariable("DCCBRIDGE_TOKEN") ?? ""; } }

        [SetUp]
        public void RequireServer()
        {
            if (Url.Length == 0) Assert.Ignore("set DCCBRIDGE_HTTP_URL to a dccbridge server's HTTP face to run these");
        }

        private static DccBridgeClient Client() { return new DccBridgeClient(Url, Token); }

        private static T Sync<T>(System.Threading.Tasks.Task<T> task) { return task.GetAwaiter().GetResult(); }

        /// <summary>A box 2 m away filling the middle of the upper half, a wall at 8 m, sky (cleared) in the
        /// lower-left quadrant — in Unity's row order (row 0 = bottom).</summary>
        private static DepthPassData SceneDepth(int size)
        {
            var d = new float[size * size];
            for (int row = 0; row < size; row++)
                for (int x = 0; x < size; x++)
                {
                    bool upperHalf = row >= size / 2;
                    float v = 8f;
                    if (upperHalf && row < size * 7 / 8 && x >= size / 4 && x < size * 3 / 4) v = 2f;
                    if (!upperHalf && x < size / 2) v = 0f;   // nothing rendered there: background
                    d[row * size + x] = v;
                }
            return DepthPlane.FromBottomFirst(d, size, size, 0.3f, 100f);
        }

        private static PoseRigData TwoPeople(int size)
        {
            var cam = CameraProjection.Perspective(new Vec3(0, 1f, -5f), new Vec3(0, 0, 1), new Vec3(0, 1, 0), 40f, 0.3f, 100f, size, size);
            return HumanoidPose.Rig(new List<IDictionary<HumanoidBone, Vec3>> { Skeletons.TPose(-0.9f), Skeletons.TPose(0.9f) }, cam);
        }

        private static GenerateRequest Small(int steps = 2, int size = 64, long seed = 1234)
        {
            return new GenerateRequest { Prompt = "a red cube", Width = size, Height = size, Steps = steps, Seed = seed };
        }

        [Test]
        public void Capabilities()
        {
            using (var c = Client())
            {
                var caps = Sync(c.GetCapabilitiesAsync());
                Assert.AreEqual("v1", caps.ApiVersion);
                Assert.AreEqual("tiny", caps.DefaultModelId);
                var model = caps.Models.First(m => m.Id == caps.DefaultModelId);
                Assert.Contains(ControlType.Depth, model.ControlTypes);
                Assert.Contains(ControlType.Openpose, model.ControlTypes);
                Assert.Contains("TEXTURE", model.Tasks);
                Assert.Greater(caps.MaxMessageBytes, 4L * 1024 * 1024);
                Assert.AreEqual(8, caps.SizeMultiple);
                Assert.Contains("unipc", caps.Schedulers);
            }
        }

        [Test]
        public void CapabilitiesListTheCatalogsAdaptersWithTheirFamily()
        {
            using (var c = Client())
            {
                var caps = Sync(c.GetCapabilitiesAsync());
                string family = AdapterMenu.FamilyOf(caps, "");
                Assert.AreEqual("sd15", family);
                CollectionAssert.AreEqual(new[] { "style" }, AdapterMenu.ForFamily(caps.Loras, family).Select(a => a.Id).ToArray());
                Assert.IsTrue(caps.Loras.Any(a => a.Id == "xl-style" && a.Family == "sdxl"), "the sdxl LoRA is listed, for sdxl");
                Assert.AreEqual("mystyle", AdapterMenu.ForFamily(caps.Embeddings, family).Single().Token);
                Assert.AreEqual("warm-vae", AdapterMenu.ForFamily(caps.Vaes, family).Single().Id);
            }
        }

        [Test]
        public void ALoraAnEmbeddingAndAVaeReachTheServerAndChangeTheImage()
        {
            using (var c = Client())
            {
                var caps = Sync(c.GetCapabilitiesAsync());
                var plainRequest = Small();
                plainRequest.Prompt = "a mystyle harbour";
                var plain = Sync(c.WaitAsync(Sync(c.SubmitAsync(plainRequest)).JobId));
                var styledRequest = Small();
                styledRequest.Prompt = "a mystyle harbour";
                styledRequest.Adapters.Loras.Add(new LoraSpec("style", 0.8f));
                styledRequest.Adapters.Embeddings.AddRange(AdapterMenu.EmbeddingsUsedBy(caps.Embeddings, styledRequest.Prompt, ""));
                styledRequest.Adapters.VaeId = "warm-vae";
                Assert.AreEqual(0, AdapterMenu.Stale(styledRequest.Adapters, caps, "sd15").Count);
                var styled = Sync(c.WaitAsync(Sync(c.SubmitAsync(styledRequest)).JobId));
                Assert.AreEqual(JobState.Succeeded, styled.State, styled.Failure == null ? "" : styled.Failure.Message);
                var image = styled.Result.Images[0];
                StringAssert.Contains("Lora hashes: \"style: ", image.Parameters);
                StringAssert.Contains("TI hashes: \"mystyle: ", image.Parameters);
                StringAssert.Contains("VAE: warm-vae", image.Parameters);
                var meta = JsonValue.Parse(styled.Result.MetadataJson)["adapters"];
                Assert.AreEqual(0.8, meta["loras"][0]["weight"].AsDouble(), 1e-6);
                CollectionAssert.AreNotEqual(plain.Result.Images[0].Data, image.Data);
            }
        }

        [Test]
        public void AnUnknownLoraIsNotFoundNamingWhatTheServerOffers()
        {
            using (var c = Client())
            {
                var request = Small();
                request.Adapters.Loras.Add(new LoraSpec("renamed-lora"));
                var e = Assert.Throws<DccBridgeException>(delegate { Sync(c.SubmitAsync(request)); });
                Assert.AreEqual("not_found", e.Code);
                StringAssert.Contains("renamed-lora", e.Message);
                StringAssert.Contains("style", e.Message);
            }
        }

        [Test]
        public void DepthPlaneArrivesTopRowFirst()
        {
            using (var c = Client())
            {
                var job = Sync(c.SubmitPreprocessAsync(ControlUnitSpec.Depth(SceneDepth(64)), 64, 64));
                var done = Sync(c.WaitAsync(job.JobId));
                var map = TestPng.Decode(done.Result.Images[0].Data);
                Assert.AreEqual(64, map.Width);
                // Wire row 16 (image top half) is the near box: brightest. Row 48, right half: the far wall.
                // Row 48, left half: background (black).
                int box = map.At(32, 16)[0], wall = map.At(48, 48)[0], sky = map.At(8, 48)[0];
                Assert.Greater(box, wall, "the near box (top half in the image) is brighter than the wall");
                Assert.Greater(wall, 0, "the wall is foreground");
                Assert.AreEqual(0, sky, "cleared pixels are background");
            }
        }

        [Test]
        public void DepthNormalizationIsChosenPerPassAndRecorded()
        {
            using (var c = Client())
            {
                var recorded = new List<string>();
                var box = new Dictionary<DepthNormalization, int>();
                foreach (var choice in new[] { DepthNormalization.Auto, DepthNormalization.Percentile, DepthNormalization.NearFar })
                {
                    var depth = SceneDepth(64);
                    depth.Normalization = choice;
                    var done = Sync(c.WaitAsync(Sync(c.SubmitPreprocessAsync(ControlUnitSpec.Depth(depth), 64, 64)).JobId));
                    Assert.AreEqual(JobState.Succeeded, done.State);
                    recorded.Add(JsonValue.Parse(done.Result.MetadataJson)["depth_normalization"]["unit.depth_pass"].AsString());
                    box[choice] = TestPng.Decode(done.Result.Images[0].Data).At(32, 16)[0];
                }
                CollectionAssert.AreEqual(new[] { "min_max", "percentile", "near_far" }, recorded, "Auto is the family default");
                Assert.AreEqual(255, box[DepthNormalization.Auto], "min-max: the nearest surface is white");
                Assert.Less(box[DepthNormalization.NearFar], 255, "near/far: the box at 2 is not at near (0.3)");
            }
        }

        [Test]
        public void PoseRigIsDrawnWhereTheBonesAre()
        {
            using (var c = Client())
            {
                var rig = TwoPeople(128);
                Assert.AreEqual(2, rig.People.Count);
                var job = Sync(c.SubmitPreprocessAsync(ControlUnitSpec.Pose(rig), 128, 128));
                var map = TestPng.Decode(Sync(c.WaitAsync(job.JobId)).Result.Images[0].Data);
                foreach (var person in rig.People)
                    for (int k = 0; k < 18; k++)
                    {
                        var p = person[k];
                        Assert.IsTrue(p.Visible, HumanoidPose.Coco18Names[k]);
                        Assert.IsFalse(map.IsDark((int)Math.Round(p.X), (int)Math.Round(p.Y), 1), HumanoidPose.Coco18Names[k] + " drawn at " + p);
                    }
                // Mirrored vertically, the hands would be near the feet: nothing is drawn there.
                foreach (int k in new[] { 4, 7 })
                {
                    var hand = rig.People[0][k];
                    Assert.IsTrue(map.IsDark((int)Math.Round(hand.X), (int)Math.Round(128 - hand.Y), 1), "nothing at the mirrored hand");
                }
            }
        }

        [Test]
        public void GenerateWithDepthAndPoseUnitsAndLongPollProgress()
        {
            using (var c = Client())
            {
                var request = Small(steps: 3);
                request.ControlUnits.Add(ControlUnitSpec.Depth(SceneDepth(64), 0.9f));
                request.ControlUnits.Add(ControlUnitSpec.Pose(TwoPeople(64), 0.8f));
                var job = Sync(c.SubmitAsync(request, new JobOptions { Label = "unity-test" }));
                Assert.IsNotEmpty(job.JobId);
                var updates = new List<JobInfo>();
                var done = Sync(c.WaitAsync(job.JobId, u => { lock (updates) updates.Add(u); }, default(CancellationToken), 5000));
                Assert.AreEqual(JobState.Succeeded, done.State);
                var image = done.Result.Images.Single();
                Assert.AreEqual(64, image.Width);
                Assert.AreEqual(1234L, image.Seed);
                Assert.AreEqual(64, TestPng.Decode(image.Data).Height);
                var steps = updates.Where(u => u.Progress != null && u.Progress.Stage == "denoise").Select(u => u.Progress.Step).ToList();
                Assert.Contains(3, steps, "the long-poll saw the last denoising step");
                Assert.IsTrue(steps.Count >= 2, "the long-poll saw several progress events: " + string.Join(",", steps.Select(s => s.ToString()).ToArray()));
                for (int i = 1; i < updates.Count; i++) Assert.Greater(updates[i].Sequence, updates[i - 1].Sequence);
                var metadata = JsonValue.Parse(done.Result.MetadataJson);
                var units = metadata["request"]["control_units"];
                Assert.AreEqual(2, units.Count, metadata.ToString());
                StringAssert.Contains("unity-test", done.Label);
            }
        }

        [Test]
        public void CancelStopsARunningJob()
        {
            using (var c = Client())
            using (var cts = new CancellationTokenSource())
            {
                var job = Sync(c.SubmitAsync(Small(steps: 150, size: 128)));
                Assert.Throws<OperationCanceledException>(delegate
                {
                    c.WaitAsync(job.JobId, u => { if (u.Progress != null && u.Progress.Step >= 1) cts.Cancel(); }, cts.Token, 2000)
                        .GetAwaiter().GetResult();
                });
                JobInfo state = null;
                for (int i = 0; i < 30; i++)
                {
                    state = Sync(c.GetJobAsync(job.JobId, 2000, state == null ? 0 : state.Sequence, true));
                    if (state.IsFinished) break;
                }
                Assert.AreEqual(JobState.Cancelled, state.State);
                Assert.Less(state.Progress.Step, 150, "stopped before the last step");
                // Cancel is idempotent; a finished job stays cancelled.
                Assert.AreEqual(JobState.Cancelled, Sync(c.CancelAsync(job.JobId)).State);
            }
        }

        [Test]
        public void FieldErrorsSurfaceWithCodeFieldAndMessage()
        {
            using (var c = Client())
            {
                var e = Assert.Throws<DccBridgeException>(delegate { Sync(c.SubmitAsync(Small(size: 100))); });
                Assert.AreEqual("invalid_argument", e.Code);
                Assert.AreEqual("width", e.Field);
                Assert.AreEqual("width: must be a multiple of 8, got 100", e.ServerMessage);
                Assert.AreEqual(400, e.HttpStatus);

                var rig = new PoseRigData { CanvasWidth = 64, CanvasHeight = 64 };
                var person = new Keypoint[18];
                person[4] = new Keypoint(70, 10, true);   // off the canvas but marked visible
                rig.People.Add(person);
                var request = Small();
                request.ControlUnits.Add(ControlUnitSpec.Pose(rig));
                e = Assert.Throws<DccBridgeException>(delegate { Sync(c.SubmitAsync(request)); });
                Assert.AreEqual("invalid_argument", e.Code);
                StringAssert.EndsWith("pose_rig.people[0].body[4]", e.Field);
                StringAssert.Contains("off the canvas", e.ServerMessage);

                var depth = SceneDepth(8);
                depth.Width = 16;   // the bytes are for 8 x 8
                request = Small();
                request.ControlUnits.Add(ControlUnitSpec.Depth(depth));
                e = Assert.Throws<DccBridgeException>(delegate { Sync(c.SubmitAsync(request)); });
                Assert.AreEqual("invalid_argument", e.Code);
                StringAssert.Contains("depth_pass", e.Field);

                request = Small();
                request.ModelId = "no-such-model";
                e = Assert.Throws<DccBridgeException>(delegate { Sync(c.SubmitAsync(request)); });
                Assert.AreEqual("not_found", e.Code);
                StringAssert.Contains("tiny", e.ServerMessage, "the message lists the models that exist");

                e = Assert.Throws<DccBridgeException>(delegate { Sync(c.GetJobAsync("no-such-job")); });
                Assert.AreEqual("not_found", e.Code);
            }
        }

        [Test]
        public void AnUnreachableServerIsUnavailable()
        {
            using (var c = new DccBridgeClient("http://127.0.0.1:1"))
            {
                var e = Assert.Throws<DccBridgeException>(delegate { Sync(c.GetCapabilitiesAsync()); });
                Assert.AreEqual("unavailable", e.Code);
            }
        }

        [Test]
        public void AnHttpTimeoutIsDeadlineExceededNotACancel()
        {
            using (var c = Client())
            {
                var job = Sync(c.SubmitAsync(Small(steps: 150, size: 128)));
                try
                {
                    using (var http = new System.Net.Http.HttpClient { Timeout = TimeSpan.FromMilliseconds(300) })
                    using (var impatient = new DccBridgeClient(Url, Token, http))
                    {
                        // A long-poll for an event far ahead waits 5 s: longer than this HttpClient's timeout.
                        var e = Assert.Throws<DccBridgeException>(delegate { Sync(impatient.GetJobAsync(job.JobId, 5000, job.Sequence + 100000, true)); });
                        Assert.AreEqual("deadline_exceeded", e.Code);
                    }
                }
                finally { Sync(c.CancelAsync(job.JobId)); }
            }
        }

        [Test]
        public void TokenIsRequiredWhenTheServerHasOne()
        {
            if (Token.Length == 0) Assert.Ignore("set DCCBRIDGE_TOKEN (the server's token) to run this");
            foreach (var wrong in new[] { "", "wrong" })
                using (var c = new DccBridgeClient(Url, wrong))
                {
                    var e = Assert.Throws<DccBridgeException>(delegate { Sync(c.GetCapabilitiesAsync()); });
                    Assert.AreEqual("unauthenticated", e.Code);
                    Assert.AreEqual("missing or invalid token", e.ServerMessage);
                    Assert.AreEqual(401, e.HttpStatus);
                }
            using (var c = Client()) Assert.AreEqual("v1", Sync(c.GetCapabilitiesAsync()).ApiVersion);
        }

        [Test]
        public void APendingJobIsFetchedAgainByIdAfterTheClientIsGone()
        {
            string persisted;
            using (var c = Client())
            {
                var job = Sync(c.SubmitAsync(Small(seed: 77)));
                persisted = PendingJob.Serialize(new[] { new PendingJob { JobId = job.JobId, ServerUrl = Url, Kind = "generate" } });
            }   // the window closed / the domain reloaded
            var pending = PendingJob.Parse(persisted).Single();
            using (var c = new DccBridgeClient(pending.ServerUrl, Token))
            {
                var done = Sync(c.WaitAsync(pending.JobId));
                Assert.AreEqual(JobState.Succeeded, done.State);
                Assert.AreEqual(77L, done.Result.Images[0].Seed);
                Assert.IsNotNull(done.Result.Images[0].Data);
            }
        }

        [Test]
        public void SeamlessPbrTextureProjectionUpscaleAndDepth2Img()
        {
            using (var c = Client())
            {
                var texture = Sync(c.WaitAsync(Sync(c.SubmitAsync(new TextureRequest
                {
                    Prompt = "mossy cobblestones", Width = 64, Height = 64, Steps = 2, Seed = 5, Tiling = TilingAxes.Both, PbrMaps = true,
                })).JobId));
                CollectionAssert.AreEquivalent(new[] { "albedo", "height", "normal", "roughness", "ao" }, texture.Result.Images.Select(i => i.Role).ToArray());
                Assert.AreEqual("both", JsonValue.Parse(texture.Result.ExtraJson)["texture"]["tiling"].AsString());

                var camera = new CameraData { FovYDegrees = 40f, Near = 0.3f, Far = 100f, Width = 64, Height = 64 };
                camera.CameraToWorld = new float[] { 1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 1, -4, 0, 0, 0, 1 };
                var projection = Sync(c.WaitAsync(Sync(c.SubmitAsync(new TextureRequest
                {
                    Prompt = "plaster", Width = 64, Height = 64, Steps = 2, Seed = 5, Tiling = TilingAxes.None, PbrMaps = false,
                    ProjectionDepth = SceneDepth(64), ProjectionCamera = camera,
                })).JobId));
                var cam = JsonValue.Parse(projection.Result.ExtraJson)["projection"]["camera"];
                Assert.AreEqual("unity", cam["host"].AsString());
                Assert.AreEqual(-4.0, cam["camera_to_world"][11].AsDouble(), 1e-6);

                byte[] albedo = texture.Result.Images.First(i => i.Role == "albedo").Data;
                var upscaled = Sync(c.WaitAsync(Sync(c.SubmitAsync(new UpscaleRequest { ImagePng = albedo, Method = UpscaleMethod.Lanczos, Scale = 2f })).JobId));
                Assert.AreEqual(128, TestPng.Decode(upscaled.Result.Images[0].Data).Width);

                var d2i = Sync(c.WaitAsync(Sync(c.SubmitAsync(new Depth2ImgRequest
                {
                    Prompt = "ruined temple", Steps = 2, Seed = 3, InitImagePng = albedo, Strength = 0.8f, DepthPass = SceneDepth(64),
                })).JobId));
                Assert.AreEqual(64, d2i.Result.Images[0].Width);
                StringAssert.Contains("depth_pass", d2i.Result.MetadataJson);
            }
        }
    }
}
