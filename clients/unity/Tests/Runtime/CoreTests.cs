// Pure tests of the core: JSON, the wire format, the depth plane, the humanoid → COCO-18 mapping.
// NUnit subset shared by Unity's Test Framework (NUnit 3) and Debian's nunit-console (NUnit 2.6).
using System;
using System.Collections.Generic;
using DccBridge.Core;
using NUnit.Framework;

namespace DccBridge.Tests
{
    [TestFixture]
    public class JsonTests
    {
        [Test]
        public void RoundTripsNestedValuesAndEscapes()
        {
            var j = JsonValue.NewObject().Set("a", "x\"y\\z\n\u0001").Set("n", 1.5).Set("i", 42L).Set("b", true)
                .Set("arr", JsonValue.NewArray().Add(JsonValue.Number(1L)).Add(JsonValue.Null).Add(JsonValue.Str("é")));
            var back = JsonValue.Parse(j.ToString());
            Assert.AreEqual("x\"y\\z\n\u0001", back["a"].AsString());
            Assert.AreEqual(1.5, back["n"].AsDouble());
            Assert.AreEqual(42L, back["i"].AsLong());
            Assert.IsTrue(back["b"].AsBool());
            Assert.AreEqual(3, back["arr"].Count);
            Assert.IsTrue(back["arr"][1].IsNull);
            Assert.AreEqual("é", back["arr"][2].AsString());
            Assert.AreEqual(back.ToString(), JsonValue.Parse(j.ToString(true)).ToString());
        }

        [Test]
        public void ReadsProto3Conventions()
        {
            var j = JsonValue.Parse("{\"sequence\": \"12\", \"seed\": \"-1\", \"x\": 1e3, \"u\": \"\\u0041\"}");
            Assert.AreEqual(12L, j["sequence"].AsLong());
            Assert.AreEqual(-1L, j["seed"].AsLong());
            Assert.AreEqual(1000.0, j["x"].AsDouble());
            Assert.AreEqual("A", j["u"].AsString());
            Assert.IsTrue(j["missing"]["deeper"].IsNull, "absent members read as null (proto3 leaves defaults out)");
            Assert.AreEqual(0, j["missing"].AsInt());
        }

        [Test]
        public void RejectsMalformedText()
        {
            Assert.Throws<FormatException>(delegate { JsonValue.Parse("{\"a\": }"); });
            Assert.Throws<FormatException>(delegate { JsonValue.Parse("[1, 2"); });
            Assert.Throws<FormatException>(delegate { JsonValue.Parse("{} x"); });
        }

        [Test]
        public void NumbersUseTheInvariantCulture()
        {
            var previous = System.Threading.Thread.CurrentThread.CurrentCulture;
            try
            {
                System.Threading.Thread.CurrentThread.CurrentCulture = new System.Globalization.CultureInfo("de-DE");
                Assert.AreEqual("{\"g\":7.5}", JsonValue.NewObject().Set("g", 7.5).ToString());
                Assert.AreEqual(7.5, JsonValue.Parse("{\"g\":7.5}")["g"].AsDouble());
            }
            finally { System.Threading.Thread.CurrentThread.CurrentCulture = previous; }
        }
    }

    [TestFixture]
    public class DepthPlaneTests
    {
        [Test]
        public void FlipsUnityRowsToTopFirstLittleEndianFloat32()
        {
            // 3 x 2, Unity order: row 0 is the bottom row.
            var bottomFirst = new float[] { 1, 2, 3, /* top row: */ 4, 5, 6 };
            var plane = DepthPlane.FromBottomFirst(bottomFirst, 3, 2, 0.3f, 100f);
            Assert.AreEqual(24, plane.Float32Le.Length);
            // The first float on the wire is the top-left pixel (4), little-endian: 4.0f = 00 00 80 40.
            CollectionAssert.AreEqual(new byte[] { 0x00, 0x00, 0x80, 0x40 }, new[] { plane.Float32Le[0], plane.Float32Le[1], plane.Float32Le[2], plane.Float32Le[3] });
            CollectionAssert.AreEqual(new float[] { 4, 5, 6, 1, 2, 3 }, DepthPlane.DecodeTopFirst(plane.Float32Le, 3, 2));
            Assert.AreEqual(DepthEncoding.Linear, plane.Encoding);
            Assert.AreEqual(0.3f, plane.Near);
            Assert.AreEqual(100f, plane.Far);
        }

