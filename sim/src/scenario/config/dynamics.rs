//! Dynamics section: physics, learned or hybrid.

use super::*;

/// Validated `dynamics` section: `Physics` (rapier), or `Learned`/`Hybrid` with the world-model
/// config path resolved against the scenario's folder (validation checks that it exists).
#[derive(Debug, Clone, PartialEq)]
pub enum DynamicsConfig {
    /// `backend: physics`: rapier steps the world.
    Physics,
    /// A learned world model alone predicts the next state.
    Learned {
        /// World-model config file (`dynamics.model`), resolved against the scenario's folder.
        model: PathBuf,
    },
    /// rapier steps, then a learned residual corrects the state.
    Hybrid {
        /// World-model config file (`dynamics.model`), resolved against the scenario's folder.
        model: PathBuf,
    },
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
