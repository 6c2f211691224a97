//! Robot section: the URDF model, base pose, actuators, payloads and joint dynamics.

use super::*;
pub use crate::mesh::CollisionMode;
use std::collections::BTreeMap;

/// Validated `robot` section: the checked URDF model (with `joint_dynamics` applied), the base
/// pose (m, rad) and whether it is welded, and the actuators in action-vector order.
#[derive(Debug, Clone)]
pub struct RobotConfig {
    /// The checked URDF model (`robot.urdf` or `robot.builtin`), with `robot.joint_dynamics` applied.
    pub model: Arc<RobotModel>,
    /// Pose of the root link in the world frame (`robot.base.position`, m; `robot.base.rpy`, rad).
    pub base: PoseConfig,
    /// Whether the root link is welded to the world (`robot.base.fixed`).
    pub fixed_base: bool,
    /// Initial position of each movable joint, in the order of `model.joints`.
    pub initial_joints: Vec<f64>,
    /// The actuators (`robot.actuators`), in action-vector order.
    pub actuators: Vec<ActuatorConfig>,
    /// Link that `reach` tasks bring to the goal (`robot.end_effector`), checked to exist.
    pub end_effector: Option<String>,
    /// Friction overrides by link name.
    pub link_friction: Vec<(String, f64)>,
    /// Point masses attached to links (`robot.payload`).
    pub payload: Vec<PayloadConfig>,
    /// How collision meshes become shapes (`robot.collision`, `robot.link_collision`).
    pub collision: CollisionConfig,
    /// Whether link inertia is computed from the collision shapes and the URDF mass
    /// (`robot.inertia: from_geometry`) instead of read from the URDF (`urdf`, the default).
    pub inertia_from_geometry: bool,
}

/// How a URDF's collision meshes are simulated: `moving` for meshes on links that move
/// (`robot.collision`, default convex hull, as MuJoCo and PyBullet do), triangle meshes for
/// links welded to a fixed root, and per-link choices (`robot.link_collision`) over both.
#[derive(Debug, Clone, PartialEq)]
pub struct CollisionConfig {
    /// Mode of meshes on moving links.
    pub moving: CollisionMode,
    /// Per-link modes by URDF link name.
    pub links: BTreeMap<String, CollisionMode>,
}

impl Default for CollisionConfig {
    fn default() -> Self {
        Self { moving: CollisionMode::ConvexHull, links: BTreeMap::new() }
    }
}

impl CollisionConfig {
    /// The mode of `link`'s meshes: its own if given, else `moving` for a moving link and
    /// [`CollisionMode::Trimesh`] for a static one.
    pub fn mode(&self, link: &str, moving: bool) -> CollisionMode {
        self.links.get(link).copied().unwrap_or(if moving { self.moving } else { CollisionMode::Trimesh })
    }
}

/// A point mass rigidly attached to a robot link.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PayloadConfig {
    /// Robot link the mass is attached to (`link`).
    pub link: String,
    /// Mass in kg (`mass`), positive.
    pub mass: f64,
    /// Position in the link frame, m (`position`); default [0, 0, 0].
    pub position: [f64; 3],
}

/// What a joint actuator's action value means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum JointActuatorKind {
    /// The action is a target position, tracked by a PD motor.
    Position,
    /// The action is a target velocity.
    Velocity,
    /// The action is a force or torque.
    Torque,
}