        [Test]
        public void ClearedAndNonFinitePixelsBecomeBackground()
        {
            var plane = DepthPlane.FromBottomFirst(new[] { 0f, -1f, float.NaN, 2.5f }, 2, 2, 0.1f, 10f);
            var values = DepthPlane.DecodeTopFirst(plane.Float32Le, 2, 2);
            Assert.IsTrue(float.IsPositiveInfinity(values[0]) && float.IsPositiveInfinity(values[2]) && float.IsPositiveInfinity(values[3]));
            Assert.AreEqual(2.5f, values[1]);
        }

        [Test]
        public void RejectsWrongSizesAndClipRanges()
        {
            Assert.Throws<ArgumentException>(delegate { DepthPlane.FromBottomFirst(new float[5], 2, 2, 0.1f, 10f); });
            Assert.Throws<ArgumentException>(delegate { DepthPlane.FromBottomFirst(new float[4], 2, 2, 10f, 1f); });
        }

        [Test]
        public void LinearEyeDepthInvertsTheDepthBuffer()
        {
            float near = 0.3f, far = 1000f;
            foreach (float d in new[] { 0.3f, 1f, 7f, 250f, 1000f })
            {
                double z = (far * (d - near)) / (d * (far - near));   // conventional [0,1] depth
                Assert.AreEqual(d, DepthPlane.LinearEyeDepth((float)z, near, far, false), d * 1e-3);
                Assert.AreEqual(d, DepthPlane.LinearEyeDepth((float)(1 - z), near, far, true), d * 1e-3);
            }
        }

        [Test]
        public void WireJsonCarriesTheEncodingAndClipRange()
        {
            var plane = DepthPlane.FromBottomFirst(new[] { 1f, 2f, 3f, 4f }, 2, 2, 0.5f, 50f);
            var j = JsonValue.Parse(WireFormat.Depth(plane).ToString());
            Assert.AreEqual("DEPTH_ENCODING_LINEAR", j["encoding"].AsString());
            Assert.AreEqual(2, j["width"].AsInt());
            Assert.AreEqual(0.5, j["near"].AsDouble());
            Assert.AreEqual(50.0, j["far"].AsDouble());
            CollectionAssert.AreEqual(plane.Float32Le, Convert.FromBase64String(j["float32Le"].AsString()));
            Assert.IsFalse(j.Has("normalization"), "Auto is left out: the server applies the family default");
            plane.Normalization = DepthNormalization.NearFar;
            j = JsonValue.Parse(WireFormat.Depth(plane).ToString());
            Assert.AreEqual("DEPTH_NORMALIZATION_NEAR_FAR", j["normalization"].AsString());
        }
    }

    /// <summary>A plain humanoid in a T-pose, 1.8 m tall, facing -Z (towards a camera on the -Z side).</summary>
    public static class Skeletons
    {
        public static Dictionary<HumanoidBone, Vec3> TPose(float x0 = 0f, bool eyes = true)
        {
            // Facing -Z: the character's right hand is at -X.
            var b = new Dictionary<HumanoidBone, Vec3>();
            b[HumanoidBone.Hips] = new Vec3(x0, 1.0f, 0);
            b[HumanoidBone.RightUpperLeg] = new Vec3(x0 - 0.1f, 0.95f, 0);
            b[HumanoidBone.LeftUpperLeg] = new Vec3(x0 + 0.1f, 0.95f, 0);
            b[HumanoidBone.RightLowerLeg] = new Vec3(x0 - 0.1f, 0.5f, 0);
            b[HumanoidBone.LeftLowerLeg] = new Vec3(x0 + 0.1f, 0.5f, 0);
            b[HumanoidBone.RightFoot] = new Vec3(x0 - 0.1f, 0.08f, 0);
            b[HumanoidBone.LeftFoot] = new Vec3(x0 + 0.1f, 0.08f, 0);
            b[HumanoidBone.Spine] = new Vec3(x0, 1.15f, 0);
            b[HumanoidBone.Chest] = new Vec3(x0, 1.3f, 0);
            b[HumanoidBone.Neck] = new Vec3(x0, 1.5f, 0);
            b[HumanoidBone.Head] = new Vec3(x0, 1.6f, 0);
            b[HumanoidBone.RightUpperArm] = new Vec3(x0 - 0.17f, 1.45f, 0);
            b[HumanoidBone.LeftUpperArm] = new Vec3(x0 + 0.17f, 1.45f, 0);
            b[HumanoidBone.RightLowerArm] = new Vec3(x0 - 0.45f, 1.45f, 0);
            b[HumanoidBone.LeftLowerArm] = new Vec3(x0 + 0.45f, 1.45f, 0);
            b[HumanoidBone.RightHand] = new Vec3(x0 - 0.7f, 1.45f, 0);
            b[HumanoidBone.LeftHand] = new Vec3(x0 + 0.7f, 1.45f, 0);
            if (eyes)
            {
                b[HumanoidBone.RightEye] = new Vec3(x0 - 0.032f, 1.7f, -0.08f);
                b[HumanoidBone.LeftEye] = new Vec3(x0 + 0.032f, 1.7f, -0.08f);
            }
            return b;
        }

