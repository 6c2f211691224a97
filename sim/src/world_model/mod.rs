//! World models: learned dynamics that stand in for (`LearnedWorld`) or correct
//! (`HybridWorld`) the rapier step, their files, batched stepping, training and fidelity
//! measures.

/// The trust threshold: how far ensemble members may disagree before a step is flagged.
pub mod calibrate;
/// Logged trajectories, episode choice and the training/validation split.
pub mod data;
/// Open-loop prediction error of a world (physics or world model) against logged episodes.
pub mod fidelity;
/// Keeping a hybrid no worse than its prior on validation episodes.
pub mod gate;
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

pub use identify::{identify_prior, validate_prior, IdentifiedPrior, IdentifyOptions, PayloadMass, PriorValidation};
pub use model::{ModelKind, Prediction, ScenarioFingerprint, WorldModel, WorldModelConfig, WORLD_MODEL_FORMAT};
pub use worlds::{HybridWorld, LearnedWorld, ModelBatch, ModelWorld};

use std::path::PathBuf;

/// Errors of world models: `File` (a config or weights file unreadable or invalid), `Mismatch`
/// (a model that does not fit the scenario), `Network` (candle or device failures), `Data`
/// (unusable training data), `Sim` (a world failed).
#[derive(Debug, thiserror::Error)]
pub enum WorldModelError {
    /// A world-model file cannot be read, parsed or written, is invalid, has weights that do not fit its config, or is of the
    /// wrong kind (learned or hybrid) for the world.
    #[error("{}: {reason}", file.display())]
    File {
        /// The file (or folder) concerned: the config (`.json`), the weights (`.safetensors`) or the metrics (`.metrics.csv`).
        file: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The model was trained for a scenario with other state or action names, control period, robot, actuators, timing or world.
    #[error("{}: cannot be used with scenario {scenario}: {reason}", file.display())]
    Mismatch {
        /// The model's config file.
        file: PathBuf,
        /// Name of the scenario it was to be used with.
        scenario: String,
        /// What differs.
        reason: String,
    },
    /// The model's identified prior does not fit the scenario.
    #[error("{}: cannot be used with scenario {scenario}", file.display())]
    Prior {
        /// The model's config file.
        file: PathBuf,
        /// Name of the scenario it was to be used with.
        scenario: String,
        /// Why the prior does not fit.
        #[source]
        source: identify::PriorError,
    },
    /// An identified prior given to training does not fit the scenario.
    #[error(transparent)]
    IdentifiedPrior(#[from] identify::PriorError),
    /// candle failed (building, running or training the network), the compute device is unavailable, or training diverged.
    #[error("world-model network: {0}")]
    Network(String),
    /// The logged data or options cannot be used, in training or in measuring fidelity: wrong
    /// widths, rates or names, non-finite values, too few episodes, transitions or windows.
    #[error("logged data: {0}")]
    Data(String),
    /// A world (physics or model) failed while preparing data, identifying the prior, calibrating or measuring fidelity.
    #[error(transparent)]
    Sim(#[from] crate::SimError),
}
