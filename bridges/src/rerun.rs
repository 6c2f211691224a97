//! Logging a world to Rerun: the robot's URDF visuals moved by their link poses, lidar
//! points, depth images, cameras (pinholes with their RGB, depth and segmentation images), the goal, and actions and rewards as scalars, on the timelines
//! `step` and `sim_time`.

use crate::ros2::transforms::{self, Transform};
use dreamrig_sim::robot::urdf_rs;
use dreamrig_sim::scenario::config::{ScenarioConfig, SensorKind};
use dreamrig_sim::{ImageData, LinkPose, Observation};
use std::path::{Path, PathBuf};

/// Why a Rerun recording could not be opened, logged to or finished.
#[derive(Debug, thiserror::Error)]
pub enum RerunError {
    /// The Rerun SDK refused: a bad application id, a failed connection or viewer spawn, or a log call.
    #[error("rerun: {0}")]
    Stream(String),
    /// An `.rrd` file could not be created or moved into place, or its folder does not exist.
    #[error("{path}: {reason}")]
    Io {
        /// The `.rrd` path.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
}

fn stream_error(e: impl std::fmt::Display) -> RerunError {
    RerunError::Stream(e.to_string())
}

/// Where the log goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RerunSink {
    /// An `.rrd` file, written atomically when the logger finishes.
    File(PathBuf),
    /// A running viewer's gRPC address, such as `rerun+http://127.0.0.1:9876/proxy`.
    Connect(String),
    /// Start a `rerun` viewer from PATH and stream to it.
    Spawn,
}

#[derive(Clone)]
struct LidarView {
    prefix: String,
    link: String,
    mount: Transform,
    directions: Vec<[f32; 3]>,
}

#[derive(Clone)]
struct DepthView {
    prefix: String,
    width: u32,
    height: u32,
}

/// A `camera` sensor: the entity its pinhole is logged at, and its images.
#[derive(Clone)]
struct CameraView {
    entity: String,
    images: Vec<dreamrig_sim::ImageSpec>,
}

/// One Rerun recording (a file, or a stream to a viewer) that loggers write into.
pub struct RerunRecording {
    stream: rerun::RecordingStream,
    /// (temporary, final) paths of a file sink.
    file: Option<(PathBuf, PathBuf)>,
}

impl RerunRecording {
    /// `name` becomes the application id (scenario or evaluation name).
    ///
    /// It is `dreamrig_` and `name` with anything but ASCII alphanumerics, `_` and `-` replaced by `_`
    /// (at most 160 characters of it); the 3D scene is `world`, right-handed, Z up. A file sink
    /// writes to `path` with the extension `rrd.tmp` until [`finish`](Self::finish).
    ///
    /// # Errors
    /// [`RerunError::Io`] if the file cannot be created; [`RerunError::Stream`] if the connection,
    /// the viewer spawn or the first log fails.
    pub fn new(sink: &RerunSink, name: &str) -> Result<Self, RerunError> {
        let application = rerun::ApplicationId::try_from(application_id(name)).map_err(stream_error)?;
        let builder = rerun::RecordingStreamBuilder::new(application);
        let mut file = None;
        let stream = match sink {
            RerunSink::File(path) => {
                let temporary = path.with_extension("rrd.tmp");
                file = Some((temporary.clone(), path.clone()));
                builder.save(&temporary).map_err(|e| RerunError::Io { path: path.clone(), reason: e.to_string() })?
            }
            RerunSink::Connect(address) => builder.connect_grpc_opts(address.clone()).map_err(stream_error)?,
            RerunSink::Spawn => builder.spawn().map_err(stream_error)?,
        };
        stream.log_static("world", &rerun::ViewCoordinates::RIGHT_HAND_Z_UP()).map_err(stream_error)?;
        Ok(Self { stream, file })
    }

    /// Another handle on the same recording, for loggers on other threads; only the
    /// original's `finish` moves the file into place.
    pub fn share(&self) -> RerunRecording {
        Self { stream: self.stream.clone(), file: None }
    }

    /// Flushes everything logged; a file appears under its name only now.
    ///
    /// # Errors
    /// [`RerunError::Stream`] if the flush fails; [`RerunError::Io`] if the file cannot be moved.
    pub fn finish(self) -> Result<(), RerunError> {
        self.stream.flush_blocking().map_err(stream_error)?;
        let Self { stream, file } = self;
        drop(stream);
        if let Some((temporary, path)) = file {
            dreamrig_sim::atomic::commit(&temporary, &path).map_err(|e| RerunError::Io { path: path.clone(), reason: e.to_string() })?;
        }
        Ok(())
    }
}

