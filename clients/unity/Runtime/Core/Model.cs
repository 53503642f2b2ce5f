// Plain domain types the editor binds to. No UnityEngine, no wire details: WireFormat.cs converts.
using System;
using System.Collections.Generic;

namespace DccBridge.Core
{
    public enum ControlType { Canny = 1, Depth = 2, Openpose = 3, Lineart = 4, Softedge = 5, Scribble = 6, Normal = 7, Tile = 8, Reference = 9 }
    public enum DepthEncoding { Linear = 1, Inverse = 2, Normalized = 3 }
    /// <summary>How the server scales a depth pass to grey levels. Auto = the model family's default (min-max, as the
    /// depth ControlNets' annotators); NearFar = fixed from the pass's near/far, the same in every frame.</summary>
    public enum DepthNormalization { Auto = 0, Percentile = 1, MinMax = 2, NearFar = 3 }
    public enum JobState { Unspecified = 0, Queued = 1, Running = 2, Succeeded = 3, Failed = 4, Cancelled = 5 }
    public enum TilingAxes { None = 1, X = 2, Y = 3, Both = 4 }
    public enum UpscaleMethod { Auto = 0, Lanczos = 1, Esrgan = 2, SdX4 = 3, TiledDiffusion = 4 }

    public sealed class ModelInfo
    {
        public string Id = "";
        public string Family = "";
        public List<string> Tasks = new List<string>();         // "TXT2IMG", "TEXTURE", ...
        public List<ControlType> ControlTypes = new List<ControlType>();
        public bool IsDefault;
        public int DefaultWidth, DefaultHeight, DefaultSteps;
        public float DefaultGuidanceScale;
        public string Description = "";
        /// <summary>The IP-Adapters a Reference unit may name for this model (Id, Label); empty: none.</summary>
        public List<AdapterInfo> ReferenceAdapters = new List<AdapterInfo>();
    }

    /// <summary>A LoRA, embedding or VAE the server offers; it fits only models of its Family.</summary>
    public sealed class AdapterInfo
    {
        public string Id = "";
        public string Family = "";
        public string Label = "";
        public string Description = "";
        public string Token = "";           // embeddings: the prompt word that invokes it
    }

    public sealed class LoraSpec
    {
        public const float MinWeight = -4f, MaxWeight = 4f;
        public string Id = "";
        public float? Weight;               // null = the server's 1.0
        public LoraSpec() { }
        public LoraSpec(string id, float? weight = null) { Id = id; Weight = weight; }
    }

    /// <summary>Per-job LoRAs, embeddings and VAE (GenerateTask/Depth2ImgTask/TextureTask/UpscaleTask.adapters).</summary>
    public sealed class AdapterSelection
    {
        public List<LoraSpec> Loras = new List<LoraSpec>();
        public List<string> Embeddings = new List<string>();
        public string VaeId = "";           // empty = the model's own VAE
        public bool IsEmpty { get { return Loras.Count == 0 && Embeddings.Count == 0 && string.IsNullOrEmpty(VaeId); } }
    }

    public sealed class Capabilities
    {
        public string ServerVersion = "";
        public string ApiVersion = "";
        public string DeviceType = "";
        public string DeviceName = "";
        public List<ModelInfo> Models = new List<ModelInfo>();
        public string DefaultModelId = "";
        public List<string> Schedulers = new List<string>();
        public List<string> Upscalers = new List<string>();
        public List<string> Features = new List<string>();
        public int MaxWidth, MaxHeight, MaxSteps, MaxControlUnits, SizeMultiple, MaxReferenceImages;
        public long MaxPixels, MaxMessageBytes;
        public List<AdapterInfo> Loras = new List<AdapterInfo>();
        public List<AdapterInfo> Embeddings = new List<AdapterInfo>();
        public List<AdapterInfo> Vaes = new List<AdapterInfo>();
        public List<RestorerInfo> Restorers = new List<RestorerInfo>();   // face restorers, with licences
    }

    /// <summary>A float depth plane, top row first (see DepthPlane for building one from a Unity texture).</summary>
    public sealed class DepthPassData
    {
        public byte[] Float32Le;
        public int Width, Height;
        public DepthEncoding Encoding = DepthEncoding.Linear;
        public float Near, Far;
        public DepthNormalization Normalization = DepthNormalization.Auto;
    }

    public struct Keypoint
    {
        public float X, Y;       // canvas pixels, origin top-left, y down
        public bool Visible;
        public Keypoint(float x, float y, bool visible) { X = x; Y = y; Visible = visible; }
        public override string ToString() { return Visible ? "(" + X + ", " + Y + ")" : "(hidden)"; }
    }

    public sealed class PoseRigData
    {
        public int CanvasWidth, CanvasHeight;
        /// <summary>One entry per person, each exactly 18 keypoints in COCO-18 order.</summary>
        public List<Keypoint[]> People = new List<Keypoint[]>();
    }

