// A Material for the active render pipeline's lit shader (Standard / URP Lit / HDRP Lit) from generated maps,
// assigned to renderers with Undo. Pipelines are told apart by the active asset's type name, so the package
// has no compile-time dependency on URP or HDRP.
using System.Collections.Generic;
using DccBridge.Core;
using UnityEditor;
using UnityEngine;
using UnityEngine.Rendering;

namespace DccBridge.Editor.Apply
{
    public static class MaterialBuilder
    {
        public static RenderPipelineKind ActivePipeline()
        {
            var asset = GraphicsSettings.currentRenderPipeline;
            if (asset == null) return RenderPipelineKind.BuiltIn;
            string type = asset.GetType().Name;
            if (type.Contains("HDRenderPipeline") || type.Contains("HighDefinition")) return RenderPipelineKind.HighDefinition;
            return RenderPipelineKind.Universal;
        }

        public static Shader LitShader(RenderPipelineKind pipeline)
        {
            switch (pipeline)
            {
                case RenderPipelineKind.Universal: return Shader.Find("Universal Render Pipeline/Lit");
                case RenderPipelineKind.HighDefinition: return Shader.Find("HDRP/Lit");
                default: return Shader.Find("Standard");
            }
        }

        /// <summary>Builds and saves a material from maps by role ("albedo" or "image", "normal", "roughness", "ao",
        /// "height"). Smoothness = 1 - roughness, packed where the pipeline reads it (PbrPacking).</summary>
        public static Material Build(string name, Dictionary<string, Texture2D> maps, bool seamless)
        {
            var pipeline = ActivePipeline();
            var shader = LitShader(pipeline);
            if (shader == null) throw new System.InvalidOperationException("The " + pipeline + " lit shader was not found.");
            var material = new Material(shader) { name = name };
            Texture2D albedo, normal, roughness, ao, height;
            if (!maps.TryGetValue("albedo", out albedo)) maps.TryGetValue("image", out albedo);
            maps.TryGetValue("normal", out normal);
            maps.TryGetValue("roughness", out roughness);
            maps.TryGetValue("ao", out ao);
            maps.TryGetValue("height", out height);

            Texture2D packed = null;
            if (roughness != null)
            {
                byte[] r = Gray(roughness);
                byte[] o = ao != null && ao.width == roughness.width && ao.height == roughness.height ? Gray(ao) : null;
                packed = ResultImporter.SavePacked(name + (pipeline == RenderPipelineKind.HighDefinition ? "-mask.png" : "-metallic-smoothness.png"),
                                                   PbrPacking.PackSmoothness(r, o, pipeline, 0f), roughness.width, roughness.height, seamless);
            }

            switch (pipeline)
            {
                case RenderPipelineKind.HighDefinition:
                    if (albedo != null) material.SetTexture("_BaseColorMap", albedo);
                    if (normal != null) { material.SetTexture("_NormalMap", normal); material.EnableKeyword("_NORMALMAP"); material.EnableKeyword("_NORMALMAP_TANGENT_SPACE"); }
                    if (packed != null)
                    {
                        material.SetTexture("_MaskMap", packed);
                        material.EnableKeyword("_MASKMAP");
                        material.SetFloat("_MetallicRemapMax", 1f);   // metallic = mask R (0: dielectric)
                        material.SetFloat("_SmoothnessRemapMin", 0f);
                        material.SetFloat("_SmoothnessRemapMax", 1f);
                        material.SetFloat("_AORemapMin", 0f);
                        material.SetFloat("_AORemapMax", 1f);
                    }
                    if (height != null) { material.SetTexture("_HeightMap", height); material.EnableKeyword("_HEIGHTMAP"); }
                    break;
                case RenderPipelineKind.Universal:
                    if (albedo != null) material.SetTexture("_BaseMap", albedo);
                    material.SetColor("_BaseColor", Color.white);
                    if (normal != null) { material.SetTexture("_BumpMap", normal); material.EnableKeyword("_NORMALMAP"); }
                    if (packed != null)
                    {
                        material.SetTexture("_MetallicGlossMap", packed);
                        material.EnableKeyword("_METALLICSPECGLOSSMAP");
                        material.SetFloat("_SmoothnessTextureChannel", 0f);   // metallic map alpha
                        material.SetFloat("_Smoothness", 1f);
                    }
                    if (ao != null) { material.SetTexture("_OcclusionMap", ao); material.EnableKeyword("_OCCLUSIONMAP"); }
                    if (height != null) { material.SetTexture("_ParallaxMap", height); material.SetFloat("_Parallax", 0.01f); material.EnableKeyword("_PARALLAXMAP"); }
                    break;
                default:
                    if (albedo != null) material.SetTexture("_MainTex", albedo);
                    if (normal != null) { material.SetTexture("_BumpMap", normal); material.EnableKeyword("_NORMALMAP"); }
                    if (packed != null)
                    {
                        material.SetTexture("_MetallicGlossMap", packed);
                        material.EnableKeyword("_METALLICGLOSSMAP");
                        material.SetFloat("_GlossMapScale", 1f);
                        material.SetFloat("_SmoothnessTextureChannel", 0f);
                    }
                    if (ao != null) material.SetTexture("_OcclusionMap", ao);
                    if (height != null) { material.SetTexture("_ParallaxMap", height); material.SetFloat("_Parallax", 0.01f); material.EnableKeyword("_PARALLAXMAP"); }
                    break;
            }
            string path = AssetDatabase.GenerateUniqueAssetPath(ResultImporter.Folder + "/" + name + ".mat");
            AssetDatabase.CreateAsset(material, path);
            AssetDatabase.SaveAssets();
            return material;
        }

        private static byte[] Gray(Texture2D texture)
        {
            var pixels = texture.GetPixels32();   // needs isReadable (ResultImporter sets it for data maps)
            var gray = new byte[pixels.Length];
            for (int i = 0; i < pixels.Length; i++) gray[i] = pixels[i].r;
            return gray;
        }

        /// <summary>Replaces every material slot of the renderers, undoably.</summary>
        public static void Assign(Material material, IEnumerable<Renderer> renderers)
        {
            var list = new List<Renderer>(renderers);
            if (list.Count == 0) return;
            Undo.RecordObjects(list.ToArray(), "Assign DCC Bridge material");
            foreach (var r in list)
            {
                var slots = r.sharedMaterials;
                if (slots.Length == 0) slots = new Material[1];
                for (int i = 0; i < slots.Length; i++) slots[i] = material;
                r.sharedMaterials = slots;
                PrefabUtility.RecordPrefabInstancePropertyModifications(r);
            }
        }
    }
}
