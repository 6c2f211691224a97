//! Sensors section: joint state, IMU, odometry, contact, lidar, depth camera, link pose and camera.

use super::*;

/// A validated sensor: its field-name prefix, update period in control steps, and what it measures.
#[derive(Debug, Clone)]
pub struct SensorConfig {
    /// Prefix of the observation fields this sensor produces.
    pub name: String,
    /// The sensor updates every `period_steps` control steps and holds its reading between.
    pub period_steps: u32,
    /// What the sensor measures, and its settings.
    pub kind: SensorKind,
}

/// What a sensor measures: joints are indices into the robot's movable joints, links are URDF
/// link names, noises are Gaussian standard deviations in the reading's units.
#[derive(Debug, Clone)]
pub enum SensorKind {
    /// `joint_state`: position, velocity and effort of joints.
    JointState {
        /// Indices of the reported joints in the robot's movable joints (`joints`; default all, in URDF order).
        joints: Vec<usize>,
        /// Standard deviation of the position noise, rad or m (`position_noise`, default 0).
        position_noise: f64,
        /// Standard deviation of the velocity noise, rad/s or m/s (`velocity_noise`, default 0).
        velocity_noise: f64,
    },
    /// `imu`: specific force, angular velocity (both in the link frame) and orientation of a link.
    Imu {
        /// Robot link the IMU is attached to (URDF link name).
        link: String,
        /// Standard deviation of the accelerometer noise, m/s² (`acceleration_noise`, default 0).
        acceleration_noise: f64,
        /// Standard deviation of the gyroscope noise, rad/s (`angular_velocity_noise`, default 0).
        angular_velocity_noise: f64,
    },
    /// `odometry`: world-frame pose and link-frame velocities of a link.
    Odometry {
        /// Robot link whose motion is reported (URDF link name).
        link: String,
        /// Standard deviation of the position noise, m (`position_noise`, default 0).
        position_noise: f64,
        /// Standard deviation of the linear (m/s) and angular (rad/s) velocity noise (`velocity_noise`, default 0).
        velocity_noise: f64,
    },
    /// `contact`: whether each link touches something, and the total contact force on it.
    Contact {
        /// Robot links reported, one value each (URDF link names; `links`, non-empty).
        links: Vec<String>,
    },
    /// `lidar`: a 2D or 3D range scan from a mount on a link.
    Lidar(LidarConfig),
    /// `depth_camera`: a pinhole depth image from a mount on a link.
    DepthCamera(DepthCameraConfig),
    /// `link_pose`: noiseless world-frame position and orientation of a link.
    LinkPose {
        /// Robot link whose pose is reported (URDF link name).
        link: String,
    },
    /// `camera`: rendered colour, depth and segmentation images.
    Camera(CameraConfig),
}

/// Validated camera: mount (on a link, or in the world frame), image size, pinhole intrinsics
/// in pixels (OpenCV/ROS convention), clipping distances in m, outputs and noise.
#[derive(Debug, Clone)]
pub struct CameraConfig {
    /// Robot link the camera is mounted on (URDF link name); `None`: fixed in the world frame.
    pub link: Option<String>,
    /// Mount pose relative to the link or the world (`position` in m, `rpy` in rad); x is the optical axis.
    pub mount: PoseConfig,
    /// Image width in pixels (`width`, 1 to 4096).
    pub width: u32,
    /// Image height in pixels (`height`, 1 to 4096).
    pub height: u32,
    /// Focal lengths and principal point in pixels (`intrinsics`, or derived from `vertical_fov_deg`).
    pub fx: f64,
    /// Vertical focal length, pixels.
    pub fy: f64,
    /// Principal point column, pixels.
    pub cx: f64,
    /// Principal point row, pixels.
    pub cy: f64,
    /// Near clipping distance in m (`near`, default 0.01).
    pub near: f64,
    /// Far clipping distance in m (`far`, default 100).
    pub far: f64,
    /// Produce `NAME.rgb`.
    pub rgb: bool,
    /// Produce `NAME.depth`.
    pub depth: bool,
    /// Produce `NAME.segmentation`.
    pub segmentation: bool,
    /// Standard deviation of the colour noise, 0–255 units (`rgb_noise`, default 0).
    pub rgb_noise: f64,
    /// Standard deviation of the depth noise, m (`depth_noise`, default 0).
    pub depth_noise: f64,
}

/// The outputs a camera can produce, in the order its images are listed.
pub const CAMERA_OUTPUTS: [&str; 3] = ["rgb", "depth", "segmentation"];

