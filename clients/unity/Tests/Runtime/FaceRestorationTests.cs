// Restore faces: the option the window sends (FaceRestorationSpec.FromToggle -> "restoreFaces" on the task JSON),
// the restorer menu from capabilities, and a round trip through a real server (tiny preset) where the face of an
// upscaled image is restored with the chosen strength.
using System;
using System.IO;
using System.IO.Compression;
using System.Linq;
using DccBridge.Core;
using NUnit.Framework;

namespace DccBridge.Tests
{
    [TestFixture]
    public class FaceRestorationTests
    {
        private static string Url { get { return Environment.GetEnvironmentVariable("DCCBRIDGE_HTTP_URL") ?? ""; } }
        private static string Token { get { return Environment.GetEnvironmentVariable("DCCBRIDGE_TOKEN") ?? ""; } }

        private static T Sync<T>(System.Threading.Tasks.Task<T> task) { return task.GetAwaiter().GetResult(); }

        [Test]
        public void TheToggleSendsTheOptionAndOffSendsNothing()
        {
            Assert.IsNull(FaceRestorationSpec.FromToggle(false, "x", 0.5f));
            var request = new GenerateRequest { Prompt = "p", RestoreFaces = FaceRestorationSpec.FromToggle(true, "gfpgan", 0.6f) };
            var f = WireFormat.Task(request)["generate"]["restoreFaces"];
            Assert.IsTrue(f["enabled"].AsBool());
            Assert.AreEqual("gfpgan", f["restorerId"].AsString());
            Assert.AreEqual(0.6, f["strength"].AsDouble(), 1e-6);
            Assert.AreEqual(JsonKind.Null, WireFormat.Task(new GenerateRequest { Prompt = "p" })["generate"]["restoreFaces"].Kind);
            var up = new UpscaleRequest { ImagePng = new byte[] { 1 }, RestoreFaces = FaceRestorationSpec.FromToggle(true, "", 1f) };
            var u = WireFormat.Task(up)["upscale"]["restoreFaces"];
            Assert.IsTrue(u["enabled"].AsBool());
            Assert.AreEqual(JsonKind.Null, u["restorerId"].Kind);   // empty: the server's default
        }

        [Test]
        public void RestorerLabelsShowTheLicence()
        {
            var caps = WireFormat.ParseCapabilities(JsonValue.Parse(
                "{\"models\":[],\"schedulers\":[],\"upscalers\":[],\"features\":[],\"limits\":{}," +
                "\"restorers\":[{\"id\":\"cf\",\"architecture\":\"CodeFormer\",\"license\":\"S-Lab License 1.0\"}]}"));
            Assert.AreEqual("cf (CodeFormer · S-Lab License 1.0 · non-commercial)", caps.Restorers.Single().Label);
        }

        [Test]
        public void AnUpscaleWithRestoreFacesRestoresTheFaceOnARealServer()
        {
            if (Url.Length == 0) Assert.Ignore("set DCCBRIDGE_HTTP_URL to a dccbridge server's HTTP face to run this");
            using (var c = new DccBridgeClient(Url, Token))
            {
                var caps = Sync(c.GetCapabilitiesAsync());
                var restorer = caps.Restorers.Single();
                Assert.AreEqual("tiny-restoreformer", restorer.Id);
                Assert.IsTrue(restorer.CommercialUse && restorer.IsDefault);
                var request = new UpscaleRequest
                {
                    ImagePng = Portrait(), Method = UpscaleMethod.Lanczos, Scale = 2f,
                    RestoreFaces = FaceRestorationSpec.FromToggle(true, restorer.Id, 0.6f),
                };
                var job = Sync(c.WaitAsync(Sync(c.SubmitAsync(request)).JobId));
                Assert.AreEqual(JobState.Succeeded, job.State);
                var summary = JsonValue.Parse(job.Result.ExtraJson)["restore_faces"];
                Assert.AreEqual(1, summary["faces"].AsInt());
                var record = JsonValue.Parse(job.Result.MetadataJson)["restore_faces"][0];
                Assert.AreEqual(0.6, record["strength"].AsDouble(), 1e-6);
                StringAssert.Contains("Face restoration: RestoreFormer (tiny-restoreformer)", job.Result.Images[0].Parameters);

                var plain = Sync(c.WaitAsync(Sync(c.SubmitAsync(new UpscaleRequest { ImagePng = Portrait(), Method = UpscaleMethod.Lanczos, Scale = 2f })).JobId));
                Assert.AreEqual(JsonKind.Null, JsonValue.Parse(plain.Result.ExtraJson.Length > 0 ? plain.Result.ExtraJson : "{}")["restore_faces"].Kind);
            }
        }

        /// <summary>64x48 dark RGB with a bright 16-px square at (16, 16): at 2x one 32-px "face" for the tiny detector.</summary>
        private static byte[] Portrait()
        {
            const int w = 64, h = 48;
            var raw = new MemoryStream();
            for (int y = 0; y < h; y++)
            {
                raw.WriteByte(0);   // filter: none
                for (int x = 0; x < w; x++)
                {
                    byte v = (byte)(x >= 16 && x < 32 && y >= 16 && y < 32 ? 230 : 20);
                    raw.WriteByte(v); raw.WriteByte(v); raw.WriteByte(v);
                }
            }
            var png = new MemoryStream();
            png.Write(new byte[] { 137, 80, 78, 71, 13, 10, 26, 10 }, 0, 8);
            Chunk(png, "IHDR", new byte[] { 0, 0, 0, w, 0, 0, 0, h, 8, 2, 0, 0, 0 });
            Chunk(png, "IDAT", Zlib(raw.ToArray()));
            Chunk(png, "IEND", new byte[0]);
            return png.ToArray();
        }

        private static byte[] Zlib(byte[] data)
        {
            var output = new MemoryStream();
            output.WriteByte(0x78); output.WriteByte(0x01);
            using (var deflate = new DeflateStream(output, CompressionMode.Compress, true)) deflate.Write(data, 0, data.Length);
            uint a = 1, b = 0;
            foreach (var d in data) { a = (a + d) % 65521; b = (b + a) % 65521; }
            uint adler = (b << 16) | a;
            output.Write(new[] { (byte)(adler >> 24), (byte)(adler >> 16), (byte)(adler >> 8), (byte)adler }, 0, 4);
            return output.ToArray();
        }

        private static void Chunk(Stream png, string type, byte[] data)
        {
            var body = System.Text.Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
            png.Write(new[] { (byte)(data.Length >> 24), (byte)(data.Length >> 16), (byte)(data.Length >> 8), (byte)data.Length }, 0, 4);
            png.Write(body, 0, body.Length);
            uint crc = 0xFFFFFFFF;
            foreach (var x in body)
            {
                crc ^= x;
                for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
            }
            crc ^= 0xFFFFFFFF;
            png.Write(new[] { (byte)(crc >> 24), (byte)(crc >> 16), (byte)(crc >> 8), (byte)crc }, 0, 4);
        }
    }
}