/// Logs one scenario's world into a recording.
pub struct RerunLogger {
    stream: rerun::RecordingStream,
    /// Entity path of the 3D scene (`world`, or `<episode>/world` in an evaluation).
    root: String,
    /// Prefix of the plots and images (empty, or `<episode>/`).
    plots: String,
    action_names: Vec<String>,
    lidars: Vec<LidarView>,
    depth: Vec<DepthView>,
    cameras: Vec<CameraView>,
}

fn rerun_color(material: &Option<urdf_rs::Material>) -> rerun::Color {
    match material.as_ref().and_then(|m| m.color.as_ref()) {
        Some(c) => {
            let [r, g, b, a] = c.rgba.0.map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8);
            rerun::Color::from_unmultiplied_rgba(r, g, b, a)
        }
        None => rerun::Color::from_rgb(160, 160, 170),
    }
}

fn rerun_transform(t: &Transform) -> rerun::Transform3D {
    let rotation = transforms::rotation_xyzw(t).map(|v| v as f32);
    rerun::Transform3D::from_translation_rotation(transforms::translation(t).map(|v| v as f32), rerun::Quaternion::from_xyzw(rotation))
}

/// An application id Rerun accepts: ASCII alphanumerics, `_`, `-` and spaces.
fn application_id(name: &str) -> String {
    let id: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect();
    format!("dreamrig_{}", &id[..id.len().min(160)])
}

impl RerunLogger {
    /// A logger for `config`'s world; `episode` puts everything under that entity path (one
    /// per episode when an evaluation logs many). Logs the robot's visuals at once.
    ///
    /// # Errors
    /// [`RerunError::Stream`] if logging the visuals fails (a mesh that cannot be read is skipped).
    pub fn new(
        recording: &RerunRecording,
        config: &ScenarioConfig,
        action_names: &[String],
        episode: Option<&str>,
    ) -> Result<Self, RerunError> {
        let mut lidars = Vec::new();
        let mut depth = Vec::new();
        for sensor in &config.sensors {
            match &sensor.kind {
                SensorKind::Lidar(l) => lidars.push(LidarView {
                    prefix: sensor.name.clone(),
                    link: l.link.clone(),
                    mount: transforms::from_xyz_rpy(l.mount.position, l.mount.rpy),
                    directions: dreamrig_sim::sensors::lidar_directions(l).iter().map(|d| [d.x, d.y, d.z]).collect(),
                }),
                SensorKind::DepthCamera(d) => depth.push(DepthView { prefix: sensor.name.clone(), width: d.width, height: d.height }),
                _ => {}
            }
        }
        let (root, plots) = match episode {
            Some(path) => (format!("{path}/world"), format!("{path}/")),
            None => ("world".to_string(), String::new()),
        };
        let mut logger =
            Self { stream: recording.stream.clone(), root, plots, action_names: action_names.to_vec(), lidars, depth, cameras: Vec::new() };
        logger.log_robot_visuals(config)?;
        logger.log_cameras(config)?;
        Ok(logger)
    }

    /// Each `camera` as a Rerun pinhole (static): under its link's entity, so that it moves
    /// with the link, or under the world for a fixed camera, with its mount as the entity's
    /// transform. Intrinsics are OpenCV's (pixel centres at integers), Rerun's principal point
    /// counts from the pixel corner: cx + ½, cy + ½. The camera frame is REP-103's (x forward,
    /// y left, z up: Rerun's `FLU`). Segment ids get the scene's legend as class labels. The
    /// mount is the scenario's: an episode's randomized mount offset
    /// (`randomize.appearance.camera_position`/`camera_rotation_deg`) is not shown.
    fn log_cameras(&mut self, config: &ScenarioConfig) -> Result<(), RerunError> {
        let Some(visuals) = &config.visuals else { return Ok(()) };
        for sensor in &config.sensors {
            let SensorKind::Camera(camera) = &sensor.kind else { continue };
            let entity = match &camera.link {
                Some(link) => format!("{}/robot/{link}/{}", self.root, sensor.name),
                None => format!("{}/{}", self.root, sensor.name),
            };
            let mount = transforms::from_xyz_rpy(camera.mount.position, camera.mount.rpy);
            self.stream.log_static(entity.as_str(), &rerun_transform(&mount)).map_err(stream_error)?;
            let pinhole = rerun::Pinhole::from_focal_length_and_resolution(
                [camera.fx as f32, camera.fy as f32],
                [camera.width as f32, camera.height as f32],
            )
            .with_principal_point([camera.cx as f32 + 0.5, camera.cy as f32 + 0.5])
            .with_camera_xyz(rerun::components::ViewCoordinates::FLU);
            self.stream.log_static(entity.as_str(), &pinhole).map_err(stream_error)?;
            if camera.segmentation {
                let classes: Vec<(u16, &str)> =
                    visuals.legend.iter().enumerate().map(|(i, name)| ((i + 1).min(u16::MAX as usize) as u16, name.as_str())).collect();
                self.stream.log_static(entity.as_str(), &rerun::AnnotationContext::new(classes)).map_err(stream_error)?;
            }
            let images = dreamrig_sim::render::camera_images(&sensor.name, camera, visuals);
            self.cameras.push(CameraView { entity, images });
        }
        Ok(())
    }

