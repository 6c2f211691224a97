//! A world's observations as the ROS 2 topics a robot would publish: `/clock`,
//! `/joint_states`, `/scan`, `/imu`, `/odom`, depth images with their camera info, each
//! camera's images and camera info, and the transform tree on `/tf` and `/tf_static` (REP-105).

use super::messages::*;
use super::transforms::{self, sensor_frame, TransformTree};
use dreamrig_sim::scenario::config::{ScenarioConfig, SensorKind};
use dreamrig_sim::scene::StateLayout;
use dreamrig_sim::{LinkPose, Observation, WorldState};

/// One encoded message for one topic.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicMessage {
    /// Topic name, such as `/scan`.
    pub topic: String,
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
    /// Every movable joint of the robot, in URDF order, with the indices of its position and
    /// velocity in the world's state.
    joints: Vec<(String, usize, usize)>,
    /// The first joint-state sensor: its observation prefix and the joints it reads.
    joint_state: Option<(String, Vec<usize>)>,
    /// (observation prefix, frame, angle_min, angle_increment, range_min, range_max, scan time)
    scan: Option<(String, String, f32, f32, f32, f32, f32)>,
    imu: Option<(String, String)>,
    odometry: Option<(String, String)>,
    /// (observation prefix, optical frame, width, height, focal length in pixels)
    depth: Option<(String, String, u32, u32, f64)>,
    cameras: Vec<CameraTopics>,
    tree: TransformTree,
    /// Control steps between two updates, per topic (sensors with a rate publish at it).
    periods: Vec<(String, u32)>,
}

/// The topics of one `camera` sensor, for the outputs it has: `/NAME/image_raw` (`rgb8`),
/// `/NAME/depth/image_raw` (`32FC1`), `/NAME/segmentation/image_raw` (`16UC1`), each with its
/// `camera_info` beside it (`/NAME/camera_info`, `/NAME/depth/camera_info`,
/// `/NAME/segmentation/camera_info`: what image_transport and depth_image_proc pair), stamped
/// with the frame `NAME_optical_frame`.
struct CameraTopics {
    frame: String,
    width: u32,
    height: u32,
    intrinsics: [f64; 4],
    /// (observation image, image topic, camera info topic, encoding) per output.
    outputs: Vec<(String, String, String, &'static str)>,
}

impl TopicMapper {
    /// The topics of `config`'s robot and sensors, besides `/clock`, `/tf` and `/tf_static`:
    /// `/joint_states` for every movable joint (what robot_state_publisher, rviz and MoveIt expect),
    /// whether or not a sensor observes it; the single-channel lidar, IMU, odometry and depth
    /// camera each get theirs; further sensors of a kind, and multi-channel lidars, get none. A
    /// full-circle scan starts at −π rad, any other at −fov/2.
    pub fn new(config: &ScenarioConfig) -> Self {
        let layout = StateLayout::new(config);
        let index = |name: String| layout.names.iter().position(|n| *n == name).expect("every joint has a state value");
        let joints = config
            .robot
            .model
            .joints
            .iter()
            .map(|j| {
                let position = index(format!("robot.joint.{}.position", j.name));
                let velocity = index(format!("robot.joint.{}.velocity", j.name));
                (j.name.clone(), position, velocity)
            })
            .collect();
        let mut mapper = Self {
            joints,
            joint_state: None,
            scan: None,
            imu: None,
            odometry: None,
            depth: None,
            cameras: Vec::new(),
            tree: TransformTree::new(config),
            periods: Vec::new(),
        };
        let control_period = config.timing.control_period() as f32;
        for sensor in &config.sensors {
            match &sensor.kind {
                SensorKind::JointState { joints, .. } if mapper.joint_state.is_none() => {
                    mapper.joint_state = Some((sensor.name.clone(), joints.clone()));
                }
                SensorKind::Lidar(l) if l.channels == 1 && mapper.scan.is_none() => {
                    let full_circle = (l.fov - std::f64::consts::TAU).abs() < 1e-9;
                    let (start, step) = if full_circle {
                        (-std::f64::consts::PI, l.fov / l.rays as f64)
                    } else {
                        (-l.fov / 2.0, if l.rays > 1 { l.fov / (l.rays - 1) as f64 } else { 0.0 })
                    };
                    mapper.periods.push(("/scan".into(), sensor.period_steps));
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
                    mapper.periods.push(("/depth/image_raw".into(), sensor.period_steps));
                    mapper.periods.push(("/depth/camera_info".into(), sensor.period_steps));
                    mapper.depth = Some((sensor.name.clone(), frame, d.width, d.height, focal));
                }
                SensorKind::Camera(c) => {
                    let name = &sensor.name;
                    let mut outputs = Vec::new();
                    for (on, output, namespace, encoding) in [
                        (c.rgb, "rgb", format!("/{name}"), "rgb8"),
                        (c.depth, "depth", format!("/{name}/depth"), "32FC1"),
                        (c.segmentation, "segmentation", format!("/{name}/segmentation"), "16UC1"),
                    ] {
                        if on {
                            let (image, info) = (format!("{namespace}/image_raw"), format!("{namespace}/camera_info"));
                            mapper.periods.push((image.clone(), sensor.period_steps));
                            mapper.periods.push((info.clone(), sensor.period_steps));
                            outputs.push((format!("{name}.{output}"), image, info, encoding));
                        }
                    }
                    let camera = CameraTopics {
                        frame: sensor_frame(name, &sensor.kind).unwrap_or_else(|| format!("{name}_optical_frame")),
                        width: c.width,
                        height: c.height,
                        intrinsics: [c.fx, c.fy, c.cx, c.cy],
                        outputs,
                    };
                    mapper.cameras.push(camera);
                }
                _ => {}
            }
        }
        mapper
    }

