//! The batched world API: B worlds of one scenario stepped together. A single world is a batch
//! of one. Physics worlds step in parallel with rayon; learned and hybrid worlds run their
//! physics in parallel and the network once per step for the whole batch ([`ModelBatch`]).
//!
//! Every world is stepped by one thread at a time and owns all its state, so results never
//! depend on the number of threads.

use crate::error::SimError;
use crate::scenario::config::{DynamicsConfig, ScenarioConfig};
use crate::world::{ActionSpec, LinkPose, Observation, ObservationSpec, StateSpec, StepInfo, StepResult, World, WorldState};
use crate::world_model::{ModelBatch, WorldModel, WorldModelError};
use crate::{EpisodeParameters, PhysicsWorld};
use rayon::prelude::*;
use std::sync::Arc;

/// B worlds of one scenario. Build it with [`WorldBatch::for_scenario`] (the one place where a
/// scenario's `dynamics` section picks the backend), [`WorldBatch::with_model`] (a world model
/// already loaded) or [`WorldBatch::from_worlds`] (worlds built by the caller).
pub enum WorldBatch {
    /// Independent worlds (physics, or model worlds stepped one by one).
    Each(Vec<Box<dyn World>>),
    /// Model worlds whose network runs once per step for all of them.
    Model(ModelBatch),
}

impl WorldBatch {
    /// `size` worlds for `config`, of the kind its `dynamics` section asks for; learned and
    /// hybrid dynamics load their world model (errors: the model file cannot be read or does
    /// not fit the scenario).
    pub fn for_scenario(config: &Arc<ScenarioConfig>, size: usize) -> Result<Self, WorldModelError> {
        match &config.dynamics {
            DynamicsConfig::Physics => Ok(Self::physics(config, size)),
            DynamicsConfig::Learned { model } | DynamicsConfig::Hybrid { model } => {
                Self::with_model(config, Arc::new(WorldModel::load(model)?), size)
            }
        }
    }

    /// `size` physics worlds for `config`, whatever its `dynamics` section says.
    pub fn physics(config: &Arc<ScenarioConfig>, size: usize) -> Self {
        Self::Each((0..size).map(|_| Box::new(PhysicsWorld::new(config.clone())) as Box<dyn World>).collect())
    }

    /// `size` worlds of `model`'s kind (learned or hybrid) for `config`; errors if the model
    /// does not fit the scenario.
    pub fn with_model(config: &Arc<ScenarioConfig>, model: Arc<WorldModel>, size: usize) -> Result<Self, WorldModelError> {
        Ok(Self::Model(ModelBatch::new(config.clone(), model, size)?))
    }

    /// A batch of worlds built elsewhere (all of one scenario).
    pub fn from_worlds(worlds: Vec<Box<dyn World>>) -> Self {
        Self::Each(worlds)
    }

    /// The independent worlds back, to be cached and reused (`None` for a model batch).
    pub fn into_worlds(self) -> Option<Vec<Box<dyn World>>> {
        match self {
            Self::Each(worlds) => Some(worlds),
            Self::Model(_) => None,
        }
    }

    /// B, the number of worlds.
    pub fn len(&self) -> usize {
        match self {
            Self::Each(worlds) => worlds.len(),
            Self::Model(batch) => batch.len(),
        }
    }

    /// Whether the batch holds no world.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The observation spec shared by every world; `None` for an empty batch.
    pub fn observation_spec(&self) -> Option<&Arc<ObservationSpec>> {
        match self {
            Self::Each(worlds) => worlds.first().map(|w| w.observation_spec()),
            Self::Model(batch) => batch.observation_spec(),
        }
    }

    /// The action spec shared by every world; `None` for an empty batch.
    pub fn action_spec(&self) -> Option<&ActionSpec> {
        match self {
            Self::Each(worlds) => worlds.first().map(|w| w.action_spec()),
            Self::Model(batch) => batch.action_spec(),
        }
    }

    /// The state spec shared by every world; `None` for an empty batch.
    pub fn state_spec(&self) -> Option<&StateSpec> {
        match self {
            Self::Each(worlds) => worlds.first().map(|w| w.state_spec()),
            Self::Model(batch) => batch.state_spec(),
        }
    }

