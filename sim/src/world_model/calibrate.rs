//! Calibration of a world model's trust threshold: how far its ensemble members may disagree
//! before a world flags a step as outside what the model knows.

use crate::scenario::config::ScenarioConfig;
use crate::world_model::fidelity::{open_loop, OpenLoopOptions};
use crate::world_model::model::WorldModel;
use crate::world_model::prepare::PreparedEpisode;
use crate::world_model::WorldModelError;
use std::sync::Arc;

/// Length of the open-loop rollouts the trust threshold is calibrated on.
pub const CALIBRATION_HORIZON: usize = 10;

/// The threshold is the worst validation episode's disagreement times this margin.
pub const CALIBRATION_MARGIN: f64 = 1.5;

/// A calibrated trust threshold and what it came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// Disagreement above which a world flags its step (`worst × CALIBRATION_MARGIN`).
    pub threshold: f64,
    /// The largest mean disagreement of a validation episode's open-loop rollouts.
    pub worst: f64,
    /// Steps of those rollouts.
    pub horizon: usize,
}

/// Calibrates the trust threshold on short open-loop rollouts from the validation episodes'
/// states: in an evaluation the policy keeps the state near the data, and longer open-loop
/// rollouts of an unstable system drift off any data and would set no useful bound.
///
/// # Errors
/// As [`open_loop`].
pub fn calibrate(
    config: &Arc<ScenarioConfig>,
    model: &Arc<WorldModel>,
    validation: &[&PreparedEpisode],
) -> Result<Calibration, WorldModelError> {
    let horizon = CALIBRATION_HORIZON.min(validation.iter().map(|e| e.trajectory.transitions()).max().unwrap_or(1)).max(1);
    let options = OpenLoopOptions { horizons: vec![horizon], stride: horizon };
    let report = open_loop(config, Some(model), validation, &options)?;
    let worst = report.episode_disagreement.iter().copied().fold(0.0, f64::max);
    Ok(Calibration { threshold: worst * CALIBRATION_MARGIN, worst, horizon })
}
