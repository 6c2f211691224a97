//! How far a world can be trusted: open-loop prediction error against logged episodes.
//!
//! From a logged state, the world is stepped with the logged actions and never corrected;
//! the error after h steps is compared with the logged state h steps later.

use crate::error::SimError;
use crate::scenario::config::ScenarioConfig;
use crate::world::{World, WorldState};
use crate::world_model::data::Trajectory;
use crate::world_model::identify::delayed_actions;
use crate::world_model::model::WorldModel;
use crate::world_model::prepare::PreparedEpisode;
use crate::world_model::worlds::ModelBatch;
use crate::world_model::WorldModelError;
use crate::PhysicsWorld;
use rayon::prelude::*;
use std::sync::Arc;

/// Smallest per-dimension scale of the normalized error.
pub const MIN_SCALE: f64 = 1e-3;

/// Settings of [`open_loop`]: the horizons to measure and how far apart windows start.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenLoopOptions {
    /// Horizons (in control steps) at which the error is measured.
    pub horizons: Vec<usize>,
    /// Steps between the starts of successive windows in an episode.
    pub stride: usize,
}

/// Errors at one horizon.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HorizonError {
    /// Control steps ahead at which the error was measured.
    pub horizon: usize,
    /// Root-mean-square error per state dimension divided by that dimension's standard
    /// deviation in the logged data.
    pub per_dimension: Vec<f64>,
    /// Square root of the mean of the squared per-dimension values.
    pub overall: f64,
    /// Windows whose rollout reached this horizon: how many errors were averaged.
    pub windows: usize,
}

/// What [`open_loop`] measured: normalized errors per horizon (state dimensions named by
/// `state_names`), the windows that failed, and each episode's mean ensemble disagreement.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OpenLoopReport {
    /// Name of each state dimension, in `per_dimension` order.
    pub state_names: Vec<String>,
    /// Errors per horizon, in the order of [`OpenLoopOptions::horizons`].
    pub horizons: Vec<HorizonError>,
    /// Windows whose rollout failed (a non-finite state); they are left out of the errors.
    pub failed_windows: usize,
    /// Mean per-step ensemble disagreement of each episode's windows (world models only).
    pub episode_disagreement: Vec<f64>,
    /// Each episode's error at the largest horizon: the root mean square over its windows and
    /// the state dimensions of the error, each dimension divided by the model's training
    /// standard deviation (a model's `normalization.state_std`; for physics alone the data's,
    /// as `per_dimension`), so that a model's figures compare across datasets. Infinite for an
    /// episode with a window that diverged; `None` for an episode with no window that reached
    /// the horizon.
    pub episode_errors: Vec<Option<f64>>,
}

/// Per world: whether its episode ended and the step's disagreement, or why the step failed;
/// `None` for a world that was not stepped.
type StepOutcomes = Vec<Option<Result<(bool, Option<f64>), SimError>>>;

/// A window's worlds: physics or a world model, stepped together.
enum Worlds {
    Physics(Vec<PhysicsWorld>),
    Model(ModelBatch),
}

impl Worlds {
    fn reset(&mut self, seed: u64) -> Result<(), SimError> {
        match self {
            Worlds::Physics(worlds) => worlds.par_iter_mut().try_for_each(|w| w.reset(seed).map(|_| ())),
            Worlds::Model(batch) => batch.reset(&vec![seed; batch.len()]).into_iter().try_for_each(|r| r.map(|_| ())),
        }
    }

    fn state(&self, i: usize) -> Result<WorldState, SimError> {
        match self {
            Worlds::Physics(worlds) => worlds[i].state(),
            Worlds::Model(batch) => batch.world(i).state(),
        }
    }

    fn set_state(&mut self, i: usize, state: &WorldState) -> Result<(), SimError> {
        match self {
            Worlds::Physics(worlds) => worlds[i].set_state(state),
            Worlds::Model(batch) => batch.world_mut(i).set_state(state),
        }
    }

