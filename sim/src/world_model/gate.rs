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
    /// Whether the error is finite and at most the prior's at every horizon, with no window
    /// diverged (failed windows are not paired with the prior's, so any one disqualifies).
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
    /// Windows averaged at each horizon (every window runs to the largest horizon, so only
    /// episodes at least that long contribute).
    pub windows: Vec<usize>,
    /// Every share tried, largest first.
    pub candidates: Vec<GateCandidate>,
    /// The share kept ([`choose_scale`]).
    pub scale: f64,
}

impl CorrectionGate {
    /// The kept candidate.
    pub fn kept(&self) -> &GateCandidate {
        self.candidates.iter().find(|c| c.scale == self.scale).expect("the kept scale is a candidate")
    }
}

/// The overall error at each of `report`'s horizons, in order.
pub(crate) fn horizon_errors(report: &OpenLoopReport) -> Vec<f64> {
    report.horizons.iter().map(|h| h.overall).collect()
}

/// The horizons checked on episodes whose longest has `longest` transitions: those of
/// [`GATE_HORIZONS`] it reaches, or `longest` alone when it reaches none.
pub(crate) fn gate_horizons(longest: usize) -> Vec<usize> {
    let horizons: Vec<usize> = GATE_HORIZONS.iter().copied().filter(|h| *h <= longest).collect();
    if horizons.is_empty() {
        vec![longest]
    } else {
        horizons
    }
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
    let horizons = gate_horizons(longest);
    let options = OpenLoopOptions { horizons: horizons.clone(), stride: GATE_STRIDE };
    let prior_report = open_loop(prior, None, validation, &options)?;
    let prior_errors = horizon_errors(&prior_report);
    let mut candidates = Vec::with_capacity(GATE_SCALES.len());
    for scale in GATE_SCALES {
        let candidate = if scale == 0.0 {
            // None of the correction: a hybrid world then steps its prior's physics alone
            // (`ModelWorld::complete` leaves the prior's step as it is).
            GateCandidate { scale, errors: prior_errors.clone(), failed_windows: prior_report.failed_windows, no_worse: true }
        } else {
            let report = open_loop(config, Some(&model_at(scale)?), validation, &options)?;
            let errors = horizon_errors(&report);
            let no_worse = no_worse(&errors, report.failed_windows, &prior_errors);
            GateCandidate { scale, errors, failed_windows: report.failed_windows, no_worse }
        };
        tracing::info!(scale = candidate.scale, errors = ?candidate.errors, no_worse = candidate.no_worse, "correction gate");
        candidates.push(candidate);
    }
    let scale = choose_scale(&candidates, &prior_errors);
    Ok(CorrectionGate {
        horizons,
        stride: GATE_STRIDE,
        validation_episodes: validation.len(),
        prior: prior_errors,
        prior_failed_windows: prior_report.failed_windows,
        windows: prior_report.horizons.iter().map(|h| h.windows).collect(),
        candidates,
        scale,
    })
}

/// Whether a share's `errors` (one per horizon) are finite and nowhere above the prior's, with
/// no window diverged.
pub fn no_worse(errors: &[f64], failed_windows: usize, prior: &[f64]) -> bool {
    failed_windows == 0 && errors.len() == prior.len() && errors.iter().zip(prior).all(|(e, p)| e.is_finite() && *e <= *p)
}

/// The share to keep: among the candidates that are [`GateCandidate::no_worse`], the one whose
/// mean error relative to the prior's (over the horizons; a horizon where the prior's error is
/// 0 counts 1) is lowest; on a tie, the larger share. 0 when no candidate with a share is no
/// worse than the prior.
pub fn choose_scale(candidates: &[GateCandidate], prior: &[f64]) -> f64 {
    let relative = |c: &GateCandidate| -> f64 {
        c.errors.iter().zip(prior).map(|(e, p)| if *p > 0.0 { e / p } else { 1.0 }).sum::<f64>() / c.errors.len().max(1) as f64
    };
    let mut kept: Option<(f64, f64)> = None;
    let mut shares: Vec<&GateCandidate> = candidates.iter().filter(|c| c.no_worse || c.scale == 0.0).collect();
    // Largest share first, so that a strict `<` keeps the larger one on a tie.
    shares.sort_by(|a, b| b.scale.total_cmp(&a.scale));
    for c in shares {
        let r = if c.scale == 0.0 { 1.0 } else { relative(c) };
        if kept.is_none_or(|(_, best)| r < best) {
            kept = Some((c.scale, r));
        }
    }
    kept.map_or(0.0, |(scale, _)| scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(scale: f64, errors: &[f64], failed_windows: usize, prior: &[f64]) -> GateCandidate {
        GateCandidate { scale, errors: errors.to_vec(), failed_windows, no_worse: no_worse(errors, failed_windows, prior) }
    }

    #[test]
    fn the_best_share_no_worse_than_the_prior_is_kept_and_ties_go_to_the_larger() {
        let prior = [1.0, 2.0, 4.0];
        let candidates = vec![
            candidate(1.0, &[0.5, 1.0, 5.0], 0, &prior), // better early, worse at the last horizon
            candidate(0.8, &[0.6, 1.2, 3.0], 0, &prior), // no worse anywhere
            candidate(0.6, &[0.7, 1.4, 3.0], 0, &prior), // no worse, but not as good
            candidate(0.4, &[0.1, 0.1, 0.1], 1, &prior), // best numbers, but a window diverged
            candidate(0.0, &prior, 0, &prior),
        ];
        assert!(!candidates[0].no_worse && candidates[1].no_worse && !candidates[3].no_worse);
        assert_eq!(choose_scale(&candidates, &prior), 0.8);
        let tie = vec![
            candidate(0.6, &[0.5, 1.0, 2.0], 0, &prior),
            candidate(0.8, &[0.5, 1.0, 2.0], 0, &prior),
            candidate(0.0, &prior, 0, &prior),
        ];
        assert_eq!(choose_scale(&tie, &prior), 0.8);
        let equal_to_prior = vec![candidate(1.0, &prior, 0, &prior), candidate(0.0, &prior, 0, &prior)];
        assert_eq!(choose_scale(&equal_to_prior, &prior), 1.0, "no worse, and the larger share on the tie");
    }

    #[test]
    fn non_finite_errors_or_none_better_keep_the_prior_alone() {
        let prior = [1.0, 2.0];
        let candidates =
            vec![candidate(1.0, &[f64::NAN, 1.0], 0, &prior), candidate(0.5, &[1.5, 1.0], 0, &prior), candidate(0.0, &prior, 0, &prior)];
        assert_eq!(choose_scale(&candidates, &prior), 0.0);
        // A prior with no error at a horizon: that horizon counts 1 for everyone.
        let zero = [0.0, 2.0];
        let candidates = vec![candidate(1.0, &[0.0, 1.0], 0, &zero), candidate(0.0, &zero, 0, &zero)];
        assert_eq!(choose_scale(&candidates, &zero), 1.0);
    }
}
