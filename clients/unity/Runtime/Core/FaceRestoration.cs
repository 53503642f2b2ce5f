// Face restoration (faces.proto): the FaceRestoration finishing option on GenerateTask / UpscaleTask, and the
// restorers a server offers with their licences (several are non-commercial). The window binds to these.
using System.Collections.Generic;

namespace DccBridge.Core
{
    /// <summary>Restore faces in the result: the server finds each face, restores it, blends it back by Strength.</summary>
    public sealed class FaceRestorationSpec
    {
        public string RestorerId = "";      // empty = the server's default restorer
        public float? Strength;             // 0..1; null = 1
        public float? Fidelity;             // CodeFormer only, 0..1

        /// <summary>The option for a window's toggle, restorer menu and strength slider; null when the toggle is off.</summary>
        public static FaceRestorationSpec FromToggle(bool enabled, string restorerId, float strength)
        {
            return enabled ? new FaceRestorationSpec { RestorerId = restorerId ?? "", Strength = strength } : null;
        }
    }

    public sealed class RestorerInfo
    {
        public string Id = "";
        public string Architecture = "";
        public string License = "";
        public bool CommercialUse;
        public bool IsDefault;

        /// <summary>What a menu shows: "id (Architecture · licence[ · non-commercial])".</summary>
        public string Label
        {
            get
            {
                var parts = new List<string>();
                if (Architecture.Length > 0) parts.Add(Architecture);
                if (License.Length > 0) parts.Add(License);
                if (!CommercialUse) parts.Add("non-commercial");
                return parts.Count > 0 ? Id + " (" + string.Join(" · ", parts.ToArray()) + ")" : Id;
            }
        }
    }

    public static class FaceRestorationWire
    {
        /// <summary>Sets "restoreFaces" on a task's JSON object when a spec is given.</summary>
        public static void Set(JsonValue task, FaceRestorationSpec spec)
        {
            if (spec == null) return;
            var f = JsonValue.NewObject().Set("enabled", true);
            if (!string.IsNullOrEmpty(spec.RestorerId)) f.Set("restorerId", spec.RestorerId);
            if (spec.Strength.HasValue) f.Set("strength", spec.Strength.Value);
            if (spec.Fidelity.HasValue) f.Set("fidelity", spec.Fidelity.Value);
            task.Set("restoreFaces", f);
        }

        public static List<RestorerInfo> ParseRestorers(JsonValue list)
        {
            var restorers = new List<RestorerInfo>();
            foreach (var r in list.Items)
                restorers.Add(new RestorerInfo
                {
                    Id = r["id"].AsString(),
                    Architecture = r["architecture"].AsString(),
                    License = r["license"].AsString(),
                    CommercialUse = r["commercialUse"].AsBool(),
                    IsDefault = r["isDefault"].AsBool(),
                });
            return restorers;
        }
    }
}
