//! Training and fidelity in one call each: what `dreamrig wm train` and `dreamrig wm eval` run,
//! as library functions that tests and other programs call the same way.

use crate::scenario::config::ScenarioConfig;
use crate::world_model::calibrate::{flag_quality, FlagQuality};
use crate::world_model::data::Trajectory;
use crate::world_model::fidelity::{open_loop, OpenLoopOptions, OpenLoopReport};
use crate::world_model::identify::{IdentifiedPrior, IdentifyOptions};
use crate::world_model::model::{ModelKind, WorldModel};
use crate::world_model::prepare::{prepare_episodes, PreparedEpisode};
use crate::world_model::train::{identify_on_training_split, train, EpochMetrics, TrainOptions, TrainedModel};
use crate::world_model::WorldModelError;
use std::sync::Arc;

/// What [`train_world_model`] reports while it works.
#[derive(Debug, Clone, Copy)]
pub enum TrainProgress<'a> {
    /// System identification of the prior is under way (a progress message).
    Identifying(&'a str),
    /// The prior has been identified.
    Identified(&'a IdentifiedPrior),
    /// One epoch of one ensemble member is done.
    Epoch(&'a EpochMetrics),
}

/// Trains a world model for `config` on `trajectories`: for a hybrid with `identify`, first
/// identifies the physics prior on the training split alone ([`identify_on_training_split`]) and
/// puts it in `options` when it is no worse than the nominal physics on the validation split
/// (otherwise the prior stays nominal and the attempt goes in `options.rejected_prior`, stored
/// in the model's training record as `rejected_identified_prior`); then prepares the episodes (the prior stepped from every state) and
/// trains ([`train`]). `provenance` is stored in the model's `training` record.
///
/// # Errors
/// As [`identify_on_training_split`], [`prepare_episodes`] and [`train`].
pub fn train_world_model(
    config: &Arc<ScenarioConfig>,
    trajectories: Vec<Trajectory>,
    mut options: TrainOptions,
    identify: Option<&IdentifyOptions>,
    provenance: serde_json::Value,
    on_progress: &mut dyn FnMut(TrainProgress<'_>),
) -> Result<TrainedModel, WorldModelError> {
    if let (ModelKind::Hybrid, Some(identify)) = (options.kind, identify) {
        let prior =
            identify_on_training_split(config, &trajectories, &options, identify, &mut |m| on_progress(TrainProgress::Identifying(m)))?;
        on_progress(TrainProgress::Identified(&prior));
        // Never a prior worse than the nominal one on the validation episodes: the attempt is
        // kept in the training record, and the nominal physics is the prior.
        if prior.validation.as_ref().is_none_or(|v| v.kept) {
            options.identified_prior = Some(prior);
        } else {
            options.rejected_prior = Some(prior);
        }
    }
    let prepared = prepare_episodes(config, trajectories, options.priors(), options.identified_prior.as_ref())?;
    train(config, &prepared, &options, provenance, &mut |m| on_progress(TrainProgress::Epoch(m)))
}

/// Open-loop errors on logged episodes: of a model, of the scenario's nominal physics and, for
/// a hybrid with an identified prior, of that prior's physics alone; and the precision and
/// recall of the model's disagreement flag on them.
#[derive(Debug, Clone)]
pub struct Fidelity {
    /// Open-loop errors of the world model.
    pub model: OpenLoopReport,
    /// Open-loop errors of the scenario's nominal physics.
    pub nominal: OpenLoopReport,
    /// Open-loop errors of the identified prior's physics alone; `None` when the model has no identified prior.
    pub identified: Option<OpenLoopReport>,
    /// How well the disagreement flag picks out the episodes above the model's error target;
    /// `None` for a model file without a target (written before it was stored, or calibrated on
    /// episodes too short) or episodes too short to measure it.
    pub flag: Option<FlagQuality>,
}

/// Measures [`Fidelity`] of `model` for `config` on `trajectories` (checked against the
/// scenario first).
///
/// # Errors
/// The model does not fit the scenario; the trajectories do not fit it ([`prepare_episodes`]);
/// a world fails ([`open_loop`]).
/// Errors also when some horizon has no window in the data (every episode is too short).
pub fn fidelity(
    config: &Arc<ScenarioConfig>,
    model: &Arc<WorldModel>,
    trajectories: Vec<Trajectory>,
    options: &OpenLoopOptions,
) -> Result<Fidelity, WorldModelError> {
    model.check_scenario(config)?;
    let longest = trajectories.iter().map(|t| t.states.len()).max().unwrap_or(0);
    let prepared: Vec<PreparedEpisode> = prepare_episodes(config, trajectories, 0, None)?;
    let refs: Vec<&PreparedEpisode> = prepared.iter().collect();
    let with_model = open_loop(config, Some(model), &refs, options)?;
    // An average over no window would read as a perfect model: refuse instead. Every window
    // runs to the largest horizon, so either all horizons have windows or none has.
    if with_model.horizons.iter().any(|h| h.windows == 0) {
        let largest = options.horizons.iter().max().copied().unwrap_or(0);
        return Err(WorldModelError::Data(format!(
            "no episode is long enough for the largest horizon, {largest} steps (every window runs to it; the longest episode has {} steps); measure shorter horizons",
            longest.saturating_sub(1)
        )));
    }
    let nominal = open_loop(&Arc::new(config.nominal_physics()), None, &refs, options)?;
    let identified = match &model.config.identified_prior {
        Some(_) => {
            let (prior, _) = model.prior_configs(config)?;
            Some(open_loop(&Arc::new(prior), None, &refs, options)?)
        }
        None => None,
    };
    let flag = match model.config.disagreement_error_target {
        Some(target) => flag_quality(config, model, &refs, model.config.disagreement_threshold, target)?,
        None => None,
    };
    Ok(Fidelity { model: with_model, nominal, identified, flag })
}
