// The Reference (IP-Adapter) unit from the core: its JSON shape, the model's IP-Adapter menu from capabilities, and
// a job against a real server (DCCBRIDGE_HTTP_URL) whose record shows the image and adapter it used.
using System;
using System.Collections.Generic;
using System.Linq;
using System.Security.Cryptography;
using DccBridge.Core;
using NUnit.Framework;

namespace DccBridge.Tests
{
    [TestFixture]
    public class ReferenceTests
    {
        private static string Url { get { return Environment.GetEnvironmentVariable("DCCBRIDGE_HTTP_URL") ?? ""; } }
        private static string Token { get { return Environment.GetEnvironmentVariable("DCCBRIDGE_TOKEN") ?? ""; } }
        private static T Sync<T>(System.Threading.Tasks.Task<T> task) { return task.GetAwaiter().GetResult(); }

        private static string Hex(byte[] data)
        {
            using (var sha = SHA256.Create())
                return string.Concat(sha.ComputeHash(data).Select(b => b.ToString("x2")));
        }

        [Test]
        public void AReferenceUnitIsSentAsReferenceImagesWithItsAdapter()
        {
            var unit = ControlUnitSpec.ReferenceFrom(new byte[] { 1, 2, 3 }, "tiny-ip-adapter", 0.6f);
            unit.GuidanceEnd = 0.8f;
            var json = WireFormat.Unit(unit);
            Assert.AreEqual("CONTROL_TYPE_REFERENCE", json["controlType"].AsString());
            Assert.AreEqual("tiny-ip-adapter", json["adapterId"].AsString());
            Assert.AreEqual(0.6, json["controlnetConditioningScale"].AsDouble(), 1e-6);
            Assert.AreEqual("AQID", json["reference"]["images"][0]["data"].AsString());
            Assert.AreEqual(0, json["reference"]["weights"].Items.Count);
            unit.ReferencePngs.Add(new byte[] { 4 });
            unit.ReferenceWeights.AddRange(new[] { 1f, 0.5f });
            json = WireFormat.Unit(unit);
            Assert.AreEqual(2, json["reference"]["images"].Items.Count);
            Assert.AreEqual(0.5, json["reference"]["weights"][1].AsDouble(), 1e-6);
        }

        [Test]
        public void ReferenceImagesGoWithReferenceUnitsOnly()
        {
            var wrongSource = ControlUnitSpec.ReferenceFrom(new byte[] { 1 });
            wrongSource.ImagePng = new byte[] { 1 };
            Assert.Throws<ArgumentException>(delegate { WireFormat.Unit(wrongSource); });
            var wrongType = ControlUnitSpec.ReferenceFrom(new byte[] { 1 });
            wrongType.Type = ControlType.Canny;
            Assert.Throws<ArgumentException>(delegate { WireFormat.Unit(wrongType); });
        }

        [Test]
        public void TheMenuListsTheChosenModelsIpAdaptersAfterTheDefault()
        {
            var caps = new Capabilities { DefaultModelId = "a" };
            var a = new ModelInfo { Id = "a" };
            a.ReferenceAdapters.Add(new AdapterInfo { Id = "plus", Label = "plus (IP-Adapter Plus)" });
            caps.Models.Add(a);
            caps.Models.Add(new ModelInfo { Id = "b" });
            var options = ReferenceMenu.Options(caps, "");
            CollectionAssert.AreEqual(new[] { "", "plus" }, options.Key);
            CollectionAssert.AreEqual(new[] { ReferenceMenu.DefaultLabel, "plus (IP-Adapter Plus)" }, options.Value);
            Assert.IsFalse(ReferenceMenu.Offered(caps, "b"));
            Assert.IsFalse(ReferenceMenu.Offered(null, "a"));
        }

        [Test]
        public void AReferenceJobOnTheRealServerUsesTheSentImageAndAdapter()
        {
            if (Url.Length == 0) Assert.Ignore("set DCCBRIDGE_HTTP_URL to a dccbridge server's HTTP face to run this");
            using (var c = new DccBridgeClient(Url, Token))
            {
                var caps = Sync(c.GetCapabilitiesAsync());
                var tiny = caps.Models.First(m => m.Id == "tiny");
                CollectionAssert.AreEqual(new[] { "tiny-ip-adapter-plus", "tiny-ip-adapter" }, tiny.ReferenceAdapters.Select(x => x.Id).ToArray());
                Assert.Contains(ControlType.Reference, tiny.ControlTypes);
                Assert.AreEqual(4, caps.MaxReferenceImages);
                // A Texture2D's PNG in the editor; here an image the server made (a real PNG).
                var request = new GenerateRequest { Prompt = "a red cube", Width = 64, Height = 64, Steps = 2, Seed = 5 };
                var png = Sync(c.WaitAsync(Sync(c.SubmitAsync(request)).JobId)).Result.Images[0].Data;
                var withReference = new GenerateRequest { Prompt = "a red cube", Width = 64, Height = 64, Steps = 2, Seed = 5 };
                withReference.ControlUnits.Add(ControlUnitSpec.ReferenceFrom(png, "tiny-ip-adapter", 0.7f));
                var done = Sync(c.WaitAsync(Sync(c.SubmitAsync(withReference)).JobId));
                Assert.AreEqual(JobState.Succeeded, done.State, done.Failure == null ? "" : done.Failure.Message);
                var record = JsonValue.Parse(done.Result.MetadataJson)["reference_units"][0];
                Assert.AreEqual("tiny-ip-adapter", record["adapter_id"].AsString());
                Assert.AreEqual(0.7, record["scale"].AsDouble(), 1e-6);
                Assert.AreEqual(Hex(png), record["images"][0]["sha256"].AsString());
                CollectionAssert.AreNotEqual(png, done.Result.Images[0].Data);
                StringAssert.Contains("IP-Adapter 0: \"Model: tiny-ip-adapter (", done.Result.Images[0].Parameters);

                var empty = new GenerateRequest { Prompt = "x", Width = 64, Height = 64, Steps = 2 };
                empty.ControlUnits.Add(ControlUnitSpec.ReferenceFrom(new byte[0]));
                var e = Assert.Throws<DccBridgeException>(delegate { Sync(c.SubmitAsync(empty)); });
                Assert.AreEqual("invalid_argument", e.Code);
                Assert.AreEqual("control_units[0].reference.images[0]", e.Field);
            }
        }
    }
}
