//! A world's observations as the ROS 2 topics a robot would publish: `/clock`,
//! `/joint_states`, `/scan`, `/imu`, `/odom`, depth images with their camera info, and the
//! transform tree on `/tf` and `/tf_static` (REP-105).

use super::messages::*;
use super::transforms::{self, sensor_frame, TransformTree};
use dreamrig_sim::scenario::config::{ScenarioConfig, SensorKind};
use dreamrig_sim::{LinkPose, Observation};

/// One encoded message for one topic.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicMessage {
    /// Topic name, such as `/scan`.
    pub topic: &'static str,
    /// ROS 2 type name, `package/msg/Name`.
    pub type_name: &'static str,
    /// The serialized message: ROS 2 CDR (XCDR1, little endian) with its 4-byte encapsulation header.
    pub cdr: Vec<u8>,
}

fn quaternion_xyzw(wxyz: &[f32]) -> [f64; 4] {
    [wxyz[1] as f64, wxyz[2] as f64, wxyz[3] as f64, wxyz[0] as f64]
}

fn vector3(v: &[f32]) -> [f64; 3] {
    [v[0] as f64, v[1] as f64, v[2] as f64]
}

/// Builds the topics of a scenario's sensors from its observations.
pub struct TopicMapper {
    joint_names: Vec<String>,
    joint_state: Option<String>,
    /// (observation prefix, frame, angle_min, angle_increment, range_min, range_max, scan time)
    scan: Option<(String, String, f32, f32, f32, f32, f32)>,
    imu: Option<(String, String)>,
    odometry: Option<(String, String)>,
    /// (observation prefix, optical frame, width, height, focal length in pixels)
    depth: Option<(String, String, u32, u32, f64)>,
    tree: TransformTree,
    /// Control steps between two updates, per topic (sensors with a rate publish at it).
    periods: Vec<(&'static str, u32)>,
}

impl TopicMapper {
    /// The topics of `config`'s sensors, besides `/clock`, `/tf` and `/tf_static`: the first
    /// joint-state sensor, single-channel lidar, IMU, odometry and depth camera each get theirs;
    /// further sensors of a kind, and multi-channel lidars, get none. A full-circle scan starts at
    /// −π rad, any other at −fov/2.
    pub fn new(config: &ScenarioConfig) -> Self {
        let mut mapper = Self {
            joint_names: Vec::new(),
            joint_state: None,
            scan: None,
            imu: None,
            odometry: None,
            depth: None,
            tree: TransformTree::new(config),
            periods: Vec::new(),
        };
        let control_period = config.timing.control_period() as f32;
        for sensor in &config.sensors {
            match &sensor.kind {
                SensorKind::JointState { joints, .. } if mapper.joint_state.is_none() => {
                    mapper.joint_names = joints.iter().map(|j| config.robot.model.joints[*j].name.clone()).collect();
                    mapper.joint_state = Some(sensor.name.clone());
                }
                SensorKind::Lidar(l) if l.channels == 1 && mapper.scan.is_none() => {
                    let full_circle = (l.fov - std::f64::consts::TAU).abs() < 1e-9;
                    let (start, step) = if full_circle {
                        (-std::f64::consts::PI, l.fov / l.rays as f64)
                    } else {
                        (-l.fov / 2.0, if l.rays > 1 { l.fov / (l.rays - 1) as f64 } else { 0.0 })
                    };
                    mapper.periods.push(("/scan", sensor.period_steps));
                    mapper.scan = Some((
                        sensor.name.clone(),
                        sensor_frame(&sensor.name, &sensor.kind).unwrap_or_else(|| l.link.clone()),
                        start as f32,
                        step as f32,
                        l.range_min as f32,
                        l.range_max as f32,
                        control_period * sensor.period_steps as f32,
                    ));
                }
                SensorKind::Imu { link, .. } if mapper.imu.is_none() => mapper.imu = Some((sensor.name.clone(), link.clone())),
                SensorKind::Odometry { link, .. } if mapper.odometry.is_none() => {
                    mapper.odometry = Some((sensor.name.clone(), link.clone()))
                }
                SensorKind::DepthCamera(d) if mapper.depth.is_none() => {
                    let focal = (d.width as f64 / 2.0) / (d.fov / 2.0).tan();
                    let frame = sensor_frame(&sensor.name, &sensor.kind).unwrap_or_else(|| d.link.clone());
                    mapper.periods.push(("/depth/image_raw", sensor.period_steps));
                    mapper.periods.push(("/depth/camera_info", sensor.period_steps));
                    mapper.depth = Some((sensor.name.clone(), frame, d.width, d.height, focal));
                }
                _ => {}
            }
        }
        mapper
    }

    /// The topics `messages` will produce, with their types.
    pub fn topics(&self) -> Vec<(&'static str, &'static str)> {
        let mut out = vec![("/clock", Clock::TYPE_NAME)];
        if self.joint_state.is_some() {
            out.push(("/joint_states", JointState::TYPE_NAME));
        }
        if self.scan.is_some() {
            out.push(("/scan", LaserScan::TYPE_NAME));
        }
        if self.imu.is_some() {
            out.push(("/imu", Imu::TYPE_NAME));
        }
        if self.odometry.is_some() {
            out.push(("/odom", Odometry::TYPE_NAME));
        }
        if self.depth.is_some() {
            out.push(("/depth/image_raw", Image::TYPE_NAME));
            out.push(("/depth/camera_info", CameraInfo::TYPE_NAME));
        }
        out.push(("/tf", TfMessage::TYPE_NAME));
        out.push(("/tf_static", TfMessage::TYPE_NAME));
        out
    }

