//! Camera images rendered from the world state by a rasterizer: colour, metric depth and a
//! segment id per pixel, in one pass.
//!
//! Rendering is [wgpu](https://wgpu.rs)'s job, not dreamrig's: on a machine without a GPU it runs
//! on Mesa's software Vulkan device (lavapipe: `apt install mesa-vulkan-drivers`), on the GPU
//! when there is one. dreamrig only hands it triangles, poses, colours and a pinhole camera, and
//! reads the images back. The same state gives the same bytes on the CPU path: the rasterizer is
//! not multisampled and every draw is ordered, so a pixel's value depends on the triangles alone,
//! not on the thread that shades it.
//!
//! Conventions:
//! - the camera frame is REP-103's body frame, x forward along the optical axis, y left, z up
//!   (what a URDF `<link>` for a camera uses); the image is row-major from the top-left pixel,
//!   u to the right (−y), v down (−z);
//! - intrinsics follow OpenCV and ROS `sensor_msgs/CameraInfo`: pixel (u, v)'s centre is at
//!   image coordinates (u, v), so a point at camera coordinates (x, y, z) lands at
//!   u = fx·(−y/x) + cx, v = fy·(−z/x) + cy;
//! - depth is the distance along the optical axis in metres, +inf where nothing is hit (REP-117);
//! - segment ids are the caller's (≥ 1); 0 means nothing was hit.

mod cameras;
mod mesh;
pub mod visuals;

pub use cameras::{camera_images, CameraRig};

pub use mesh::MeshData;

use rapier3d::glamx::{Mat3, Mat4, Quat, Vec3};
use std::sync::{Arc, OnceLock};
use wgpu::util::DeviceExt;

/// What can go wrong when rendering.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RenderError {
    /// No adapter could be created: no GPU driver and no software Vulkan device.
    #[error(
        "no rendering device: {detail}. Install Mesa's software Vulkan driver (Debian and Ubuntu: \
         `apt install mesa-vulkan-drivers libvulkan1`; Fedora: `dnf install mesa-vulkan-drivers`) \
         or a GPU driver with Vulkan support"
    )]
    NoDevice {
        /// What wgpu said.
        detail: String,
    },
    /// The device refused an operation (out of memory, a lost device, a limit exceeded).
    #[error("rendering failed: {0}")]
    Device(String),
    /// A camera or scene that cannot be drawn (zero size, a mesh index out of range, ...).
    #[error("{0}")]
    Invalid(String),
}

/// The rendering device, shared by every camera of the process: a wgpu device and queue and
/// the one pipeline dreamrig draws with. Creating it takes tens of milliseconds; use
/// [`RenderDevice::shared`].
pub struct RenderDevice {
    device: wgpu::Device,
    queue: wgpu::Queue,
    pipeline: wgpu::RenderPipeline,
    bind_group_layout: wgpu::BindGroupLayout,
    info: wgpu::AdapterInfo,
}

/// Colour target: 8-bit RGBA, linear values as the shader writes them (no sRGB curve), so
/// bytes are what the shading computes.
const COLOR_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;
const DEPTH_VALUE_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::R32Float;
const SEGMENT_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::R32Uint;
const Z_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Depth32Float;

impl RenderDevice {
    /// The process's rendering device, created on first use: a hardware adapter when one
    /// exists, else the software one (lavapipe). Every caller gets the same device; a failure
    /// is remembered and returned to every caller.
    ///
    /// # Errors
    /// [`RenderError::NoDevice`] when wgpu finds no adapter, naming what to install.
    pub fn shared() -> Result<Arc<RenderDevice>, RenderError> {
        static DEVICE: OnceLock<Result<Arc<RenderDevice>, String>> = OnceLock::new();
        DEVICE
            .get_or_init(|| RenderDevice::new().map(Arc::new).map_err(|e| e.to_string()))
            .clone()
            .map_err(|detail| RenderError::NoDevice { detail })
    }