    /// The topics `messages` will produce, with their types.
    pub fn topics(&self) -> Vec<(String, &'static str)> {
        let mut out = vec![("/clock", Clock::TYPE_NAME)];
        if !self.joints.is_empty() {
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
        let mut out: Vec<(String, &'static str)> = out.into_iter().map(|(t, ty)| (t.to_string(), ty)).collect();
        for camera in &self.cameras {
            for (_, image, info, _) in &camera.outputs {
                out.push((image.clone(), Image::TYPE_NAME));
                out.push((info.clone(), CameraInfo::TYPE_NAME));
            }
        }
        out.push(("/tf".into(), TfMessage::TYPE_NAME));
        out.push(("/tf_static".into(), TfMessage::TYPE_NAME));
        out
    }

    /// Whether [`messages`](Self::messages) needs the world's state: some movable joint is not
    /// read by the joint-state sensor.
    pub fn needs_state(&self) -> bool {
        let sensed = self.joint_state.as_ref().map_or(&[][..], |(_, joints)| joints.as_slice());
        (0..self.joints.len()).any(|j| !sensed.contains(&j))
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
        TopicMessage { topic: "/tf_static".into(), type_name: TfMessage::TYPE_NAME, cdr: message.encode() }
    }

    /// The messages of one observation taken at simulated time `time_s`, with the robot's
    /// links at `poses` and the world in `state` (which must follow the scenario's
    /// [`StateLayout`]).
    ///
    /// Every topic of [`topics`](Self::topics) but `/tf_static`, whatever the sensors' rates: a
    /// caller that honours rates skips by [`period_steps`](Self::period_steps). Stamps are `time_s`;
    /// `/tf` takes the base from `/odom` when the odometry tracks the root link (REP-105).
    ///
    /// `/joint_states`: the joints the joint-state sensor reads carry its readings (noise
    /// included, as a robot's encoders give them); every other movable joint carries its position
    /// and velocity from `state`. Without a state, only the sensor's joints are listed. `effort` is
    /// filled only when the sensor reads every listed joint.
    ///
    /// With `step` (the control step of the episode), camera images that are not due at it (see
    /// [`period_steps`](Self::period_steps)) are not encoded at all; other topics are always
    /// given, and the caller skips by period.
    pub fn messages(
        &self,
        observation: &Observation,
        poses: &[LinkPose],
        state: Option<&WorldState>,
        time_s: f64,
        step: Option<u64>,
    ) -> Vec<TopicMessage> {
        let due = |topic: &str| step.is_none_or(|s| s % self.period_steps(topic) as u64 == 0);
        let stamp = Time::from_seconds(time_s);
        let header = |frame: &str| Header { stamp, frame_id: frame.to_string() };
        let field = |name: String| observation.get(&name).unwrap_or(&[]).to_vec();
        let mut out = vec![TopicMessage { topic: "/clock".into(), type_name: Clock::TYPE_NAME, cdr: Clock { clock: stamp }.encode() }];
        if let Some(message) = self.joint_state_message(header(""), observation, state) {
            out.push(TopicMessage { topic: "/joint_states".into(), type_name: JointState::TYPE_NAME, cdr: message.encode() });
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
            out.push(TopicMessage { topic: "/scan".into(), type_name: LaserScan::TYPE_NAME, cdr: message.encode() });
        }
        if let Some((prefix, link)) = &self.imu {
            let message = Imu {
                header: header(link),
                orientation: quaternion_xyzw(&field(format!("{prefix}.orientation"))),
                angular_velocity: vector3(&field(format!("{prefix}.angular_velocity"))),
                linear_acceleration: vector3(&field(format!("{prefix}.linear_acceleration"))),
            };
            out.push(TopicMessage { topic: "/imu".into(), type_name: Imu::TYPE_NAME, cdr: message.encode() });
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
            out.push(TopicMessage { topic: "/odom".into(), type_name: Odometry::TYPE_NAME, cdr: message.encode() });
            // odom → base_link must agree with /odom (REP-105): use the odometry's estimate
            // when it tracks the root link.
            if *link == self.tree.root_link {
                base = Some(transforms::from_parts(position, orientation));
            }
        }
        if let Some((prefix, frame, width, height, focal)) = &self.depth {
            let image = Image::depth(header(frame), *width, *height, &field(format!("{prefix}.depth")));
            out.push(TopicMessage { topic: "/depth/image_raw".into(), type_name: Image::TYPE_NAME, cdr: image.encode() });
            let info = CameraInfo::pinhole(header(frame), *width, *height, *focal);
            out.push(TopicMessage { topic: "/depth/camera_info".into(), type_name: CameraInfo::TYPE_NAME, cdr: info.encode() });
        }
        for camera in &self.cameras {
            let header = header(&camera.frame);
            for (image, topic, info_topic, encoding) in &camera.outputs {
                // Images are large: encoded only when due. A world without the image (it failed
                // to render) publishes nothing for it.
                if !due(topic) {
                    continue;
                }
                let Some(pixels) = observation.image(image) else { continue };
                let message = Image::of(header.clone(), camera.width, camera.height, encoding, pixels);
                out.push(TopicMessage { topic: topic.clone(), type_name: Image::TYPE_NAME, cdr: message.encode() });
                let info = CameraInfo::intrinsics(header.clone(), camera.width, camera.height, camera.intrinsics);
                out.push(TopicMessage { topic: info_topic.clone(), type_name: CameraInfo::TYPE_NAME, cdr: info.encode() });
            }
        }
        let tf = self.tree.dynamic_transforms(poses, base, stamp);
        out.push(TopicMessage { topic: "/tf".into(), type_name: TfMessage::TYPE_NAME, cdr: tf.encode() });
        out
    }

    /// `/joint_states` as [`messages`](Self::messages) describes it; `None` when no joint has a
    /// value to give.
    fn joint_state_message(&self, header: Header, observation: &Observation, state: Option<&WorldState>) -> Option<JointState> {
        let field = |name: String| observation.get(&name).map(|v| v.iter().map(|x| f64::from(*x)).collect::<Vec<_>>());
        let (sensed, readings) = match &self.joint_state {
            Some((prefix, joints)) => (
                joints.as_slice(),
                (
                    field(format!("{prefix}.position")).unwrap_or_default(),
                    field(format!("{prefix}.velocity")).unwrap_or_default(),
                    field(format!("{prefix}.effort")),
                ),
            ),
            None => (&[][..], (Vec::new(), Vec::new(), None)),
        };
        let mut message = JointState { header, name: Vec::new(), position: Vec::new(), velocity: Vec::new(), effort: Vec::new() };
        // Effort only while every listed joint is one the sensor reads with effort.
        let mut effort = readings.2.as_ref().map(|_| Vec::new());
        for (joint, (name, position, velocity)) in self.joints.iter().enumerate() {
            let value = match sensed.iter().position(|j| *j == joint) {
                Some(k) => {
                    if let (Some(out), Some(read)) = (effort.as_mut(), readings.2.as_ref()) {
                        out.push(read.get(k).copied().unwrap_or(f64::NAN));
                    }
                    readings.0.get(k).copied().zip(readings.1.get(k).copied())
                }
                None => {
                    let value = state.and_then(|s| s.values.get(*position).copied().zip(s.values.get(*velocity).copied()));
                    if value.is_some() {
                        effort = None;
                    }
                    value
                }
            };
            if let Some((p, v)) = value {
                message.name.push(name.clone());
                message.position.push(p);
                message.velocity.push(v);
            }
        }
        message.effort = effort.filter(|e| e.len() == message.name.len()).unwrap_or_default();
        (!message.name.is_empty()).then_some(message)
    }
}
