//! The world API every backend implements: reset, step, and read/write the full state.

use crate::error::SimError;
use std::sync::Arc;

/// One named array of an observation or action.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FieldSpec {
    /// Dotted name, e.g. `joint_state.position` or `lidar.ranges`.
    pub name: String,
    /// Array shape; the values are stored flat in row-major order.
    pub shape: Vec<usize>,
    /// Unit of the values, e.g. `m`, `rad/s`, `N·m`, `quaternion` or `boolean`.
    pub unit: String,
    /// Per-element names where they mean something (joint names, axes).
    pub element_names: Vec<String>,
    /// Bounds per element; infinite where unbounded.
    pub low: Vec<f64>,
    /// Upper bound per element, in the same flat order as `low`; infinite where unbounded.
    pub high: Vec<f64>,
}

impl FieldSpec {
    /// Number of values: the product of `shape`.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the field holds no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The element type of an image's pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PixelType {
    /// 8-bit unsigned (colour images, 0–255 per channel).
    U8,
    /// 16-bit unsigned (segment ids).
    U16,
    /// 32-bit float (depth in metres).
    F32,
}

impl PixelType {
    /// The numpy / Python array-API name of the type: `uint8`, `uint16` or `float32`.
    pub fn name(self) -> &'static str {
        match self {
            PixelType::U8 => "uint8",
            PixelType::U16 => "uint16",
            PixelType::F32 => "float32",
        }
    }
}

/// What one camera output holds: an image of `height` × `width` × `channels` pixels.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ImageSpec {
    /// Dotted name, `CAMERA.rgb`, `CAMERA.depth` or `CAMERA.segmentation`.
    pub name: String,
    /// The camera sensor's name (the prefix of `name`).
    pub camera: String,
    /// Image height in pixels.
    pub height: u32,
    /// Image width in pixels.
    pub width: u32,
    /// Channels per pixel: 3 for RGB, 1 for depth and segmentation.
    pub channels: u32,
    /// Element type of the pixels.
    pub dtype: PixelType,
    /// The ROS `sensor_msgs/Image` encoding (REP-118): `rgb8`, `32FC1` (depth, m) or `16UC1` (segment ids).
    pub encoding: String,
    /// Unit of the values: empty for colours, `m` for depth, `id` for segment ids.
    pub unit: String,
    /// Pinhole intrinsics in pixels, OpenCV/ROS `CameraInfo` convention: [fx, fy, cx, cy].
    pub intrinsics: [f64; 4],
    /// Segmentation only: the name of each segment id, `legend[id − 1]` (`robot/LINK`,
    /// `object/NAME`, `obstacle/NAME`, `ground`); id 0 is "nothing". Empty otherwise.
    pub legend: Vec<String>,
}

impl ImageSpec {
    /// The shape as [height, width, channels], the layout of [`ImageData`].
    pub fn shape(&self) -> [usize; 3] {
        [self.height as usize, self.width as usize, self.channels as usize]
    }

    /// Number of values: height × width × channels.
    pub fn len(&self) -> usize {
        self.shape().iter().product()
    }

    /// Whether the image holds no values (never, for a validated camera).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The pixels of one image, row-major from the top-left pixel, channels last ([H, W, C]).
#[derive(Debug, Clone, PartialEq)]
pub enum ImageData {
    /// 8-bit pixels (RGB).
    U8(Vec<u8>),
    /// 16-bit pixels (segment ids).
    U16(Vec<u16>),
    /// Float pixels (depth in metres, +inf where nothing is hit).
    F32(Vec<f32>),
}

impl ImageData {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            ImageData::U8(v) => v.len(),
            ImageData::U16(v) => v.len(),
            ImageData::F32(v) => v.len(),
        }
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All zeros of `spec`'s shape and type (an image before the camera's first frame).
    pub fn zeros(spec: &ImageSpec) -> ImageData {
        match spec.dtype {
            PixelType::U8 => ImageData::U8(vec![0; spec.len()]),
            PixelType::U16 => ImageData::U16(vec![0; spec.len()]),
            PixelType::F32 => ImageData::F32(vec![0.0; spec.len()]),
        }
    }

    /// The pixels as bytes in native (little-endian on every supported platform) order.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            ImageData::U8(v) => v,
            ImageData::U16(v) => bytemuck::cast_slice(v),
            ImageData::F32(v) => bytemuck::cast_slice(v),
        }
    }
}

/// What a world's observations contain: vector fields, then camera images.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct ObservationSpec {
    /// The fields, in the order an [`Observation`] holds their values.
    pub fields: Vec<FieldSpec>,
    /// The camera images, in the order an [`Observation`] holds them (sensor order, then
    /// rgb, depth, segmentation per camera).
    pub images: Vec<ImageSpec>,
}