/// A validated actuator. `Joint`: joint index, `effort_limit` (N·m or N), `command_range` in the
/// action's units, gains `kp` and `kd` (0 where unused). `DifferentialDrive`: wheel joint indices,
/// lengths in m, velocity limits in m/s and rad/s, wheel `effort_limit` and velocity gain `kd`.
#[derive(Debug, Clone, serde::Serialize)]
pub enum ActuatorConfig {
    /// An actuator that drives one joint (`kind: position`, `velocity` or `torque`).
    Joint {
        /// Index of the driven joint in the model's movable joints (`joint`).
        joint: usize,
        /// What the action value means (`kind`).
        kind: JointActuatorKind,
        /// Largest force or torque, N or N·m (`effort_limit`, default the URDF `<limit effort>`).
        effort_limit: f64,
        /// (low, high) bounds of the action value (`command_range`); actions outside are clipped.
        command_range: (f64, f64),
        /// Proportional gain (`kp`), N·m/rad or N/m; 0 unless a position actuator.
        kp: f64,
        /// Damping or velocity gain (`kd`), N·m·s/rad or N·s/m; 0 for torque actuators or when not given.
        kd: f64,
    },
    /// Two wheel joints driven by a (linear, angular) velocity command.
    DifferentialDrive {
        /// Index of the left wheel joint (`left_joint`).
        left: usize,
        /// Index of the right wheel joint (`right_joint`).
        right: usize,
        /// Wheel radius in m (`wheel_radius`).
        wheel_radius: f64,
        /// Distance between the wheels in m (`wheel_separation`).
        wheel_separation: f64,
        /// Largest forward velocity command in m/s (`max_linear_velocity`); the command range is ±this.
        max_linear_velocity: f64,
        /// Largest yaw-rate command in rad/s (`max_angular_velocity`); the command range is ±this.
        max_angular_velocity: f64,
        /// Largest wheel torque in N·m (`effort_limit`).
        effort_limit: f64,
        /// Wheel velocity gain (`kd`), N·m·s/rad.
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

pub(super) fn robot_model(c: &mut Checker, spec: &RobotSpec, file: &Path) -> Option<Arc<RobotModel>> {
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
                let why = if path.is_dir() { "is a folder, not a URDF file" } else { "does not exist" };
                c.invalid(
                    "robot.urdf",
                    "the path of an existing URDF file, relative to the scenario",
                    format!("{urdf} ({} {why})", path.display()),
                );
                return None;
            }
            RobotModel::from_file(&path, &c.packages).map_err(|p| (path, p))
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

pub(super) fn joint_index(c: &mut Checker, key: &str, model: &RobotModel, name: &str) -> Option<usize> {
    let index = model.joints.iter().position(|j| j.name == name);
    if index.is_none() {
        let names: Vec<&str> = model.joints.iter().map(|j| j.name.as_str()).collect();
        c.invalid(key, format!("a movable joint of the robot ({})", names.join(", ")), name);
    }
    index
}

pub(super) fn check_link(c: &mut Checker, key: &str, model: &RobotModel, name: &str) {
    if !model.has_link(name) {
        c.invalid(key, format!("a link of the robot ({})", model.links.join(", ")), name);
    }
}

pub(super) fn robot_config(c: &mut Checker, spec: &RobotSpec, model: Arc<RobotModel>) -> RobotConfig {
    let base = c.pose("robot.base", spec.base.position.as_ref(), spec.base.rpy.as_ref());
    if !spec.base.fixed && model.link_mass(&model.root_link) <= 0.0 {
        c.invalid("robot.base.fixed", format!("true, or a root link (\"{}\") with a positive mass", model.root_link), "false");
    }
    let mut initial_joints = vec![0.0; model.joints.len()];
    for (name, value) in &spec.initial_joints {
        let key = format!("robot.initial_joints.{name}");
        if let Some(i) = joint_index(c, &key, &model, name) {
            initial_joints[i] = c.finite(&key, *value);
            if let Some(mimic) = model.joints[i].mimic {
                c.invalid(&key, format!("no value: the joint follows \"{}\" by its <mimic>", model.joints[mimic.leader].name), value);
            }
        }
    }
    // Followers start where their <mimic> puts them.
    model.follow_mimics(&mut initial_joints);
    let mut actuators = Vec::new();
    let mut driven = vec![false; model.joints.len()];
    for (i, a) in spec.actuators.iter().enumerate() {
        let key = format!("robot.actuators[{i}]");
        let effort_default = |joint: usize| model.joints[joint].effort_limit;
        let mut claim = |c: &mut Checker, joint: usize, jkey: &str| {
            if let Some(mimic) = model.joints[joint].mimic {
                c.invalid(
                    jkey,
                    format!("a joint without <mimic> (this one follows \"{}\"; drive that one)", model.joints[mimic.leader].name),
                    &model.joints[joint].name,
                );
            }
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
        let position = c.coordinates(&format!("{key}.position"), p.position.as_ref(), [0.0; 3]);
        payload.push(PayloadConfig { link: p.link.clone(), mass, position });
    }
    let collision_mode = |c: &mut Checker, key: &str, name: &str| {
        CollisionMode::from_name(name).or_else(|| {
            c.invalid(key, "one of convex_hull, convex_decomposition, trimesh", name);
            None
        })
    };
    let mut collision = CollisionConfig::default();
    if let Some(name) = &spec.collision {
        collision.moving = collision_mode(c, "robot.collision", name).unwrap_or(collision.moving);
    }
    for (link, name) in &spec.link_collision {
        let key = format!("robot.link_collision.{link}");
        check_link(c, &key, &model, link);
        if let Some(mode) = collision_mode(c, &key, name) {
            collision.links.insert(link.clone(), mode);
        }
    }
    let inertia_from_geometry = match spec.inertia.as_deref() {
        None | Some("urdf") => false,
        Some("from_geometry") => true,
        Some(other) => {
            c.invalid("robot.inertia", "urdf or from_geometry", other);
            false
        }
    };
    RobotConfig {
        model,
        base,
        fixed_base: spec.base.fixed,
        initial_joints,
        actuators,
        end_effector: spec.end_effector.clone(),
        link_friction,
        payload,
        collision,
        inertia_from_geometry,
    }
}

/// Replaces the URDF's joint damping and friction, and sets armature, where the scenario gives
/// them, so that a scenario can describe a robot whose joints differ from its nominal model.
pub(super) fn apply_joint_dynamics(c: &mut Checker, spec: &RobotSpec, model: &mut Arc<RobotModel>) {
    for (name, dynamics) in &spec.joint_dynamics {
        let key = format!("robot.joint_dynamics.{name}");
        let Some(index) = joint_index(c, &key, model, name) else { continue };
        let damping = dynamics.damping.map(|v| c.non_negative(&format!("{key}.damping"), v, MAX_GAIN));
        let friction = dynamics.friction.map(|v| c.non_negative(&format!("{key}.friction"), v, MAX_GAIN));
        let armature = dynamics.armature.map(|v| c.non_negative(&format!("{key}.armature"), v, MAX_GAIN));
        let joint = &mut Arc::make_mut(model).joints[index];
        if let Some(a) = armature {
            joint.armature = a;
        }
        if let Some(d) = damping {
            joint.damping = d;
        }
        if let Some(f) = friction {
            joint.friction = f;
        }
    }
}