    /// A new device (see [`RenderDevice::shared`]).
    ///
    /// # Errors
    /// [`RenderError::NoDevice`] when no adapter or device can be created.
    pub fn new() -> Result<RenderDevice, RenderError> {
        let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
        if std::env::var_os("WGPU_BACKEND").is_none() {
            descriptor.backends = wgpu::Backends::VULKAN;
        }
        let instance = wgpu::Instance::new(descriptor);
        let options = wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            force_fallback_adapter: false,
            compatible_surface: None,
            apply_limit_buckets: false,
        };
        let adapter =
            pollster::block_on(instance.request_adapter(&options)).map_err(|e| RenderError::NoDevice { detail: e.to_string() })?;
        let info = adapter.get_info();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("dreamrig"),
            required_limits: wgpu::Limits::downlevel_defaults().using_resolution(adapter.limits()),
            ..Default::default()
        }))
        .map_err(|e| RenderError::NoDevice { detail: format!("{} ({:?}): {e}", info.name, info.backend) })?;
        tracing::info!(adapter = %info.name, backend = ?info.backend, device_type = ?info.device_type, "rendering device");
        let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("dreamrig camera"),
            source: wgpu::ShaderSource::Wgsl(include_str!("shader.wgsl").into()),
        });
        let bind_group_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("camera and instances"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::VERTEX_FRAGMENT,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                },
                wgpu::BindGroupLayoutEntry {
                    binding: 1,
                    visibility: wgpu::ShaderStages::VERTEX_FRAGMENT,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Storage { read_only: true },
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                },
            ],
        });
        let layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("dreamrig camera"),
            bind_group_layouts: &[Some(&bind_group_layout)],
            immediate_size: 0,
        });
        let vertex_attributes = wgpu::vertex_attr_array![0 => Float32x3, 1 => Float32x3];
        let target = |format| Some(wgpu::ColorTargetState { format, blend: None, write_mask: wgpu::ColorWrites::ALL });
        let pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("dreamrig camera"),
            layout: Some(&layout),
            vertex: wgpu::VertexState {
                module: &shader,
                entry_point: Some("vs_main"),
                compilation_options: Default::default(),
                buffers: &[Some(wgpu::VertexBufferLayout {
                    array_stride: std::mem::size_of::<Vertex>() as u64,
                    step_mode: wgpu::VertexStepMode::Vertex,
                    attributes: &vertex_attributes,
                })],
            },
            primitive: wgpu::PrimitiveState {
                topology: wgpu::PrimitiveTopology::TriangleList,
                front_face: wgpu::FrontFace::Ccw,
                cull_mode: None,
                ..Default::default()
            },
            depth_stencil: Some(wgpu::DepthStencilState {
                format: Z_FORMAT,
                depth_write_enabled: Some(true),
                depth_compare: Some(wgpu::CompareFunction::Less),
                stencil: Default::default(),
                bias: Default::default(),
            }),
            multisample: wgpu::MultisampleState::default(),
            fragment: Some(wgpu::FragmentState {
                module: &shader,
                entry_point: Some("fs_main"),
                compilation_options: Default::default(),
                targets: &[target(COLOR_FORMAT), target(DEPTH_VALUE_FORMAT), target(SEGMENT_FORMAT)],
            }),
            multiview_mask: None,
            cache: None,
        });
        Ok(RenderDevice { device, queue, pipeline, bind_group_layout, info })
    }

    /// The adapter's name and backend, for logs and benchmark tables ("llvmpipe (LLVM 15.0.6,
    /// 256 bits), Vulkan").
    pub fn adapter(&self) -> String {
        format!("{}, {:?}", self.info.name, self.info.backend)
    }

    /// Whether the adapter is a software rasterizer on the CPU (lavapipe, llvmpipe).
    pub fn is_cpu(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }
}

/// A pinhole camera: image size, intrinsics (pixels, OpenCV/ROS convention, see the module
/// docs), clipping planes and pose.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CameraView {
    /// Image width in pixels (≥ 1).
    pub width: u32,
    /// Image height in pixels (≥ 1).
    pub height: u32,
    /// Horizontal focal length in pixels.
    pub fx: f64,
    /// Vertical focal length in pixels.
    pub fy: f64,
    /// Principal point's column in pixels (the image centre is (width − 1)/2).
    pub cx: f64,
    /// Principal point's row in pixels (the image centre is (height − 1)/2).
    pub cy: f64,
    /// Near clipping distance along the optical axis, m (> 0).
    pub near: f64,
    /// Far clipping distance along the optical axis, m (> near).
    pub far: f64,
    /// Position of the camera frame's origin in the world, m.
    pub translation: Vec3,
    /// Orientation of the camera frame in the world (x forward, y left, z up).
    pub rotation: Quat,
}

