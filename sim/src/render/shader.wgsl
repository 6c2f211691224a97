// dreamrig's camera shader: one pass writes colour (Lambert shading under one directional light
// plus ambient), metric depth along the optical axis and a segment id per pixel.

struct Camera {
    // World → clip space (the pinhole projection of `CameraView`).
    view_projection: mat4x4<f32>,
    // World → camera body frame (x forward along the optical axis, y left, z up; REP-103).
    view: mat4x4<f32>,
    // Direction the light travels, world frame (unit), and the light's colour.
    light_direction: vec4<f32>,
    light_color: vec4<f32>,
    // Ambient light colour.
    ambient: vec4<f32>,
    // Camera position, world frame.
    eye: vec4<f32>,
};

struct Instance {
    model: mat4x4<f32>,
    // Inverse-transpose of the model matrix's linear part, columns padded to vec4.
    normal_0: vec4<f32>,
    normal_1: vec4<f32>,
    normal_2: vec4<f32>,
    color: vec4<f32>,
    // x: segment id (≥ 1; 0 is "nothing hit").
    segment: vec4<u32>,
};

@group(0) @binding(0) var<uniform> camera: Camera;
@group(0) @binding(1) var<storage, read> instances: array<Instance>;

struct VertexOutput {
    @builtin(position) clip: vec4<f32>,
    @location(0) normal: vec3<f32>,
    @location(1) depth: f32,
    @location(2) @interpolate(flat) instance: u32,
    @location(3) world: vec3<f32>,
};

@vertex
fn vs_main(@location(0) position: vec3<f32>, @location(1) normal: vec3<f32>, @builtin(instance_index) index: u32) -> VertexOutput {
    let instance = instances[index];
    let world = instance.model * vec4<f32>(position, 1.0);
    let normal_matrix = mat3x3<f32>(instance.normal_0.xyz, instance.normal_1.xyz, instance.normal_2.xyz);
    var out: VertexOutput;
    out.clip = camera.view_projection * world;
    out.normal = normal_matrix * normal;
    out.depth = (camera.view * world).x;
    out.instance = index;
    out.world = world.xyz;
    return out;
}

struct FragmentOutput {
    @location(0) color: vec4<f32>,
    @location(1) depth: f32,
    @location(2) segment: u32,
};

@fragment
fn fs_main(in: VertexOutput) -> FragmentOutput {
    let instance = instances[in.instance];
    // Light the side that faces the camera, whatever the winding or a mirroring scale says.
    var n = normalize(in.normal);
    if (dot(n, camera.eye.xyz - in.world) < 0.0) {
        n = -n;
    }
    let lambert = max(dot(n, -camera.light_direction.xyz), 0.0);
    let shade = camera.ambient.rgb + camera.light_color.rgb * lambert;
    var out: FragmentOutput;
    out.color = vec4<f32>(clamp(instance.color.rgb * shade, vec3<f32>(0.0), vec3<f32>(1.0)), 1.0);
    out.depth = in.depth;
    out.segment = instance.segment.x;
    return out;
}
