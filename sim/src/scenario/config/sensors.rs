//! Sensors section: joint state, IMU, odometry, contact, lidar and depth camera.

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
}

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

pub(super) fn sensor_config(
    c: &mut Checker,
    i: usize,
    spec: &SensorSpec,
    model: &RobotModel,
    timing: &TimingConfig,
) -> Option<SensorConfig> {
    let key = format!("sensors[{i}]");
    let which = c.one_of(
        &key,
        "a sensor",
        &[
            ("joint_state", spec.joint_state.is_some()),
            ("imu", spec.imu.is_some()),
            ("odometry", spec.odometry.is_some()),
            ("contact", spec.contact.is_some()),
            ("lidar", spec.lidar.is_some()),
            ("depth_camera", spec.depth_camera.is_some()),
            ("link_pose", spec.link_pose.is_some()),
        ],
    )?;
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
        _ => {
            let s = spec.link_pose.as_ref()?;
            check_link(c, &format!("{k}.link"), model, &s.link);
            (s.name.clone(), None, SensorKind::LinkPose { link: s.link.clone() })
        }
    };
    let period_steps = c.rate(&format!("{k}.rate_hz"), rate_hz, timing);
    Some(SensorConfig { name: name.unwrap_or_else(|| which.to_string()), period_steps, kind })
}
