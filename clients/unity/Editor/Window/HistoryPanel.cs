// The History workspace: past jobs of this client (or of every client, for the admin token), newest first, a page
// at a time, with thumbnails, prompt, seed, model and controls; Re-apply, Re-run and New seed per job. Lists are
// fetched by the core off the main thread; the UI only draws what came back.
using System;
using System.Collections.Generic;
using DccBridge.Core;
using UnityEditor;
using UnityEngine;

namespace DccBridge.Editor
{
    [Serializable]
    public sealed class HistoryPanel
    {
        private const string ThisClient = "dccbridge-unity";   // DccBridgeClient's default ClientName
        [SerializeField] private string _text = "";
        [SerializeField] private int _type;                    // 0 = every type, else History.TaskTypeNames[_type - 1]
        [SerializeField] private bool _everyClient;            // needs the server's admin token
        [SerializeField] private int _pageSize = 10;

        [NonSerialized] private List<HistoryEntry> _entries = new List<HistoryEntry>();
        [NonSerialized] private List<string> _pageTokens = new List<string> { "" };   // the token of each page seen
        [NonSerialized] private int _page;
        [NonSerialized] private string _next = "";
        [NonSerialized] private string _status = "";
        [NonSerialized] private bool _loading, _listed;   // _listed: the first page was asked for since the editor started
        [NonSerialized] private Dictionary<string, Texture2D> _thumbnails = new Dictionary<string, Texture2D>();

        public void Draw(Action<HistoryEntry> reapply, Action<HistoryEntry, bool> rerun, Action repaint)
        {
            if (!_listed) { _listed = true; Load(0, repaint); }   // opening History (also after a restart) lists at once
            EditorGUILayout.Space();
            _text = EditorGUILayout.TextField("Find (prompt, label)", _text);
            var types = new List<string> { "every type" };
            types.AddRange(History.TaskTypeNames);
            _type = EditorGUILayout.Popup("Task type", _type, types.ToArray());
            _everyClient = EditorGUILayout.Toggle("Every client (admin token)", _everyClient);
            using (new EditorGUILayout.HorizontalScope())
            {
                using (new EditorGUI.DisabledScope(_loading))
                {
                    if (GUILayout.Button("Refresh", GUILayout.Width(80))) Load(0, repaint);
                    using (new EditorGUI.DisabledScope(_page == 0))
                        if (GUILayout.Button("◀ Newer", GUILayout.Width(80))) Load(_page - 1, repaint);
                    using (new EditorGUI.DisabledScope(_next.Length == 0))
                        if (GUILayout.Button("Older ▶", GUILayout.Width(80))) Load(_page + 1, repaint);
                }
                EditorGUILayout.LabelField(_status, EditorStyles.wordWrappedMiniLabel);
            }
            foreach (var entry in _entries) DrawEntry(entry, reapply, rerun);
        }

        private void DrawEntry(HistoryEntry e, Action<HistoryEntry> reapply, Action<HistoryEntry, bool> rerun)
        {
            using (new EditorGUILayout.HorizontalScope())
            {
                Texture2D thumb;
                if (_thumbnails.TryGetValue(e.Job.JobId, out thumb)) GUILayout.Label(thumb, GUILayout.MaxWidth(64), GUILayout.MaxHeight(64));
                using (new EditorGUILayout.VerticalScope())
                {
                    string when = DateTimeOffset.FromUnixTimeMilliseconds(e.CreatedMs).LocalDateTime.ToString("yyyy-MM-dd HH:mm");
                    EditorGUILayout.LabelField(e.TaskCase + "  " + e.Job.State + "  " + when + (_everyClient ? "  " + e.Client : ""), EditorStyles.boldLabel);
                    EditorGUILayout.LabelField(e.Prompt.Length > 0 ? e.Prompt : e.Job.Label, EditorStyles.wordWrappedMiniLabel);
                    EditorGUILayout.LabelField(Details(e), EditorStyles.wordWrappedMiniLabel);
                    using (new EditorGUILayout.HorizontalScope())
                    {
                        using (new EditorGUI.DisabledScope(e.Job.State != JobState.Succeeded))
                            if (GUILayout.Button("Re-apply", GUILayout.Width(80))) reapply(e);
                        if (GUILayout.Button("Re-run", GUILayout.Width(70))) rerun(e, false);
                        if (GUILayout.Button("New seed", GUILayout.Width(80))) rerun(e, true);
                    }
                }
            }
        }

        private static string Details(HistoryEntry e)
        {
            var parts = new List<string>();
            if (e.Seed.HasValue) parts.Add("seed " + e.Seed.Value);
            parts.Add("model " + (e.Job.ModelId.Length > 0 ? e.Job.ModelId : "default"));
            if (e.Width > 0) parts.Add(e.Width + "×" + e.Height);
            if (e.Steps > 0) parts.Add(e.Steps + " steps");
            if (e.Controls.Count > 0) parts.Add("controls " + string.Join("+", e.Controls.ToArray()));
            if (e.StrippedInputs.Count > 0) parts.Add("re-run recaptures " + string.Join(", ", e.StrippedInputs.ToArray()));
            return string.Join(" · ", parts.ToArray());
        }

        /// <summary>Page <paramref name="page"/> (0 = newest) of the filtered list; resumes on the main thread.</summary>
        private async void Load(int page, Action repaint)
        {
            if (page == 0) _pageTokens = new List<string> { "" };
            var query = new HistoryQuery
            {
                PageSize = _pageSize, PageToken = _pageTokens[page], Text = _text, ThumbnailSize = 64,
                Client = _everyClient ? "" : ThisClient,
            };
            if (_type > 0) query.TaskTypes.Add(History.TaskTypeNames[_type - 1]);
            _loading = true;
            _status = "loading...";
            try
            {
                HistoryPage result;
                using (var client = new DccBridgeClient(Settings.ServerUrl, Settings.Token)) result = await client.ListJobsAsync(query);
                _entries = result.Entries;
                _page = page;
                _next = result.NextPageToken;
                if (_pageTokens.Count == page + 1 && _next.Length > 0) _pageTokens.Add(_next);
                foreach (var t in _thumbnails.Values) UnityEngine.Object.DestroyImmediate(t);
                _thumbnails.Clear();
                foreach (var e in _entries)
                {
                    if (e.ThumbnailJpeg == null) continue;
                    var texture = new Texture2D(2, 2) { hideFlags = HideFlags.HideAndDontSave };
                    texture.LoadImage(e.ThumbnailJpeg);
                    _thumbnails[e.Job.JobId] = texture;
                }
                _status = "page " + (page + 1) + ": " + _entries.Count + " job(s)" + (_next.Length > 0 ? ", more older" : "");
            }
            catch (Exception e)
            {
                _status = e.Message;   // e.g. [permission_denied] ... admin token
            }
            _loading = false;
            repaint();
        }
    }
}
