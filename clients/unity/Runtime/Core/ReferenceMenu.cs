// The Reference unit's IP-Adapter menu: the chosen model's IP-Adapters from the capabilities, with the model's
// default first ("" = the server picks the model's first). Pure: the editor window only draws what this returns.
using System.Collections.Generic;

namespace DccBridge.Core
{
    public static class ReferenceMenu
    {
        public const string DefaultLabel = "Model's default";

        /// <summary>The IP-Adapters of the model (empty id: the server's default model); none when it has none.</summary>
        public static List<AdapterInfo> For(Capabilities caps, string modelId)
        {
            if (caps == null) return new List<AdapterInfo>();
            string wanted = string.IsNullOrEmpty(modelId) ? caps.DefaultModelId : modelId;
            foreach (var m in caps.Models)
                if (m.Id == wanted) return m.ReferenceAdapters;
            return new List<AdapterInfo>();
        }

        /// <summary>The popup's (ids, labels): "" and "Model's default" first, then the model's adapters.</summary>
        public static KeyValuePair<string[], string[]> Options(Capabilities caps, string modelId)
        {
            var adapters = For(caps, modelId);
            var ids = new List<string> { "" };
            var labels = new List<string> { DefaultLabel };
            foreach (var a in adapters)
            {
                ids.Add(a.Id);
                labels.Add(string.IsNullOrEmpty(a.Label) ? a.Id : a.Label);
            }
            return new KeyValuePair<string[], string[]>(ids.ToArray(), labels.ToArray());
        }

        /// <summary>Whether the model takes Reference units at all (so the window can say why the row is off).</summary>
        public static bool Offered(Capabilities caps, string modelId) { return For(caps, modelId).Count > 0; }
    }
}
