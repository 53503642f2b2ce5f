// What the editor's LoRA / embedding / VAE menus need from capabilities: the adapters that fit the chosen model's
// family, the embeddings whose token is written in the prompt, and the chosen ids the server no longer offers.
using System;
using System.Collections.Generic;
using System.Text.RegularExpressions;

namespace DccBridge.Core
{
    public static class AdapterMenu
    {
        /// <summary>The model's family ("" = the server's default model); "" when the model is not listed.</summary>
        public static string FamilyOf(Capabilities caps, string modelId)
        {
            string id = string.IsNullOrEmpty(modelId) ? caps.DefaultModelId : modelId;
            foreach (var m in caps.Models)
                if (m.Id == id) return m.Family;
            return "";
        }

        /// <summary>Only the adapters of that family: an sdxl LoRA does not fit an sd15 model.</summary>
        public static List<AdapterInfo> ForFamily(IEnumerable<AdapterInfo> adapters, string family)
        {
            var fitting = new List<AdapterInfo>();
            foreach (var a in adapters)
                if (a.Family == family) fitting.Add(a);
            return fitting;
        }

        /// <summary>Whether the token appears in the text as a word of its own ("mystyle" in "a mystyle harbour",
        /// not in "mystyles").</summary>
        public static bool PromptUses(string text, string token)
        {
            if (string.IsNullOrEmpty(text) || string.IsNullOrEmpty(token)) return false;
            return Regex.IsMatch(text, @"(^|[^\w-])" + Regex.Escape(token) + @"($|[^\w-])");
        }

        /// <summary>The ids of the embeddings whose token is in the prompt or the negative prompt.</summary>
        public static List<string> EmbeddingsUsedBy(IEnumerable<AdapterInfo> embeddings, string prompt, string negativePrompt)
        {
            var used = new List<string>();
            foreach (var e in embeddings)
            {
                string token = string.IsNullOrEmpty(e.Token) ? e.Id : e.Token;
                if ((PromptUses(prompt, token) || PromptUses(negativePrompt, token)) && !used.Contains(e.Id)) used.Add(e.Id);
            }
            return used;
        }

        /// <summary>The prompt with the token appended (unchanged when it is already there).</summary>
        public static string InsertToken(string prompt, string token)
        {
            prompt = prompt ?? "";
            if (PromptUses(prompt, token)) return prompt;
            string trimmed = prompt.TrimEnd();
            return trimmed.Length == 0 ? token : trimmed + (trimmed.EndsWith(",", StringComparison.Ordinal) ? " " : ", ") + token;
        }

        /// <summary>One sentence per chosen LoRA or VAE the server does not offer for the family (renamed,
        /// removed, another family); empty when everything is there. Sent as they are, the server would refuse.</summary>
        public static List<string> Stale(AdapterSelection selection, Capabilities caps, string family)
        {
            var problems = new List<string>();
            var loras = Ids(ForFamily(caps.Loras, family));
            foreach (var lora in selection.Loras)
                if (!loras.Contains(lora.Id))
                    problems.Add("LoRA '" + lora.Id + "' is not on the server for " + Describe(family) + Offered(loras));
            foreach (var id in selection.Embeddings)
                if (!Ids(ForFamily(caps.Embeddings, family)).Contains(id))
                    problems.Add("embedding '" + id + "' is not on the server for " + Describe(family));
            if (!string.IsNullOrEmpty(selection.VaeId))
            {
                var vaes = Ids(ForFamily(caps.Vaes, family));
                if (!vaes.Contains(selection.VaeId))
                    problems.Add("VAE '" + selection.VaeId + "' is not on the server for " + Describe(family) + Offered(vaes));
            }
            return problems;
        }

        private static List<string> Ids(List<AdapterInfo> adapters)
        {
            var ids = new List<string>();
            foreach (var a in adapters) ids.Add(a.Id);
            return ids;
        }

        private static string Describe(string family) { return family.Length > 0 ? "family " + family : "this model"; }

        private static string Offered(List<string> ids)
        {
            return ids.Count > 0 ? " (offered: " + string.Join(", ", ids.ToArray()) + ")" : " (none offered)";
        }
    }
}
