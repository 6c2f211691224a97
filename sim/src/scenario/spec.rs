//! What a scenario file says, before validation: these types mirror the YAML one to one and
//! reject unknown keys. [`super::config`] turns them into checked values.
//!
//! Integers are read as `i64` and lengths as `f64` even where only positive values make sense,
//! so that a wrong sign reaches validation and gets an error that says what was expected,
//! instead of a generic type error.

use serde::Deserialize;
use std::collections::BTreeMap;

/// A whole scenario file: `version` (must be 1), `name` (default: the file stem), `description`,
/// `robot`, `task` and `timing` (required), `world`, `sensors`, `randomize`, `dynamics`
/// (optional). Every key is described in docs/scenarios.md.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSpec {
    /// Scenario format version (`version`); must be 1.
    pub version: i64,
    /// Scenario name (`name`); defaults to the file name without its extension.
    pub name: Option<String>,
    /// Free-text description (`description`); defaults to empty.
    pub description: Option<String>,
    /// The `robot` section (required).
    pub robot: RobotSpec,
    /// The `world` section; defaults to gravity [0, 0, −9.81] m/s², a ground plane and no bodies.
    #[serde(default)]
    pub world: WorldSpec,
    /// The `sensors` list, in observation order; defaults to none.
    #[serde(default)]
    pub sensors: Vec<SensorSpec>,
    /// The `task` section (required).
    pub task: TaskSpec,
    /// The `randomize` section; defaults to no randomization.
    #[serde(default)]
    pub randomize: RandomizeSpec,
    /// The `timing` section (required).
    pub timing: TimingSpec,
    /// The `dynamics` section; defaults to `backend: physics`.
    #[serde(default)]
    pub dynamics: DynamicsSpec,
    /// `packages`: ROS package name → folder (relative to the scenario), searched first for
    /// `package://NAME/…` mesh URIs; defaults to none.
    #[serde(default)]
    pub packages: BTreeMap<String, String>,
}

/// The `robot` section: exactly one of `urdf` and `builtin`, the base pose, initial joint
/// positions (rad or m), the actuators (whose order is the action vector's) and per-link and
/// per-joint overrides.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RobotSpec {
    /// Path of a URDF file, relative to the scenario file.
    pub urdf: Option<String>,
    /// Name of a robot that ships with dreamrig (see `dreamrig scenarios`).
    pub builtin: Option<String>,
    /// `robot.base`: root-link pose and whether it is welded to the world (default fixed at the origin).
    #[serde(default)]
    pub base: BaseSpec,
    /// Initial joint positions by joint name; joints not named start at 0.
    #[serde(default)]
    pub initial_joints: BTreeMap<String, f64>,
    /// `robot.actuators`: what the action drives; the action vector is their values in this order (one per joint
    /// actuator, two per differential drive).
    #[serde(default)]
    pub actuators: Vec<ActuatorSpec>,
    /// Friction coefficient of particular links, overriding the default (e.g. a caster ball
    /// that should slide: `{caster: 0.0}`).
    #[serde(default)]
    pub link_friction: BTreeMap<String, f64>,
    /// Link whose pose the task tracks for `reach` (the end effector).
    pub end_effector: Option<String>,
    /// Joint damping and friction by joint name, replacing the URDF's `<dynamics>` values.
    #[serde(default)]
    pub joint_dynamics: BTreeMap<String, JointDynamicsSpec>,
    /// Point masses rigidly attached to links (a tool or a carried object).
    #[serde(default)]
    pub payload: Vec<PayloadSpec>,
    /// How collision meshes of moving links are simulated: `convex_hull` (default),
    /// `convex_decomposition` or `trimesh`.
    pub collision: Option<String>,
    /// The same per link name, for moving or static links (static links default to `trimesh`).
    #[serde(default)]
    pub link_collision: BTreeMap<String, String>,
    /// Where link inertia comes from: `urdf` (default; checked to be physical) or
    /// `from_geometry` (the URDF mass spread uniformly over the link's collision shapes).
    pub inertia: Option<String>,
}

