//! World models: learned dynamics that stand in for (`LearnedWorld`) or correct
//! (`HybridWorld`) the rapier step, their files, batched stepping, training and fidelity
//! measures.

/// The trust threshold: how far ensemble members may disagree before a step is flagged.
pub mod calibrate;
/// Logged trajectories, episode choice and the training/validation split.
pub mod data;
/// Open-loop prediction error of a world (physics or world model) against logged episodes.
pub mod fidelity;
/// System identification of a hybrid model's physics prior (actuator gain, latency, joint damping and friction).
pub mod identify;
/// The world-model network (an ensemble of candle MLPs), its JSON config and safetensors weights.
pub mod model;
/// Normalization statistics of inputs and targets.
pub mod normalize;
/// Training and fidelity in one call each, as `dreamrig wm train` and `wm eval` run them.
pub mod pipeline;
/// Trajectories prepared for training: clipped actions and the prior stepped from every state.
pub mod prepare;
/// Training world models from logged trajectories.
pub mod train;
/// `LearnedWorld`, `HybridWorld` and `ModelBatch`: the world API with a world model predicting the state.
pub mod worlds;

pub use identify::{identify_prior, IdentifiedPrior, IdentifyOptions};
pub use model::{ModelKind, Prediction, ScenarioFingerprint, WorldModel, WorldModelConfig, WORLD_MODEL_FORMAT};
pub use worlds::{HybridWorld, LearnedWorld, ModelBatch, ModelWorld};

use std::path::PathBuf;

/// Errors of world models: `File` (a config or weights file unreadable or invalid), `Mismatch`
/// (a model that does not fit the scenario), `Network` (candle or device failures), `Data`
/// (unusable training data), `Sim` (a world failed).
#[derive(Debug, thiserror::Error)]
pub enum WorldModelError {
    #[error("{}: {reason}", file.display())]
    File { file: PathBuf, reason: String },
    #[error("{}: cannot be used with scenario {scenario}: {reason}", file.display())]
    Mismatch { file: PathBuf, scenario: String, reason: String },
    /// The model's identified prior does not fit the scenario.
    #[error("{}: cannot be used with scenario {scenario}", file.display())]
    Prior {
        file: PathBuf,
        scenario: String,
        #[source]
        source: identify::PriorError,
    },
    /// An identified prior given to training does not fit the scenario.
    #[error(transparent)]
    IdentifiedPrior(#[from] identify::PriorError),
    #[error("world-model network: {0}")]
    Network(String),
    #[error("training data: {0}")]
    Data(String),
    #[error(transparent)]
    Sim(#[from] crate::SimError),
}
