//! Checked scenario settings: what the program uses once a [`ScenarioSpec`] has been validated.
//! Every value here is finite, in range and resolved against the robot model, so the worlds
//! never re-check them.

use super::spec::*;
use crate::error::ScenarioError;
use crate::robot::{JointKind, RobotModel};
use crate::scenario::positions::PositionIndex;
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A pose given as position and roll/pitch/yaw, in the world or a parent frame.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PoseConfig {
    pub position: [f64; 3],
    pub rpy: [f64; 3],
}

#[derive(Debug, Clone)]
pub struct ScenarioConfig {
    pub name: String,
    pub description: String,
    pub robot: RobotConfig,
    pub world: WorldConfig,
    pub sensors: Vec<SensorConfig>,
    pub task: TaskConfig,
    pub randomize: RandomizationConfig,
    pub timing: TimingConfig,
    pub dynamics: DynamicsConfig,
}

#[derive(Debug, Clone)]
pub struct RobotConfig {
    pub model: Arc<RobotModel>,
    pub base: PoseConfig,
    pub fixed_base: bool,
    /// Initial position of each movable joint, in the order of `model.joints`.
    pub initial_joints: Vec<f64>,
    pub actuators: Vec<ActuatorConfig>,
    pub end_effector: Option<String>,
    /// Friction overrides by link name.
    pub link_friction: Vec<(String, f64)>,
    pub payload: Vec<PayloadConfig>,
}

