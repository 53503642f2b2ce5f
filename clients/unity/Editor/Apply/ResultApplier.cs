// What to do with a finished job, by kind — reconstructible from the persisted PendingJob alone, so results
// fetched after a domain reload are applied exactly like those of an uninterrupted session.
using System.Collections.Generic;
using DccBridge.Core;
using UnityEditor;
using UnityEngine;

namespace DccBridge.Editor.Apply
{
    public static class ResultApplier
    {
        public const string Generate = "generate", Depth2Img = "depth2img", Texture = "texture", Projection = "projection", Upscale = "upscale";
        /// <summary>Extend texture/render: imported as a texture asset (the default branch below).</summary>
        public const string Outpaint = "outpaint";

        public static void Apply(PendingJob job, JobInfo done)
        {
            bool seamless = job.Kind == Texture;
            var textures = ResultImporter.SaveAll(job.ServerUrl, done, job.Kind, seamless);
            if (textures.Count == 0) return;
            switch (job.Kind)
            {
                case Texture:
                {
                    var material = MaterialBuilder.Build(MaterialName(done), textures, seamless);
                    MaterialBuilder.Assign(material, Targets.Renderers(job.Target));
                    Selection.activeObject = material;
                    break;
                }
                case Projection:
                {
                    var target = Targets.ParseProjection(job.Target);
                    var material = MaterialBuilder.Build(MaterialName(done), textures, false);
                    var renderers = Targets.Renderers(target.RendererIds);
                    ProjectionBaker.BakeUvs(renderers, target.Camera);
                    MaterialBuilder.Assign(material, renderers);
                    Selection.activeObject = material;
                    break;
                }
                default:
                {
                    Texture2D first = null;
                    foreach (var t in textures.Values) { first = t; break; }
                    Selection.activeObject = first;
                    EditorGUIUtility.PingObject(first);
                    break;
                }
            }
        }

        private static string MaterialName(JobInfo done)
        {
            return done.TaskType + "-" + done.JobId.Substring(0, System.Math.Min(8, done.JobId.Length));
        }
    }

    /// <summary>Apply targets as strings (persisted with the job): renderers by GlobalObjectId.</summary>
    public static class Targets
    {
        public sealed class ProjectionTarget
        {
            public string RendererIds = "";
            public CameraProjection Camera;
        }

        public static string Of(IEnumerable<Renderer> renderers)
        {
            var ids = new List<string>();
            foreach (var r in renderers) ids.Add(GlobalObjectId.GetGlobalObjectIdSlow(r).ToString());
            return string.Join(";", ids.ToArray());
        }

        public static List<Renderer> Renderers(string ids)
        {
            var list = new List<Renderer>();
            if (string.IsNullOrEmpty(ids)) return list;
            foreach (var text in ids.Split(';'))
            {
                GlobalObjectId id;
                if (!GlobalObjectId.TryParse(text, out id)) continue;
                var r = GlobalObjectId.GlobalObjectIdentifierToObjectSlow(id) as Renderer;
                if (r != null) list.Add(r);
            }
            return list;
        }

        public static string Projection(IEnumerable<Renderer> renderers, CameraProjection camera)
        {
            var m = JsonValue.NewArray();
            foreach (var v in camera.WorldToClip) m.Add(JsonValue.Number((double)v));
            return JsonValue.NewObject().Set("renderers", Of(renderers)).Set("worldToClip", m)
                .Set("width", camera.PixelWidth).Set("height", camera.PixelHeight).ToString();
        }

        public static ProjectionTarget ParseProjection(string text)
        {
            var j = JsonValue.Parse(text);
            var m = new float[16];
            for (int i = 0; i < 16; i++) m[i] = j["worldToClip"][i].AsFloat();
            return new ProjectionTarget
            {
                RendererIds = j["renderers"].AsString(),
                Camera = new CameraProjection(m, j["width"].AsInt(1), j["height"].AsInt(1)),
            };
        }
    }
}