    /// Control steps between two messages on `topic`: sensors publish when they update.
    pub fn period_steps(&self, topic: &str) -> u32 {
        self.periods.iter().find(|(t, _)| *t == topic).map(|(_, p)| (*p).max(1)).unwrap_or(1)
    }

    /// The transform tree's frames.
    pub fn tree(&self) -> &TransformTree {
        &self.tree
    }

    /// `/tf_static`, published once per episode (latched).
    pub fn static_message(&self, poses: &[LinkPose], time_s: f64) -> TopicMessage {
        let message = self.tree.static_transforms(poses, Time::from_seconds(time_s));
        TopicMessage { topic: "/tf_static", type_name: TfMessage::TYPE_NAME, cdr: message.encode() }
    }

    /// The messages of one observation taken at simulated time `time_s`, with the robot's
    /// links at `poses`.
    ///
    /// Every topic of [`topics`](Self::topics) but `/tf_static`, whatever the sensors' rates: a
    /// caller that honours rates skips by [`period_steps`](Self::period_steps). Stamps are `time_s`;
    /// `/tf` takes the base from `/odom` when the odometry tracks the root link (REP-105).
    pub fn messages(&self, observation: &Observation, poses: &[LinkPose], time_s: f64) -> Vec<TopicMessage> {
        let stamp = Time::from_seconds(time_s);
        let header = |frame: &str| Header { stamp, frame_id: frame.to_string() };
        let field = |name: String| observation.get(&name).unwrap_or(&[]).to_vec();
        let mut out = vec![TopicMessage { topic: "/clock", type_name: Clock::TYPE_NAME, cdr: Clock { clock: stamp }.encode() }];
        if let Some(prefix) = &self.joint_state {
            let as_f64 = |v: Vec<f32>| v.into_iter().map(f64::from).collect::<Vec<_>>();
            let message = JointState {
                header: header(""),
                name: self.joint_names.clone(),
                position: as_f64(field(format!("{prefix}.position"))),
                velocity: as_f64(field(format!("{prefix}.velocity"))),
                effort: as_f64(field(format!("{prefix}.effort"))),
            };
            out.push(TopicMessage { topic: "/joint_states", type_name: JointState::TYPE_NAME, cdr: message.encode() });
        }
        if let Some((prefix, frame, angle_min, increment, range_min, range_max, scan_time)) = &self.scan {
            let ranges = field(format!("{prefix}.ranges"));
            let message = LaserScan {
                header: header(frame),
                angle_min: *angle_min,
                angle_max: angle_min + increment * (ranges.len().max(1) - 1) as f32,
                angle_increment: *increment,
                time_increment: 0.0,
                scan_time: *scan_time,
                range_min: *range_min,
                range_max: *range_max,
                ranges,
                intensities: Vec::new(),
            };
            out.push(TopicMessage { topic: "/scan", type_name: LaserScan::TYPE_NAME, cdr: message.encode() });
        }
        if let Some((prefix, link)) = &self.imu {
            let message = Imu {
                header: header(link),
                orientation: quaternion_xyzw(&field(format!("{prefix}.orientation"))),
                angular_velocity: vector3(&field(format!("{prefix}.angular_velocity"))),
                linear_acceleration: vector3(&field(format!("{prefix}.linear_acceleration"))),
            };
            out.push(TopicMessage { topic: "/imu", type_name: Imu::TYPE_NAME, cdr: message.encode() });
        }
        let mut base = None;
        if let Some((prefix, link)) = &self.odometry {
            let position = vector3(&field(format!("{prefix}.position")));
            let orientation = quaternion_xyzw(&field(format!("{prefix}.orientation")));
            let message = Odometry {
                header: header("odom"),
                child_frame_id: link.clone(),
                position,
                orientation,
                linear: vector3(&field(format!("{prefix}.linear_velocity"))),
                angular: vector3(&field(format!("{prefix}.angular_velocity"))),
            };
            out.push(TopicMessage { topic: "/odom", type_name: Odometry::TYPE_NAME, cdr: message.encode() });
            // odom → base_link must agree with /odom (REP-105): use the odometry's estimate
            // when it tracks the root link.
            if *link == self.tree.root_link {
                base = Some(transforms::from_parts(position, orientation));
            }
        }
        if let Some((prefix, frame, width, height, focal)) = &self.depth {
            let image = Image::depth(header(frame), *width, *height, &field(format!("{prefix}.depth")));
            out.push(TopicMessage { topic: "/depth/image_raw", type_name: Image::TYPE_NAME, cdr: image.encode() });
            let info = CameraInfo::pinhole(header(frame), *width, *height, *focal);
            out.push(TopicMessage { topic: "/depth/camera_info", type_name: CameraInfo::TYPE_NAME, cdr: info.encode() });
        }
        let tf = self.tree.dynamic_transforms(poses, base, stamp);
        out.push(TopicMessage { topic: "/tf", type_name: TfMessage::TYPE_NAME, cdr: tf.encode() });
        out
    }
}
