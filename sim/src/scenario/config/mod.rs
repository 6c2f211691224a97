//! Checked scenario settings: what the program uses once a [`ScenarioSpec`] has been validated.
//! Every value here is finite, in range and resolved against the robot model, so the worlds
//! never re-check them.

use super::spec::*;
use crate::error::ScenarioError;
use crate::robot::{JointKind, RobotModel};
use crate::scenario::overrides::Relocations;
use crate::scenario::positions::PositionIndex;
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod dynamics;
mod randomize;
mod robot;
mod sensors;
mod task;
mod timing;
mod world;

pub use dynamics::*;
pub use randomize::*;
pub use robot::*;
pub use sensors::*;
pub use task::*;
pub use timing::*;
pub use world::*;

/// A pose given as position and roll/pitch/yaw, in the world or a parent frame.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct PoseConfig {
    /// Position [x, y, z] in m.
    pub position: [f64; 3],
    /// Orientation as URDF roll, pitch, yaw in rad (fixed axes: R = Rz(yaw)·Ry(pitch)·Rx(roll)).
    pub rpy: [f64; 3],
}

/// A validated scenario: every value finite, in range and resolved against the robot model
/// (joints and objects by index). Built by `Scenario::load`, which reports every problem as a
/// [`ScenarioError`] at its `file:line:column`.
#[derive(Debug, Clone)]
pub struct ScenarioConfig {
    /// Scenario name: `name`, or the file name without its extension.
    pub name: String,
    /// `description`, or empty.
    pub description: String,
    /// The validated `robot` section.
    pub robot: RobotConfig,
    /// The validated `world` section.
    pub world: WorldConfig,
    /// The validated `sensors`, in scenario (observation) order.
    pub sensors: Vec<SensorConfig>,
    /// The validated `task` section.
    pub task: TaskConfig,
    /// The validated `randomize` section.
    pub randomize: RandomizationConfig,
    /// The validated `timing` section.
    pub timing: TimingConfig,
    /// The validated `dynamics` section.
    pub dynamics: DynamicsConfig,
    /// What cameras draw (every visual mesh read), when a sensor is a `camera`; `None` otherwise.
    pub visuals: Option<Arc<crate::render::visuals::VisualModel>>,
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
    /// Keys whose values came from another file (an eval spec's overrides): errors about them
    /// point there.
    pub relocations: &'a Relocations<'a>,
    pub errors: Vec<ScenarioError>,
    /// Where `package://` mesh URIs of every URDF the scenario names are looked up.
    pub packages: crate::mesh::PackagePaths,
}

