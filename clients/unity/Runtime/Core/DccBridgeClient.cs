// The network: Connect unary calls (JSON over HTTP/1.1) with HttpClient, and a GetJob long-poll for progress.
// Every await uses ConfigureAwait(false): nothing here needs (or may block) the Unity main thread.
using System;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace DccBridge.Core
{
    /// <summary>An RPC error or a failed job: Connect's code (lower case, e.g. "invalid_argument"), the request
    /// field the server named (dotted path, may be empty) and the server's message.</summary>
    public sealed class DccBridgeException : Exception
    {
        public string Code { get; private set; }
        public string Field { get; private set; }
        public string ServerMessage { get; private set; }
        public int HttpStatus { get; private set; }

        public DccBridgeException(string code, string message, string field, int httpStatus = 0, Exception inner = null)
            : base(Describe(code, message, field), inner)
        {
            Code = code ?? "unknown";
            ServerMessage = message ?? "";
            Field = field ?? "";
            HttpStatus = httpStatus;
        }

        private static string Describe(string code, string message, string field)
        {
            return "[" + (code ?? "unknown") + "] " + (message ?? "") +
                   (string.IsNullOrEmpty(field) ? "" : " (field: " + field + ")");
        }
    }

    public sealed class DccBridgeClient : IDisposable
    {
        public const string Service = "dccbridge.v1.DccBridgeService";
        public const int MaxWaitMs = 60000;

        private readonly HttpClient _http;
        private readonly bool _ownsHttp;
        private readonly string _base;
        private readonly string _token;

        /// <param name="baseUrl">The HTTP face, e.g. "http://127.0.0.1:50052".</param>
        /// <param name="token">Bearer token, or null/empty for a server without one.</param>
        public DccBridgeClient(string baseUrl, string token = null, HttpClient http = null)
        {
            if (string.IsNullOrEmpty(baseUrl)) throw new ArgumentException("a server URL is required", "baseUrl");
            _base = baseUrl.TrimEnd('/') + "/" + Service + "/";
            _token = string.IsNullOrEmpty(token) ? null : token.Trim();
            _ownsHttp = http == null;
            _http = http ?? new HttpClient { Timeout = TimeSpan.FromMinutes(5) };
            ClientName = "dccbridge-unity";
        }

        /// <summary>Sent as the dccbridge-client header (shows in server logs).</summary>
        public string ClientName { get; set; }

        public void Dispose() { if (_ownsHttp) _http.Dispose(); }

        // -- RPCs ----------------------------------------------------------------------------------

        public async Task<Capabilities> GetCapabilitiesAsync(CancellationToken ct = default(CancellationToken))
        {
            var j = await CallAsync("GetCapabilities", JsonValue.NewObject(), ct).ConfigureAwait(false);
            return WireFormat.ParseCapabilities(j);
        }

        public Task<JobInfo> SubmitAsync(GenerateRequest r, JobOptions o = null, CancellationToken ct = default(CancellationToken))
        { return SubmitTaskAsync(WireFormat.Task(r), o, ct); }
        public Task<JobInfo> SubmitAsync(Depth2ImgRequest r, JobOptions o = null, CancellationToken ct = default(CancellationToken))
        { return SubmitTaskAsync(WireFormat.Task(r), o, ct); }
        public Task<JobInfo> SubmitAsync(TextureRequest r, JobOptions o = null, CancellationToken ct = default(CancellationToken))
        { return SubmitTaskAsync(WireFormat.Task(r), o, ct); }
        public Task<JobInfo> SubmitAsync(UpscaleRequest r, JobOptions o = null, CancellationToken ct = default(CancellationToken))
        { return SubmitTaskAsync(WireFormat.Task(r), o, ct); }
        /// <summary>Extend an image (OutpaintTask); OutpaintPlacement.Parse(result.ExtraJson) says where the original is.</summary>
        public Task<JobInfo> SubmitAsync(OutpaintRequest r, JobOptions o = null, CancellationToken ct = default(CancellationToken))
        { return SubmitTaskAsync(OutpaintWire.Task(r), o, ct); }

        /// <summary>Preview a control unit's map (depth normalised, pose drawn, canny found) at width x height.</summary>
        public Task<JobInfo> SubmitPreprocessAsync(ControlUnitSpec unit, int width, int height, CancellationToken ct = default(CancellationToken))
        { return SubmitTaskAsync(WireFormat.PreprocessTask(unit, width, height), null, ct); }

        public async Task<JobInfo> SubmitTaskAsync(JsonValue task, JobOptions options, CancellationToken ct)
        {
            var j = await CallAsync("Submit", WireFormat.SubmitRequest(task, options), ct).ConfigureAwait(false);
            return WireFormat.ParseJob(j["job"]);
        }

        /// <summary>The job now; with waitMs &gt; 0, as soon as it has an event newer than afterSequence (long-poll).</summary>
        public async Task<JobInfo> GetJobAsync(string jobId, int waitMs = 0, long afterSequence = 0, bool omitImageData = false,
                                               CancellationToken ct = default(CancellationToken))
        {
            waitMs = Math.Max(0, Math.Min(waitMs, MaxWaitMs));
            var j = await CallAsync("GetJob", WireFormat.GetJobRequest(jobId, waitMs, afterSequence, omitImageData), ct)
                .ConfigureAwait(false);
            return WireFormat.ParseJob(j["job"]);
        }

        public async Task<JobInfo> CancelAsync(string jobId, CancellationToken ct = default(CancellationToken))
        {
            var j = await CallAsync("Cancel", JsonValue.NewObject().Set("jobId", jobId), ct).ConfigureAwait(false);
            return WireFormat.ParseJob(j["job"]);
        }

        /// <summary>Long-polls until the job ends; reports each progress; returns the finished job with its images.
        /// Cancelling <paramref name="ct"/> cancels the job on the server (unless cancelJobOnAbort is false, e.g.
        /// when the editor reloads and wants to fetch the result later) and throws OperationCanceledException.
        /// A failed job throws DccBridgeException with its code, field and message.</summary>
        public async Task<JobInfo> WaitAsync(string jobId, Action<JobInfo> onUpdate = null, CancellationToken ct = default(CancellationToken),
                                             int pollWaitMs = 10000, bool cancelJobOnAbort = true)
        {
            long sequence = 0;
            try
            {
                while (true)
                {
                    ct.ThrowIfCancellationRequested();
                    var job = await GetJobAsync(jobId, pollWaitMs, sequence, true, ct).ConfigureAwait(false);
                    if (job.Sequence != sequence && onUpdate != null) onUpdate(job);
                    sequence = job.Sequence;
                    if (job.IsFinished) break;
                }
            }
            catch (OperationCanceledException)
            {
                if (cancelJobOnAbort)
                {
                    try
                    {
                        using (var quick = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
                            await CancelAsync(jobId, quick.Token).ConfigureAwait(false);
                    }
                    catch (Exception) { /* best effort: the job may already be over */ }
                }
                throw;
            }
            var final = await GetJobAsync(jobId, 0, 0, false, ct).ConfigureAwait(false);
            if (final.State == JobState.Failed && final.Failure != null)
                throw new DccBridgeException(final.Failure.Code, final.Failure.Message, final.Failure.Field);
            if (final.State == JobState.Cancelled)
                throw new DccBridgeException("canceled", string.IsNullOrEmpty(final.CancelReason) ? "the job was cancelled" : final.CancelReason, "");
            return final;
        }

        // -- transport -----------------------------------------------------------------------------

        /// <summary>One Connect unary call with a JSON body. Errors become DccBridgeException.</summary>
        public async Task<JsonValue> CallAsync(string method, JsonValue request, CancellationToken ct)
        {
            using (var message = new HttpRequestMessage(HttpMethod.Post, _base + method))
            {
                message.Content = new StringContent(request.ToString(), Encoding.UTF8, "application/json");
                message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                message.Headers.TryAddWithoutValidation("connect-protocol-version", "1");
                message.Headers.TryAddWithoutValidation("dccbridge-client", ClientName);
                if (_token != null) message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _token);
                HttpResponseMessage response;
                try
                {
                    response = await _http.SendAsync(message, HttpCompletionOption.ResponseContentRead, ct).ConfigureAwait(false);
                }
                catch (HttpRequestException e)
                {
                    throw new DccBridgeException("unavailable", "cannot reach " + _base + method + ": " + Innermost(e).Message, "", 0, e);
                }
                catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
                {
                    // HttpClient reports its own timeout as a cancellation; only the caller's token means "cancel".
                    throw new DccBridgeException("deadline_exceeded", "no answer from " + _base + method + " within " + _http.Timeout, "", 0, e);
                }
                using (response)
                {
                    string body = response.Content == null ? "" : await response.Content.ReadAsStringAsync().ConfigureAwait(false);
                    if (response.IsSuccessStatusCode) return body.Length == 0 ? JsonValue.NewObject() : JsonValue.Parse(body);
                    throw ErrorFrom(response, body);
                }
            }
        }

        private static Exception Innermost(Exception e) { while (e.InnerException != null) e = e.InnerException; return e; }

        /// <summary>Connect's error body {"code", "message"}; the field from the trailer-dccbridge-field header.</summary>
        public static DccBridgeException ErrorFrom(HttpResponseMessage response, string body)
        {
            int status = (int)response.StatusCode;
            string field = "";
            System.Collections.Generic.IEnumerable<string> values;
            if (response.Headers.TryGetValues("trailer-dccbridge-field", out values))
                foreach (var v in values) { field = Uri.UnescapeDataString(v); break; }
            string code = null, message = null;
            try
            {
                var j = JsonValue.Parse(body);
                code = j["code"].AsString(null);
                message = j["message"].AsString(null);
            }
            catch (FormatException) { }
            if (code == null) code = CodeFromHttpStatus(response.StatusCode);
            if (message == null) message = "HTTP " + status + " " + response.ReasonPhrase + (body.Length > 0 && body.Length < 500 ? ": " + body : "");
            return new DccBridgeException(code, message, field, status);
        }

        private static string CodeFromHttpStatus(HttpStatusCode status)
        {
            switch ((int)status)
            {
                case 400: return "invalid_argument";
                case 401: return "unauthenticated";
                case 403: return "permission_denied";
                case 404: return "unimplemented";   // Connect: an unknown route
                case 408: return "deadline_exceeded";
                case 429: return "resource_exhausted";
                case 502: case 503: case 504: return "unavailable";
                default: return "unknown";
            }
        }
    }
}