    /// Steps each world that has an action; returns per world the state reached (or the
    /// failure) and the disagreement.
    fn step(&mut self, actions: &[Option<Vec<f64>>]) -> StepOutcomes {
        let results: Vec<Option<Result<crate::StepResult, SimError>>> = match self {
            Worlds::Physics(worlds) => worlds.par_iter_mut().zip(actions).map(|(w, a)| a.as_ref().map(|a| w.step(a))).collect(),
            Worlds::Model(batch) => batch.step(actions),
        };
        results.into_iter().map(|r| r.map(|r| r.map(|r| (r.terminated || r.truncated, r.info.model_disagreement)))).collect()
    }

    /// Control steps the physics of world `i` delays actions by.
    fn latency(&self, i: usize) -> usize {
        let parameters = match self {
            Worlds::Physics(worlds) => worlds[i].parameters(),
            Worlds::Model(batch) => batch.parameters(i),
        };
        parameters.map_or(0, |p| p.action_latency_steps as usize)
    }

    fn values(&self, i: usize) -> Result<Vec<f64>, SimError> {
        self.state(i).map(|s| s.values)
    }
}

/// Each state dimension's spread over the logged states of `trajectories` (population
/// standard deviation, at least [`MIN_SCALE`]): what [`open_loop`] divides errors by. `s` is
/// the state's width.
pub fn state_scale<'a>(trajectories: impl Iterator<Item = &'a Trajectory>, s: usize) -> Vec<f64> {
    let (mut n, mut sum, mut sum_sq) = (0.0, vec![0.0; s], vec![0.0; s]);
    for trajectory in trajectories {
        for state in &trajectory.states {
            n += 1.0;
            for d in 0..s {
                sum[d] += state[d];
                sum_sq[d] += state[d] * state[d];
            }
        }
    }
    (0..s)
        .map(|d| {
            let mean = sum[d] / f64::max(n, 1.0);
            // A joint that hardly moves in the data would turn tiny absolute errors into huge
            // normalized ones: no scale is taken below 1e-3 (rad, m, rad/s or m/s).
            (sum_sq[d] / f64::max(n, 1.0) - mean * mean).max(0.0).sqrt().max(MIN_SCALE)
        })
        .collect()
}

/// The state a world continues a logged episode from at step `t`: `after_reset` (the world's
/// state after resetting with the episode's seed) with the logged values, the step count `t`,
/// the `latency` actions before `t` waiting in the delay queue and the `history` actions before
/// `t` (newest first) a world model conditions on; the episode's hold action stands in for
/// actions before its first.
pub fn window_start(mut after_reset: WorldState, episode: &PreparedEpisode, t: usize, latency: usize, history: usize) -> WorldState {
    let actions = &episode.trajectory.actions;
    after_reset.values.clone_from(&episode.trajectory.states[t]);
    after_reset.step = t as u64;
    after_reset.pending_actions = delayed_actions(actions, t, latency, &episode.hold);
    after_reset.action_history =
        (1..=history).map(|back| if t >= back { actions[t - back].clone() } else { episode.hold.clone() }).collect();
    after_reset
}