    public sealed class ControlUnitSpec
    {
        public ControlType Type;
        public float? Weight;               // controlnet_conditioning_scale
        public float? GuidanceStart, GuidanceEnd;
        public string ControlnetId = "";
        // Exactly one source:
        public byte[] ImagePng;             // a ready control map
        public byte[] PreprocessPng;        // an image for the server to preprocess (canny from a render)
        public int? CannyLow, CannyHigh;
        public DepthPassData DepthPass;
        public PoseRigData PoseRig;
        public List<byte[]> ReferencePngs;  // Reference units: the image prompt (1..MaxReferenceImages encoded images)
        public List<float> ReferenceWeights = new List<float>();   // optional, one per image; empty = equal
        public string AdapterId = "";       // Reference units: the model's IP-Adapter ("" = its first)

        public static ControlUnitSpec Depth(DepthPassData depth, float? weight = null)
        { return new ControlUnitSpec { Type = ControlType.Depth, DepthPass = depth, Weight = weight }; }
        public static ControlUnitSpec Pose(PoseRigData rig, float? weight = null)
        { return new ControlUnitSpec { Type = ControlType.Openpose, PoseRig = rig, Weight = weight }; }
        public static ControlUnitSpec CannyFrom(byte[] png, float? weight = null)
        { return new ControlUnitSpec { Type = ControlType.Canny, PreprocessPng = png, Weight = weight }; }
        /// <summary>A reference image (IP-Adapter image prompt); Weight is the IP-Adapter scale.</summary>
        public static ControlUnitSpec ReferenceFrom(byte[] png, string adapterId = "", float? weight = null)
        {
            return new ControlUnitSpec { Type = ControlType.Reference, ReferencePngs = new List<byte[]> { png },
                                         AdapterId = adapterId ?? "", Weight = weight };
        }
    }

    /// <summary>What every diffusion task shares.</summary>
    public class DiffusionParams
    {
        public string ModelId = "";
        public string Prompt = "";
        public string NegativePrompt = "";
        public int Width, Height;           // 0 = server/model default
        public int? Steps;
        public float? GuidanceScale;
        public string Scheduler = "";
        public long? Seed;                  // null or -1 = random
        public int? BatchSize;
        public AdapterSelection Adapters = new AdapterSelection();
    }

    public sealed class GenerateRequest : DiffusionParams
    {
        public byte[] InitImagePng;
        public float? Strength;
        public byte[] MaskPng;
        public List<ControlUnitSpec> ControlUnits = new List<ControlUnitSpec>();
        public FaceRestorationSpec RestoreFaces;                          // null = no face restoration
    }

    public sealed class Depth2ImgRequest : DiffusionParams
    {
        public byte[] InitImagePng;
        public float? Strength;
        public DepthPassData DepthPass;
    }

    /// <summary>The camera a projection texture is made for (Unity world space, camera-to-world row-major).</summary>
    public sealed class CameraData
    {
        public float[] CameraToWorld = new float[16];
        public bool Orthographic;
        public float FovYDegrees, OrthoHeight, Near, Far;
        public int Width, Height;
        public string Host = "unity";
    }

    public sealed class TextureRequest : DiffusionParams
    {
        public TilingAxes Tiling = TilingAxes.Both;
        public bool PbrMaps = true;
        public byte[] InitImagePng;
        public float? Strength;
        public List<ControlUnitSpec> ControlUnits = new List<ControlUnitSpec>();
        // Projection from a camera (optional): depth and/or the colour view, and the camera (required then).
        public DepthPassData ProjectionDepth;
        public byte[] ProjectionViewPng;
        public CameraData ProjectionCamera;
    }

    public sealed class UpscaleRequest
    {
        public byte[] ImagePng;
        public UpscaleMethod Method = UpscaleMethod.Auto;
        public string UpscalerId = "";
        public float? Scale;
        public string ModelId = "", Prompt = "", NegativePrompt = "";
        public int? Steps;
        public long? Seed;
        public float? Strength;
        public AdapterSelection Adapters = new AdapterSelection();   // tiled diffusion only
        public FaceRestorationSpec RestoreFaces;                     // null = no face restoration
    }

    public sealed class JobOptions
    {
        public int PreviewEveryNSteps;
        public int PreviewMaxSize;
        public string Label = "";
        public bool OmitImageData;
    }

    public sealed class ProgressInfo
    {
        public string Stage = "";
        public int Step, Total;
        public byte[] PreviewJpeg;
        /// <summary>0..1 within the stage (0 when the total is unknown).</summary>
        public float Fraction { get { return Total > 0 ? Math.Min(1f, (float)Step / Total) : 0f; } }
    }

    public sealed class ResultImage
    {
        public byte[] Data;
        public string MimeType = "";
        public int Width, Height;
        public string Role = "image";
        public long Seed;
        public int Index;
        public string Parameters = "";
        public string ServerPath = "";
    }

    public sealed class JobResult
    {
        public List<ResultImage> Images = new List<ResultImage>();
        public string MetadataJson = "";
        public string ExtraJson = "";
    }

    public sealed class JobFailure
    {
        public string Code = "";            // lower-case Connect spelling, e.g. "invalid_argument"
        public string Message = "";
        public string Field = "";
    }

    public sealed class JobInfo
    {
        public string JobId = "";
        public JobState State;
        public string TaskType = "";
        public string ModelId = "";
        public string Label = "";
        public int QueuePosition;
        public long Sequence;
        public ProgressInfo Progress;
        public JobResult Result;
        public JobFailure Failure;
        public string CancelReason;
        public bool IsFinished { get { return State == JobState.Succeeded || State == JobState.Failed || State == JobState.Cancelled; } }
    }
}