impl<'a> Checker<'a> {
    /// Records a [`ScenarioError::Invalid`] for `key` (a key path such as `sensors[1].lidar.rays`),
    /// located at the key's line and column, or at its nearest ancestor's when the key is absent.
    pub fn invalid(&mut self, key: &str, expected: impl Into<String>, got: impl Display) {
        let (file, (line, column), key) = match self.relocations.locate(key) {
            Some(relocated) => relocated,
            None => (self.file, self.index.locate(key), key.to_string()),
        };
        self.errors.push(ScenarioError::Invalid {
            file: file.to_path_buf(),
            line,
            column,
            key,
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
    /// A position, angle or acceleration vector: as [`Checker::vector`], each value of magnitude
    /// at most 10⁴ (m, rad, m/s²). Larger ones only ever come from typos, and their products (a
    /// payload's inertia) would overflow the f32 physics.
    fn coordinates<const N: usize>(&mut self, key: &str, values: Option<&Vec<f64>>, default: [f64; N]) -> [f64; N] {
        let out = self.vector(key, values, default);
        for (i, v) in out.iter().enumerate() {
            if v.abs() > MAX_LENGTH_M {
                self.invalid(&format!("{key}[{i}]"), "a finite number of magnitude at most 10000", v);
            }
        }
        out.map(|v| v.clamp(-MAX_LENGTH_M, MAX_LENGTH_M))
    }

    fn pose(&mut self, key: &str, position: Option<&Vec<f64>>, rpy: Option<&Vec<f64>>) -> PoseConfig {
        PoseConfig {
            position: self.coordinates(&format!("{key}.position"), position, [0.0; 3]),
            rpy: self.coordinates(&format!("{key}.rpy"), rpy, [0.0; 3]),
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

    /// Checks a distribution: exactly one of `uniform` ([low, high], low ≤ high), `normal` (finite
    /// mean, std from 0 to 1e9), `choice` (non-empty, finite) or `constant` (finite). Records an
    /// `Invalid` error under `key` per problem; `None` when not exactly one kind is given.
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
    pub(crate) fn from_spec(
        spec: &ScenarioSpec,
        file: &Path,
        index: &PositionIndex,
        relocations: &Relocations,
    ) -> Result<Self, Vec<ScenarioError>> {
        let mut c = Checker { file, index, relocations, errors: Vec::new(), packages: Default::default() };
        if spec.version != 1 {
            c.invalid("version", "1 (the only scenario format version)", spec.version);
        }
        let mut packages = std::collections::BTreeMap::new();
        for (name, dir) in &spec.packages {
            let path = file.parent().unwrap_or(Path::new(".")).join(dir);
            if !path.is_dir() {
                let why = if path.exists() { "is not a folder" } else { "does not exist" };
                c.invalid(
                    &format!("packages.{name}"),
                    "the folder of ROS package, relative to the scenario",
                    format!("{dir} ({} {why})", path.display()),
                );
            }
            packages.insert(name.clone(), path);
        }
        c.packages = crate::mesh::PackagePaths::from_env(packages);
        let timing = timing_config(&mut c, &spec.timing);
        let model = robot_model(&mut c, &spec.robot, file);
        let Some(mut model) = model else {
            return Err(c.errors);
        };
        apply_joint_dynamics(&mut c, &spec.robot, &mut model);
        let robot = robot_config(&mut c, &spec.robot, model.clone());
        if let Err(problem) = model.check_inertia(!robot.fixed_base, robot.inertia_from_geometry) {
            let key = if spec.robot.urdf.is_some() { "robot.urdf" } else { "robot.builtin" };
            c.urdf(key, &model.source, problem);
        }
        let world = world_config(&mut c, &spec.world, file);
        let mut robot = robot;
        // A free base the scenario does not place starts on the ground: its lowest collision
        // point (at the initial joint positions) at the ground's height.
        if !robot.fixed_base && spec.robot.base.position.is_none() {
            if let Some(ground) = &world.ground {
                let rpy = robot.base.rpy;
                let base = nalgebra::Isometry3::from_parts(
                    nalgebra::Translation3::identity(),
                    nalgebra::UnitQuaternion::from_euler_angles(rpy[0], rpy[1], rpy[2]),
                );
                if let Some(lowest) = robot.model.lowest_collision_z(base, &robot.initial_joints) {
                    robot.base.position[2] = ground.height - lowest;
                }
            }
        }
        // Sensor names prefix their observation fields and images: two alike would make one unreachable.
        let mut sensors: Vec<SensorConfig> = Vec::new();
        let mut names = std::collections::BTreeMap::new();
        for (i, s) in spec.sensors.iter().enumerate() {
            let Some(sensor) = sensor_config(&mut c, i, s, &model, &timing) else { continue };
            if let Some(first) = names.insert(sensor.name.clone(), i) {
                let kind = sensor_kinds(s).iter().find(|(_, set)| *set).map_or("", |(kind, _)| *kind);
                c.invalid(
                    &format!("sensors[{i}].{kind}.name"),
                    format!(
                        "a sensor name not already used (sensors[{first}] is called \"{}\"; give each sensor its own `name`)",
                        sensor.name
                    ),
                    &sensor.name,
                );
            }
            sensors.push(sensor);
        }
        // A depth camera publishes /depth/image_raw: a camera called `depth` would publish there too.
        if sensors.iter().any(|s| matches!(s.kind, SensorKind::DepthCamera(_))) {
            for (i, s) in spec.sensors.iter().enumerate() {
                if s.camera.as_ref().is_some_and(|camera| camera.name.as_deref() == Some("depth")) {
                    c.invalid(
                        &format!("sensors[{i}].camera.name"),
                        "another name than `depth` (the depth camera's ROS 2 topics are /depth/…)",
                        "\"depth\"",
                    );
                }
            }
        }
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
        let has_camera = spec.sensors.iter().any(|s| s.camera.is_some());
        let mut visuals = None;
        if has_camera && c.errors.is_empty() {
            match crate::render::visuals::VisualModel::build(&robot.model, &world, &randomize, &c.packages) {
                Ok(model) => visuals = Some(Arc::new(model)),
                Err(problems) => {
                    for p in problems {
                        let key = if p.key == "robot.urdf" && spec.robot.urdf.is_none() { "robot.builtin".to_string() } else { p.key };
                        c.urdf(&key, &p.source, crate::robot::UrdfProblem { element: p.element, reason: p.reason });
                    }
                }
            }
        }
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
            visuals,
        })
    }
}