impl CameraView {
    /// A camera with square pixels and its principal point at the image centre, from its
    /// vertical field of view in radians.
    pub fn from_vertical_fov(width: u32, height: u32, fov_y: f64, near: f64, far: f64, translation: Vec3, rotation: Quat) -> Self {
        let fy = height as f64 / 2.0 / (fov_y / 2.0).tan();
        CameraView {
            width,
            height,
            fx: fy,
            fy,
            cx: (width as f64 - 1.0) / 2.0,
            cy: (height as f64 - 1.0) / 2.0,
            near,
            far,
            translation,
            rotation,
        }
    }

    /// Where a world point lands in the image, (u, v) in pixels, with its depth along the
    /// optical axis in m; `None` behind the camera.
    pub fn project(&self, point: Vec3) -> Option<(f64, f64, f64)> {
        let local = self.rotation.inverse() * (point - self.translation);
        let (x, y, z) = (local.x as f64, local.y as f64, local.z as f64);
        (x > 0.0).then(|| (self.fx * (-y / x) + self.cx, self.fy * (-z / x) + self.cy, x))
    }

    /// World → camera frame.
    fn view(&self) -> Mat4 {
        Mat4::from_rotation_translation(self.rotation, self.translation).inverse()
    }

    /// Camera frame → clip space, as derived in the module docs: with r = −y (right),
    /// d = −z (down) and x the depth, the rasterizer's image coordinate of a pixel centre is
    /// u + 0.5, so NDC x = 2(fx·r/x + cx + 0.5)/W − 1, NDC y = 1 − 2(fy·d/x + cy + 0.5)/H, and
    /// z maps [near, far] to wgpu's [0, 1].
    fn projection(&self) -> Mat4 {
        let (w, h) = (self.width as f64, self.height as f64);
        let (n, f) = (self.near, self.far);
        let ax = 2.0 * self.fx / w;
        let bx = 2.0 * (self.cx + 0.5) / w - 1.0;
        let ay = 2.0 * self.fy / h;
        let by = 1.0 - 2.0 * (self.cy + 0.5) / h;
        let az = f / (f - n);
        let bz = -f * n / (f - n);
        // Rows: clip = (−ax·y + bx·x, ay·z + by·x, az·x + bz, x).
        Mat4::from_cols_array(&[
            // column x
            bx as f32, by as f32, az as f32, 1.0, //
            // column y
            -ax as f32, 0.0, 0.0, 0.0, //
            // column z
            0.0, ay as f32, 0.0, 0.0, //
            // column w
            0.0, 0.0, bz as f32, 0.0,
        ])
    }

    fn check(&self) -> Result<(), RenderError> {
        let finite = [self.fx, self.fy, self.cx, self.cy, self.near, self.far].iter().all(|v| v.is_finite());
        if self.width == 0 || self.height == 0 {
            return Err(RenderError::Invalid(format!("a camera image of {}×{} pixels; both must be at least 1", self.width, self.height)));
        }
        if !finite || self.fx <= 0.0 || self.fy <= 0.0 || self.near <= 0.0 || self.far <= self.near {
            return Err(RenderError::Invalid(format!(
                "camera intrinsics fx {} fy {} cx {} cy {} near {} far {}: the focal lengths and near must be positive, far beyond near",
                self.fx, self.fy, self.cx, self.cy, self.near, self.far
            )));
        }
        Ok(())
    }
}

/// Scene lighting: one directional light and an ambient term (linear RGB, 0–1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lighting {
    /// Direction the light travels, world frame (need not be unit length).
    pub direction: Vec3,
    /// The directional light's colour.
    pub color: [f32; 3],
    /// The ambient light's colour (lights every surface alike).
    pub ambient: [f32; 3],
    /// Colour where nothing is hit.
    pub background: [f32; 3],
}