        /// <summary>A camera at z = -4 looking at the character (+Z), 1 m up, 40° vertical FOV.</summary>
        public static CameraProjection FrontCamera(int width = 64, int height = 64)
        {
            return CameraProjection.Perspective(new Vec3(0, 1f, -4f), new Vec3(0, 0, 1), new Vec3(0, 1, 0), 40f, 0.3f, 100f, width, height);
        }
    }

    [TestFixture]
    public class ProjectionTests
    {
        [Test]
        public void MatchesWorldToScreenPointWithYFlippedToTopLeft()
        {
            var cam = CameraProjection.Perspective(new Vec3(0, 0, 0), new Vec3(0, 0, 1), new Vec3(0, 1, 0), 90f, 0.1f, 100f, 200, 100);
            float x, y;
            Assert.IsTrue(cam.TryProject(new Vec3(0, 0, 5), out x, out y));
            Assert.AreEqual(100f, x, 1e-3);
            Assert.AreEqual(50f, y, 1e-3);
            // fov 90°: at distance 5 the top edge is y = +5; x = +5 is at a quarter of the half-width (aspect 2).
            Assert.IsTrue(cam.TryProject(new Vec3(5, 5, 5), out x, out y));
            Assert.AreEqual(150f, x, 1e-2);
            Assert.AreEqual(0f, y, 1e-2, "world up is image top: y = 0 at the top edge");
            Assert.IsTrue(cam.TryProject(new Vec3(-2.5f, -2.5f, 5), out x, out y));
            Assert.AreEqual(75f, x, 1e-2);
            Assert.AreEqual(75f, y, 1e-2);
        }

        [Test]
        public void ProjectionUvsAreViewportPositionsWithABottomLeftOrigin()
        {
            var cam = CameraProjection.Perspective(new Vec3(0, 0, 0), new Vec3(0, 0, 1), new Vec3(0, 1, 0), 90f, 0.1f, 100f, 200, 100);
            float u, v;
            Assert.IsTrue(ProjectionUv.TryUv(cam, new Vec3(5, 5, 5), out u, out v));
            Assert.AreEqual(0.75f, u, 1e-4);
            Assert.AreEqual(1f, v, 1e-4, "the top of the view is v = 1, as in the generated image's texture");
            Assert.IsFalse(ProjectionUv.TryUv(cam, new Vec3(0, 0, -1), out u, out v));
        }

        [Test]
        public void PointsBehindTheCameraDoNotProject()
        {
            var cam = CameraProjection.Perspective(new Vec3(0, 0, 0), new Vec3(0, 0, 1), new Vec3(0, 1, 0), 60f, 0.1f, 100f, 64, 64);
            float x, y;
            Assert.IsFalse(cam.TryProject(new Vec3(0, 0, -3), out x, out y));
            Assert.IsFalse(cam.TryProject(new Vec3(1, 0, 0), out x, out y));
        }