/// Measures open-loop error of `model` on `episodes`, or when `model` is `None`, of `config`'s
/// physics as given (pass [`ScenarioConfig::nominal_physics`] for the nominal prior).
pub fn open_loop(
    config: &Arc<ScenarioConfig>,
    model: Option<&Arc<WorldModel>>,
    episodes: &[&PreparedEpisode],
    options: &OpenLoopOptions,
) -> Result<OpenLoopReport, WorldModelError> {
    let names = crate::physics::WorldLayout::new(config).state.names;
    let s = names.len();
    let max_horizon = options.horizons.iter().copied().max().unwrap_or(1);
    let scale = state_scale(episodes.iter().map(|e| &e.trajectory), s);
    let episode_scale: Vec<f64> = match model {
        Some(m) => m.config.normalization.state_std.iter().map(|v| f64::from(*v).max(MIN_SCALE)).collect(),
        None => scale.clone(),
    };
    struct EpisodeResult {
        squared: Vec<Vec<f64>>,
        counts: Vec<usize>,
        failed: usize,
        disagreement: f64,
    }
    let per_episode: Vec<EpisodeResult> = episodes
        .iter()
        .map(|episode| -> Result<EpisodeResult, WorldModelError> {
            let n = episode.trajectory.transitions();
            let starts: Vec<(usize, usize)> = if n >= max_horizon {
                (0..=n - max_horizon).step_by(options.stride.max(1)).map(|t| (t, max_horizon)).collect()
            } else {
                Vec::new()
            };
            let mut result = EpisodeResult {
                squared: vec![vec![0.0; s]; options.horizons.len()],
                counts: vec![0; options.horizons.len()],
                failed: 0,
                disagreement: 0.0,
            };
            if starts.is_empty() {
                return Ok(result);
            }
            let mut worlds = match model {
                None => Worlds::Physics((0..starts.len()).map(|_| PhysicsWorld::new(config.clone())).collect()),
                Some(m) => Worlds::Model(ModelBatch::new(config.clone(), m.clone(), starts.len())?),
            };
            worlds.reset(episode.trajectory.seed)?;
            let history = match model {
                Some(m) => m.config.action_history,
                None => 0,
            };
            for (i, &(t, _)) in starts.iter().enumerate() {
                let state = window_start(worlds.state(i)?, episode, t, worlds.latency(i), history);
                worlds.set_state(i, &state)?;
            }
            let mut alive: Vec<bool> = vec![true; starts.len()];
            let (mut disagreement_sum, mut disagreement_count) = (0.0, 0usize);
            let longest = starts.iter().map(|(_, len)| *len).max().unwrap_or(0);
            for j in 0..longest {
                let actions: Vec<Option<Vec<f64>>> = starts
                    .iter()
                    .enumerate()
                    .map(|(i, &(t, len))| (alive[i] && j < len).then(|| episode.trajectory.actions[t + j].clone()))
                    .collect();
                let results = worlds.step(&actions);
                for (i, r) in results.into_iter().enumerate() {
                    let Some(r) = r else { continue };
                    match r {
                        Err(_) => {
                            alive[i] = false;
                            result.failed += 1;
                        }
                        Ok((ended, disagreement)) => {
                            if let Some(d) = disagreement {
                                disagreement_sum += d;
                                disagreement_count += 1;
                            }
                            let horizon = j + 1;
                            if let Some(h) = options.horizons.iter().position(|h| *h == horizon) {
                                let predicted = worlds.values(i)?;
                                let logged = &episode.trajectory.states[starts[i].0 + horizon];
                                for d in 0..s {
                                    result.squared[h][d] += (predicted[d] - logged[d]).powi(2);
                                }
                                result.counts[h] += 1;
                            }
                            if ended {
                                // The task ended in the world's eyes; the rollout goes on.
                                let state = worlds.state(i)?;
                                worlds.set_state(i, &state)?;
                            }
                        }
                    }
                }
            }
            result.disagreement = if disagreement_count > 0 { disagreement_sum / disagreement_count as f64 } else { 0.0 };
            Ok(result)
        })
        .collect::<Result<_, _>>()?;
    let mut horizons = Vec::new();
    for (h, horizon) in options.horizons.iter().enumerate() {
        let count: usize = per_episode.iter().map(|e| e.counts[h]).sum();
        let per_dimension: Vec<f64> = (0..s)
            .map(|d| {
                let sum: f64 = per_episode.iter().map(|e| e.squared[h][d]).sum();
                (sum / count.max(1) as f64).sqrt() / scale[d]
            })
            .collect();
        let overall = (per_dimension.iter().map(|v| v * v).sum::<f64>() / s.max(1) as f64).sqrt();
        horizons.push(HorizonError { horizon: *horizon, per_dimension, overall, windows: count });
    }
    Ok(OpenLoopReport {
        state_names: names,
        horizons,
        failed_windows: per_episode.iter().map(|e| e.failed).sum(),
        episode_disagreement: per_episode.iter().map(|e| e.disagreement).collect(),
        episode_errors: per_episode
            .iter()
            .map(|e| {
                let last = options.horizons.iter().enumerate().max_by_key(|(_, h)| **h).map(|(i, _)| i)?;
                if e.failed > 0 {
                    // A rollout that diverged is as wrong as a prediction gets.
                    return Some(f64::INFINITY);
                }
                (e.counts[last] > 0).then(|| {
                    let mean: f64 = e.squared[last].iter().zip(&episode_scale).map(|(v, sd)| v / (sd * sd)).sum::<f64>()
                        / (e.counts[last] * s.max(1)) as f64;
                    mean.sqrt()
                })
            })
            .collect(),
    })
}
