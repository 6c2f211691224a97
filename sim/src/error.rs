use std::fmt;
use std::path::PathBuf;

/// One problem found in a scenario file.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ScenarioError {
    /// The scenario file cannot be read, or a scenario name given to `scenario::resolve` matches no file.
    #[error("{file}: cannot read: {reason}")]
    Io {
        /// The file (or name) asked for.
        file: PathBuf,
        /// The operating system's error, or the folders searched.
        reason: String,
    },
    /// The scenario file is not valid UTF-8.
    #[error("{file}:{line}:{column}: the file is not valid UTF-8 (invalid byte at offset {offset})")]
    NotUtf8 {
        /// The scenario file.
        file: PathBuf,
        /// Line of the first invalid byte, 1-based.
        line: usize,
        /// Column (in bytes) of the first invalid byte, 1-based.
        column: usize,
        /// Byte offset of the first invalid byte from the start of the file.
        offset: usize,
    },
    /// The scenario file holds nothing but blank lines and `#` comments.
    #[error("{file}: the file is empty; expected a scenario mapping starting with `version: 1`")]
    Empty {
        /// The scenario file.
        file: PathBuf,
    },
    /// The YAML does not parse into a scenario: bad YAML, a value of the wrong type, an unknown or a missing required key.
    #[error("{file}:{line}:{column}: {message}")]
    Syntax {
        /// The scenario file.
        file: PathBuf,
        /// Line of the problem, 1-based (1 when the parser gives none).
        line: usize,
        /// Column of the problem, 1-based (1 when the parser gives none).
        column: usize,
        /// The YAML parser's message, without its location.
        message: String,
    },
    /// Validation rejected a value: out of range, inconsistent with another, missing, or naming something that does not exist.
    #[error("{file}:{line}:{column}: {key}: expected {expected}, got {got}")]
    Invalid {
        /// The scenario, or the file an overriding value came from (e.g. an eval spec).
        file: PathBuf,
        /// Line of the key (or of its nearest ancestor present in the file), 1-based.
        line: usize,
        /// Column of the key (or of its nearest ancestor present in the file), 1-based.
        column: usize,
        /// Key path of the value, e.g. `sensors[1].lidar.rays` (in the overriding file's terms when relocated).
        key: String,
        /// What the value should be.
        expected: String,
        /// What it is (`nothing` when absent).
        got: String,
    },
    /// A URDF the scenario refers to (the robot, or a `urdf` body) cannot be read or fails the checks of `RobotModel::from_str`.
    #[error("{file}:{line}:{column}: {key}: robot URDF {urdf}: {element}: {reason}")]
    Urdf {
        /// The scenario file.
        file: PathBuf,
        /// Line of `key` in the scenario, 1-based.
        line: usize,
        /// Column of `key` in the scenario, 1-based.
        column: usize,
        /// The key that names the URDF: `robot.urdf`, `robot.builtin` or `world.obstacles[i].urdf` / `world.objects[i].urdf`.
        key: String,
        /// Path of the URDF file (`builtin:NAME` for a shipped robot).
        urdf: PathBuf,
        /// The URDF element concerned, e.g. `joint "elbow"` ([`crate::robot::UrdfProblem::element`]).
        element: String,
        /// What is wrong with it ([`crate::robot::UrdfProblem::reason`]).
        reason: String,
    },
}

impl ScenarioError {
    /// The file the problem is in (a scenario, or the file an overriding value came from).
    pub fn file(&self) -> &std::path::Path {
        match self {
            Self::Io { file, .. }
            | Self::NotUtf8 { file, .. }
            | Self::Empty { file }
            | Self::Syntax { file, .. }
            | Self::Invalid { file, .. }
            | Self::Urdf { file, .. } => file,
        }
    }
}

/// Every problem found in one scenario file, in file order.
#[derive(Debug, Clone)]
pub struct ScenarioErrors(pub Vec<ScenarioError>);

impl fmt::Display for ScenarioErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioErrors {}

impl From<ScenarioError> for ScenarioErrors {
    fn from(error: ScenarioError) -> Self {
        Self(vec![error])
    }
}

/// A failure while a world runs.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SimError {
    /// An action has the wrong number of values.
    #[error("action has {got} values, expected {expected} ({names})")]
    ActionLength {
        /// Number of values the action spec asks for.
        expected: usize,
        /// Number of values given.
        got: usize,
        /// Names of the expected values, comma-separated.
        names: String,
    },
    /// An action holds a NaN or infinite value.
    #[error("action value {index} ({name}) is {value}; actions must be finite numbers")]
    ActionNotFinite {
        /// Position of the first non-finite value in the action.
        index: usize,
        /// Its name in the action spec.
        name: String,
        /// The value (NaN or ±∞).
        value: f64,
    },
    /// A state vector (given to `set_state`, or predicted by a world model) has the wrong number of values.
    #[error("state has {got} values, expected {expected}")]
    StateLength {
        /// Number of values in the state spec.
        expected: usize,
        /// Number of values given.
        got: usize,
    },
    /// A state given to `set_state` holds a NaN or infinite value.
    #[error("state value {index} ({name}) is {value}; states must be finite numbers")]
    StateNotFinite {
        /// Position of the first non-finite value in the state vector.
        index: usize,
        /// Its name in the state spec.
        name: String,
        /// The value (NaN or ±∞).
        value: f64,
    },
    /// The simulated or predicted state became non-finite during a step.
    #[error("the physics state became non-finite at t = {time:.4} s (step {step}): {detail}")]
    Diverged {
        /// Simulated time since reset in s at which it was found.
        time: f64,
        /// Control step at which it was found.
        step: u64,
        /// Which state value, and what it became.
        detail: String,
    },
    /// A world was stepped, or its state or observation read or written, before the first `reset`.
    #[error("step() called before reset(); call reset(seed) first")]
    NotReset,
    /// `step` was called after the episode terminated or was truncated.
    #[error("step() called after the episode ended; call reset(seed) to start a new one")]
    EpisodeOver,
    /// Building an episode's rapier scene failed: a URDF joint or object that rapier did not create as expected.
    #[error("building the world: {0}")]
    Build(String),
    /// A batch of worlds was given a different number of actions than it holds (nothing returns this at present).
    #[error("batch of {got} actions for {expected} worlds")]
    BatchSize {
        /// Number of worlds in the batch.
        expected: usize,
        /// Number of actions given.
        got: usize,
    },
    /// The world model failed: inference failed, or a state's action history does not fit the model.
    #[error("world model: {0}")]
    Model(String),
    /// The world cannot do what was asked of it (e.g. [`crate::World::step_to`] on a model world).
    #[error("{0}")]
    Unsupported(String),
    /// A camera could not render (no rendering device, or the device failed).
    #[error("camera: {0}")]
    Render(#[from] crate::render::RenderError),
}
