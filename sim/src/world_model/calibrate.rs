//! Calibration of a world model's trust threshold: how far its ensemble members may disagree
//! before a world flags a step as outside what the model knows; and the error that flag is
//! meant to catch, so that how well it catches it can be measured on held-out episodes
//! ([`flag_quality`]).

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
    /// The error the flag stands for: the largest validation episode's open-loop error after
    /// [`CALIBRATION_HORIZON`] steps
    /// ([`crate::world_model::fidelity::OpenLoopReport::episode_errors`]; episodes with a
    /// diverged window left out) times the margin. An episode whose error is above it is one the model should not be
    /// trusted on. `None` when no validation episode is [`CALIBRATION_HORIZON`] steps long.
    pub error_target: Option<f64>,
}

/// How well the disagreement flag picks out the episodes whose open-loop error is above the
/// calibration's error target, on some episodes (`dreamrig wm eval`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FlagQuality {
    /// Steps of the open-loop rollouts ([`CALIBRATION_HORIZON`], as calibrated).
    pub horizon: usize,
    /// Disagreement above which an episode is flagged (the model's threshold).
    pub threshold: f64,
    /// Error above which an episode should be flagged (the model's error target).
    pub error_target: f64,
    /// Episodes with a window long enough.
    pub episodes: usize,
    /// Flagged and above the target.
    pub true_positives: usize,
    /// Flagged, but within the target.
    pub false_positives: usize,
    /// Above the target, but not flagged.
    pub false_negatives: usize,
    /// true positives / (true positives + false positives); `None` when no episode is flagged.
    pub precision: Option<f64>,
    /// true positives / (true positives + false negatives); `None` when no episode is above the target.
    pub recall: Option<f64>,
}

/// Rolls `model` out open loop as [`calibrate`] does on `episodes` ([`CALIBRATION_HORIZON`]
/// steps from every [`CALIBRATION_HORIZON`]th state) and counts, per episode, whether its mean
/// disagreement is above `threshold` (flagged) against whether its error is above
/// `error_target` (an episode with a diverged window is above it). `None` when no episode is
/// [`CALIBRATION_HORIZON`] steps long.
///
/// # Errors
/// As [`open_loop`].
pub fn flag_quality(
    config: &Arc<ScenarioConfig>,
    model: &Arc<WorldModel>,
    episodes: &[&PreparedEpisode],
    threshold: f64,
    error_target: f64,
) -> Result<Option<FlagQuality>, WorldModelError> {
    let horizon = CALIBRATION_HORIZON;
    if episodes.iter().all(|e| e.trajectory.transitions() < horizon) {
        return Ok(None);
    }
    let options = OpenLoopOptions { horizons: vec![horizon], stride: horizon };
    let report = open_loop(config, Some(model), episodes, &options)?;
    let (mut tp, mut fp, mut fn_, mut n) = (0, 0, 0, 0);
    for (disagreement, error) in report.episode_disagreement.iter().zip(&report.episode_errors) {
        let Some(error) = error else { continue };
        n += 1;
        match (*disagreement > threshold, *error > error_target) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, true) => fn_ += 1,
            (false, false) => {}
        }
    }
    let ratio = |num: usize, den: usize| (den > 0).then(|| num as f64 / den as f64);
    Ok(Some(FlagQuality {
        horizon,
        threshold,
        error_target,
        episodes: n,
        true_positives: tp,
        false_positives: fp,
        false_negatives: fn_,
        precision: ratio(tp, tp + fp),
        recall: ratio(tp, tp + fn_),
    }))
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
    let errors: Vec<f64> = report.episode_errors.iter().flatten().copied().filter(|e| e.is_finite()).collect();
    let error_target =
        (horizon == CALIBRATION_HORIZON && !errors.is_empty()).then(|| errors.iter().copied().fold(0.0, f64::max) * CALIBRATION_MARGIN);
    Ok(Calibration { threshold: worst * CALIBRATION_MARGIN, worst, horizon, error_target })
}