impl Default for Lighting {
    /// Sunlight from above, a little from the front-left, and a pale sky.
    fn default() -> Self {
        Lighting {
            direction: Vec3::new(0.3, 0.2, -1.0),
            color: [0.7, 0.7, 0.7],
            ambient: [0.35, 0.35, 0.35],
            background: [0.62, 0.72, 0.82],
        }
    }
}

/// One mesh drawn at one pose: an index into the renderer's meshes, its pose and scale, its
/// colour (linear RGB, 0–1) and segment id (≥ 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Drawable {
    /// Index into the meshes given to [`SceneRenderer::new`].
    pub mesh: usize,
    /// Position of the mesh's frame in the world, m.
    pub translation: Vec3,
    /// Orientation of the mesh's frame in the world.
    pub rotation: Quat,
    /// Scale along the mesh's own axes (a URDF `<mesh scale>`, or a unit primitive's size).
    pub scale: Vec3,
    /// Colour, linear RGB in 0–1.
    pub color: [f32; 3],
    /// Segment id written where this drawable is visible (≥ 1).
    pub segment: u32,
}

impl Drawable {
    /// Checks that the mesh index is below `meshes`, the segment id at least 1, and the pose
    /// and scale finite with no zero scale (a singular model matrix has no normal matrix).
    fn check(&self, meshes: usize) -> Result<(), RenderError> {
        if self.mesh >= meshes || self.segment == 0 {
            return Err(RenderError::Invalid(format!(
                "a drawable of mesh {} (of {meshes}) with segment id {} (ids start at 1)",
                self.mesh, self.segment
            )));
        }
        let finite = self.translation.is_finite() && self.rotation.is_finite() && self.scale.is_finite();
        if !finite || self.scale.x * self.scale.y * self.scale.z == 0.0 {
            return Err(RenderError::Invalid(format!(
                "a drawable at {:?} rotated {:?} scaled {:?}: pose and scale must be finite and the scale non-zero",
                self.translation, self.rotation, self.scale
            )));
        }
        Ok(())
    }
}

/// A rendered image: `rgb` is height × width × 3 bytes, `depth` height × width metres along
/// the optical axis (+inf where nothing is hit), `segmentation` height × width ids (0 where
/// nothing is hit); all row-major from the top-left pixel.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// Colour, height × width × 3 bytes (RGB).
    pub rgb: Vec<u8>,
    /// Depth along the optical axis, height × width, m; +inf where nothing is hit.
    pub depth: Vec<f32>,
    /// Segment id per pixel, height × width; 0 where nothing is hit.
    pub segmentation: Vec<u32>,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Vertex {
    position: [f32; 3],
    normal: [f32; 3],
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct CameraUniform {
    view_projection: [f32; 16],
    view: [f32; 16],
    light_direction: [f32; 4],
    light_color: [f32; 4],
    ambient: [f32; 4],
    eye: [f32; 4],
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct InstanceUniform {
    model: [f32; 16],
    normal: [[f32; 4]; 3],
    color: [f32; 4],
    segment: [u32; 4],
}

struct GpuMesh {
    vertices: wgpu::Buffer,
    indices: wgpu::Buffer,
    index_count: u32,
}

/// Images of size width × height: the render targets and the buffers they are read back into.
struct Targets {
    width: u32,
    height: u32,
    color: wgpu::Texture,
    depth_value: wgpu::Texture,
    segment: wgpu::Texture,
    z: wgpu::Texture,
    /// One readback buffer per target, rows padded to wgpu's 256-byte copy alignment.
    readback: [wgpu::Buffer; 3],
    padded_row: u32,
}

/// Bytes per row of a 4-byte-per-texel image, padded to wgpu's copy alignment.
fn padded_row(width: u32) -> u32 {
    let unpadded = width * 4;
    unpadded.div_ceil(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT) * wgpu::COPY_BYTES_PER_ROW_ALIGNMENT
}

impl Targets {
    fn new(device: &wgpu::Device, width: u32, height: u32) -> Targets {
        let texture = |label, format, usage| {
            device.create_texture(&wgpu::TextureDescriptor {
                label: Some(label),
                size: wgpu::Extent3d { width, height, depth_or_array_layers: 1 },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format,
                usage,
                view_formats: &[],
            })
        };
        let attachment = wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC;
        let padded_row = padded_row(width);
        let buffer = |label| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: padded_row as u64 * height as u64,
                usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
                mapped_at_creation: false,
            })
        };
        Targets {
            width,
            height,
            color: texture("colour", COLOR_FORMAT, attachment),
            depth_value: texture("depth", DEPTH_VALUE_FORMAT, attachment),
            segment: texture("segment", SEGMENT_FORMAT, attachment),
            z: texture("z", Z_FORMAT, wgpu::TextureUsages::RENDER_ATTACHMENT),
            readback: [buffer("colour readback"), buffer("depth readback"), buffer("segment readback")],
            padded_row,
        }
    }
}

