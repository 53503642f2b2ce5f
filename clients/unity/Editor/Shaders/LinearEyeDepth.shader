// Writes linear eye depth (distance along the camera's forward axis, in scene units) into a float target.
// Used by CameraCapture through a CommandBuffer with its own view/projection matrices, so it needs no
// pipeline-specific code and works the same in Built-in, URP and HDRP (see Documentation~/index.md).
Shader "Hidden/DccBridge/LinearEyeDepth"
{
    SubShader
    {
        Tags { "RenderType" = "Opaque" }
        Pass
        {
            ZWrite On
            ZTest LEqual
            Cull Off    // the flipped render-into-texture projection flips winding on some APIs
            CGPROGRAM
            #pragma vertex vert
            #pragma fragment frag
            #pragma target 3.0
            // UnityCG.cginc ships with the editor in every pipeline; only unity_ObjectToWorld (set per draw) is used.
            #include "UnityCG.cginc"

            float4x4 _DccBridgeView;        // camera.worldToCameraMatrix
            float4x4 _DccBridgeGpuProj;     // GL.GetGPUProjectionMatrix(camera.projectionMatrix, true)

            struct appdata { float4 vertex : POSITION; };
            struct v2f { float4 pos : SV_POSITION; float eye : TEXCOORD0; };

            v2f vert(appdata v)
            {
                v2f o;
                float4 world = mul(unity_ObjectToWorld, float4(v.vertex.xyz, 1.0));
                float4 view = mul(_DccBridgeView, world);
                o.pos = mul(_DccBridgeGpuProj, view);
                o.eye = -view.z;            // view space looks down -Z
                return o;
            }

            float4 frag(v2f i) : SV_Target { return float4(i.eye, 0, 0, 1); }
            ENDCG
        }
    }
}