/// One entry of `robot.joint_dynamics`: replaces the joint's URDF `<dynamics damping friction>`
/// and sets its armature; any key may be left out (the URDF value, or armature 0, stays). All
/// must be ≥ 0.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JointDynamicsSpec {
    /// Viscous damping, N·m·s/rad (N·s/m for prismatic joints).
    pub damping: Option<f64>,
    /// Coulomb friction, N·m (N for prismatic joints).
    pub friction: Option<f64>,
    /// Armature: rotor inertia reflected through the gearing, added to the joint's diagonal of
    /// the mass matrix as MuJoCo's `joint/@armature` is; kg·m² (kg for prismatic joints).
    /// URDF has no element for it, so it is 0 unless set here.
    pub armature: Option<f64>,
}

/// One entry of `robot.payload`: a point mass (kg) rigidly attached to `link` at `position`
/// (link frame, m; default the link origin). It changes mass and inertia, never contacts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayloadSpec {
    /// Name of the robot link (URDF `<link name>`) the mass is attached to.
    pub link: String,
    /// Mass in kg.
    pub mass: f64,
    /// Position of the mass in the link frame, m.
    pub position: Option<Vec<f64>>,
}

/// `robot.base`: pose of the root link in the world frame (REP-103: x forward, y left, z up;
/// `position` in m and URDF roll-pitch-yaw `rpy` in rad, both default [0, 0, 0]) and whether
/// the root is welded to the world (`fixed`, default `true`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseSpec {
    /// Position of the root link in the world frame, [x, y, z] in m; default [0, 0, 0].
    #[serde(default)]
    pub position: Option<Vec<f64>>,
    /// Roll, pitch, yaw in radians.
    #[serde(default)]
    pub rpy: Option<Vec<f64>>,
    /// `true`: the root link is welded to the world. `false`: it is a free (mobile) base.
    #[serde(default = "default_true")]
    pub fixed: bool,
}

impl Default for BaseSpec {
    fn default() -> Self {
        Self { position: None, rpy: None, fixed: true }
    }
}

fn default_true() -> bool {
    true
}

/// One entry of `robot.actuators`, by `kind`: `position` (needs `joint`, `kp`), `velocity`
/// (`joint`, `kd`), `torque` (`joint`) or `differential_drive` (`left_joint`, `right_joint`,
/// `wheel_radius` and `wheel_separation` in m, `max_linear_velocity` m/s, `max_angular_velocity`
/// rad/s, `effort_limit`, `kd`). `kp` on non-position, `kd` on torque and wheel keys on joint actuators are errors.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActuatorSpec {
    /// `position`, `velocity`, `torque` or `differential_drive`.
    pub kind: String,
    /// The driven joint (not for `differential_drive`).
    pub joint: Option<String>,
    /// Largest force or torque the actuator can apply (N or N·m).
    pub effort_limit: Option<f64>,
    /// Command bounds; defaults to the URDF joint limits for position actuators and to
    /// ±effort_limit for torque actuators.
    pub command_range: Option<Vec<f64>>,
    /// Proportional gain of position actuators (N·m/rad or N/m).
    pub kp: Option<f64>,
    /// Derivative gain of position actuators and gain of velocity actuators.
    pub kd: Option<f64>,
    /// `differential_drive` only: the left wheel joint (revolute or continuous).
    pub left_joint: Option<String>,
    /// `differential_drive` only: the right wheel joint (revolute or continuous).
    pub right_joint: Option<String>,
    /// `differential_drive` only: wheel radius in m.
    pub wheel_radius: Option<f64>,
    /// `differential_drive` only: distance between the two wheels (track width) in m.
    pub wheel_separation: Option<f64>,
    /// `differential_drive` only: largest forward velocity command in m/s; the linear command range is ±this.
    pub max_linear_velocity: Option<f64>,
    /// `differential_drive` only: largest yaw-rate command in rad/s; the angular command range is ±this.
    pub max_angular_velocity: Option<f64>,
}

/// The `world` section: `gravity` (m/s², world frame, default [0, 0, −9.81]), the `ground`
/// plane, static `obstacles` and movable `objects` (which need a `mass`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorldSpec {
    /// `world.gravity`: gravity vector [x, y, z] in m/s², world frame; default [0, 0, −9.81].
    pub gravity: Option<Vec<f64>>,
    /// A ground plane is there unless `ground: {enabled: false}`.
    #[serde(default = "default_ground")]
    pub ground: Option<GroundSpec>,
    /// `world.obstacles`: static bodies; they must not have a `mass`.
    #[serde(default)]
    pub obstacles: Vec<BodySpec>,
    /// `world.objects`: movable bodies; each needs a `mass` (except `urdf` bodies). Their poses and velocities are world state.
    #[serde(default)]
    pub objects: Vec<BodySpec>,
    /// `world.lighting`: what cameras see by; defaults to sunlight from above and a pale sky.
    pub lighting: Option<LightingSpec>,
}