    /// The URDF's visual shapes, each under its link's entity, so that logging a link's pose
    /// moves them.
    fn log_robot_visuals(&self, config: &ScenarioConfig) -> Result<(), RerunError> {
        let model = &config.robot.model;
        for link in &model.urdf.links {
            for (i, visual) in link.visual.iter().enumerate() {
                let path = format!("{}/robot/{}/visual_{i}", self.root, link.name);
                let origin = transforms::from_xyz_rpy(visual.origin.xyz.0, visual.origin.rpy.0);
                let color = rerun_color(&visual.material);
                let mut scale = None;
                let logged = match &visual.geometry {
                    urdf_rs::Geometry::Box { size } => {
                        let half = size.0.map(|v| (v / 2.0) as f32);
                        self.stream.log_static(path.as_str(), &rerun::Boxes3D::from_half_sizes([half]).with_colors([color]))
                    }
                    urdf_rs::Geometry::Cylinder { radius, length } => self.stream.log_static(
                        path.as_str(),
                        &rerun::Cylinders3D::from_lengths_and_radii([*length as f32], [*radius as f32]).with_colors([color]),
                    ),
                    urdf_rs::Geometry::Capsule { radius, length } => self.stream.log_static(
                        path.as_str(),
                        &rerun::Capsules3D::from_lengths_and_radii([*length as f32], [*radius as f32])
                            .with_translations([[0.0, 0.0, -(*length as f32) / 2.0]])
                            .with_colors([color]),
                    ),
                    urdf_rs::Geometry::Sphere { radius } => {
                        self.stream.log_static(path.as_str(), &rerun::Ellipsoids3D::from_radii([*radius as f32]).with_colors([color]))
                    }
                    urdf_rs::Geometry::Mesh { filename, scale: mesh_scale } => {
                        scale = mesh_scale.as_ref().map(|s| s.0);
                        // The model resolved every mesh URI when it was checked (package://, file://).
                        let Some(file) = model.mesh_files.get(filename) else { continue };
                        let is_dae = file.extension().is_some_and(|e| e.eq_ignore_ascii_case("dae"));
                        if is_dae {
                            // Rerun's Asset3D reads glTF, GLB, OBJ and STL, not COLLADA: send the triangles.
                            match dreamrig_sim::mesh::load(file) {
                                Ok(mesh) => {
                                    let vertex_count = mesh.vertices.len();
                                    self.stream.log_static(
                                        path.as_str(),
                                        &rerun::Mesh3D::new(mesh.vertices)
                                            .with_triangle_indices(mesh.triangles.into_iter().map(rerun::datatypes::UVec3D::from))
                                            .with_vertex_colors(std::iter::repeat_n(color, vertex_count)),
                                    )
                                }
                                Err(e) => {
                                    tracing::warn!("rerun: mesh {} of link {} not logged: {e}", file.display(), link.name);
                                    Ok(())
                                }
                            }
                        } else {
                            match rerun::Asset3D::from_file_path(file) {
                                Ok(asset) => self.stream.log_static(path.as_str(), &asset),
                                Err(e) => {
                                    tracing::warn!("rerun: mesh {} of link {} not logged: {e}", file.display(), link.name);
                                    Ok(())
                                }
                            }
                        }
                    }
                };
                logged.map_err(stream_error)?;
                let mut transform = rerun_transform(&origin);
                if let Some([x, y, z]) = scale {
                    // URDF <mesh scale>, per axis in the mesh's own frame.
                    transform = transform.with_scale([x as f32, y as f32, z as f32]);
                }
                self.stream.log_static(path.as_str(), &transform).map_err(stream_error)?;
            }
        }
        Ok(())
    }

    /// Marks the start of an episode: its goal as a point.
    ///
    /// `goal` is a position in the world frame, m.
    ///
    /// # Errors
    /// [`RerunError::Stream`] if the log fails.
    pub fn start_episode(&self, goal: Option<[f64; 3]>) -> Result<(), RerunError> {
        if let Some(goal) = goal {
            let points =
                rerun::Points3D::new([goal.map(|v| v as f32)]).with_radii([0.05]).with_colors([rerun::Color::from_rgb(40, 200, 80)]);
            self.stream.log(format!("{}/goal", self.root), &points).map_err(stream_error)?;
        }
        Ok(())
    }

    fn set_time(&self, step: u64, time_s: f64) {
        self.stream.set_time_sequence("step", step as i64);
        self.stream.set_duration_secs("sim_time", time_s);
    }

