// Results → PNG assets under Assets/DccBridge/Generated/ with a provenance sidecar, imported with the settings
// their role needs (sRGB colour, Normal Map type, linear data maps, Repeat wrap for seamless textures).
using System.Collections.Generic;
using System.IO;
using DccBridge.Core;
using UnityEditor;
using UnityEngine;

namespace DccBridge.Editor.Apply
{
    public static class ResultImporter
    {
        public const string Folder = "Assets/DccBridge/Generated";

        /// <summary>Writes every image of a finished job; returns the imported textures by role (first of each role).</summary>
        public static Dictionary<string, Texture2D> SaveAll(string serverUrl, JobInfo job, string kind, bool seamless)
        {
            Directory.CreateDirectory(Folder);
            var written = new List<KeyValuePair<string, string>>();
            foreach (var image in job.Result.Images)
            {
                if (image.Data == null) continue;
                string path = Folder + "/" + ResultFiles.FileName(job.TaskType, job.JobId, image);
                File.WriteAllBytes(path, image.Data);
                File.WriteAllText(Path.ChangeExtension(path, ".json"), ResultFiles.Sidecar(serverUrl, job, image, kind));
                written.Add(new KeyValuePair<string, string>(image.Role, path));
            }
            AssetDatabase.Refresh();
            var textures = new Dictionary<string, Texture2D>();
            foreach (var pair in written)
            {
                Configure(pair.Value, pair.Key, seamless);
                var tex = AssetDatabase.LoadAssetAtPath<Texture2D>(pair.Value);
                if (tex != null && !textures.ContainsKey(pair.Key)) textures[pair.Key] = tex;
            }
            return textures;
        }

        /// <summary>Import settings per role: colour is sRGB, normal maps are Normal Map type, data maps linear.</summary>
        public static void Configure(string assetPath, string role, bool seamless)
        {
            var importer = AssetImporter.GetAtPath(assetPath) as TextureImporter;
            if (importer == null) return;
            bool isColor = role == "image" || role == "albedo" || role == "control";
            importer.textureType = role == "normal" ? TextureImporterType.NormalMap : TextureImporterType.Default;
            importer.sRGBTexture = isColor;
            importer.wrapMode = seamless ? TextureWrapMode.Repeat : TextureWrapMode.Clamp;
            importer.mipmapEnabled = true;
            importer.alphaSource = TextureImporterAlphaSource.None;
            // roughness/ao are read back by the material builder to pack smoothness.
            importer.isReadable = role == "roughness" || role == "ao";
            importer.SaveAndReimport();
        }

        /// <summary>Saves a packed RGBA32 map (smoothness in alpha) next to the results, imported linear.</summary>
        public static Texture2D SavePacked(string name, byte[] rgba, int width, int height, bool seamless)
        {
            Directory.CreateDirectory(Folder);
            var tex = new Texture2D(width, height, TextureFormat.RGBA32, false, true);
            tex.SetPixelData(rgba, 0);
            tex.Apply();
            string path = Folder + "/" + name;
            File.WriteAllBytes(path, tex.EncodeToPNG());
            Object.DestroyImmediate(tex);
            AssetDatabase.ImportAsset(path);
            var importer = (TextureImporter)AssetImporter.GetAtPath(path);
            importer.sRGBTexture = false;
            importer.alphaSource = TextureImporterAlphaSource.FromInput;
            importer.alphaIsTransparency = false;
            importer.wrapMode = seamless ? TextureWrapMode.Repeat : TextureWrapMode.Clamp;
            importer.SaveAndReimport();
            return AssetDatabase.LoadAssetAtPath<Texture2D>(path);
        }
    }
}
