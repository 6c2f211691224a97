//! The `camera` sensor: the scene's visuals drawn through a [`SceneRenderer`] into the
//! observation's images.

use super::visuals::VisualModel;
use super::{CameraView, Drawable, Lighting, RenderDevice, SceneRenderer};
use crate::error::SimError;
use crate::randomize::EpisodeParameters;
use crate::scenario::config::{CameraConfig, LightingConfig, PoseConfig};
use crate::scene::{pose_from, Scene};
use crate::world::{ImageData, ImageSpec, PixelType};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use rapier3d::glamx::{Quat, Vec3};
use rapier3d::math::Pose;
use std::sync::Arc;

/// The images a camera produces, in order (rgb, depth, segmentation, those asked for):
/// `NAME.rgb` [H, W, 3] u8, `NAME.depth` [H, W, 1] f32 in m, `NAME.segmentation` [H, W, 1] u16
/// with the scene's legend.
pub fn camera_images(name: &str, camera: &CameraConfig, visuals: &VisualModel) -> Vec<ImageSpec> {
    let image = |output: &str, channels: u32, dtype: PixelType, encoding: &str, unit: &str, legend: Vec<String>| ImageSpec {
        name: format!("{name}.{output}"),
        camera: name.to_string(),
        height: camera.height,
        width: camera.width,
        channels,
        dtype,
        encoding: encoding.to_string(),
        unit: unit.to_string(),
        intrinsics: [camera.fx, camera.fy, camera.cx, camera.cy],
        legend,
    };
    let mut images = Vec::new();
    if camera.rgb {
        images.push(image("rgb", 3, PixelType::U8, "rgb8", "", Vec::new()));
    }
    if camera.depth {
        images.push(image("depth", 1, PixelType::F32, "32FC1", "m", Vec::new()));
    }
    if camera.segmentation {
        images.push(image("segmentation", 1, PixelType::U16, "16UC1", "id", visuals.legend.clone()));
    }
    images
}

/// Renders a world's cameras: the renderer (created at the first frame, on the process's
/// shared device) and the scenario's visuals. One per world.
pub struct CameraRig {
    model: Arc<VisualModel>,
    renderer: Option<SceneRenderer>,
    drawables: Vec<Drawable>,
}

impl CameraRig {
    /// A rig for a scenario's visuals; no device is touched until the first frame.
    pub fn new(model: Arc<VisualModel>) -> CameraRig {
        CameraRig { model, renderer: None, drawables: Vec::new() }
    }

    /// Puts every visual of `scene` where its body is now, coloured by the episode's appearance.
    pub fn update(&mut self, scene: &Scene, params: &EpisodeParameters) {
        let scales = params.appearance.as_ref().map(|a| a.color_scales.as_slice()).unwrap_or_default();
        self.drawables.clear();
        for visual in scene.visuals.iter() {
            let Some(body) = scene.rapier.bodies.get(visual.body) else { continue };
            let pose = *body.position() * visual.part.local;
            let mut color = visual.part.color;
            if let Some(scale) = scales.get(visual.segment as usize - 1) {
                for (c, s) in color.iter_mut().zip(scale) {
                    *c = (*c as f64 * s).clamp(0.0, 1.0) as f32;
                }
            }
            self.drawables.push(Drawable {
                mesh: visual.part.mesh,
                translation: pose.translation,
                rotation: pose.rotation,
                scale: visual.part.scale,
                color,
                segment: visual.segment,
            });
        }
    }