        [Test]
        public void AcceptsAUnityMatrixGivenAsRowMajorNumbers()
        {
            // Unity: camera at the origin, identity rotation; worldToCameraMatrix = diag(1, 1, -1, 1);
            // projectionMatrix for fov 60, aspect 1, near 0.3, far 1000 (numbers as Unity prints them).
            float c = 1.732051f, a = -1.0006f, b = -0.60018f;
            var worldToClip = new float[] { c, 0, 0, 0, 0, c, 0, 0, 0, 0, -a, b, 0, 0, 1, 0 };
            var cam = new CameraProjection(worldToClip, 100, 100);
            float x, y;
            Assert.IsTrue(cam.TryProject(new Vec3(0, 0, 10), out x, out y));
            Assert.AreEqual(50f, x, 1e-3);
            Assert.AreEqual(50f, y, 1e-3);
            Assert.IsTrue(cam.TryProject(new Vec3(1, 1, 10), out x, out y));
            Assert.Greater(x, 50f);
            Assert.Less(y, 50f);
        }
    }

    [TestFixture]
    public class HumanoidPoseTests
    {
        [Test]
        public void MapsATPoseToCoco18InImageSpace()
        {
            var k = HumanoidPose.ToCoco18(Skeletons.TPose(), Skeletons.FrontCamera(256, 256));
            Assert.AreEqual(18, k.Length);
            foreach (var p in k) Assert.IsTrue(p.Visible, "every keypoint of a framed T-pose is visible: " + p);
            // Facing the camera, the character's right side is on the image's left.
            Assert.Less(k[4].X, k[3].X); Assert.Less(k[3].X, k[2].X); Assert.Less(k[2].X, k[1].X);
            Assert.Less(k[1].X, k[5].X); Assert.Less(k[5].X, k[6].X); Assert.Less(k[6].X, k[7].X);
            Assert.Less(k[8].X, k[11].X);
            Assert.Less(k[14].X, k[15].X, "right eye left of the left eye");
            Assert.Less(k[16].X, k[14].X); Assert.Greater(k[17].X, k[15].X);
            // y grows downwards: head above neck above hips above knees above ankles.
            Assert.Less(k[14].Y, k[0].Y); Assert.Less(k[0].Y, k[1].Y); Assert.Less(k[1].Y, k[8].Y);
            Assert.Less(k[8].Y, k[9].Y); Assert.Less(k[9].Y, k[10].Y);
            // The neck is the midpoint of the shoulders, on the image's centre line.
            Assert.AreEqual(128f, k[1].X, 0.5);
            Assert.AreEqual((k[2].Y + k[5].Y) / 2, k[1].Y, 1e-3);
        }

        [Test]
        public void KeypointsMatchTheProjectionOfTheirBones()
        {
            var bones = Skeletons.TPose();
            var cam = Skeletons.FrontCamera(128, 96);
            var k = HumanoidPose.ToCoco18(bones, cam);
            foreach (var pair in HumanoidPose.DirectBones)
            {
                float x, y;
                Assert.IsTrue(cam.TryProject(bones[pair.Value], out x, out y));
                Assert.AreEqual(x, k[pair.Key].X, 1e-4, HumanoidPose.Coco18Names[pair.Key]);
                Assert.AreEqual(y, k[pair.Key].Y, 1e-4, HumanoidPose.Coco18Names[pair.Key]);
            }
        }

        [Test]
        public void EstimatesEyesNoseAndEarsWithoutEyeBones()
        {
            var withEyes = HumanoidPose.WorldKeypoints(Skeletons.TPose());
            var without = HumanoidPose.WorldKeypoints(Skeletons.TPose(eyes: false));
            for (int i = 0; i < 18; i++) Assert.IsTrue(without[i].HasValue, HumanoidPose.Coco18Names[i]);
            // Estimated eyes are within a few cm of real ones, in front of the head and above it.
            Assert.Less((without[14].Value - withEyes[14].Value).Length, 0.06f);
            Assert.Less((without[15].Value - withEyes[15].Value).Length, 0.06f);
            Assert.Less(without[0].Value.Z, 0f, "the nose points forward (-Z for this character)");
            Assert.Greater(without[16].Value.Z, without[14].Value.Z, "ears are behind the eyes");
        }