impl ObservationSpec {
    /// The field called `name`, if any.
    pub fn field(&self, name: &str) -> Option<&FieldSpec> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Position of the field called `name` in `fields` (and in [`Observation::fields`]).
    pub fn index(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    /// Position of the image called `name` in `images` (and in [`Observation::images`]).
    pub fn image_index(&self, name: &str) -> Option<usize> {
        self.images.iter().position(|f| f.name == name)
    }
}

/// What a world's actions must be: a flat vector with a name, unit and bounds per value.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct ActionSpec {
    /// Name of each action value, e.g. `JOINT.position`, `JOINT.velocity`, `JOINT.effort` or `base.linear_velocity`.
    pub names: Vec<String>,
    /// Unit of each action value (e.g. rad, m, rad/s, m/s, N·m, N), one per name.
    pub units: Vec<String>,
    /// Lower bound of each action value (the actuator's command range); smaller values are clipped.
    pub low: Vec<f64>,
    /// Upper bound of each action value (the actuator's command range); larger values are clipped.
    pub high: Vec<f64>,
}

impl ActionSpec {
    /// Number of values in an action.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether the action has no values.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Names of the values of [`WorldState::values`].
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct StateSpec {
    /// One name per state value, e.g. `robot.joint.NAME.position`: every position first, then every velocity.
    pub names: Vec<String>,
}

/// One observation: the values of each field and each image of the [`ObservationSpec`], in its order.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// The spec these values follow, shared by every observation of the world.
    pub spec: Arc<ObservationSpec>,
    /// Values of each field, in spec order; each is flat (row-major) with the field's `len()` values.
    pub fields: Vec<Vec<f32>>,
    /// Pixels of each image, in spec order ([`ObservationSpec::images`]); empty for worlds without cameras.
    pub images: Vec<ImageData>,
}

impl Observation {
    /// An observation without images.
    pub fn new(spec: Arc<ObservationSpec>, fields: Vec<Vec<f32>>) -> Observation {
        Observation { spec, fields, images: Vec::new() }
    }

    /// The values of the field called `name`.
    pub fn get(&self, name: &str) -> Option<&[f32]> {
        self.spec.index(name).map(|i| self.fields[i].as_slice())
    }

    /// The pixels of the image called `name` (e.g. `front.rgb`).
    pub fn image(&self, name: &str) -> Option<&ImageData> {
        self.spec.image_index(name).and_then(|i| self.images.get(i))
    }

    /// All fields concatenated, in spec order (what a flat policy input is); images are not included.
    pub fn flatten(&self) -> Vec<f32> {
        self.fields.iter().flatten().copied().collect()
    }
}

/// Why an episode ended.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum EndReason {
    /// The task was achieved: a goal held for `success_hold_steps`, or a balance task that reached the horizon without failing.
    Success,
    /// The episode failed; the text says why (a joint out of its bounds, a collision, too far from the goal).
    Failure(String),
    /// The horizon was reached without success or failure.
    Horizon,
}

/// What a step reports besides the observation and reward.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StepInfo {
    /// Simulated time in seconds since reset.
    pub time: f64,
    /// Control steps since reset.
    pub step: u64,
    /// The task is achieved (and has been for the required hold time).
    pub success: bool,
    /// The robot touched an obstacle during this step.
    pub collision: bool,
    /// Distance from the tracked point to the goal, for tasks with a goal.
    pub goal_distance: Option<f64>,
    /// Set on the last step of an episode.
    pub end_reason: Option<EndReason>,
    /// Distance from the robot to the nearest obstacle (navigation tasks).
    pub clearance: Option<f64>,
    /// How much the members of a world-model ensemble disagree about this step's prediction
    /// (mean over state dimensions of the members' standard deviation of the next state, in
    /// units of that dimension's spread in the training data). `None` in physics worlds.
    pub model_disagreement: Option<f64>,
}

/// The result of [`World::step`], with Gymnasium's semantics: `terminated` when the task ended
/// (success or failure), `truncated` when the horizon cut it short.
#[derive(Debug, Clone, PartialEq)]
pub struct StepResult {
    /// The observation after the step.
    pub observation: Observation,
    /// Reward of the step: the weighted sum of the task's reward terms.
    pub reward: f64,
    /// The task ended in success or failure (Gymnasium's `terminated`).
    pub terminated: bool,
    /// The horizon cut the episode short (Gymnasium's `truncated`).
    pub truncated: bool,
    /// Time, step count, success, collision, goal distance and end reason of the step.
    pub info: StepInfo,
}

/// The random state of an episode's sensor noise, as a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NoiseState {
    /// The episode seed; the noise RNG is ChaCha8 seeded with it on the noise stream.
    pub seed: u64,
    /// Position of that RNG in its stream (ChaCha8 word position), so restoring it continues the same draws.
    pub word_pos: u128,
}

