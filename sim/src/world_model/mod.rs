//! World models: learned dynamics that stand in for (`LearnedWorld`) or correct
//! (`HybridWorld`) the rapier step, their files, batched stepping, training and fidelity
//! measures.

pub mod fidelity;
pub mod identify;
pub mod model;
pub mod train;
pub mod worlds;

pub use identify::{identify_prior, IdentifiedPrior, IdentifyOptions};
pub use model::{ModelKind, Prediction, ScenarioFingerprint, WorldModel, WorldModelConfig, WORLD_MODEL_FORMAT};
pub use worlds::{HybridWorld, LearnedWorld, ModelBatch, ModelWorld};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum WorldModelError {
    #[error("{}: {reason}", file.display())]
    File { file: PathBuf, reason: String },
    #[error("{}: cannot be used with scenario {scenario}: {reason}", file.display())]
    Mismatch { file: PathBuf, scenario: String, reason: String },
    #[error("world-model network: {0}")]
    Network(String),
    #[error("training data: {0}")]
    Data(String),
    #[error(transparent)]
    Sim(#[from] crate::SimError),
}