        [Test]
        public void MissingBonesAndPointsBehindOrOffCanvasAreInvisible()
        {
            var bones = Skeletons.TPose();
            bones.Remove(HumanoidBone.LeftHand);
            var k = HumanoidPose.ToCoco18(bones, Skeletons.FrontCamera());
            Assert.IsFalse(k[7].Visible);
            Assert.IsTrue(k[4].Visible);
            // A camera between the arms' ends: the hands are off the canvas.
            var close = CameraProjection.Perspective(new Vec3(0, 1.45f, -0.6f), new Vec3(0, 0, 1), new Vec3(0, 1, 0), 40f, 0.1f, 100f, 64, 64);
            k = HumanoidPose.ToCoco18(Skeletons.TPose(), close);
            Assert.IsFalse(k[4].Visible); Assert.IsFalse(k[7].Visible);
            // A camera facing away sees nothing.
            var away = CameraProjection.Perspective(new Vec3(0, 1f, -4f), new Vec3(0, 0, -1), new Vec3(0, 1, 0), 40f, 0.3f, 100f, 64, 64);
            foreach (var p in HumanoidPose.ToCoco18(Skeletons.TPose(), away)) Assert.IsFalse(p.Visible);
        }

        [Test]
        public void SeveralCharactersAreSeveralPeople()
        {
            var cam = Skeletons.FrontCamera(256, 128);
            var rig = HumanoidPose.Rig(new List<IDictionary<HumanoidBone, Vec3>>
            {
                Skeletons.TPose(-1.2f), Skeletons.TPose(1.2f), Skeletons.TPose(0f).ToDictionaryWithOffset(0, 0, -10f),
            }, cam);
            Assert.AreEqual(256, rig.CanvasWidth);
            Assert.AreEqual(128, rig.CanvasHeight);
            Assert.AreEqual(2, rig.People.Count, "the third character is behind the camera and left out");
            Assert.Less(rig.People[0][1].X, rig.People[1][1].X);
            var json = JsonValue.Parse(WireFormat.Pose(rig).ToString());
            Assert.AreEqual(2, json["people"].Count);
            Assert.AreEqual(18, json["people"][0]["body"].Count);
        }
    }

    public static class SkeletonExtensions
    {
        public static Dictionary<HumanoidBone, Vec3> ToDictionaryWithOffset(this Dictionary<HumanoidBone, Vec3> bones, float dx, float dy, float dz)
        {
            var moved = new Dictionary<HumanoidBone, Vec3>();
            foreach (var pair in bones) moved[pair.Key] = pair.Value + new Vec3(dx, dy, dz);
            return moved;
        }
    }

    [TestFixture]
    public class WireAndResultTests
    {
        [Test]
        public void ControlUnitsNeedExactlyOneSource()
        {
            var unit = new ControlUnitSpec { Type = ControlType.Canny };
            Assert.Throws<ArgumentException>(delegate { WireFormat.Unit(unit); });
            unit.PreprocessPng = new byte[] { 1 };
            unit.CannyLow = 50;
            var j = JsonValue.Parse(WireFormat.Unit(unit).ToString());
            Assert.AreEqual("CONTROL_TYPE_CANNY", j["controlType"].AsString());
            Assert.AreEqual(50, j["preprocess"]["canny"]["lowThreshold"].AsInt());
        }

        [Test]
        public void GenerateTaskUsesProto3JsonNames()
        {
            var r = new GenerateRequest { Prompt = "p", NegativePrompt = "n", Width = 64, Height = 32, Steps = 3, GuidanceScale = 5f, Seed = 9 };
            var g = JsonValue.Parse(WireFormat.Task(r).ToString())["generate"];
            Assert.AreEqual("n", g["negativePrompt"].AsString());
            Assert.AreEqual(3, g["sampling"]["numInferenceSteps"].AsInt());
            Assert.AreEqual(JsonKind.String, g["sampling"]["seed"].Kind, "int64 travels as a string");
            Assert.AreEqual(5.0, g["sampling"]["guidanceScale"].AsDouble());
            Assert.IsTrue(g["controlUnits"].IsNull);
        }