/// `world.lighting`: one directional light and an ambient term, colours as linear RGB in 0–1.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LightingSpec {
    /// Direction the light travels, world frame (need not be unit length); default [0.3, 0.2, −1].
    pub direction: Option<Vec<f64>>,
    /// Colour of the directional light, [r, g, b] in 0–1; default [0.7, 0.7, 0.7].
    pub color: Option<Vec<f64>>,
    /// Colour of the ambient light, [r, g, b] in 0–1; default [0.35, 0.35, 0.35].
    pub ambient: Option<Vec<f64>>,
    /// Colour where nothing is hit (the sky), [r, g, b] in 0–1; default [0.62, 0.72, 0.82].
    pub background: Option<Vec<f64>>,
}

fn default_ground() -> Option<GroundSpec> {
    Some(GroundSpec::default())
}

impl Default for WorldSpec {
    fn default() -> Self {
        Self { gravity: None, ground: Some(GroundSpec::default()), obstacles: vec![], objects: vec![], lighting: None }
    }
}

/// `world.ground`: a horizontal plane at z = `height` (m, default 0) with Coulomb friction
/// coefficient `friction` (default 0.8); present unless `enabled: false`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroundSpec {
    /// `enabled`: `false` removes the ground plane; default `true`.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// `friction`: Coulomb friction coefficient of the ground, 0 to 100; default 0.8.
    pub friction: Option<f64>,
    /// `height`: height of the plane (z) in m; default 0.
    pub height: Option<f64>,
    /// `color`: what cameras see, [r, g, b] in 0–1; default [0.5, 0.5, 0.5].
    pub color: Option<Vec<f64>>,
}

impl Default for GroundSpec {
    fn default() -> Self {
        Self { enabled: true, friction: None, height: None, color: None }
    }
}

/// An obstacle (static) or object (movable) in the world.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BodySpec {
    /// `name`: unique among all obstacles and objects; used in state names (`object.NAME.*`) and by `task.object`.
    pub name: String,
    /// `box`: a box shape (YAML key `box`). Exactly one of `box`, `sphere`, `cylinder`, `capsule` and `urdf` is set.
    #[serde(rename = "box")]
    pub box_: Option<BoxSpec>,
    /// `sphere`: a sphere shape.
    pub sphere: Option<RadiusSpec>,
    /// `cylinder`: a cylinder shape, axis along the body's z.
    pub cylinder: Option<RadiusLengthSpec>,
    /// `capsule`: a capsule shape, axis along the body's z.
    pub capsule: Option<RadiusLengthSpec>,
    /// A URDF file (relative to the scenario) whose links make up the body.
    pub urdf: Option<String>,
    /// `position`: [x, y, z] of the body in the world frame, m; default [0, 0, 0].
    pub position: Option<Vec<f64>>,
    /// `rpy`: roll, pitch, yaw of the body in rad; default [0, 0, 0].
    pub rpy: Option<Vec<f64>>,
    /// Mass in kg (objects only).
    pub mass: Option<f64>,
    /// `friction`: Coulomb friction coefficient, 0 to 100; default 0.8.
    pub friction: Option<f64>,
    /// `color`: what cameras see of a primitive shape, [r, g, b] in 0–1; default [0.6, 0.6, 0.6].
    /// A `urdf` body takes its colours from its URDF's `<material>`s.
    pub color: Option<Vec<f64>>,
}

/// `box:` shape of a body, centred on the body's pose.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoxSpec {
    /// Full edge lengths along x, y, z in metres.
    pub size: Vec<f64>,
}

/// `sphere:` shape of a body: `radius` in m.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RadiusSpec {
    /// Radius in m.
    pub radius: f64,
}

/// `cylinder:` or `capsule:` shape of a body, with its axis along z: `radius` and `length` in m.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RadiusLengthSpec {
    /// Radius in m.
    pub radius: f64,
    /// Length of the axis (z) in metres; for capsules, without the end caps.
    pub length: f64,
}