/// Draws one scene's meshes for any number of cameras: the meshes are uploaded once, the
/// targets are kept for the last image size. One per world (or per thread): it is not shared.
pub struct SceneRenderer {
    device: Arc<RenderDevice>,
    meshes: Vec<GpuMesh>,
    targets: Option<Targets>,
}

impl SceneRenderer {
    /// Uploads `meshes`; [`Drawable::mesh`] indexes this list.
    ///
    /// # Errors
    /// [`RenderError::Invalid`] for a mesh whose indices point past its vertices.
    pub fn new(device: Arc<RenderDevice>, meshes: &[MeshData]) -> Result<SceneRenderer, RenderError> {
        let mut gpu = Vec::with_capacity(meshes.len());
        for (index, mesh) in meshes.iter().enumerate() {
            mesh.check().map_err(|e| RenderError::Invalid(format!("mesh {index}: {e}")))?;
            let vertices: Vec<Vertex> =
                mesh.positions.iter().zip(&mesh.normals).map(|(p, n)| Vertex { position: *p, normal: *n }).collect();
            // wgpu refuses empty buffers: an empty mesh gets one degenerate vertex and no index.
            let vertices = if vertices.is_empty() { vec![Vertex { position: [0.0; 3], normal: [0.0, 0.0, 1.0] }] } else { vertices };
            let indices = if mesh.indices.is_empty() { vec![0u32; 3] } else { mesh.indices.clone() };
            gpu.push(GpuMesh {
                vertices: device.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("vertices"),
                    contents: bytemuck::cast_slice(&vertices),
                    usage: wgpu::BufferUsages::VERTEX,
                }),
                indices: device.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("indices"),
                    contents: bytemuck::cast_slice(&indices),
                    usage: wgpu::BufferUsages::INDEX,
                }),
                index_count: mesh.indices.len() as u32,
            });
        }
        Ok(SceneRenderer { device, meshes: gpu, targets: None })
    }

    /// The device this renderer draws with.
    pub fn device(&self) -> &Arc<RenderDevice> {
        &self.device
    }

    /// Renders `drawables` as `camera` sees them under `lighting`, in the order given (which,
    /// with the depth test, makes the image independent of any thread scheduling).
    ///
    /// # Errors
    /// [`RenderError::Invalid`] for an impossible camera or a drawable whose mesh index or
    /// segment id is out of range; [`RenderError::Device`] when the device fails.
    pub fn render(&mut self, drawables: &[Drawable], camera: &CameraView, lighting: &Lighting) -> Result<Frame, RenderError> {
        camera.check()?;
        for drawable in drawables {
            drawable.check(self.meshes.len())?;
        }
        let limits = self.device.device.limits();
        if padded_row(camera.width) as u64 * camera.height as u64 > limits.max_buffer_size {
            return Err(RenderError::Invalid(format!(
                "a camera image of {}×{} pixels; this device reads back at most {} bytes per image plane",
                camera.width, camera.height, limits.max_buffer_size
            )));
        }
        if camera.width > limits.max_texture_dimension_2d || camera.height > limits.max_texture_dimension_2d {
            return Err(RenderError::Invalid(format!(
                "a camera image of {}×{} pixels; this device draws at most {} pixels a side",
                camera.width, camera.height, limits.max_texture_dimension_2d
            )));
        }
        let RenderDevice { device, queue, pipeline, bind_group_layout, .. } = &*self.device;
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let oom = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        if self.targets.as_ref().is_none_or(|t| t.width != camera.width || t.height != camera.height) {
            self.targets = Some(Targets::new(device, camera.width, camera.height));
        }
        let targets = self.targets.as_ref().expect("just made");
        let view = camera.view();
        let light = lighting.direction.normalize_or(Vec3::NEG_Z);
        let uniform = CameraUniform {
            view_projection: (camera.projection() * view).to_cols_array(),
            view: view.to_cols_array(),
            light_direction: [light.x, light.y, light.z, 0.0],
            light_color: [lighting.color[0], lighting.color[1], lighting.color[2], 1.0],
            ambient: [lighting.ambient[0], lighting.ambient[1], lighting.ambient[2], 1.0],
            eye: [camera.translation.x, camera.translation.y, camera.translation.z, 1.0],
        };
        let mut instances: Vec<InstanceUniform> = drawables
            .iter()
            .map(|d| {
                let model = Mat4::from_scale_rotation_translation(d.scale, d.rotation, d.translation);
                let normal = Mat3::from_mat4(model).inverse().transpose();
                let column = |c: Vec3| [c.x, c.y, c.z, 0.0];
                InstanceUniform {
                    model: model.to_cols_array(),
                    normal: [column(normal.x_axis), column(normal.y_axis), column(normal.z_axis)],
                    color: [d.color[0], d.color[1], d.color[2], 1.0],
                    segment: [d.segment, 0, 0, 0],
                }
            })
            .collect();
        if instances.is_empty() {
            // A storage binding may not be empty.
            instances.push(InstanceUniform::zeroed());
        }
        let camera_buffer = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("camera"),
            contents: bytemuck::bytes_of(&uniform),
            usage: wgpu::BufferUsages::UNIFORM,
        });
        let instance_buffer = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("instances"),
            contents: bytemuck::cast_slice(&instances),
            usage: wgpu::BufferUsages::STORAGE,
        });
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("camera and instances"),
            layout: bind_group_layout,
            entries: &[
                wgpu::BindGroupEntry { binding: 0, resource: camera_buffer.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 1, resource: instance_buffer.as_entire_binding() },
            ],
        });
        let views = [&targets.color, &targets.depth_value, &targets.segment].map(|t| t.create_view(&Default::default()));
        let z_view = targets.z.create_view(&Default::default());
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("camera") });
        {
            let bg = lighting.background;
            let clears = [
                wgpu::Color { r: bg[0] as f64, g: bg[1] as f64, b: bg[2] as f64, a: 1.0 },
                wgpu::Color::TRANSPARENT,
                wgpu::Color::TRANSPARENT,
            ];
            let attachments: Vec<Option<wgpu::RenderPassColorAttachment>> = views
                .iter()
                .zip(clears)
                .map(|(view, clear)| {
                    Some(wgpu::RenderPassColorAttachment {
                        view,
                        depth_slice: None,
                        resolve_target: None,
                        ops: wgpu::Operations { load: wgpu::LoadOp::Clear(clear), store: wgpu::StoreOp::Store },
                    })
                })
                .collect();
            let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("camera"),
                color_attachments: &attachments,
                depth_stencil_attachment: Some(wgpu::RenderPassDepthStencilAttachment {
                    view: &z_view,
                    depth_ops: Some(wgpu::Operations { load: wgpu::LoadOp::Clear(1.0), store: wgpu::StoreOp::Discard }),
                    stencil_ops: None,
                }),
                timestamp_writes: None,
                occlusion_query_set: None,
                multiview_mask: None,
            });
            pass.set_pipeline(pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            for (index, drawable) in drawables.iter().enumerate() {
                let mesh = &self.meshes[drawable.mesh];
                if mesh.index_count == 0 {
                    continue;
                }
                pass.set_vertex_buffer(0, mesh.vertices.slice(..));
                pass.set_index_buffer(mesh.indices.slice(..), wgpu::IndexFormat::Uint32);
                pass.draw_indexed(0..mesh.index_count, 0, index as u32..index as u32 + 1);
            }
        }
        for (texture, buffer) in [&targets.color, &targets.depth_value, &targets.segment].into_iter().zip(&targets.readback) {
            encoder.copy_texture_to_buffer(
                texture.as_image_copy(),
                wgpu::TexelCopyBufferInfo {
                    buffer,
                    layout: wgpu::TexelCopyBufferLayout {
                        offset: 0,
                        bytes_per_row: Some(targets.padded_row),
                        rows_per_image: Some(targets.height),
                    },
                },
                wgpu::Extent3d { width: targets.width, height: targets.height, depth_or_array_layers: 1 },
            );
        }
        queue.submit([encoder.finish()]);
        let (mapped, outcomes) = std::sync::mpsc::channel();
        for buffer in &targets.readback {
            let mapped = mapped.clone();
            buffer.map_async(wgpu::MapMode::Read, .., move |result| {
                // The receiver outlives every callback it waits for; a send can only fail after it gave up.
                let _ = mapped.send(result.is_ok());
            });
        }
        // Only the callbacks hold senders now: if wgpu drops one unrun, the wait ends.
        drop(mapped);
        let result = Self::read_back(device, targets, &outcomes);
        for buffer in &targets.readback {
            buffer.unmap();
        }
        // The scopes are popped innermost first; one left unpopped is popped when dropped.
        let device_error = [oom, scope].into_iter().find_map(|scope| pollster::block_on(scope.pop()));
        let result = match device_error {
            Some(error) => Err(RenderError::Device(error.to_string())),
            None => result,
        };
        if result.is_err() {
            // The targets may be what failed (out of memory): the next render makes new ones.
            self.targets = None;
        }
        result
    }

    /// Waits for the copies and for every readback buffer's map callback, then reads the three
    /// planes out of the mapped buffers.
    ///
    /// The device is shared: another thread's `poll` may be the one that finds a mapping done
    /// and runs its callback, after this thread's `poll` has returned. So the callbacks' own
    /// reports are waited for, polling again meanwhile so that progress never depends on
    /// another thread.
    fn read_back(device: &wgpu::Device, targets: &Targets, outcomes: &std::sync::mpsc::Receiver<bool>) -> Result<Frame, RenderError> {
        let poll = |kind| device.poll(kind).map(|_| ()).map_err(|e| RenderError::Device(e.to_string()));
        poll(wgpu::PollType::wait_indefinitely())?;
        let mut mapped = 0;
        for _ in 0..targets.readback.len() {
            let ok = loop {
                match outcomes.recv_timeout(std::time::Duration::from_millis(10)) {
                    Ok(ok) => break ok,
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => poll(wgpu::PollType::Poll)?,
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break false,
                }
            };
            mapped += usize::from(ok);
        }
        if mapped != targets.readback.len() {
            return Err(RenderError::Device("the image could not be read back from the device".into()));
        }
        let (w, h, row) = (targets.width as usize, targets.height as usize, targets.padded_row as usize);
        let mut rgb = Vec::with_capacity(w * h * 3);
        let mut depth = Vec::with_capacity(w * h);
        let mut segmentation = Vec::with_capacity(w * h);
        {
            let read = |buffer: &wgpu::Buffer| buffer.get_mapped_range(..).map_err(|e| RenderError::Device(e.to_string()));
            let (color, depth_bytes, segment_bytes) =
                (read(&targets.readback[0])?, read(&targets.readback[1])?, read(&targets.readback[2])?);
            for v in 0..h {
                let start = v * row;
                for texel in color[start..start + 4 * w].chunks_exact(4) {
                    rgb.extend_from_slice(&texel[..3]);
                }
                segmentation
                    .extend(segment_bytes[start..start + 4 * w].chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])));
                depth.extend(depth_bytes[start..start + 4 * w].chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])));
            }
        }
        // Where nothing was drawn the depth target holds its clear value: REP-117 says +inf.
        for (d, s) in depth.iter_mut().zip(&segmentation) {
            if *s == 0 {
                *d = f32::INFINITY;
            }
        }
        Ok(Frame { width: targets.width, height: targets.height, rgb, depth, segmentation })
    }
}

use bytemuck::Zeroable;
