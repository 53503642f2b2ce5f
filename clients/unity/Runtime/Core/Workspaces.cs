// Workspaces (as in Krita AI Diffusion): the window shows one of Generate, Live, Upscale, Texture, History at a
// time, with the shared settings (server, model, prompt) above them. The last workspace and the window's settings
// persist per scene: WorkspaceMemory turns them into one JSON string under a key made from the scene's GUID (or its
// path while unsaved); the editor keeps that string in EditorPrefs.
using System;
using System.Collections.Generic;

namespace DccBridge.Core
{
    public enum Workspace { Generate, Live, Upscale, Texture, History }

    public static class WorkspaceMemory
    {
        public const string PrefsPrefix = "DccBridge.Scene.";
        public static readonly string[] Names = { "Generate", "Live", "Upscale", "Texture", "History" };

        /// <summary>The EditorPrefs key of a scene: its asset GUID once saved, else its path, else "untitled".</summary>
        public static string KeyFor(string sceneGuid, string scenePath)
        {
            if (!string.IsNullOrEmpty(sceneGuid)) return PrefsPrefix + sceneGuid;
            return PrefsPrefix + (string.IsNullOrEmpty(scenePath) ? "untitled" : scenePath);
        }

        /// <summary>{"workspace": name, "settings": the window's own JSON}.</summary>
        public static string Write(Workspace workspace, string settingsJson)
        {
            var j = JsonValue.NewObject().Set("workspace", Names[(int)workspace]);
            if (!string.IsNullOrEmpty(settingsJson)) j.Set("settings", settingsJson);
            return j.ToString();
        }

        /// <summary>What Write stored; a missing, corrupt or unknown value gives Generate and no settings (a scene
        /// opened for the first time, or written by an older package, starts from the defaults).</summary>
        public static Workspace Read(string stored, out string settingsJson)
        {
            settingsJson = "";
            if (string.IsNullOrEmpty(stored)) return Workspace.Generate;
            JsonValue j;
            try { j = JsonValue.Parse(stored); }
            catch (FormatException) { return Workspace.Generate; }
            settingsJson = j["settings"].AsString();
            int index = Array.IndexOf(Names, j["workspace"].AsString());
            return index < 0 ? Workspace.Generate : (Workspace)index;
        }
    }
}