/// One sensor; exactly one of the fields is set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensorSpec {
    /// `joint_state`: joint positions, velocities and efforts.
    pub joint_state: Option<JointStateSpec>,
    /// `imu`: specific force, angular velocity and orientation of a link.
    pub imu: Option<ImuSpec>,
    /// `odometry`: world pose and link-frame velocities of a link.
    pub odometry: Option<OdometrySpec>,
    /// `contact`: contact flags and forces of links.
    pub contact: Option<ContactSpec>,
    /// `lidar`: range scan, 2D or 3D.
    pub lidar: Option<LidarSpec>,
    /// `depth_camera`: depth image.
    pub depth_camera: Option<DepthCameraSpec>,
    /// `link_pose`: noiseless world pose of a link.
    pub link_pose: Option<LinkPoseSpec>,
    /// `camera`: rendered RGB, depth and segmentation images.
    pub camera: Option<CameraSpec>,
}

/// `camera` sensor: a pinhole camera rendered by a rasterizer from the world state. Mounted on
/// `link` at `position` (m) / `rpy` (rad), or fixed in the world frame when `link` is absent;
/// the mount frame follows REP-103 (x forward along the optical axis, y left, z up), as for
/// `depth_camera`. Give `vertical_fov_deg` or `intrinsics`, not both. Each of `outputs`
/// becomes an image `NAME.rgb` ([H, W, 3] u8), `NAME.depth` ([H, W, 1] f32, m along the optical
/// axis, +inf where nothing is hit) or `NAME.segmentation` ([H, W, 1] u16 segment ids).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraSpec {
    /// Prefix of the image names; default `camera`.
    pub name: Option<String>,
    /// The robot link (URDF `<link name>`) the camera is mounted on; absent: fixed in the world frame.
    pub link: Option<String>,
    /// Mount position relative to the link (or the world), [x, y, z] in m; default [0, 0, 0].
    pub position: Option<Vec<f64>>,
    /// Mount orientation relative to the link (or the world), roll/pitch/yaw in rad; default [0, 0, 0].
    pub rpy: Option<Vec<f64>>,
    /// Image width in pixels, 1 to 4096.
    pub width: i64,
    /// Image height in pixels, 1 to 4096.
    pub height: i64,
    /// Vertical field of view in degrees, above 0 and below 180 (square pixels, centred principal point).
    pub vertical_fov_deg: Option<f64>,
    /// Full pinhole intrinsics in pixels (OpenCV/ROS `CameraInfo`): `fx`, `fy`, `cx`, `cy`.
    pub intrinsics: Option<IntrinsicsSpec>,
    /// Near clipping distance along the optical axis in m; default 0.01.
    pub near: Option<f64>,
    /// Far clipping distance along the optical axis in m; default 100.
    pub far: Option<f64>,
    /// Which images to produce: any of `rgb`, `depth`, `segmentation`; default `[rgb]`.
    pub outputs: Option<Vec<String>>,
    /// Standard deviation of Gaussian noise added to each colour channel, in 0–255 units; default 0.
    pub rgb_noise: Option<f64>,
    /// Standard deviation of Gaussian noise added to each depth, m; default 0.
    pub depth_noise: Option<f64>,
    /// Update rate in Hz, above 0 and at most the control rate; default every control step.
    pub rate_hz: Option<f64>,
}

/// `camera.intrinsics`: focal lengths and principal point in pixels (OpenCV/ROS `CameraInfo`
/// `K` = [fx 0 cx; 0 fy cy; 0 0 1]; pixel (u, v)'s centre is at (u, v)).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntrinsicsSpec {
    /// Horizontal focal length, pixels.
    pub fx: f64,
    /// Vertical focal length, pixels.
    pub fy: f64,
    /// Principal point column, pixels.
    pub cx: f64,
    /// Principal point row, pixels.
    pub cy: f64,
}

/// `joint_state` sensor: `.position` (rad or m), `.velocity` (rad/s or m/s) and `.effort`
/// (N·m or N) of `joints`. Noises are Gaussian standard deviations in those units; `name`
/// defaults to `joint_state`, `rate_hz` to the control rate.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct JointStateSpec {
    /// Prefix of the observation fields; default `joint_state`.
    pub name: Option<String>,
    /// Joints to report; all movable joints when absent.
    pub joints: Option<Vec<String>>,
    /// Standard deviation of the position noise, rad or m; default 0.
    pub position_noise: Option<f64>,
    /// Standard deviation of the velocity noise, rad/s or m/s; default 0.
    pub velocity_noise: Option<f64>,
    /// Update rate in Hz, above 0 and at most the control rate; default every control step.
    pub rate_hz: Option<f64>,
}

