// Tests to run in the Unity editor (Window → General → Test Runner → EditMode). They need a real editor
// (rendering, the AssetDatabase), so they do not run under Mono in this repository's CI.
using System.Collections.Generic;
using System.IO;
using DccBridge.Core;
using DccBridge.Editor.Apply;
using DccBridge.Editor.Capture;
using NUnit.Framework;
using UnityEditor;
using UnityEngine;

namespace DccBridge.Tests.Editor
{
    public class CaptureTests
    {
        private readonly List<Object> _created = new List<Object>();

        [TearDown]
        public void CleanUp()
        {
            foreach (var o in _created) if (o != null) Object.DestroyImmediate(o);
            _created.Clear();
        }

        private Camera MakeCamera()
        {
            var go = new GameObject("test camera");
            _created.Add(go);
            var cam = go.AddComponent<Camera>();
            cam.transform.position = Vector3.zero;
            cam.transform.rotation = Quaternion.identity;   // looking along +Z
            cam.fieldOfView = 60f;
            cam.nearClipPlane = 0.3f;
            cam.farClipPlane = 100f;
            cam.enabled = false;
            return cam;
        }

        [Test]
        public void LinearDepthOfACubeIsItsDistanceAndTheBackgroundIsEmpty()
        {
            var cam = MakeCamera();
            var cube = GameObject.CreatePrimitive(PrimitiveType.Cube);
            _created.Add(cube);
            cube.transform.position = new Vector3(0, 0.5f, 5f);   // front face at z = 4.5, a bit above the centre
            float[] depth = CameraCapture.RenderLinearDepth(cam, 32, 32);
            Assert.AreEqual(32 * 32, depth.Length);
            Assert.AreEqual(4.5f, depth[17 * 32 + 16], 0.05f, "Unity row 17 (above the centre) sees the cube's face");
            Assert.AreEqual(0f, depth[0], "bottom-left corner: nothing drawn");
            var plane = DepthPlane.DecodeTopFirst(CameraCapture.DepthPass(cam, 32, 32).Float32Le, 32, 32);
            Assert.AreEqual(4.5f, plane[(31 - 17) * 32 + 16], 0.05f, "on the wire the same pixel is counted from the top");
            Assert.IsTrue(float.IsPositiveInfinity(plane[31 * 32]), "background is +inf");
        }

        [Test]
        public void PlainDataProjectionMatchesWorldToScreenPoint()
        {
            var cam = MakeCamera();
            cam.transform.position = new Vector3(1, 2, -3);
            cam.transform.rotation = Quaternion.Euler(10, 20, 0);
            cam.pixelRect = new Rect(0, 0, 64, 48);
            var projection = CameraCapture.Projection(cam, 64, 48);
            foreach (var p in new[] { new Vector3(1, 2, 2), new Vector3(2, 1.5f, 4), new Vector3(0.5f, 3, 6) })
            {
                Vector3 screen = cam.WorldToScreenPoint(p);
                float x, y;
                Assert.IsTrue(projection.TryProject(new Vec3(p.x, p.y, p.z), out x, out y));
                Assert.AreEqual(screen.x * 64f / cam.pixelWidth, x, 0.05f);
                Assert.AreEqual(48f - screen.y * 48f / cam.pixelHeight, y, 0.05f);
            }
        }
    }

    public class ApplyTests
    {
        private readonly List<string> _paths = new List<string>();

        [TearDown]
        public void CleanUp()
        {
            foreach (var p in _paths) { AssetDatabase.DeleteAsset(p); File.Delete(Path.ChangeExtension(p, ".json")); }
            _paths.Clear();
            AssetDatabase.Refresh();
        }

        private static byte[] Png(Color color)
        {
            var t = new Texture2D(8, 8, TextureFormat.RGBA32, false);
            var pixels = new Color[64];
            for (int i = 0; i < 64; i++) pixels[i] = color;
            t.SetPixels(pixels);
            t.Apply();
            byte[] png = t.EncodeToPNG();
            Object.DestroyImmediate(t);
            return png;
        }

        [Test]
        public void TextureResultsBecomeAssetsAndALitMaterialAssignedWithUndo()
        {
            var job = new JobInfo { JobId = "editor-test-" + System.Guid.NewGuid().ToString("N"), TaskType = "texture", State = JobState.Succeeded, Result = new JobResult() };
            job.Result.Images.Add(new ResultImage { Data = Png(Color.red), Role = "albedo", Width = 8, Height = 8 });
            job.Result.Images.Add(new ResultImage { Data = Png(new Color(0.5f, 0.5f, 1f)), Role = "normal", Width = 8, Height = 8 });
            job.Result.Images.Add(new ResultImage { Data = Png(new Color(0.25f, 0.25f, 0.25f)), Role = "roughness", Width = 8, Height = 8 });
            var textures = ResultImporter.SaveAll("http://test", job, "texture", true);
            foreach (var t in textures.Values) _paths.Add(AssetDatabase.GetAssetPath(t));

            var normalImporter = (TextureImporter)AssetImporter.GetAtPath(AssetDatabase.GetAssetPath(textures["normal"]));
            Assert.AreEqual(TextureImporterType.NormalMap, normalImporter.textureType);
            var albedoImporter = (TextureImporter)AssetImporter.GetAtPath(AssetDatabase.GetAssetPath(textures["albedo"]));
            Assert.IsTrue(albedoImporter.sRGBTexture);
            Assert.AreEqual(TextureWrapMode.Repeat, albedoImporter.wrapMode);
            Assert.IsFalse(((TextureImporter)AssetImporter.GetAtPath(AssetDatabase.GetAssetPath(textures["roughness"]))).sRGBTexture);
            Assert.IsTrue(File.Exists(Path.ChangeExtension(AssetDatabase.GetAssetPath(textures["albedo"]), ".json")), "provenance sidecar");

            var material = MaterialBuilder.Build(job.JobId, textures, true);
            _paths.Add(AssetDatabase.GetAssetPath(material));
            Assert.AreEqual(MaterialBuilder.LitShader(MaterialBuilder.ActivePipeline()), material.shader);
            string packedPath = ResultImporter.Folder + "/" + job.JobId +
                                (MaterialBuilder.ActivePipeline() == RenderPipelineKind.HighDefinition ? "-mask.png" : "-metallic-smoothness.png");
            _paths.Add(packedPath);
            var packed = AssetDatabase.LoadAssetAtPath<Texture2D>(packedPath);
            Assert.IsNotNull(packed, "smoothness map saved");

            var cube = GameObject.CreatePrimitive(PrimitiveType.Cube);
            var renderer = cube.GetComponent<Renderer>();
            var before = renderer.sharedMaterial;
            MaterialBuilder.Assign(material, new[] { renderer });
            Assert.AreEqual(material, renderer.sharedMaterial);
            Undo.PerformUndo();
            Assert.AreEqual(before, renderer.sharedMaterial);
            Object.DestroyImmediate(cube);
        }
    }
}