    /// The control period in seconds; `None` for an empty batch.
    pub fn control_period(&self) -> Option<f64> {
        match self {
            Self::Each(worlds) => worlds.first().map(|w| w.control_period()),
            Self::Model(batch) => batch.control_period(),
        }
    }

    /// Resets world `i` with `seeds[i]` (`seeds.len()` must equal B; extra seeds are ignored,
    /// missing ones leave their worlds alone).
    pub fn reset(&mut self, seeds: &[u64]) -> Vec<Result<(Observation, StepInfo), SimError>> {
        match self {
            // A batch of one skips rayon's fork and join: most episodes of `run` and `eval` are.
            Self::Each(worlds) if worlds.len() == 1 => worlds.iter_mut().zip(seeds).map(|(w, s)| w.reset(*s)).collect(),
            Self::Each(worlds) => worlds.par_iter_mut().zip(seeds).map(|(w, s)| w.reset(*s)).collect(),
            Self::Model(batch) => batch.reset(seeds),
        }
    }

    /// Steps world `i` with `actions[i]`; `None` leaves it alone (its episode is over) and gives
    /// `None`. Each world's result is independent of the others'.
    pub fn step(&mut self, actions: &[Option<Vec<f64>>]) -> Vec<Option<Result<StepResult, SimError>>> {
        match self {
            Self::Each(worlds) if worlds.len() == 1 => worlds.iter_mut().zip(actions).map(|(w, a)| a.as_ref().map(|a| w.step(a))).collect(),
            Self::Each(worlds) => worlds.par_iter_mut().zip(actions).map(|(w, a)| a.as_ref().map(|a| w.step(a))).collect(),
            Self::Model(batch) => batch.step(actions),
        }
    }

    /// Resets world `i` with `seeds[i]` where it is `Some`, and leaves the others alone (their
    /// result is `None`): what a vector environment's autoreset does. Worlds reset in parallel.
    pub fn reset_some(&mut self, seeds: &[Option<u64>]) -> Vec<Option<Result<(Observation, StepInfo), SimError>>> {
        match self {
            Self::Each(worlds) => worlds.par_iter_mut().zip(seeds).map(|(w, s)| s.map(|s| w.reset(s))).collect(),
            Self::Model(batch) => batch.reset_some(seeds),
        }
    }

    /// Puts world `index`'s episode in `state` ([`World::set_state`]; panics if `index` ≥ B).
    pub fn set_state(&mut self, index: usize, state: &WorldState) -> Result<(), SimError> {
        match self {
            Self::Each(worlds) => worlds[index].set_state(state),
            Self::Model(batch) => batch.world_mut(index).set_state(state),
        }
    }

    /// Scores a step of world `index` computed elsewhere ([`World::step_to`]; panics if
    /// `index` ≥ B).
    pub fn step_to(&mut self, index: usize, action: &[f64], next: &[f64]) -> Result<StepResult, SimError> {
        match self {
            Self::Each(worlds) => worlds[index].step_to(action, next),
            Self::Model(_) => {
                let _ = (action, next);
                Err(SimError::Unsupported("step_to: only physics worlds score a step computed elsewhere".into()))
            }
        }
    }

    /// The observation of world `index`'s current state ([`World::observe`]; panics if `index` ≥ B).
    pub fn observe(&mut self, index: usize) -> Result<Observation, SimError> {
        match self {
            Self::Each(worlds) => worlds[index].observe(),
            Self::Model(batch) => batch.world_mut(index).observe(),
        }
    }

    /// The full state of world `index`'s episode (panics if `index` ≥ B).
    pub fn state(&self, index: usize) -> Result<WorldState, SimError> {
        match self {
            Self::Each(worlds) => worlds[index].state(),
            Self::Model(batch) => batch.world(index).state(),
        }
    }

    /// The randomized parameters of world `index`'s episode, where it has them.
    pub fn parameters(&self, index: usize) -> Option<&EpisodeParameters> {
        match self {
            Self::Each(worlds) => worlds.get(index).and_then(|w| w.parameters()),
            Self::Model(batch) => batch.parameters(index),
        }
    }

    /// World `index`'s robot links in the world frame ([`World::link_poses`]).
    pub fn link_poses(&self, index: usize) -> Vec<LinkPose> {
        match self {
            Self::Each(worlds) => worlds[index].link_poses(),
            Self::Model(batch) => batch.world(index).link_poses(),
        }
    }
}