/// A point mass rigidly attached to a robot link.
#[derive(Debug, Clone, PartialEq)]
pub struct PayloadConfig {
    pub link: String,
    pub mass: f64,
    pub position: [f64; 3],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JointActuatorKind {
    /// The action is a target position, tracked by a PD motor.
    Position,
    /// The action is a target velocity.
    Velocity,
    /// The action is a force or torque.
    Torque,
}

#[derive(Debug, Clone)]
pub enum ActuatorConfig {
    Joint {
        joint: usize,
        kind: JointActuatorKind,
        effort_limit: f64,
        command_range: (f64, f64),
        kp: f64,
        kd: f64,
    },
    /// Two wheel joints driven by a (linear, angular) velocity command.
    DifferentialDrive {
        left: usize,
        right: usize,
        wheel_radius: f64,
        wheel_separation: f64,
        max_linear_velocity: f64,
        max_angular_velocity: f64,
        effort_limit: f64,
        kd: f64,
    },
}

impl ActuatorConfig {
    /// Number of action values this actuator consumes.
    pub fn width(&self) -> usize {
        match self {
            ActuatorConfig::Joint { .. } => 1,
            ActuatorConfig::DifferentialDrive { .. } => 2,
        }
    }
}

#[derive(Debug, Clone)]
pub struct WorldConfig {
    pub gravity: [f64; 3],
    pub ground: Option<GroundConfig>,
    pub obstacles: Vec<BodyConfig>,
    pub objects: Vec<BodyConfig>,
}

#[derive(Debug, Clone)]
pub struct GroundConfig {
    pub friction: f64,
    pub height: f64,
}

#[derive(Debug, Clone)]
pub enum ShapeConfig {
    Box {
        half_extents: [f64; 3],
    },
    Sphere {
        radius: f64,
    },
    /// Axis along z.
    Cylinder {
        radius: f64,
        half_length: f64,
    },
    /// Axis along z.
    Capsule {
        radius: f64,
        half_length: f64,
    },
    Urdf {
        model: Arc<RobotModel>,
    },
}

#[derive(Debug, Clone)]
pub struct BodyConfig {
    pub name: String,
    pub shape: ShapeConfig,
    pub pose: PoseConfig,
    /// kg; 0 for static obstacles.
    pub mass: f64,
    pub friction: f64,
}

#[derive(Debug, Clone)]
pub struct SensorConfig {
    /// Prefix of the observation fields this sensor produces.
    pub name: String,
    /// The sensor updates every `period_steps` control steps and holds its reading between.
    pub period_steps: u32,
    pub kind: SensorKind,
}

#[derive(Debug, Clone)]
pub enum SensorKind {
    JointState { joints: Vec<usize>, position_noise: f64, velocity_noise: f64 },
    Imu { link: String, acceleration_noise: f64, angular_velocity_noise: f64 },
    Odometry { link: String, position_noise: f64, velocity_noise: f64 },
    Contact { links: Vec<String> },
    Lidar(LidarConfig),
    DepthCamera(DepthCameraConfig),
    LinkPose { link: String },
}

#[derive(Debug, Clone)]
pub struct LidarConfig {
    pub link: String,
    pub mount: PoseConfig,
    pub rays: u32,
    pub channels: u32,
    pub fov: f64,
    pub vertical_fov: f64,
    pub range_min: f64,
    pub range_max: f64,
    pub noise: f64,
}

#[derive(Debug, Clone)]
pub struct DepthCameraConfig {
    pub link: String,
    pub mount: PoseConfig,
    pub width: u32,
    pub height: u32,
    pub fov: f64,
    pub range_min: f64,
    pub range_max: f64,
    pub noise: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKind {
    Balance,
    Reach,
    Navigate,
    Push,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RewardTerm {
    /// +1 per step while the episode runs.
    Alive,
    /// Distance from the tracked point to the goal (use a negative weight).
    GoalDistance,
    /// Decrease of that distance during the step.
    GoalProgress,
    /// Sum of squared action values (use a negative weight).
    ActionSquared,
    /// 1 on the step the task succeeds.
    Success,
    /// 1 per step in which the robot touches an obstacle (use a negative weight).
    Collision,
    /// Cosine of the first bounded joint's angle (balance tasks).
    Upright,
}

#[derive(Debug, Clone)]
pub struct TaskConfig {
    pub kind: TaskKind,
    pub horizon_steps: u32,
    pub goal: [f64; 3],
    pub object: Option<usize>,
    pub success_distance: f64,
    pub success_hold_steps: u32,
    /// (joint index, lower, upper).
    pub failure_joint_bounds: Vec<(usize, f64, f64)>,
    pub failure_on_collision: bool,
    pub failure_distance: Option<f64>,
    pub reward: Vec<(RewardTerm, f64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Distribution {
    Constant(f64),
    Uniform(f64, f64),
    Normal { mean: f64, std: f64 },
    Choice(Vec<f64>),
}

#[derive(Debug, Clone, Default)]
pub struct RandomizationConfig {
    pub initial_joints: Vec<(usize, Distribution)>,
    /// Offsets of x, y, z and yaw.
    pub initial_base: [Option<Distribution>; 4],
    /// Replacement goal x, y, z.
    pub goal: [Option<Distribution>; 3],
    /// (object index, offsets of x, y, yaw).
    pub objects: Vec<(usize, [Option<Distribution>; 3])>,
    pub obstacle_field: Option<ObstacleFieldConfig>,
    pub mass_scale: Option<Distribution>,
    pub friction: Option<Distribution>,
    pub actuator_gain_scale: Option<Distribution>,
    pub sensor_noise_scale: Option<Distribution>,
    pub action_latency_steps: Option<Distribution>,
}

#[derive(Debug, Clone)]
pub struct ObstacleFieldConfig {
    pub count: u32,
    pub area: [f64; 4],
    pub radius: (f64, f64),
    pub height: f64,
    pub clearance: f64,
}

#[derive(Debug, Clone, Copy)]
pub struct TimingConfig {
    pub physics_dt: f64,
    /// Physics steps per control step.
    pub substeps: u32,
}

impl TimingConfig {
    pub fn control_period(&self) -> f64 {
        self.physics_dt * self.substeps as f64
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum DynamicsConfig {
    Physics,
    /// A learned world model alone predicts the next state.
    Learned {
        model: PathBuf,
    },
    /// rapier steps, then a learned residual corrects the state.
    Hybrid {
        model: PathBuf,
    },
}

impl ScenarioConfig {
    /// This scenario with its physical parameters at their nominal values: no randomized
    /// masses, friction, actuator gains or action latency (initial states, goals and
    /// obstacles are still drawn, and drawn as before, since those draws come first). A world
    /// model's physics prior is this: its learned part describes the robot the data came from.
    pub fn nominal_physics(&self) -> Self {
        let mut config = self.clone();
        config.randomize.mass_scale = None;
        config.randomize.friction = None;
        config.randomize.actuator_gain_scale = None;
        config.randomize.action_latency_steps = None;
        config
    }
}

impl DynamicsConfig {
    /// The world-model file, for learned and hybrid dynamics.
    pub fn model(&self) -> Option<&Path> {
        match self {
            DynamicsConfig::Physics => None,
            DynamicsConfig::Learned { model } | DynamicsConfig::Hybrid { model } => Some(model),
        }
    }
}

// Upper bounds on sizes: above these a value is almost certainly a typo, and honouring it would
// exhaust memory or time before anything useful happened.
const MAX_RAYS: i64 = 100_000;
const MAX_CHANNELS: i64 = 1024;
const MAX_IMAGE_SIDE: i64 = 4096;
const MAX_HORIZON: i64 = 100_000_000;
const MAX_LENGTH_M: f64 = 10_000.0;
const MAX_MASS_KG: f64 = 1.0e6;
const MAX_GAIN: f64 = 1.0e9;
const MAX_OBSTACLES: i64 = 10_000;

/// Collects every problem in one file instead of stopping at the first.
pub(crate) struct Checker<'a> {
    pub file: &'a Path,
    pub index: &'a PositionIndex,
    pub errors: Vec<ScenarioError>,
}

impl<'a> Checker<'a> {
    pub fn invalid(&mut self, key: &str, expected: impl Into<String>, got: impl Display) {
        let (line, column) = self.index.locate(key);
        self.errors.push(ScenarioError::Invalid {
            file: self.file.to_path_buf(),
            line,
            column,
            key: key.to_string(),
            expected: expected.into(),
            got: got.to_string(),
        });
    }

    fn urdf(&mut self, key: &str, urdf: &Path, problem: crate::robot::UrdfProblem) {
        let (line, column) = self.index.locate(key);
        self.errors.push(ScenarioError::Urdf {
            file: self.file.to_path_buf(),
            line,
            column,
            key: key.to_string(),
            urdf: urdf.to_path_buf(),
            element: problem.element,
            reason: problem.reason,
        });
    }

    fn number(&mut self, key: &str, value: f64, lo: f64, hi: f64, expected: &str) -> f64 {
        if value.is_finite() && value >= lo && value <= hi {
            value
        } else {
            self.invalid(key, expected, value);
            lo.max(0.0).min(hi)
        }
    }

    fn finite(&mut self, key: &str, value: f64) -> f64 {
        self.number(key, value, -1e12, 1e12, "a finite number")
    }

    fn positive(&mut self, key: &str, value: f64, max: f64) -> f64 {
        if value.is_finite() && value > 0.0 && value <= max {
            value
        } else {
            self.invalid(key, format!("a positive number up to {max}"), value);
            1.0
        }
    }

    fn non_negative(&mut self, key: &str, value: f64, max: f64) -> f64 {
        self.number(key, value, 0.0, max, &format!("a number from 0 to {max}"))
    }

    fn count(&mut self, key: &str, value: i64, min: i64, max: i64) -> u32 {
        if (min..=max).contains(&value) {
            value as u32
        } else if min == 1 && value < 1 {
            self.invalid(key, "a positive integer", value);
            1
        } else {
            self.invalid(key, format!("an integer from {min} to {max}"), value);
            min.max(1) as u32
        }
    }

    fn vector<const N: usize>(&mut self, key: &str, values: Option<&Vec<f64>>, default: [f64; N]) -> [f64; N] {
        let Some(values) = values else { return default };
        if values.len() != N {
            self.invalid(key, format!("a list of {N} numbers"), format!("{} numbers", values.len()));
            return default;
        }
        let mut out = default;
        for (i, v) in values.iter().enumerate() {
            out[i] = self.finite(&format!("{key}[{i}]"), *v);
        }
        out
    }

    fn pose(&mut self, key: &str, position: Option<&Vec<f64>>, rpy: Option<&Vec<f64>>) -> PoseConfig {
        PoseConfig {
            position: self.vector(&format!("{key}.position"), position, [0.0; 3]),
            rpy: self.vector(&format!("{key}.rpy"), rpy, [0.0; 3]),
        }
    }

    fn one_of<'s>(&mut self, key: &str, what: &str, present: &[(&'s str, bool)]) -> Option<&'s str> {
        let set: Vec<&str> = present.iter().filter(|(_, p)| *p).map(|(n, _)| *n).collect();
        let names: Vec<&str> = present.iter().map(|(n, _)| *n).collect();
        match set.as_slice() {
            [one] => Some(one),
            [] => {
                self.invalid(key, format!("{what}: one of {}", names.join(", ")), "none of them");
                None
            }
            many => {
                self.invalid(key, format!("{what}: exactly one of {}", names.join(", ")), many.join(" and "));
                None
            }
        }
    }

    pub fn distribution(&mut self, key: &str, spec: &DistributionSpec) -> Option<Distribution> {
        let which = self.one_of(
            key,
            "a distribution",
            &[
                ("uniform", spec.uniform.is_some()),
                ("normal", spec.normal.is_some()),
                ("choice", spec.choice.is_some()),
                ("constant", spec.constant.is_some()),
            ],
        )?;
        match which {
            "uniform" => {
                let [lo, hi] = self.vector(&format!("{key}.uniform"), spec.uniform.as_ref(), [0.0, 0.0]);
                if lo > hi {
                    self.invalid(&format!("{key}.uniform"), "[low, high] with low ≤ high", format!("[{lo}, {hi}]"));
                }
                Some(Distribution::Uniform(lo, hi))
            }
            "normal" => {
                let normal = spec.normal.as_ref()?;
                let mean = self.finite(&format!("{key}.normal.mean"), normal.mean);
                let std = self.non_negative(&format!("{key}.normal.std"), normal.std, 1e9);
                Some(Distribution::Normal { mean, std })
            }
            "choice" => {
                let values = spec.choice.as_ref()?;
                if values.is_empty() {
                    self.invalid(&format!("{key}.choice"), "a non-empty list of numbers", "an empty list");
                }
                let values = values.iter().enumerate().map(|(i, v)| self.finite(&format!("{key}.choice[{i}]"), *v)).collect();
                Some(Distribution::Choice(values))
            }
            _ => Some(Distribution::Constant(self.finite(&format!("{key}.constant"), spec.constant?))),
        }
    }

    fn rate(&mut self, key: &str, rate_hz: Option<f64>, timing: &TimingConfig) -> u32 {
        let Some(rate) = rate_hz else { return 1 };
        let control_rate = 1.0 / timing.control_period();
        if !(rate.is_finite() && rate > 0.0 && rate <= control_rate * (1.0 + 1e-9)) {
            self.invalid(key, format!("a rate in Hz above 0 and at most the control rate ({control_rate:.6} Hz)"), rate);
            return 1;
        }
        (control_rate / rate).round().max(1.0) as u32
    }
}

impl ScenarioConfig {
    pub(crate) fn from_spec(spec: &ScenarioSpec, file: &Path, index: &PositionIndex) -> Result<Self, Vec<ScenarioError>> {
        let mut c = Checker { file, index, errors: Vec::new() };
        if spec.version != 1 {
            c.invalid("version", "1 (the only scenario format version)", spec.version);
        }
        let timing = timing_config(&mut c, &spec.timing);
        let model = robot_model(&mut c, &spec.robot, file);
        let Some(mut model) = model else {
            return Err(c.errors);
        };
        apply_joint_dynamics(&mut c, &spec.robot, &mut model);
        let robot = robot_config(&mut c, &spec.robot, model.clone());
        let world = world_config(&mut c, &spec.world, file);
        let sensors = spec.sensors.iter().enumerate().filter_map(|(i, s)| sensor_config(&mut c, i, s, &model, &timing)).collect();
        let task = task_config(&mut c, &spec.task, &model, &world, &robot);
        let randomize = randomize_config(&mut c, &spec.randomize, &model, &world);
        let model_path = |c: &mut Checker| -> PathBuf {
            match &spec.dynamics.model {
                Some(m) => {
                    let path = file.parent().unwrap_or(Path::new(".")).join(m);
                    if !path.is_file() {
                        c.invalid(
                            "dynamics.model",
                            "the path of an existing world-model file (.json), relative to the scenario",
                            format!("{m} ({} does not exist)", path.display()),
                        );
                    }
                    path
                }
                None => {
                    c.invalid("dynamics.model", "the path of a world-model file for a learned or hybrid backend", "nothing");
                    PathBuf::new()
                }
            }
        };
        let dynamics = match spec.dynamics.backend.as_str() {
            "physics" => {
                if let Some(m) = &spec.dynamics.model {
                    c.invalid("dynamics.model", "no model for the physics backend (use backend: learned or hybrid)", m);
                }
                DynamicsConfig::Physics
            }
            "learned" => DynamicsConfig::Learned { model: model_path(&mut c) },
            "hybrid" => DynamicsConfig::Hybrid { model: model_path(&mut c) },
            other => {
                c.invalid("dynamics.backend", "one of physics, learned, hybrid", other);
                DynamicsConfig::Physics
            }
        };
        if !c.errors.is_empty() {
            c.errors.sort_by_key(|e| match e {
                ScenarioError::Invalid { line, column, .. } | ScenarioError::Urdf { line, column, .. } => (*line, *column),
                _ => (0, 0),
            });
            return Err(c.errors);
        }
        Ok(Self {
            name: spec.name.clone().unwrap_or_else(|| file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()),
            description: spec.description.clone().unwrap_or_default(),
            robot,
            world,
            sensors,
            task,
            randomize,
            timing,
            dynamics,
        })
    }
}

fn timing_config(c: &mut Checker, spec: &TimingSpec) -> TimingConfig {
    let physics_dt = c.number("timing.physics_dt", spec.physics_dt, 1e-6, 0.1, "a time step in seconds from 0.000001 to 0.1");
    let control = c.number("timing.control_period", spec.control_period, 1e-6, 10.0, "a period in seconds from 0.000001 to 10");
    let ratio = control / physics_dt;
    let substeps = ratio.round();
    if (ratio - substeps).abs() > 1e-6 * ratio.max(1.0) || substeps < 1.0 {
        c.invalid("timing.control_period", format!("a whole multiple of physics_dt ({physics_dt})"), control);
    }
    if substeps > 100_000.0 {
        c.invalid("timing.control_period", "at most 100000 physics steps per control step", control);
    }
    TimingConfig { physics_dt, substeps: substeps.clamp(1.0, 100_000.0) as u32 }
}

fn robot_model(c: &mut Checker, spec: &RobotSpec, file: &Path) -> Option<Arc<RobotModel>> {
    let loaded = match (&spec.urdf, &spec.builtin) {
        (Some(_), Some(_)) => {
            c.invalid("robot", "either `urdf` or `builtin`, not both", "both");
            return None;
        }
        (None, None) => {
            c.invalid("robot", "`urdf: PATH` or `builtin: NAME`", "neither");
            return None;
        }
        (Some(urdf), None) => {
            let path = file.parent().unwrap_or(Path::new(".")).join(urdf);
            if !path.is_file() {
                c.invalid(
                    "robot.urdf",
                    "the path of an existing URDF file, relative to the scenario",
                    format!("{urdf} ({} does not exist)", path.display()),
                );
                return None;
            }
            RobotModel::from_file(&path).map_err(|p| (path, p))
        }
        (None, Some(name)) => match RobotModel::builtin(name) {
            Some(result) => result.map_err(|p| (PathBuf::from(format!("builtin:{name}")), p)),
            None => {
                c.invalid("robot.builtin", format!("one of the shipped robots ({})", crate::robot::builtin_names()), name);
                return None;
            }
        },
    };
    match loaded {
        Ok(model) => Some(Arc::new(model)),
        Err((path, problem)) => {
            let key = if spec.urdf.is_some() { "robot.urdf" } else { "robot.builtin" };
            c.urdf(key, &path, problem);
            None
        }
    }
}

fn joint_index(c: &mut Checker, key: &str, model: &RobotModel, name: &str) -> Option<usize> {
    let index = model.joints.iter().position(|j| j.name == name);
    if index.is_none() {
        let names: Vec<&str> = model.joints.iter().map(|j| j.name.as_str()).collect();
        c.invalid(key, format!("a movable joint of the robot ({})", names.join(", ")), name);
    }
    index
}

fn check_link(c: &mut Checker, key: &str, model: &RobotModel, name: &str) {
    if !model.has_link(name) {
        c.invalid(key, format!("a link of the robot ({})", model.links.join(", ")), name);
    }
}

fn robot_config(c: &mut Checker, spec: &RobotSpec, model: Arc<RobotModel>) -> RobotConfig {
    let base = c.pose("robot.base", spec.base.position.as_ref(), spec.base.rpy.as_ref());
    if !spec.base.fixed && model.link_mass(&model.root_link) <= 0.0 {
        c.invalid("robot.base.fixed", format!("true, or a root link (\"{}\") with a positive mass", model.root_link), "false");
    }
    let mut initial_joints = vec![0.0; model.joints.len()];
    for (name, value) in &spec.initial_joints {
        let key = format!("robot.initial_joints.{name}");
        if let Some(i) = joint_index(c, &key, &model, name) {
            initial_joints[i] = c.finite(&key, *value);
        }
    }
    let mut actuators = Vec::new();
    let mut driven = vec![false; model.joints.len()];
    for (i, a) in spec.actuators.iter().enumerate() {
        let key = format!("robot.actuators[{i}]");
        let effort_default = |joint: usize| model.joints[joint].effort_limit;
        let mut claim = |c: &mut Checker, joint: usize, jkey: &str| {
            if std::mem::replace(&mut driven[joint], true) {
                c.invalid(jkey, "a joint not already driven by another actuator", &model.joints[joint].name);
            }
        };
        match a.kind.as_str() {
            "position" | "velocity" | "torque" => {
                let Some(name) = &a.joint else {
                    c.invalid(&format!("{key}.joint"), "the name of the driven joint", "nothing");
                    continue;
                };
                let Some(joint) = joint_index(c, &format!("{key}.joint"), &model, name) else { continue };
                claim(c, joint, &format!("{key}.joint"));
                let effort_limit = match a.effort_limit {
                    Some(v) => c.positive(&format!("{key}.effort_limit"), v, MAX_GAIN),
                    None if effort_default(joint) > 0.0 => effort_default(joint),
                    None => {
                        c.invalid(&format!("{key}.effort_limit"), "a positive effort limit (the URDF gives none)", "nothing");
                        1.0
                    }
                };
                let kind = match a.kind.as_str() {
                    "position" => JointActuatorKind::Position,
                    "velocity" => JointActuatorKind::Velocity,
                    _ => JointActuatorKind::Torque,
                };
                let default_range = match kind {
                    JointActuatorKind::Position => model.joints[joint].limits.unwrap_or((-std::f64::consts::PI, std::f64::consts::PI)),
                    JointActuatorKind::Velocity => {
                        let v = if model.joints[joint].velocity_limit > 0.0 { model.joints[joint].velocity_limit } else { 10.0 };
                        (-v, v)
                    }
                    JointActuatorKind::Torque => (-effort_limit, effort_limit),
                };
                let command_range = match &a.command_range {
                    Some(_) => {
                        let [lo, hi] =
                            c.vector(&format!("{key}.command_range"), a.command_range.as_ref(), [default_range.0, default_range.1]);
                        if lo >= hi {
                            c.invalid(&format!("{key}.command_range"), "[low, high] with low < high", format!("[{lo}, {hi}]"));
                        }
                        (lo, hi)
                    }
                    None => default_range,
                };
                let kp = match (kind, a.kp) {
                    (JointActuatorKind::Position, Some(v)) => c.positive(&format!("{key}.kp"), v, MAX_GAIN),
                    (JointActuatorKind::Position, None) => {
                        c.invalid(&format!("{key}.kp"), "a positive proportional gain for a position actuator", "nothing");
                        1.0
                    }
                    (_, Some(v)) => {
                        c.invalid(&format!("{key}.kp"), "no kp: only position actuators have a proportional gain", v);
                        0.0
                    }
                    _ => 0.0,
                };
                let kd = match (kind, a.kd) {
                    (JointActuatorKind::Torque, Some(v)) => {
                        c.invalid(&format!("{key}.kd"), "no kd: torque actuators apply the action directly", v);
                        0.0
                    }
                    (JointActuatorKind::Velocity, None) => {
                        c.invalid(&format!("{key}.kd"), "a positive velocity gain for a velocity actuator", "nothing");
                        1.0
                    }
                    (_, Some(v)) => c.non_negative(&format!("{key}.kd"), v, MAX_GAIN),
                    _ => 0.0,
                };
                for field in [
                    ("left_joint", a.left_joint.is_some()),
                    ("right_joint", a.right_joint.is_some()),
                    ("wheel_radius", a.wheel_radius.is_some()),
                    ("wheel_separation", a.wheel_separation.is_some()),
                ] {
                    if field.1 {
                        c.invalid(
                            &format!("{key}.{}", field.0),
                            "no such key for a joint actuator (it belongs to differential_drive)",
                            "a value",
                        );
                    }
                }
                actuators.push(ActuatorConfig::Joint { joint, kind, effort_limit, command_range, kp, kd });
            }
            "differential_drive" => {
                let mut wheel = |c: &mut Checker, field: &str, name: &Option<String>| {
                    let fkey = format!("{key}.{field}");
                    let Some(name) = name else {
                        c.invalid(&fkey, "the name of a wheel joint", "nothing");
                        return None;
                    };
                    let joint = joint_index(c, &fkey, &model, name)?;
                    if model.joints[joint].kind == JointKind::Prismatic {
                        c.invalid(&fkey, "a revolute or continuous wheel joint", format!("{name} (prismatic)"));
                    }
                    claim(c, joint, &fkey);
                    Some(joint)
                };
                let left = wheel(c, "left_joint", &a.left_joint);
                let right = wheel(c, "right_joint", &a.right_joint);
                let required = |c: &mut Checker, field: &str, v: Option<f64>, max: f64| match v {
                    Some(v) => c.positive(&format!("{key}.{field}"), v, max),
                    None => {
                        c.invalid(&format!("{key}.{field}"), "a positive number", "nothing");
                        1.0
                    }
                };
                let wheel_radius = required(c, "wheel_radius", a.wheel_radius, MAX_LENGTH_M);
                let wheel_separation = required(c, "wheel_separation", a.wheel_separation, MAX_LENGTH_M);
                let max_linear_velocity = required(c, "max_linear_velocity", a.max_linear_velocity, 1e4);
                let max_angular_velocity = required(c, "max_angular_velocity", a.max_angular_velocity, 1e4);
                let effort_limit = required(c, "effort_limit", a.effort_limit, MAX_GAIN);
                let kd = required(c, "kd", a.kd, MAX_GAIN);
                if let (Some(left), Some(right)) = (left, right) {
                    actuators.push(ActuatorConfig::DifferentialDrive {
                        left,
                        right,
                        wheel_radius,
                        wheel_separation,
                        max_linear_velocity,
                        max_angular_velocity,
                        effort_limit,
                        kd,
                    });
                }
            }
            other => c.invalid(&format!("{key}.kind"), "one of position, velocity, torque, differential_drive", other),
        }
    }
    if let Some(ee) = &spec.end_effector {
        check_link(c, "robot.end_effector", &model, ee);
    }
    let mut link_friction = Vec::new();
    for (link, friction) in &spec.link_friction {
        let key = format!("robot.link_friction.{link}");
        check_link(c, &key, &model, link);
        link_friction.push((link.clone(), c.non_negative(&key, *friction, 100.0)));
    }
    let mut payload = Vec::new();
    for (i, p) in spec.payload.iter().enumerate() {
        let key = format!("robot.payload[{i}]");
        check_link(c, &format!("{key}.link"), &model, &p.link);
        let mass = c.positive(&format!("{key}.mass"), p.mass, MAX_MASS_KG);
        let position = c.vector(&format!("{key}.position"), p.position.as_ref(), [0.0; 3]);
        payload.push(PayloadConfig { link: p.link.clone(), mass, position });
    }
    RobotConfig {
        model,
        base,
        fixed_base: spec.base.fixed,
        initial_joints,
        actuators,
        end_effector: spec.end_effector.clone(),
        link_friction,
        payload,
    }
}

/// Replaces the URDF's joint damping and friction where the scenario gives them, so that a
/// scenario can describe a robot whose joints differ from its nominal model.
fn apply_joint_dynamics(c: &mut Checker, spec: &RobotSpec, model: &mut Arc<RobotModel>) {
    for (name, dynamics) in &spec.joint_dynamics {
        let key = format!("robot.joint_dynamics.{name}");
        let Some(index) = joint_index(c, &key, model, name) else { continue };
        let damping = dynamics.damping.map(|v| c.non_negative(&format!("{key}.damping"), v, MAX_GAIN));
        let friction = dynamics.friction.map(|v| c.non_negative(&format!("{key}.friction"), v, MAX_GAIN));
        let joint = &mut Arc::make_mut(model).joints[index];
        if let Some(d) = damping {
            joint.damping = d;
        }
        if let Some(f) = friction {
            joint.friction = f;
        }
    }
}

fn body_config(c: &mut Checker, key: &str, spec: &BodySpec, movable: bool, file: &Path) -> Option<BodyConfig> {
    let which = c.one_of(
        key,
        "a shape",
        &[
            ("box", spec.box_.is_some()),
            ("sphere", spec.sphere.is_some()),
            ("cylinder", spec.cylinder.is_some()),
            ("capsule", spec.capsule.is_some()),
            ("urdf", spec.urdf.is_some()),
        ],
    )?;
    let shape = match which {
        "box" => {
            let size = c.vector(&format!("{key}.box.size"), Some(&spec.box_.as_ref()?.size), [1.0; 3]);
            for (i, s) in size.iter().enumerate() {
                c.positive(&format!("{key}.box.size[{i}]"), *s, MAX_LENGTH_M);
            }
            ShapeConfig::Box { half_extents: size.map(|s| s / 2.0) }
        }
        "sphere" => ShapeConfig::Sphere { radius: c.positive(&format!("{key}.sphere.radius"), spec.sphere.as_ref()?.radius, MAX_LENGTH_M) },
        "cylinder" | "capsule" => {
            let s = if which == "cylinder" { spec.cylinder.as_ref()? } else { spec.capsule.as_ref()? };
            let radius = c.positive(&format!("{key}.{which}.radius"), s.radius, MAX_LENGTH_M);
            let half_length = c.positive(&format!("{key}.{which}.length"), s.length, MAX_LENGTH_M) / 2.0;
            if which == "cylinder" {
                ShapeConfig::Cylinder { radius, half_length }
            } else {
                ShapeConfig::Capsule { radius, half_length }
            }
        }
        _ => {
            let urdf = spec.urdf.as_ref()?;
            let path = file.parent().unwrap_or(Path::new(".")).join(urdf);
            match RobotModel::from_file(&path) {
                Ok(model) if model.joints.is_empty() => ShapeConfig::Urdf { model: Arc::new(model) },
                Ok(model) => {
                    c.invalid(
                        &format!("{key}.urdf"),
                        "a URDF whose links are joined by fixed joints only (articulated objects are not supported)",
                        format!("{} movable joints", model.joints.len()),
                    );
                    return None;
                }
                Err(problem) => {
                    c.urdf(&format!("{key}.urdf"), &path, problem);
                    return None;
                }
            }
        }
    };
    let pose = c.pose(key, spec.position.as_ref(), spec.rpy.as_ref());
    let mass = match (movable, spec.mass) {
        (true, Some(m)) => c.positive(&format!("{key}.mass"), m, MAX_MASS_KG),
        (true, None) if matches!(shape, ShapeConfig::Urdf { .. }) => 0.0,
        (true, None) => {
            c.invalid(&format!("{key}.mass"), "the mass of a movable object in kg", "nothing");
            1.0
        }
        (false, Some(m)) => {
            c.invalid(&format!("{key}.mass"), "no mass: obstacles are static (put movable bodies under world.objects)", m);
            0.0
        }
        (false, None) => 0.0,
    };
    let friction = c.non_negative(&format!("{key}.friction"), spec.friction.unwrap_or(0.8), 100.0);
    Some(BodyConfig { name: spec.name.clone(), shape, pose, mass, friction })
}

fn world_config(c: &mut Checker, spec: &WorldSpec, file: &Path) -> WorldConfig {
    let gravity = c.vector("world.gravity", spec.gravity.as_ref(), [0.0, 0.0, -9.81]);
    let ground = match &spec.ground {
        Some(g) if g.enabled => Some(GroundConfig {
            friction: c.non_negative("world.ground.friction", g.friction.unwrap_or(0.8), 100.0),
            height: c.finite("world.ground.height", g.height.unwrap_or(0.0)),
        }),
        _ => None,
    };
    let obstacles: Vec<BodyConfig> =
        spec.obstacles.iter().enumerate().filter_map(|(i, b)| body_config(c, &format!("world.obstacles[{i}]"), b, false, file)).collect();
    let objects: Vec<BodyConfig> =
        spec.objects.iter().enumerate().filter_map(|(i, b)| body_config(c, &format!("world.objects[{i}]"), b, true, file)).collect();
    let mut names = std::collections::HashSet::new();
    for (key, body) in obstacles.iter().map(|b| ("world.obstacles", b)).chain(objects.iter().map(|b| ("world.objects", b))) {
        if !names.insert(body.name.clone()) {
            c.invalid(key, "unique body names", format!("\"{}\" used twice", body.name));
        }
    }
    WorldConfig { gravity, ground, obstacles, objects }
}

fn sensor_config(c: &mut Checker, i: usize, spec: &SensorSpec, model: &RobotModel, timing: &TimingConfig) -> Option<SensorConfig> {
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

fn task_config(c: &mut Checker, spec: &TaskSpec, model: &RobotModel, world: &WorldConfig, robot: &RobotConfig) -> TaskConfig {
    let kind = match spec.kind.as_str() {
        "balance" => TaskKind::Balance,
        "reach" => TaskKind::Reach,
        "navigate" => TaskKind::Navigate,
        "push" => TaskKind::Push,
        other => {
            c.invalid("task.kind", "one of balance, reach, navigate, push", other);
            TaskKind::Balance
        }
    };
    let horizon_steps = c.count("task.horizon_steps", spec.horizon_steps, 1, MAX_HORIZON);
    let goal = c.vector("task.goal", spec.goal.as_ref(), [0.0; 3]);
    let needs_goal = kind != TaskKind::Balance;
    if needs_goal && spec.goal.is_none() {
        c.invalid("task.goal", format!("a goal position [x, y, z] for a {} task", spec.kind), "nothing");
    }
    if kind == TaskKind::Reach && robot.end_effector.is_none() {
        c.invalid("robot.end_effector", "the link that must reach the goal (required by reach tasks)", "nothing");
    }
    let object = match (&spec.object, kind) {
        (Some(name), _) => {
            let index = world.objects.iter().position(|o| &o.name == name);
            if index.is_none() {
                let names: Vec<&str> = world.objects.iter().map(|o| o.name.as_str()).collect();
                c.invalid("task.object", format!("the name of a movable object ({})", names.join(", ")), name);
            }
            index
        }
        (None, TaskKind::Push) => {
            c.invalid("task.object", "the object to push (required by push tasks)", "nothing");
            None
        }
        _ => None,
    };
    let success_distance = match spec.success_distance {
        Some(d) => c.positive("task.success_distance", d, MAX_LENGTH_M),
        None if needs_goal => {
            c.invalid("task.success_distance", "the distance to the goal that counts as success, in metres", "nothing");
            1.0
        }
        None => 0.0,
    };
    let success_hold_steps = c.count("task.success_hold_steps", spec.success_hold_steps.unwrap_or(1), 1, MAX_HORIZON);
    let mut failure_joint_bounds = Vec::new();
    for (name, bounds) in &spec.failure_joint_bounds {
        let key = format!("task.failure_joint_bounds.{name}");
        if let Some(joint) = joint_index(c, &key, model, name) {
            let [lo, hi] = c.vector(&key, Some(bounds), [0.0, 0.0]);
            if lo >= hi {
                c.invalid(&key, "[low, high] with low < high", format!("[{lo}, {hi}]"));
            }
            failure_joint_bounds.push((joint, lo, hi));
        }
    }
    let failure_distance = spec.failure_distance.map(|d| c.positive("task.failure_distance", d, MAX_LENGTH_M));
    let mut reward = Vec::new();
    for (i, term) in spec.reward.iter().enumerate() {
        let key = format!("task.reward[{i}]");
        let which = match term.term.as_str() {
            "alive" => RewardTerm::Alive,
            "goal_distance" => RewardTerm::GoalDistance,
            "goal_progress" => RewardTerm::GoalProgress,
            "action_squared" => RewardTerm::ActionSquared,
            "success" => RewardTerm::Success,
            "collision" => RewardTerm::Collision,
            "upright" => RewardTerm::Upright,
            other => {
                c.invalid(
                    &format!("{key}.term"),
                    "one of alive, goal_distance, goal_progress, action_squared, success, collision, upright",
                    other,
                );
                continue;
            }
        };
        if matches!(which, RewardTerm::GoalDistance | RewardTerm::GoalProgress) && !needs_goal {
            c.invalid(&format!("{key}.term"), "a term that a balance task defines (it has no goal)", &term.term);
        }
        reward.push((which, c.finite(&format!("{key}.weight"), term.weight)));
    }
    TaskConfig {
        kind,
        horizon_steps,
        goal,
        object,
        success_distance,
        success_hold_steps,
        failure_joint_bounds,
        failure_on_collision: spec.failure_on_collision.unwrap_or(false),
        failure_distance,
        reward,
    }
}

fn axes<const N: usize>(
    c: &mut Checker,
    key: &str,
    spec: &std::collections::BTreeMap<String, DistributionSpec>,
    names: [&str; N],
) -> [Option<Distribution>; N] {
    let mut out: [Option<Distribution>; N] = std::array::from_fn(|_| None);
    for (name, d) in spec {
        let k = format!("{key}.{name}");
        match names.iter().position(|n| n == name) {
            Some(i) => out[i] = c.distribution(&k, d),
            None => c.invalid(&k, format!("one of {}", names.join(", ")), name),
        }
    }
    out
}

fn randomize_config(c: &mut Checker, spec: &RandomizeSpec, model: &RobotModel, world: &WorldConfig) -> RandomizationConfig {
    let mut initial_joints = Vec::new();
    for (name, d) in &spec.initial_joints {
        let key = format!("randomize.initial_joints.{name}");
        if let (Some(joint), Some(d)) = (joint_index(c, &key, model, name), c.distribution(&key, d)) {
            initial_joints.push((joint, d));
        }
    }
    let initial_base = axes(c, "randomize.initial_base", &spec.initial_base, ["x", "y", "z", "yaw"]);
    let goal = axes(c, "randomize.goal", &spec.goal, ["x", "y", "z"]);
    let mut objects = Vec::new();
    for (name, offsets) in &spec.objects {
        let key = format!("randomize.objects.{name}");
        match world.objects.iter().position(|o| &o.name == name) {
            Some(index) => objects.push((index, axes(c, &key, offsets, ["x", "y", "yaw"]))),
            None => {
                let names: Vec<&str> = world.objects.iter().map(|o| o.name.as_str()).collect();
                c.invalid(&key, format!("the name of a movable object ({})", names.join(", ")), name);
            }
        }
    }
    let obstacle_field = spec.obstacle_field.as_ref().map(|f| {
        let key = "randomize.obstacle_field";
        let count = c.count(&format!("{key}.count"), f.count, 0, MAX_OBSTACLES);
        let area = c.vector(&format!("{key}.area"), Some(&f.area), [0.0; 4]);
        if area[0] >= area[1] || area[2] >= area[3] {
            c.invalid(&format!("{key}.area"), "[x_min, x_max, y_min, y_max] with min < max", format!("{area:?}"));
        }
        let [r0, r1] = c.vector(&format!("{key}.radius"), Some(&f.radius), [0.1, 0.1]);
        if !(r0 > 0.0 && r0 <= r1) {
            c.invalid(&format!("{key}.radius"), "[min, max] with 0 < min ≤ max", format!("[{r0}, {r1}]"));
        }
        ObstacleFieldConfig {
            count,
            area,
            radius: (r0, r1),
            height: c.positive(&format!("{key}.height"), f.height, MAX_LENGTH_M),
            clearance: c.non_negative(&format!("{key}.clearance"), f.clearance, MAX_LENGTH_M),
        }
    });
    let scale = |c: &mut Checker, key: &str, d: &Option<DistributionSpec>| {
        let d = d.as_ref().and_then(|d| c.distribution(key, d))?;
        if distribution_min(&d) < 0.0 {
            c.invalid(key, "a distribution of non-negative values", format!("{d:?}"));
        }
        Some(d)
    };
    let mass_scale = scale(c, "randomize.mass_scale", &spec.mass_scale);
    let friction = scale(c, "randomize.friction", &spec.friction);
    let actuator_gain_scale = scale(c, "randomize.actuator_gain_scale", &spec.actuator_gain_scale);
    let sensor_noise_scale = scale(c, "randomize.sensor_noise_scale", &spec.sensor_noise_scale);
    let action_latency_steps = scale(c, "randomize.action_latency_steps", &spec.action_latency_steps);
    if let Some(d) = &action_latency_steps {
        if distribution_max(d) > 1000.0 {
            c.invalid("randomize.action_latency_steps", "at most 1000 control steps of latency", format!("{d:?}"));
        }
    }
    RandomizationConfig {
        initial_joints,
        initial_base,
        goal,
        objects,
        obstacle_field,
        mass_scale,
        friction,
        actuator_gain_scale,
        sensor_noise_scale,
        action_latency_steps,
    }
}

/// Smallest value a distribution can produce (normal: three standard deviations below the mean).
fn distribution_min(d: &Distribution) -> f64 {
    match d {
        Distribution::Constant(v) => *v,
        Distribution::Uniform(lo, _) => *lo,
        Distribution::Normal { mean, std } => mean - 3.0 * std,
        Distribution::Choice(v) => v.iter().cloned().fold(f64::INFINITY, f64::min),
    }
}

fn distribution_max(d: &Distribution) -> f64 {
    match d {
        Distribution::Constant(v) => *v,
        Distribution::Uniform(_, hi) => *hi,
        Distribution::Normal { mean, std } => mean + 3.0 * std,
        Distribution::Choice(v) => v.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
    }
}
