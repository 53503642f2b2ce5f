// Sample: the core from your own editor script, without the window. Tools → DCC Bridge Sample → Generate.
// Import it from Package Manager → DCC Bridge → Samples. Put it under an Editor folder (it is one here).
using DccBridge.Core;
using UnityEditor;
using UnityEngine;

namespace DccBridge.Samples
{
    public static class QuickStartMenu
    {
        [MenuItem("Tools/DCC Bridge Sample/Generate 512x512")]
        public static async void Generate()
        {
            // Started on the main thread: each await below resumes there (Unity's synchronization context),
            // while the core does its networking on the thread pool.
            var request = new GenerateRequest { Prompt = "a lighthouse at dusk", Width = 512, Height = 512, Steps = 20, Seed = 42 };
            try
            {
                using (var client = new DccBridgeClient("http://127.0.0.1:50052", System.Environment.GetEnvironmentVariable("DCCBRIDGE_TOKEN")))
                {
                    var job = await client.SubmitAsync(request);
                    var done = await client.WaitAsync(job.JobId, u => Debug.Log("DCC Bridge sample: " +
                        (u.Progress != null ? u.Progress.Stage + " " + u.Progress.Step + "/" + u.Progress.Total : u.State.ToString())));
                    System.IO.Directory.CreateDirectory("Assets/DccBridgeSample");
                    System.IO.File.WriteAllBytes("Assets/DccBridgeSample/lighthouse.png", done.Result.Images[0].Data);
                    AssetDatabase.Refresh();
                }
            }
            catch (DccBridgeException e)
            {
                Debug.LogError("DCC Bridge sample: " + e.Code + " " + e.Field + " " + e.ServerMessage);
            }
        }
    }
}