/// `imu` sensor on `link`: `.linear_acceleration` (specific force in the link frame, m/s²; +9.81
/// on z at rest), `.angular_velocity` (link frame, rad/s) and `.orientation` (w, x, y, z).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImuSpec {
    /// Prefix of the observation fields; default `imu`.
    pub name: Option<String>,
    /// The robot link (URDF `<link name>`) the IMU is attached to.
    pub link: String,
    /// Standard deviation of accelerometer noise (m/s²).
    pub acceleration_noise: Option<f64>,
    /// Standard deviation of gyroscope noise (rad/s).
    pub angular_velocity_noise: Option<f64>,
    /// Update rate in Hz, above 0 and at most the control rate; default every control step.
    pub rate_hz: Option<f64>,
}

/// `odometry` sensor on `link`: `.position` (m) and `.orientation` (w, x, y, z) in the world
/// frame, `.linear_velocity` (m/s) and `.angular_velocity` (rad/s) in the link frame.
/// `position_noise` (m) and `velocity_noise` (applied to both velocities) are standard deviations.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OdometrySpec {
    /// Prefix of the observation fields; default `odometry`.
    pub name: Option<String>,
    /// The robot link (URDF `<link name>`) whose pose and velocity are reported.
    pub link: String,
    /// Standard deviation of the position noise, m; default 0.
    pub position_noise: Option<f64>,
    /// Standard deviation of the linear (m/s) and angular (rad/s) velocity noise; default 0.
    pub velocity_noise: Option<f64>,
    /// Update rate in Hz, above 0 and at most the control rate; default every control step.
    pub rate_hz: Option<f64>,
}

/// `contact` sensor: per link of `links` (non-empty), `.in_contact` (0 or 1) and `.force`
/// (total contact force, N).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactSpec {
    /// Prefix of the observation fields; default `contact`.
    pub name: Option<String>,
    /// Robot links (URDF `<link name>`) to report, one observation value each; must not be empty.
    pub links: Vec<String>,
    /// Update rate in Hz, above 0 and at most the control rate; default every control step.
    pub rate_hz: Option<f64>,
}

/// `lidar` sensor mounted on `link` at `position` (m) / `rpy` (rad): `.ranges` in m, shape
/// [channels, rays], `range_max` where nothing is hit. A 360° lidar starts at −180° and steps by
/// fov/rays; a narrower one spans [−fov/2, +fov/2]. `noise` is a standard deviation in m.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LidarSpec {
    /// Prefix of the observation fields; default `lidar`.
    pub name: Option<String>,
    /// The robot link (URDF `<link name>`) the lidar is mounted on.
    pub link: String,
    /// Mounting offset from the link origin, metres.
    pub position: Option<Vec<f64>>,
    /// Mounting orientation relative to the link, roll/pitch/yaw in radians.
    pub rpy: Option<Vec<f64>>,
    /// Rays per scan line.
    pub rays: i64,
    /// Horizontal field of view in degrees, centred on the sensor's x axis.
    pub fov_deg: f64,
    /// Number of scan lines; 1 (default) makes a 2D lidar.
    pub channels: Option<i64>,
    /// Vertical field of view in degrees for 3D lidars.
    pub vertical_fov_deg: Option<f64>,
    /// Nearest range in m (hits closer are ignored), below `range_max`; default 0.
    pub range_min: Option<f64>,
    /// Farthest range in m; reported where nothing is hit.
    pub range_max: f64,
    /// Standard deviation of the range noise, m (noisy ranges are clamped to [range_min, range_max]); default 0.
    pub noise: Option<f64>,
    /// Update rate in Hz, above 0 and at most the control rate; default every control step.
    pub rate_hz: Option<f64>,
}