/// Everything needed to continue an episode from a point in time.
///
/// `values` is the full dynamic state as a flat named vector ([`World::state_spec`]): the
/// generalized coordinates of the robot and of every movable object, then their velocities.
/// This is what a learned world model predicts. The other fields are the episode's
/// bookkeeping (elapsed steps, actions delayed by latency, sensor-noise RNG).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WorldState {
    /// The full dynamic state, one value per [`StateSpec`] name: every position, then every velocity.
    pub values: Vec<f64>,
    /// Control steps since reset.
    pub step: u64,
    /// Actions waiting in the latency queue, oldest first (`action_latency_steps` of them).
    pub pending_actions: Vec<Vec<f64>>,
    /// The last actions taken, newest first, for world models that condition on them
    /// (empty in physics worlds).
    pub action_history: Vec<Vec<f64>>,
    /// Consecutive control steps the task's success condition has held.
    pub success_streak: u32,
    /// State of the sensor-noise RNG.
    pub noise: NoiseState,
}

/// A world that rolls out observations given actions.
pub trait World: Send {
    /// Starts a new episode. Every random choice of the episode (randomized parameters,
    /// sensor noise) derives from `seed`, so the same seed gives the same episode.
    fn reset(&mut self, seed: u64) -> Result<(Observation, StepInfo), SimError>;

    /// Applies one action for one control period.
    fn step(&mut self, action: &[f64]) -> Result<StepResult, SimError>;

    /// What this world's observations contain, field by field.
    fn observation_spec(&self) -> &Arc<ObservationSpec>;
    /// What this world's actions must be: one name, unit and bound pair per value.
    fn action_spec(&self) -> &ActionSpec;
    /// Names of the values of [`WorldState::values`].
    fn state_spec(&self) -> &StateSpec;

    /// The full state of the current episode.
    fn state(&self) -> Result<WorldState, SimError>;

    /// Puts the current episode in `state`; stepping from here reproduces what stepping from
    /// the moment `state` was taken gave.
    fn set_state(&mut self, state: &WorldState) -> Result<(), SimError>;

    /// The observation of the current state.
    fn observe(&mut self) -> Result<Observation, SimError>;

    /// Scores one control step whose outcome was computed outside this world — by another
    /// engine, or measured on a real robot: `action` is what was applied (clipped to the
    /// [`ActionSpec`] as [`World::step`] clips it) and `next` the dynamic state it led to
    /// ([`World::state_spec`] order). The episode moves to `next`, its step count, latency
    /// queue and sensor noise advance as in `step`, and the sensors and the task read `next`:
    /// the result is what `step` would have returned had this world's own dynamics reached it.
    /// The robot touches an obstacle where its clearance is at most 1 mm (no contact solver
    /// ran). Lets a reference from elsewhere be scored by the scenario's own task.
    ///
    /// # Errors
    /// As `step`; [`SimError::StateLength`] or [`SimError::StateNotFinite`] for a bad `next`
    /// (the episode is left as it was); [`SimError::Unsupported`] from worlds whose state a
    /// model predicts (learned and hybrid worlds), which cannot be moved by another engine.
    fn step_to(&mut self, action: &[f64], next: &[f64]) -> Result<StepResult, SimError> {
        let _ = (action, next);
        Err(SimError::Unsupported("step_to: only physics worlds score a step computed elsewhere".into()))
    }

    /// Control period in seconds.
    fn control_period(&self) -> f64;

    /// The randomized parameters of the current episode, where the world has them.
    fn parameters(&self) -> Option<&crate::EpisodeParameters> {
        None
    }

    /// Where every link of the robot is now, in the world frame, in the URDF's link order
    /// (what transform trees and viewers draw). Empty before the first reset.
    fn link_poses(&self) -> Vec<LinkPose> {
        Vec::new()
    }
}

/// A robot link's pose in the world frame.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkPose {
    /// URDF link name.
    pub link: String,
    /// Position of the link frame's origin in the world frame, [x, y, z] in m.
    pub translation: [f64; 3],
    /// Unit quaternion, (x, y, z, w) as ROS and Rerun write it.
    pub rotation_xyzw: [f64; 4],
}

/// Checks an action against its spec: right length and finite values.
pub fn check_action(spec: &ActionSpec, action: &[f64]) -> Result<(), SimError> {
    if action.len() != spec.len() {
        return Err(SimError::ActionLength { expected: spec.len(), got: action.len(), names: spec.names.join(", ") });
    }
    if let Some((index, value)) = action.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(SimError::ActionNotFinite { index, name: spec.names[index].clone(), value: *value });
    }
    Ok(())
}