        [Test]
        public void AdaptersTravelOnDiffusionTasksAndAreLeftOutWhenEmpty()
        {
            var r = new GenerateRequest { Prompt = "a mystyle harbour" };
            Assert.IsTrue(JsonValue.Parse(WireFormat.Task(r).ToString())["generate"]["adapters"].IsNull);
            r.Adapters.Loras.Add(new LoraSpec("style", 0.5f));
            r.Adapters.Loras.Add(new LoraSpec("detail"));
            r.Adapters.Embeddings.Add("mystyle");
            r.Adapters.VaeId = "warm-vae";
            var a = JsonValue.Parse(WireFormat.Task(r).ToString())["generate"]["adapters"];
            Assert.AreEqual("style", a["loras"][0]["id"].AsString());
            Assert.AreEqual(0.5, a["loras"][0]["weight"].AsDouble());
            Assert.IsTrue(a["loras"][1]["weight"].IsNull, "no weight: the server's 1.0");
            Assert.AreEqual("mystyle", a["embeddings"][0].AsString());
            Assert.AreEqual("warm-vae", a["vaeId"].AsString());

            var d2i = new Depth2ImgRequest { Prompt = "p" };
            d2i.Adapters.VaeId = "v";
            Assert.AreEqual("v", JsonValue.Parse(WireFormat.Task(d2i).ToString())["depth2img"]["adapters"]["vaeId"].AsString());
            var texture = new TextureRequest { Prompt = "p" };
            texture.Adapters.Embeddings.Add("e");
            Assert.AreEqual("e", JsonValue.Parse(WireFormat.Task(texture).ToString())["texture"]["adapters"]["embeddings"][0].AsString());
            var up = new UpscaleRequest { ImagePng = new byte[] { 1 }, Method = UpscaleMethod.TiledDiffusion };
            up.Adapters.Loras.Add(new LoraSpec("style", -1f));
            Assert.AreEqual(-1.0, JsonValue.Parse(WireFormat.Task(up).ToString())["upscale"]["adapters"]["loras"][0]["weight"].AsDouble());
        }