/// Validated lidar: mount pose relative to `link` (m, rad), `rays` per channel, `fov` and
/// `vertical_fov` in rad (given in degrees), ranges and noise standard deviation in m.
#[derive(Debug, Clone)]
pub struct LidarConfig {
    /// Robot link the lidar is mounted on (URDF link name).
    pub link: String,
    /// Mount pose relative to the link (`position` in m, `rpy` in rad).
    pub mount: PoseConfig,
    /// Rays per channel (`rays`), 1 to 100 000.
    pub rays: u32,
    /// Number of scan lines (`channels`, default 1: a 2D lidar).
    pub channels: u32,
    /// Horizontal field of view in rad (`fov_deg`, above 0 and at most 360°).
    pub fov: f64,
    /// Vertical field of view in rad (`vertical_fov_deg`, 0 to 180°, default 0), spanned by the channels.
    pub vertical_fov: f64,
    /// Nearest range in m (`range_min`, default 0); closer hits are ignored.
    pub range_min: f64,
    /// Farthest range in m (`range_max`); reported where nothing is hit.
    pub range_max: f64,
    /// Standard deviation of the range noise in m (`noise`, default 0).
    pub noise: f64,
}

/// Validated depth camera: mount pose relative to `link` (m, rad), `width` × `height` pixels,
/// horizontal `fov` in rad (given in degrees), ranges and noise standard deviation in m.
#[derive(Debug, Clone)]
pub struct DepthCameraConfig {
    /// Robot link the camera is mounted on (URDF link name).
    pub link: String,
    /// Mount pose relative to the link (`position` in m, `rpy` in rad); the optical axis is the mount's x axis.
    pub mount: PoseConfig,
    /// Image width in pixels (`width`, 1 to 4096).
    pub width: u32,
    /// Image height in pixels (`height`, 1 to 4096).
    pub height: u32,
    /// Horizontal field of view in rad (`fov_deg`, above 0 and at most 179°).
    pub fov: f64,
    /// Nearest depth in m (`range_min`, default 0); closer hits are ignored.
    pub range_min: f64,
    /// Farthest depth in m (`range_max`); reported where nothing is hit.
    pub range_max: f64,
    /// Standard deviation of the depth noise in m (`noise`, default 0).
    pub noise: f64,
}

