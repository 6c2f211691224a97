//! Trajectories prepared for training and fidelity: actions clipped to their bounds, and the
//! physics prior stepped from every logged state (what a hybrid model corrects).

use crate::error::SimError;
use crate::physics::WorldLayout;
use crate::scenario::config::ScenarioConfig;
use crate::world::World;
use crate::world_model::data::Trajectory;
use crate::world_model::identify::{delayed_actions, prior_configs, IdentifiedPrior};
use crate::world_model::WorldModelError;
use crate::PhysicsWorld;
use rayon::prelude::*;
use std::sync::Arc;

/// Per-transition data derived once: clipped actions, the nominal physics step's change, and
/// the action that holds the robot before the first step.
pub struct PreparedEpisode {
    /// The logged episode, its actions clipped to the scenario's action bounds.
    pub trajectory: Trajectory,
    /// `prior[t]` = physics(states[t], actions[t]) − states[t] (hybrid only).
    pub prior: Vec<Vec<f64>>,
    /// `earlier_prior[t][j]` = physics(states[t], actions[t − 1 − j]) − states[t], the hold
    /// action before the episode (hybrid models with `prior_history` > j).
    pub earlier_prior: Vec<Vec<Vec<f64>>>,
    /// The action that holds the robot still at the episode's start, standing in for actions before the first.
    pub hold: Vec<f64>,
}

fn clip(action: &[f64], low: &[f64], high: &[f64]) -> Vec<f64> {
    action.iter().enumerate().map(|(i, a)| a.clamp(low[i], high[i])).collect()
}

/// Steps the prior's physics (nominal, or `identified`) from every logged state with the
/// logged action (`priors` ≥ 1) and with the `priors − 1` actions before it.
pub fn prepare_episodes(
    config: &Arc<ScenarioConfig>,
    trajectories: Vec<Trajectory>,
    priors: usize,
    identified: Option<&IdentifiedPrior>,
) -> Result<Vec<PreparedEpisode>, WorldModelError> {
    let layout = WorldLayout::new(config);
    let (state_names, action_names) = (&layout.state.names, &layout.action.names);
    for t in &trajectories {
        let wrong_width = |what: &str, rows: &[Vec<f64>], names: &[String]| {
            rows.iter().find(|r| r.len() != names.len()).map(|r| {
                WorldModelError::Data(format!(
                    "episode {} has {what} of {} values; scenario {} has {} ({})",
                    t.episode_index,
                    r.len(),
                    config.name,
                    names.len(),
                    names.join(", ")
                ))
            })
        };
        if let Some(e) = wrong_width("states", &t.states, state_names).or_else(|| wrong_width("actions", &t.actions, action_names)) {
            return Err(e);
        }
        if t.states.iter().chain(&t.actions).flatten().any(|v| !v.is_finite()) {
            return Err(WorldModelError::Data(format!("episode {} holds a non-finite state or action value", t.episode_index)));
        }
    }
    let (low, high) = (layout.action.low.clone(), layout.action.high.clone());
    let (prior_config, probe_config) = prior_configs(config, identified)?;
    let latency = identified.map_or(0, |p| p.action_latency_steps);
    let (prior_config, probe_config) = (&Arc::new(prior_config), &Arc::new(probe_config));
    trajectories
        .into_par_iter()
        .map(|mut trajectory| {
            let mut world = PhysicsWorld::new(prior_config.clone());
            world.reset(trajectory.seed)?;
            let hold = world.hold_action()?;
            trajectory.actions = trajectory.actions.iter().map(|a| clip(a, &low, &high)).collect();
            let mut prior = Vec::new();
            let mut earlier_prior = Vec::new();
            if priors > 0 {
                // The probe steps the earlier actions without delay (as a hybrid world does).
                let mut probe = PhysicsWorld::new(probe_config.clone());
                probe.reset(trajectory.seed)?;
                let step_from =
                    |world: &mut PhysicsWorld, t: usize, action: &[f64], pending: Vec<Vec<f64>>| -> Result<Vec<f64>, SimError> {
                        let mut state = world.state()?;
                        state.values.clone_from(&trajectory.states[t]);
                        state.step = t as u64;
                        state.pending_actions = pending;
                        world.set_state(&state)?;
                        world.step(action)?;
                        Ok(world.state_values_now()?.iter().zip(&trajectory.states[t]).map(|(a, b)| a - b).collect())
                    };
                for t in 0..trajectory.transitions() {
                    let pending = delayed_actions(&trajectory.actions, t, latency, &hold);
                    prior.push(step_from(&mut world, t, &trajectory.actions[t], pending)?);
                    let mut earlier = Vec::new();
                    for back in 1..priors {
                        let action = if t >= back { trajectory.actions[t - back].clone() } else { hold.clone() };
                        earlier.push(step_from(&mut probe, t, &action, Vec::new())?);
                    }
                    earlier_prior.push(earlier);
                }
            }
            Ok(PreparedEpisode { trajectory, prior, earlier_prior, hold })
        })
        .collect::<Result<Vec<_>, SimError>>()
        .map_err(WorldModelError::from)
}
