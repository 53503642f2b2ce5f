// Connection and generation settings, persisted in EditorPrefs (per user, per machine).
// The token is stored in EditorPrefs in plain text, like other editor credentials; leave it empty for a
// loopback server without one, or set DCCBRIDGE_TOKEN in the environment that starts Unity.
using System;
using UnityEditor;

namespace DccBridge.Editor
{
    public static class Settings
    {
        private const string Prefix = "DccBridge.";

        public static string ServerUrl
        {
            get { return EditorPrefs.GetString(Prefix + "ServerUrl", "http://127.0.0.1:50052"); }
            set { EditorPrefs.SetString(Prefix + "ServerUrl", value ?? ""); }
        }

        public static string Token
        {
            get
            {
                string stored = EditorPrefs.GetString(Prefix + "Token", "");
                return stored.Length > 0 ? stored : (Environment.GetEnvironmentVariable("DCCBRIDGE_TOKEN") ?? "");
            }
            set { EditorPrefs.SetString(Prefix + "Token", value ?? ""); }
        }
    }
}