        private static Capabilities AdapterCaps()
        {
            return WireFormat.ParseCapabilities(JsonValue.Parse(@"{
                ""defaultModelId"": ""tiny"",
                ""models"": [{""id"": ""tiny"", ""family"": ""sd15""}, {""id"": ""big"", ""family"": ""sdxl""}],
                ""loras"": [{""id"": ""style"", ""family"": ""sd15"", ""label"": ""Style""},
                            {""id"": ""xl-style"", ""family"": ""sdxl"", ""label"": ""XL style""}],
                ""embeddings"": [{""id"": ""mystyle"", ""family"": ""sd15"", ""token"": ""mystyle""},
                                 {""id"": ""bad-hands"", ""family"": ""sd15"", ""token"": ""bad-hands""}],
                ""vaes"": [{""id"": ""warm-vae"", ""family"": ""sd15"", ""description"": ""warmer""}]}"));
        }

        [Test]
        public void CapabilitiesListAdaptersAndMenusKeepOnlyTheModelsFamily()
        {
            var caps = AdapterCaps();
            Assert.AreEqual(2, caps.Loras.Count);
            Assert.AreEqual("XL style", caps.Loras[1].Label);
            Assert.AreEqual("sdxl", caps.Loras[1].Family);
            Assert.AreEqual("mystyle", caps.Embeddings[0].Token);
            Assert.AreEqual("warmer", caps.Vaes[0].Description);
            Assert.AreEqual("sd15", AdapterMenu.FamilyOf(caps, ""), "empty = the default model");
            Assert.AreEqual("sdxl", AdapterMenu.FamilyOf(caps, "big"));
            var sd15 = AdapterMenu.ForFamily(caps.Loras, "sd15");
            Assert.AreEqual(1, sd15.Count);
            Assert.AreEqual("style", sd15[0].Id);
            Assert.AreEqual("xl-style", AdapterMenu.ForFamily(caps.Loras, "sdxl")[0].Id);
            Assert.AreEqual(0, AdapterMenu.ForFamily(caps.Vaes, "sdxl").Count);
        }

        [Test]
        public void EmbeddingsAreSentWhenTheirTokenIsAWordOfThePrompt()
        {
            var caps = AdapterCaps();
            CollectionAssert.AreEqual(new[] { "mystyle" }, AdapterMenu.EmbeddingsUsedBy(caps.Embeddings, "a mystyle, harbour", ""));
            CollectionAssert.AreEqual(new[] { "bad-hands" }, AdapterMenu.EmbeddingsUsedBy(caps.Embeddings, "mystyles", "blurry, bad-hands"));
            Assert.AreEqual(0, AdapterMenu.EmbeddingsUsedBy(caps.Embeddings, "bad-handsome mystyle2", "").Count);
            Assert.AreEqual("a harbour, mystyle", AdapterMenu.InsertToken("a harbour ", "mystyle"));
            Assert.AreEqual("a, mystyle", AdapterMenu.InsertToken("a,", "mystyle"));
            Assert.AreEqual("mystyle", AdapterMenu.InsertToken("", "mystyle"));
            Assert.AreEqual("x mystyle y", AdapterMenu.InsertToken("x mystyle y", "mystyle"));
        }

        [Test]
        public void StaleIdsAreNamedNotSentSilently()
        {
            var caps = AdapterCaps();
            var ok = new AdapterSelection { VaeId = "warm-vae" };
            ok.Loras.Add(new LoraSpec("style"));
            Assert.AreEqual(0, AdapterMenu.Stale(ok, caps, "sd15").Count);
            var stale = new AdapterSelection { VaeId = "gone-vae" };
            stale.Loras.Add(new LoraSpec("xl-style"));
            stale.Embeddings.Add("old");
            var problems = AdapterMenu.Stale(stale, caps, "sd15");
            Assert.AreEqual(3, problems.Count);
            StringAssert.Contains("LoRA 'xl-style' is not on the server for family sd15 (offered: style)", problems[0]);
            StringAssert.Contains("embedding 'old'", problems[1]);
            StringAssert.Contains("VAE 'gone-vae'", problems[2]);
        }

        [Test]
        public void SmoothnessIsOneMinusRoughnessPackedPerPipeline()
        {
            var rough = new byte[] { 0, 64, 255 };
            var ao = new byte[] { 10, 20, 30 };
            var urp = PbrPacking.PackSmoothness(rough, ao, RenderPipelineKind.Universal, 0f);
            Assert.AreEqual(255, urp[3]); Assert.AreEqual(191, urp[7]); Assert.AreEqual(0, urp[11]);
            Assert.AreEqual(0, urp[0]);
            var hdrp = PbrPacking.PackSmoothness(rough, ao, RenderPipelineKind.HighDefinition, 1f);
            Assert.AreEqual(255, hdrp[0], "R = metallic");
            Assert.AreEqual(20, hdrp[5], "G = occlusion");
            Assert.AreEqual(255, hdrp[6], "B = detail mask");
            Assert.AreEqual(191, hdrp[7], "A = smoothness");
        }

        [Test]
        public void PendingJobsSurviveSerialization()
        {
            var jobs = new List<PendingJob>
            {
                new PendingJob { JobId = "abc", ServerUrl = "http://127.0.0.1:50052", Kind = "texture", Target = "GlobalObjectId_V1-2-x", SubmittedUnixMs = 1795673651850 },
                new PendingJob { JobId = "def", Kind = "upscale", Target = "Assets/T.png" },
            };
            var back = PendingJob.Parse(PendingJob.Serialize(jobs));
            Assert.AreEqual(2, back.Count);
            Assert.AreEqual("GlobalObjectId_V1-2-x", back[0].Target);
            Assert.AreEqual(1795673651850, back[0].SubmittedUnixMs);
            Assert.AreEqual("upscale", back[1].Kind);
            Assert.AreEqual(0, PendingJob.Parse("not json").Count);
            Assert.AreEqual(0, PendingJob.Parse(null).Count);
        }

        [Test]
        public void SidecarCarriesProvenance()
        {
            var job = new JobInfo { JobId = "0123456789abcdef", TaskType = "texture", Result = new JobResult { MetadataJson = "{\"model_id\": \"tiny\"}", ExtraJson = "" } };
            var image = new ResultImage { Role = "normal", Seed = 7, Index = 0, Parameters = "p\nSteps: 2" };
            Assert.AreEqual("texture-01234567-0-normal.png", ResultFiles.FileName(job.TaskType, job.JobId, image));
            var j = JsonValue.Parse(ResultFiles.Sidecar("http://h:1", job, image, "texture"));
            Assert.AreEqual("tiny", j["metadata"]["model_id"].AsString());
            Assert.AreEqual(7L, j["seed"].AsLong());
            Assert.AreEqual("normal", j["role"].AsString());
        }
    }
}