/// Each sensor kind's key and whether the entry sets it (exactly one must be set).
pub(super) fn sensor_kinds(spec: &SensorSpec) -> [(&'static str, bool); 8] {
    [
        ("joint_state", spec.joint_state.is_some()),
        ("imu", spec.imu.is_some()),
        ("odometry", spec.odometry.is_some()),
        ("contact", spec.contact.is_some()),
        ("lidar", spec.lidar.is_some()),
        ("depth_camera", spec.depth_camera.is_some()),
        ("link_pose", spec.link_pose.is_some()),
        ("camera", spec.camera.is_some()),
    ]
}

pub(super) fn sensor_config(
    c: &mut Checker,
    i: usize,
    spec: &SensorSpec,
    model: &RobotModel,
    timing: &TimingConfig,
) -> Option<SensorConfig> {
    let key = format!("sensors[{i}]");
    let which = c.one_of(&key, "a sensor", &sensor_kinds(spec))?;
    let k = format!("{key}.{which}");
    let noise = |c: &mut Checker, field: &str, v: Option<f64>| c.non_negative(&format!("{k}.{field}"), v.unwrap_or(0.0), 1e6);
    let (name, rate_hz, kind) = match which {
        "joint_state" => {
            let s = spec.joint_state.as_ref()?;
            let joints = match &s.joints {
                Some(names) => {
                    names.iter().enumerate().filter_map(|(j, n)| joint_index(c, &format!("{k}.joints[{j}]"), model, n)).collect()
                }
                None => (0..model.joints.len()).collect(),
            };
            (
                s.name.clone(),
                s.rate_hz,
                SensorKind::JointState {
                    joints,
                    position_noise: noise(c, "position_noise", s.position_noise),
                    velocity_noise: noise(c, "velocity_noise", s.velocity_noise),
                },
            )
        }
        "imu" => {
            let s = spec.imu.as_ref()?;
            check_link(c, &format!("{k}.link"), model, &s.link);
            (
                s.name.clone(),
                s.rate_hz,
                SensorKind::Imu {
                    link: s.link.clone(),
                    acceleration_noise: noise(c, "acceleration_noise", s.acceleration_noise),
                    angular_velocity_noise: noise(c, "angular_velocity_noise", s.angular_velocity_noise),
                },
            )
        }
        "odometry" => {
            let s = spec.odometry.as_ref()?;
            check_link(c, &format!("{k}.link"), model, &s.link);
            (
                s.name.clone(),
                s.rate_hz,
                SensorKind::Odometry {
                    link: s.link.clone(),
                    position_noise: noise(c, "position_noise", s.position_noise),
                    velocity_noise: noise(c, "velocity_noise", s.velocity_noise),
                },
            )
        }
        "contact" => {
            let s = spec.contact.as_ref()?;
            if s.links.is_empty() {
                c.invalid(&format!("{k}.links"), "a non-empty list of link names", "an empty list");
            }
            for (j, link) in s.links.iter().enumerate() {
                check_link(c, &format!("{k}.links[{j}]"), model, link);
            }
            (s.name.clone(), s.rate_hz, SensorKind::Contact { links: s.links.clone() })
        }
        "lidar" => {
            let s = spec.lidar.as_ref()?;
            check_link(c, &format!("{k}.link"), model, &s.link);
            let rays = c.count(&format!("{k}.rays"), s.rays, 1, MAX_RAYS);
            let channels = c.count(&format!("{k}.channels"), s.channels.unwrap_or(1), 1, MAX_CHANNELS);
            if rays as u64 * channels as u64 > MAX_RAYS as u64 * 16 {
                c.invalid(
                    &format!("{k}.channels"),
                    format!("at most {} rays in total (rays × channels)", MAX_RAYS * 16),
                    rays as u64 * channels as u64,
                );
            }
            let fov = c.number(&format!("{k}.fov_deg"), s.fov_deg, 1e-3, 360.0, "an angle in degrees above 0 and at most 360").to_radians();
            let vertical_fov = c
                .number(
                    &format!("{k}.vertical_fov_deg"),
                    s.vertical_fov_deg.unwrap_or(0.0),
                    0.0,
                    180.0,
                    "an angle in degrees from 0 to 180",
                )
                .to_radians();
            let range_min = c.non_negative(&format!("{k}.range_min"), s.range_min.unwrap_or(0.0), MAX_LENGTH_M);
            let range_max = c.positive(&format!("{k}.range_max"), s.range_max, MAX_LENGTH_M);
            if range_min >= range_max {
                c.invalid(&format!("{k}.range_min"), format!("less than range_max ({range_max})"), range_min);
            }
            let mount = c.pose(&k, s.position.as_ref(), s.rpy.as_ref());
            (
                s.name.clone(),
                s.rate_hz,
                SensorKind::Lidar(LidarConfig {
                    link: s.link.clone(),
                    mount,
                    rays,
                    channels,
                    fov,
                    vertical_fov,
                    range_min,
                    range_max,
                    noise: noise(c, "noise", s.noise),
                }),
            )
        }
        "depth_camera" => {
            let s = spec.depth_camera.as_ref()?;
            check_link(c, &format!("{k}.link"), model, &s.link);
            let width = c.count(&format!("{k}.width"), s.width, 1, MAX_IMAGE_SIDE);
            let height = c.count(&format!("{k}.height"), s.height, 1, MAX_IMAGE_SIDE);
            let fov = c.number(&format!("{k}.fov_deg"), s.fov_deg, 1e-3, 179.0, "an angle in degrees above 0 and below 180").to_radians();
            let range_min = c.non_negative(&format!("{k}.range_min"), s.range_min.unwrap_or(0.0), MAX_LENGTH_M);
            let range_max = c.positive(&format!("{k}.range_max"), s.range_max, MAX_LENGTH_M);
            if range_min >= range_max {
                c.invalid(&format!("{k}.range_min"), format!("less than range_max ({range_max})"), range_min);
            }
            let mount = c.pose(&k, s.position.as_ref(), s.rpy.as_ref());
            (
                s.name.clone(),
                s.rate_hz,
                SensorKind::DepthCamera(DepthCameraConfig {
                    link: s.link.clone(),
                    mount,
                    width,
                    height,
                    fov,
                    range_min,
                    range_max,
                    noise: noise(c, "noise", s.noise),
                }),
            )
        }
        "camera" => {
            let s = spec.camera.as_ref()?;
            // The name is the camera's ROS 2 namespace (/NAME/image_raw, NAME_optical_frame).
            if let Some(name) = &s.name {
                let token = name.chars().next().is_some_and(|first| first.is_ascii_alphabetic())
                    && name.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
                if !token {
                    c.invalid(
                        &format!("{k}.name"),
                        "a letter, then letters, digits or underscores (it names the camera's ROS 2 topics)",
                        format!("{name:?}"),
                    );
                }
            }
            (s.name.clone(), s.rate_hz, SensorKind::Camera(camera_config(c, &k, s, model)))
        }
        _ => {
            let s = spec.link_pose.as_ref()?;
            check_link(c, &format!("{k}.link"), model, &s.link);
            (s.name.clone(), None, SensorKind::LinkPose { link: s.link.clone() })
        }
    };
    let period_steps = c.rate(&format!("{k}.rate_hz"), rate_hz, timing);
    Some(SensorConfig { name: name.unwrap_or_else(|| which.to_string()), period_steps, kind })
}

fn camera_config(c: &mut Checker, k: &str, s: &CameraSpec, model: &RobotModel) -> CameraConfig {
    if let Some(link) = &s.link {
        check_link(c, &format!("{k}.link"), model, link);
    }
    let width = c.count(&format!("{k}.width"), s.width, 1, MAX_IMAGE_SIDE);
    let height = c.count(&format!("{k}.height"), s.height, 1, MAX_IMAGE_SIDE);
    let (w, h) = (width as f64, height as f64);
    let (fx, fy, cx, cy) = match (s.vertical_fov_deg, &s.intrinsics) {
        (Some(fov), None) => {
            let fov =
                c.number(&format!("{k}.vertical_fov_deg"), fov, 1e-3, 179.999, "an angle in degrees above 0 and below 180").to_radians();
            let f = h / 2.0 / (fov / 2.0).tan();
            (f, f, (w - 1.0) / 2.0, (h - 1.0) / 2.0)
        }
        (None, Some(i)) => {
            let key = format!("{k}.intrinsics");
            let focal = |c: &mut Checker, name: &str, v: f64| c.positive(&format!("{key}.{name}"), v, 1e6);
            let fx = focal(c, "fx", i.fx);
            let fy = focal(c, "fy", i.fy);
            let cx = c.number(&format!("{key}.cx"), i.cx, -w, 2.0 * w, "a principal point column within a width of the image (pixels)");
            let cy = c.number(&format!("{key}.cy"), i.cy, -h, 2.0 * h, "a principal point row within a height of the image (pixels)");
            (fx, fy, cx, cy)
        }
        (Some(_), Some(_)) => {
            c.invalid(&format!("{k}.intrinsics"), "either vertical_fov_deg or intrinsics, not both", "both");
            (1.0, 1.0, 0.0, 0.0)
        }
        (None, None) => {
            c.invalid(k, "vertical_fov_deg or intrinsics: {fx, fy, cx, cy}", "neither");
            (1.0, 1.0, 0.0, 0.0)
        }
    };
    let near = c.positive(&format!("{k}.near"), s.near.unwrap_or(0.01), MAX_LENGTH_M);
    let far = c.positive(&format!("{k}.far"), s.far.unwrap_or(100.0), MAX_LENGTH_M);
    if near >= far {
        c.invalid(&format!("{k}.near"), format!("less than far ({far})"), near);
    }
    let outputs = s.outputs.clone().unwrap_or_else(|| vec!["rgb".to_string()]);
    if outputs.is_empty() {
        c.invalid(&format!("{k}.outputs"), format!("a non-empty list of {}", CAMERA_OUTPUTS.join(", ")), "an empty list");
    }
    let mut seen = std::collections::BTreeSet::new();
    for (j, output) in outputs.iter().enumerate() {
        if !CAMERA_OUTPUTS.contains(&output.as_str()) {
            c.invalid(&format!("{k}.outputs[{j}]"), format!("one of {}", CAMERA_OUTPUTS.join(", ")), output);
        } else if !seen.insert(output.as_str()) {
            c.invalid(&format!("{k}.outputs[{j}]"), "each output once", format!("{output} again"));
        }
    }
    let rgb_noise = c.non_negative(&format!("{k}.rgb_noise"), s.rgb_noise.unwrap_or(0.0), 255.0);
    let depth_noise = c.non_negative(&format!("{k}.depth_noise"), s.depth_noise.unwrap_or(0.0), MAX_LENGTH_M);
    CameraConfig {
        link: s.link.clone(),
        mount: c.pose(k, s.position.as_ref(), s.rpy.as_ref()),
        width,
        height,
        fx,
        fy,
        cx,
        cy,
        near,
        far,
        rgb: seen.contains("rgb"),
        depth: seen.contains("depth"),
        segmentation: seen.contains("segmentation"),
        rgb_noise,
        depth_noise,
    }
}