    /// Renders camera number `index` (among the scenario's cameras) from the visuals placed by
    /// the last [`CameraRig::update`], writing its images into `out` (its [`camera_images`], in
    /// order). Noise is drawn from a ChaCha8 RNG seeded with the episode seed, the step and
    /// the camera index, so an image is a function of the state alone.
    ///
    /// # Errors
    /// [`SimError::Render`] when no rendering device can be created or the device fails.
    #[allow(clippy::too_many_arguments)]
    pub fn render(
        &mut self,
        camera: &CameraConfig,
        index: usize,
        scene: &Scene,
        params: &EpisodeParameters,
        lighting: &LightingConfig,
        step: u64,
        out: &mut [ImageData],
    ) -> Result<(), SimError> {
        let offset = params.appearance.as_ref().and_then(|a| a.camera_offsets.get(index)).copied().unwrap_or_default();
        let mount = mount_pose(scene, camera, &offset);
        let view = CameraView {
            width: camera.width,
            height: camera.height,
            fx: camera.fx,
            fy: camera.fy,
            cx: camera.cx,
            cy: camera.cy,
            near: camera.near,
            far: camera.far,
            translation: mount.translation,
            rotation: mount.rotation,
        };
        let lighting = episode_lighting(lighting, params);
        let renderer = match &mut self.renderer {
            Some(renderer) => renderer,
            empty => empty.insert(SceneRenderer::new(RenderDevice::shared()?, &self.model.meshes)?),
        };
        let frame = renderer.render(&self.drawables, &view, &lighting)?;
        let mut rng = ChaCha8Rng::seed_from_u64(crate::seed::fnv1a(&[
            b"camera-noise",
            &params.seed.to_le_bytes(),
            &step.to_le_bytes(),
            &(index as u64).to_le_bytes(),
        ]));
        let mut slot = out.iter_mut();
        if camera.rgb {
            let mut rgb = frame.rgb;
            if camera.rgb_noise > 0.0 {
                for v in rgb.iter_mut() {
                    let z: f64 = StandardNormal.sample(&mut rng);
                    *v = (*v as f64 + z * camera.rgb_noise).round().clamp(0.0, 255.0) as u8;
                }
            }
            if let Some(s) = slot.next() {
                *s = ImageData::U8(rgb);
            }
        }
        if camera.depth {
            let mut depth = frame.depth;
            if camera.depth_noise > 0.0 {
                for v in depth.iter_mut().filter(|v| v.is_finite()) {
                    let z: f64 = StandardNormal.sample(&mut rng);
                    *v = (*v as f64 + z * camera.depth_noise).clamp(camera.near, camera.far) as f32;
                }
            }
            if let Some(s) = slot.next() {
                *s = ImageData::F32(depth);
            }
        }
        if camera.segmentation {
            // Segment ids fit u16: the legend has at most 65 535 entries (VisualModel::build).
            let ids = frame.segmentation.iter().map(|v| (*v).min(u16::MAX as u32) as u16).collect();
            if let Some(s) = slot.next() {
                *s = ImageData::U16(ids);
            }
        }
        Ok(())
    }
}

/// World pose of a camera's frame: its link's pose (or the world's) × its mount × the
/// episode's mount offset.
pub fn mount_pose(scene: &Scene, camera: &CameraConfig, offset: &PoseConfig) -> Pose {
    let link = match &camera.link {
        Some(link) => crate::sensors::link_pose(scene, link),
        None => Pose::IDENTITY,
    };
    link * pose_from(camera.mount.position, camera.mount.rpy) * pose_from(offset.position, offset.rpy)
}

/// The scenario's lighting with the episode's intensity and azimuth.
fn episode_lighting(config: &LightingConfig, params: &EpisodeParameters) -> Lighting {
    let (intensity, azimuth) = params.appearance.as_ref().map_or((1.0, 0.0), |a| (a.light_intensity, a.light_azimuth));
    let rgb = |c: [f64; 3]| c.map(|v| (v * intensity).clamp(0.0, 1.0) as f32);
    let d = config.direction;
    Lighting {
        direction: Quat::from_rotation_z(azimuth as f32) * Vec3::new(d[0] as f32, d[1] as f32, d[2] as f32),
        color: rgb(config.color),
        ambient: rgb(config.ambient),
        background: config.background.map(|v| v as f32),
    }
}
