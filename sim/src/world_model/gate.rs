//! Keeping a hybrid no worse than its prior: after training, the learned correction is rolled
//! out open loop on the validation episodes at several shares of its size, next to the prior's
//! physics alone, and the model keeps the share whose errors are lowest among those nowhere
//! above the prior's. Share 0 is the prior itself, so a correction that does not help at the
//! measured horizons is dropped rather than kept.
//!
//! Why: a correction fitted to one-step changes can help for a step and then, open loop, add
//! up its fit noise faster than the physics drifts; nothing in the training loss checks the
//! horizons `dreamrig wm eval` reports.

use crate::scenario::config::ScenarioConfig;
use crate::world_model::fidelity::{open_loop, OpenLoopOptions, OpenLoopReport};
use crate::world_model::model::WorldModel;
use crate::world_model::prepare::PreparedEpisode;
use crate::world_model::WorldModelError;
use std::sync::Arc;

/// Horizons (control steps) the correction is checked at: those `dreamrig wm eval` reports by
/// default. Horizons longer than every validation episode are left out.
pub const GATE_HORIZONS: [usize; 3] = [1, 10, 50];

/// Steps between the starts of successive open-loop windows, as `dreamrig wm eval` by default.
pub const GATE_STRIDE: usize = 10;

/// Shares of the learned correction tried, largest first; 0 steps the prior alone.
pub const GATE_SCALES: [f64; 6] = [1.0, 0.8, 0.6, 0.4, 0.2, 0.0];

/// One share of the correction, measured.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GateCandidate {
    /// The share of the correction a step adds (0…1).
    pub scale: f64,
    /// Normalized open-loop error at each of [`CorrectionGate::horizons`] (as `wm eval` reports it).
    pub errors: Vec<f64>,
    /// Windows whose rollout diverged (left out of `errors`).
    pub failed_windows: usize,
    /// Whether the error is at most the prior's at every horizon, with no more failed windows.
    pub no_worse: bool,
}

/// What the gate measured and kept: stored in the model file's training record and printed by
/// `dreamrig wm train`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CorrectionGate {
    /// Horizons measured (control steps).
    pub horizons: Vec<usize>,
    /// Steps between window starts.
    pub stride: usize,
    /// Validation episodes rolled out.
    pub validation_episodes: usize,
    /// The prior's physics alone: normalized error at each horizon.
    pub prior: Vec<f64>,
    /// Windows of the prior that diverged.
    pub prior_failed_windows: usize,
    /// Every share tried, largest first.
    pub candidates: Vec<GateCandidate>,
    /// The share kept: the candidate with the lowest mean error relative to the prior's, among
    /// those no worse than the prior anywhere (ties go to the larger share).
    pub scale: f64,
}

impl CorrectionGate {
    /// The kept candidate.
    pub fn kept(&self) -> &GateCandidate {
        self.candidates.iter().find(|c| c.scale == self.scale).expect("the kept scale is a candidate")
    }
}

fn errors(report: &OpenLoopReport) -> Vec<f64> {
    report.horizons.iter().map(|h| h.overall).collect()
}

/// Chooses the share of a hybrid's correction on `validation` episodes. `model_at(scale)` builds
/// the trained model with that share ([`crate::world_model::WorldModelConfig::correction_scale`]);
/// the prior is `prior` (the scenario's physics with the model's identified parameters).
///
/// # Errors
/// No validation episode has a transition; a world fails to build or step ([`open_loop`]).
pub fn gate_correction(
    config: &Arc<ScenarioConfig>,
    prior: &Arc<ScenarioConfig>,
    validation: &[&PreparedEpisode],
    model_at: &dyn Fn(f64) -> Result<Arc<WorldModel>, WorldModelError>,
) -> Result<CorrectionGate, WorldModelError> {
    let longest = validation.iter().map(|e| e.trajectory.transitions()).max().unwrap_or(0);
    if longest == 0 {
        return Err(WorldModelError::Data("no validation episode has a transition to check the hybrid's correction on".into()));
    }
    let mut horizons: Vec<usize> = GATE_HORIZONS.iter().copied().filter(|h| *h <= longest).collect();
    if horizons.is_empty() {
        horizons.push(longest);
    }
    let options = OpenLoopOptions { horizons: horizons.clone(), stride: GATE_STRIDE };
    let prior_report = open_loop(prior, None, validation, &options)?;
    let prior_errors = errors(&prior_report);
    let mut candidates = Vec::with_capacity(GATE_SCALES.len());
    for scale in GATE_SCALES {
        let candidate = if scale == 0.0 {
            // The prior's step with nothing added: the prior itself.
            GateCandidate { scale, errors: prior_errors.clone(), failed_windows: prior_report.failed_windows, no_worse: true }
        } else {
            let report = open_loop(config, Some(&model_at(scale)?), validation, &options)?;
            let errors = errors(&report);
            let no_worse = report.failed_windows <= prior_report.failed_windows
                && errors.iter().zip(&prior_errors).all(|(e, p)| e.is_finite() && *e <= *p);
            GateCandidate { scale, errors, failed_windows: report.failed_windows, no_worse }
        };
        tracing::info!(scale = candidate.scale, errors = ?candidate.errors, no_worse = candidate.no_worse, "correction gate");
        candidates.push(candidate);
    }
    let relative = |c: &GateCandidate| -> f64 {
        c.errors.iter().zip(&prior_errors).map(|(e, p)| if *p > 0.0 { e / p } else { 1.0 }).sum::<f64>() / c.errors.len() as f64
    };
    // Largest first, so a strict `<` keeps the larger share on ties.
    let mut kept = candidates.last().expect("0 is a candidate");
    for c in candidates.iter().filter(|c| c.no_worse) {
        if relative(c) < relative(kept) {
            kept = c;
        }
    }
    let scale = kept.scale;
    Ok(CorrectionGate {
        horizons,
        stride: GATE_STRIDE,
        validation_episodes: validation.len(),
        prior: prior_errors,
        prior_failed_windows: prior_report.failed_windows,
        candidates,
        scale,
    })
}