/// `depth_camera` sensor mounted on `link` at `position` (m) / `rpy` (rad): `.depth` in m, shape
/// [height, width], distance along the optical axis (the mount's x axis), `range_max` where
/// nothing is hit. `noise` is a standard deviation in m.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepthCameraSpec {
    /// Prefix of the observation fields; default `depth_camera`.
    pub name: Option<String>,
    /// The robot link (URDF `<link name>`) the camera is mounted on.
    pub link: String,
    /// Mounting offset from the link origin, [x, y, z] in m; default [0, 0, 0].
    pub position: Option<Vec<f64>>,
    /// Mounting orientation relative to the link, roll/pitch/yaw in rad; default [0, 0, 0]. The optical axis is the mount's x axis.
    pub rpy: Option<Vec<f64>>,
    /// Image width in pixels, 1 to 4096.
    pub width: i64,
    /// Image height in pixels, 1 to 4096.
    pub height: i64,
    /// Horizontal field of view in degrees.
    pub fov_deg: f64,
    /// Nearest depth in m (hits closer are ignored), below `range_max`; default 0.
    pub range_min: Option<f64>,
    /// Farthest depth in m; reported where nothing is hit.
    pub range_max: f64,
    /// Standard deviation of the depth noise, m (noisy depths are clamped to [range_min, range_max]); default 0.
    pub noise: Option<f64>,
    /// Update rate in Hz, above 0 and at most the control rate; default every control step.
    pub rate_hz: Option<f64>,
}

/// `link_pose` sensor: `.position` (m) and `.orientation` (w, x, y, z) of `link` in the world
/// frame, noiseless, every control step.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkPoseSpec {
    /// Prefix of the observation fields; default `link_pose`.
    pub name: Option<String>,
    /// The robot link (URDF `<link name>`) whose pose is reported.
    pub link: String,
}

/// The `task` section: kind, horizon, goal, success and failure conditions and reward terms.
/// Steps follow Gymnasium: `terminated` on success or failure, `truncated` at the horizon.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// `balance`, `reach`, `navigate` or `push`.
    pub kind: String,
    /// Episode length in control steps; the episode is truncated after it.
    pub horizon_steps: i64,
    /// Nominal goal position (world frame, metres).
    pub goal: Option<Vec<f64>>,
    /// Object whose position must reach the goal (`push`).
    pub object: Option<String>,
    /// Distance to the goal under which the task counts as achieved (`reach`, `navigate`, `push`).
    pub success_distance: Option<f64>,
    /// Control steps the success condition must hold before the episode ends in success.
    pub success_hold_steps: Option<i64>,
    /// Joint bounds whose violation ends the episode in failure (`balance`).
    #[serde(default)]
    pub failure_joint_bounds: BTreeMap<String, Vec<f64>>,
    /// End the episode in failure when the robot touches an obstacle (`navigate`).
    pub failure_on_collision: Option<bool>,
    /// Planar distance of the tracked point from the goal beyond which the episode fails.
    pub failure_distance: Option<f64>,
    /// `task.reward`: weighted reward terms summed per step; default none (zero reward).
    #[serde(default)]
    pub reward: Vec<RewardTermSpec>,
}

/// One entry of `task.reward`: the step reward is the sum of `weight` × term over all entries.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewardTermSpec {
    /// `alive`, `goal_distance`, `goal_progress`, `action_squared`, `success`, `collision`,
    /// `upright`.
    pub term: String,
    /// Factor the term is multiplied by (finite; negative for penalties).
    pub weight: f64,
}

/// The `randomize` section: per-episode distributions, each drawn from the episode seed alone
/// in a fixed order, so a seed always gives the same episode.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RandomizeSpec {
    /// Per-joint distributions added to the initial joint positions.
    #[serde(default)]
    pub initial_joints: BTreeMap<String, DistributionSpec>,
    /// Offsets of the initial base pose: keys `x`, `y`, `z`, `yaw`.
    #[serde(default)]
    pub initial_base: BTreeMap<String, DistributionSpec>,
    /// Goal position: keys `x`, `y`, `z` replace the nominal goal's coordinates.
    #[serde(default)]
    pub goal: BTreeMap<String, DistributionSpec>,
    /// Per-object offsets: object name → keys `x`, `y`, `yaw`.
    #[serde(default)]
    pub objects: BTreeMap<String, BTreeMap<String, DistributionSpec>>,
    /// Obstacle placement: a random obstacle field for navigation.
    pub obstacle_field: Option<ObstacleFieldSpec>,
    /// Factor applied to every link and object mass.
    pub mass_scale: Option<DistributionSpec>,
    /// Friction coefficient of every contact surface, replacing the nominal one.
    pub friction: Option<DistributionSpec>,
    /// Factor applied to actuator gains and effort limits.
    pub actuator_gain_scale: Option<DistributionSpec>,
    /// Factor applied to every sensor noise standard deviation.
    pub sensor_noise_scale: Option<DistributionSpec>,
    /// Delay, in control steps, between a policy's action and its application.
    pub action_latency_steps: Option<DistributionSpec>,
    /// What cameras see: light, colours and camera mounts (drawn on their own stream, so they
    /// change no physics).
    pub appearance: Option<AppearanceSpec>,
}

