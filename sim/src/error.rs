use std::fmt;
use std::path::PathBuf;

/// One problem found in a scenario file.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ScenarioError {
    #[error("{file}: cannot read: {reason}")]
    Io { file: PathBuf, reason: String },
    #[error("{file}:{line}:{column}: the file is not valid UTF-8 (invalid byte at offset {offset})")]
    NotUtf8 { file: PathBuf, line: usize, column: usize, offset: usize },
    #[error("{file}: the file is empty; expected a scenario mapping starting with `version: 1`")]
    Empty { file: PathBuf },
    #[error("{file}:{line}:{column}: {message}")]
    Syntax { file: PathBuf, line: usize, column: usize, message: String },
    #[error("{file}:{line}:{column}: {key}: expected {expected}, got {got}")]
    Invalid { file: PathBuf, line: usize, column: usize, key: String, expected: String, got: String },
    #[error("{file}:{line}:{column}: {key}: robot URDF {urdf}: {element}: {reason}")]
    Urdf { file: PathBuf, line: usize, column: usize, key: String, urdf: PathBuf, element: String, reason: String },
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
    #[error("action has {got} values, expected {expected} ({names})")]
    ActionLength { expected: usize, got: usize, names: String },
    #[error("action value {index} ({name}) is {value}; actions must be finite numbers")]
    ActionNotFinite { index: usize, name: String, value: f64 },
    #[error("state has {got} values, expected {expected}")]
    StateLength { expected: usize, got: usize },
    #[error("state value {index} ({name}) is {value}; states must be finite numbers")]
    StateNotFinite { index: usize, name: String, value: f64 },
    #[error("the physics state became non-finite at t = {time:.4} s (step {step}): {detail}")]
    Diverged { time: f64, step: u64, detail: String },
    #[error("step() called before reset(); call reset(seed) first")]
    NotReset,
    #[error("step() called after the episode ended; call reset(seed) to start a new one")]
    EpisodeOver,
    #[error("building the world: {0}")]
    Build(String),
    #[error("batch of {got} actions for {expected} worlds")]
    BatchSize { expected: usize, got: usize },
    #[error("world model: {0}")]
    Model(String),
}