    /// The robot's links, and what the lidars and depth cameras see, at one step.
    ///
    /// `time_s` is simulated seconds (the `sim_time` timeline); `poses` place the links in the world
    /// frame. Lidar hits are logged as world-frame points, depth images in metres.
    ///
    /// # Errors
    /// [`RerunError::Stream`] if a log fails.
    pub fn log_step(&self, step: u64, time_s: f64, observation: &Observation, poses: &[LinkPose]) -> Result<(), RerunError> {
        self.set_time(step, time_s);
        for pose in poses {
            let t = transforms::from_parts(pose.translation, pose.rotation_xyzw);
            self.stream.log(format!("{}/robot/{}", self.root, pose.link), &rerun_transform(&t)).map_err(stream_error)?;
        }
        for lidar in &self.lidars {
            let (Some(ranges), Some(link)) =
                (observation.get(&format!("{}.ranges", lidar.prefix)), poses.iter().find(|p| p.link == lidar.link))
            else {
                continue;
            };
            let sensor = transforms::from_parts(link.translation, link.rotation_xyzw) * lidar.mount;
            let points: Vec<[f32; 3]> = ranges
                .iter()
                .zip(&lidar.directions)
                .map(|(r, d)| {
                    let hit = sensor * nalgebra::Point3::from(d.map(|v| v as f64 * *r as f64));
                    [hit.x as f32, hit.y as f32, hit.z as f32]
                })
                .collect();
            self.stream
                .log(format!("{}/{}", self.root, lidar.prefix), &rerun::Points3D::new(points).with_radii([0.02]))
                .map_err(stream_error)?;
        }
        for camera in &self.depth {
            let Some(depth) = observation.get(&format!("{}.depth", camera.prefix)) else { continue };
            let bytes: Vec<u8> = depth.iter().flat_map(|v| v.to_le_bytes()).collect();
            let image = rerun::DepthImage::from_data_type_and_bytes(bytes, [camera.width, camera.height], rerun::ChannelDatatype::F32)
                .with_meter(1.0);
            self.stream.log(format!("{}cameras/{}", self.plots, camera.prefix), &image).map_err(stream_error)?;
        }
        for camera in &self.cameras {
            for spec in &camera.images {
                let Some(data) = observation.image(&spec.name) else { continue };
                let output = spec.name.rsplit('.').next().unwrap_or("image");
                let path = format!("{}/{output}", camera.entity);
                let size = [spec.width, spec.height];
                let bytes = data.as_bytes().to_vec();
                let logged = match data {
                    ImageData::U8(_) => self.stream.log(path, &rerun::Image::from_rgb24(bytes, size)),
                    ImageData::F32(_) => self
                        .stream
                        .log(path, &rerun::DepthImage::from_data_type_and_bytes(bytes, size, rerun::ChannelDatatype::F32).with_meter(1.0)),
                    ImageData::U16(_) => self.stream.log(
                        path,
                        &rerun::SegmentationImage::new(
                            bytes,
                            rerun::components::ImageFormat::segmentation(size, rerun::ChannelDatatype::U16),
                        ),
                    ),
                };
                logged.map_err(stream_error)?;
            }
        }
        Ok(())
    }

    /// The action applied at `step` and the reward it earned.
    ///
    /// Logged as scalars `actions/<name>` (one per action name) and `reward`, under the episode's
    /// prefix if any, on the `step` timeline.
    ///
    /// # Errors
    /// [`RerunError::Stream`] if a log fails.
    pub fn log_action(&self, step: u64, action: &[f64], reward: f64) -> Result<(), RerunError> {
        self.stream.set_time_sequence("step", step as i64);
        for (name, value) in self.action_names.iter().zip(action) {
            self.stream.log(format!("{}actions/{name}", self.plots), &rerun::Scalars::single(*value)).map_err(stream_error)?;
        }
        self.stream.log(format!("{}reward", self.plots), &rerun::Scalars::single(reward)).map_err(stream_error)
    }
}

impl RerunLogger {
    /// Named scalars at `step` (e.g. `replay/error`), each its own time series on the `step`
    /// timeline.
    ///
    /// # Errors
    /// [`RerunError::Stream`] if a log fails.
    pub fn log_scalars(&self, step: u64, scalars: &[(String, f64)]) -> Result<(), RerunError> {
        self.stream.set_time_sequence("step", step as i64);
        for (name, value) in scalars {
            self.stream.log(name.as_str(), &rerun::Scalars::single(*value)).map_err(stream_error)?;
        }
        Ok(())
    }
}

/// Checks that an `.rrd` destination can be written before any work starts.
///
/// # Errors
/// [`RerunError::Io`] if the folder of `path` does not exist.
pub fn check_destination(path: &Path) -> Result<(), RerunError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.is_dir() => {
            Err(RerunError::Io { path: path.to_path_buf(), reason: format!("directory {} does not exist", dir.display()) })
        }
        _ => Ok(()),
    }
}