/// `randomize.appearance`: domain randomization for cameras. Every key is optional.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppearanceSpec {
    /// Factor on the directional and ambient light's colours.
    pub light_intensity: Option<DistributionSpec>,
    /// Rotation of the light's direction about the world's z axis, degrees.
    pub light_azimuth_deg: Option<DistributionSpec>,
    /// Factor on each colour channel of each segment (link, object, obstacle, ground), drawn per channel.
    pub color_scale: Option<DistributionSpec>,
    /// Offset of each camera's mount position, m, drawn per axis.
    pub camera_position: Option<DistributionSpec>,
    /// Offset of each camera's mount roll, pitch and yaw, degrees, drawn per angle.
    pub camera_rotation_deg: Option<DistributionSpec>,
}

/// Exactly one of `uniform`, `normal`, `choice` or `constant`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistributionSpec {
    /// `uniform: [low, high]` with low ≤ high: uniform in [low, high).
    pub uniform: Option<Vec<f64>>,
    /// `normal: {mean, std}`: Gaussian.
    pub normal: Option<NormalSpec>,
    /// `choice: [a, b, …]` (non-empty): one of the values, each equally likely.
    pub choice: Option<Vec<f64>>,
    /// `constant: v`: always v.
    pub constant: Option<f64>,
}

/// `{normal: {mean, std}}`: a Gaussian, in the parameter's units; `std` must be ≥ 0.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NormalSpec {
    /// Mean, in the parameter's units.
    pub mean: f64,
    /// Standard deviation, in the parameter's units; ≥ 0.
    pub std: f64,
}

/// `randomize.obstacle_field`: up to `count` static cylinders of `height` (m) placed at random
/// in `area` (m) with radii in `radius` = [min, max] (m), `clearance` (m) from the start and the goal.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObstacleFieldSpec {
    /// How many cylinders to place.
    pub count: i64,
    /// Area to place them in: [x_min, x_max, y_min, y_max].
    pub area: Vec<f64>,
    /// Radius range of the cylinders.
    pub radius: Vec<f64>,
    /// Height of the cylinders in m.
    pub height: f64,
    /// Keep this much free space around the robot's start and the goal.
    pub clearance: f64,
}

/// The `timing` section: `physics_dt` from 1 µs to 0.1 s, and `control_period` (up to 10 s) a
/// whole multiple of it, at most 100 000 physics steps; optionally rapier's solver settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimingSpec {
    /// Physics step in seconds.
    pub physics_dt: f64,
    /// Time between two policy actions in seconds; a whole multiple of `physics_dt`.
    pub control_period: f64,
    /// rapier's constraint-solver settings (`timing.solver`); rapier's defaults when absent.
    #[serde(default)]
    pub solver: SolverSpec,
}

/// `timing.solver`: rapier's solver settings for each physics step. Every key is optional and
/// defaults to rapier's own default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SolverSpec {
    /// Solver substeps per physics step (rapier `num_solver_iterations`, default 4): the step is
    /// split into this many TGS-soft substeps, each with its own dynamics evaluation.
    pub substeps: Option<i64>,
    /// Projected Gauss–Seidel iterations per substep (rapier `num_internal_pgs_iterations`,
    /// default 1).
    pub iterations: Option<i64>,
    /// Unbiased stabilization iterations per substep (rapier
    /// `num_internal_stabilization_iterations`, default 1; 0 skips the unbiased pass).
    pub stabilization_iterations: Option<i64>,
}

/// The `dynamics` section: which backend steps the world (default `physics`, no model).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DynamicsSpec {
    /// `physics` (rapier), `learned` (a world model alone) or `hybrid` (rapier plus a learned
    /// residual).
    pub backend: String,
    /// World-model config file (`.json`, weights beside it) for `learned` and `hybrid`,
    /// relative to the scenario file.
    pub model: Option<String>,
}

impl Default for DynamicsSpec {
    fn default() -> Self {
        Self { backend: "physics".into(), model: None }
    }
}
