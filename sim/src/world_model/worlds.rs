//! `LearnedWorld` and `HybridWorld`: the world API with a world model predicting the state.
//!
//! Both keep a rapier scene as the host of the state: after each prediction the state is
//! written into it, so sensors (ray-cast lidar and depth included), the task and contacts are
//! computed by the same code as in a `PhysicsWorld`.

use crate::error::SimError;
use crate::scenario::config::ScenarioConfig;
use crate::world::*;
use crate::world_model::model::{ModelKind, WorldModel};
use crate::world_model::WorldModelError;
use crate::{EpisodeParameters, PhysicsWorld};
use rayon::prelude::*;
use std::sync::Arc;

/// A step half done: the action is taken, the network has not run yet.
pub(crate) struct PreparedStep {
    clipped: Vec<f64>,
    /// What the prediction is added to: the state before the step (learned) or after the
    /// physics step (hybrid).
    base: Vec<f64>,
    collision: bool,
    input: Vec<f32>,
}

/// The state shared by both kinds of model world.
pub struct ModelWorld {
    host: PhysicsWorld,
    /// A second world for the physics steps under earlier actions (hybrid models with
    /// `prior_history` > 0).
    probe: Option<PhysicsWorld>,
    model: Arc<WorldModel>,
    /// Earlier actions, newest first.
    history: Vec<Vec<f64>>,
}

impl ModelWorld {
    fn new(config: Arc<ScenarioConfig>, model: Arc<WorldModel>, kind: ModelKind) -> Result<Self, WorldModelError> {
        if model.config.kind != kind {
            return Err(WorldModelError::File {
                file: model.path.clone(),
                reason: format!("this is a {} model; a {kind} world needs a {kind} model", model.config.kind),
            });
        }
        model.check_scenario(&config)?;
        // The model was trained against nominal (or identified) physics; randomizing the
        // prior's masses or gains would add a gap the learned part has never seen.
        let (prior, probe) = model.prior_configs(&config)?;
        let probe = (model.config.kind == ModelKind::Hybrid && model.config.prior_history > 0).then(|| PhysicsWorld::new(Arc::new(probe)));
        Ok(Self { host: PhysicsWorld::new(Arc::new(prior)), probe, model, history: Vec::new() })
    }

    /// The world model that predicts this world's steps.
    pub fn model(&self) -> &Arc<WorldModel> {
        &self.model
    }

    /// The robot's links in the host scene, where the predicted state was written.
    pub fn link_poses(&self) -> Vec<crate::LinkPose> {
        self.host.link_poses()
    }

    /// Names of the state values the model predicts ([`World::state_spec`] order).
    pub fn state_names(&self) -> &[String] {
        &self.host.state_spec().names
    }

    pub(crate) fn prepare(&mut self, action: &[f64]) -> Result<PreparedStep, SimError> {
        let before = self.host.state_values_now()?;
        let mut earlier = Vec::new();
        if let Some(probe) = self.probe.as_mut() {
            let mut state = probe.state()?;
            for previous in self.history.iter().take(self.model.config.prior_history) {
                state.values.clone_from(&before);
                state.step = 0;
                probe.set_state(&state)?;
                probe.step(previous)?;
                earlier.push(probe.state_values_now()?.iter().zip(&before).map(|(a, b)| a - b).collect::<Vec<f64>>());
            }
        }
        let latency = self.model.prior_latency();
        if latency > 0 {
            // The prior's delayed actions are the model's own history, so a state set from a log
            // (with its action history) steps the prior with the right ones.
            self.host.set_pending_actions(self.history.iter().take(latency).rev().cloned().collect())?;
        }
        let clipped = self.host.begin_step(action)?;
        let (base, collision) = match self.model.config.kind {
            ModelKind::Learned => (before.clone(), false),
            ModelKind::Hybrid => {
                let collision = self.host.advance()?;
                (self.host.state_values_now()?, collision)
            }
        };
        let mut actions: Vec<&[f64]> = vec![&clipped];
        actions.extend(self.history.iter().map(Vec::as_slice));
        let current: Vec<f64> = base.iter().zip(&before).map(|(a, b)| a - b).collect();
        let mut priors: Vec<&[f64]> = Vec::new();
        if self.model.config.kind == ModelKind::Hybrid {
            priors.push(&current);
            priors.extend(earlier.iter().map(Vec::as_slice));
        }
        let mut input = Vec::with_capacity(self.model.config.input_size());
        self.model.input_row(&before, &actions, &priors, &mut input);
        Ok(PreparedStep { clipped, base, collision, input })
    }

    pub(crate) fn complete(&mut self, prepared: PreparedStep, target: &[f64], disagreement: f64) -> Result<StepResult, SimError> {
        // A hybrid adds its gated share of the correction (×1 is exact: ungated models step as
        // before). With none of it the prior's step stands as it is: the host keeps its own
        // scene (contacts, warm starts), so the world steps exactly as the prior's physics.
        let scale = if self.model.config.kind == ModelKind::Hybrid { self.model.config.correction_scale } else { 1.0 };
        if scale != 0.0 {
            let mut next: Vec<f64> = prepared.base.iter().zip(target).map(|(b, t)| b + scale * t).collect();
            normalize_quaternions(&self.host.state_spec().names, &mut next);
            self.host.replace_state_values(&next)?;
        }
        // The spread of the correction the step applies.
        let disagreement = scale * disagreement;
        if self.model.config.action_history > 0 {
            self.history.insert(0, prepared.clipped.clone());
            self.history.truncate(self.model.config.action_history);
        }
        // A learned world has no contact solver: a robot closer to an obstacle than this
        // counts as touching it.
        let collision = prepared.collision
            || (self.model.config.kind == ModelKind::Learned
                && self.host.scene().and_then(crate::physics::obstacle_clearance).is_some_and(|c| c <= 1e-3));
        let mut result = self.host.finish_step(&prepared.clipped, collision)?;
        result.info.model_disagreement = Some(disagreement);
        Ok(result)
    }

    /// Starts an episode as [`World::reset`] does; the action history holds the initial pose.
    pub fn reset(&mut self, seed: u64) -> Result<(Observation, StepInfo), SimError> {
        let reset = self.host.reset(seed)?;
        if let Some(probe) = self.probe.as_mut() {
            probe.reset(seed)?;
        }
        // Before the first action the actuators hold the initial pose, as a physics world's
        // latency queue assumes.
        self.history = vec![self.host.hold_action()?; self.model.config.action_history];
        Ok(reset)
    }

    /// One control step: the prior's physics (hybrid), the network's prediction, the state written back.
    ///
    /// Errors: an invalid action, a diverging prior, or a network failure ([`SimError::Model`]).
    pub fn step(&mut self, action: &[f64]) -> Result<StepResult, SimError> {
        let prepared = self.prepare(action)?;
        let prediction = self.model.predict(prepared.input.clone(), 1).map_err(|e| SimError::Model(e.to_string()))?;
        self.complete(prepared, &prediction.target, prediction.disagreement[0])
    }

    /// The full state, the model's action history included.
    pub fn state(&self) -> Result<WorldState, SimError> {
        let mut state = self.host.state()?;
        state.action_history = self.history.clone();
        Ok(state)
    }

    /// The observation of the current state.
    pub fn observe(&mut self) -> Result<Observation, SimError> {
        self.host.observe()
    }

    /// Puts the episode in `state`. Errors: an action history of the wrong length or width ([`SimError::Model`]), or a state the host scene refuses.
    pub fn set_state(&mut self, state: &WorldState) -> Result<(), SimError> {
        let expected = self.model.config.action_history;
        if state.action_history.len() != expected || state.action_history.iter().any(|a| a.len() != self.host.action_spec().len()) {
            return Err(SimError::Model(format!(
                "the state's action history has {} actions, this world model needs {expected} of {} values",
                state.action_history.len(),
                self.host.action_spec().len()
            )));
        }
        self.host.set_state(state)?;
        self.history = state.action_history.clone();
        Ok(())
    }
}

/// Rescales every `…qw, …qx, …qy, …qz` group of the state to a unit quaternion: a network's
/// prediction drifts off the unit sphere.
fn normalize_quaternions(names: &[String], values: &mut [f64]) {
    for (i, name) in names.iter().enumerate() {
        if name.ends_with(".qw") && i + 3 < values.len() {
            let norm = values[i..i + 4].iter().map(|v| v * v).sum::<f64>().sqrt();
            if norm > 1e-9 && norm.is_finite() {
                values[i..i + 4].iter_mut().for_each(|v| *v /= norm);
            }
        }
    }
}

macro_rules! model_world {
    ($name:ident, $kind:expr, $doc:literal) => {
        #[doc = $doc]
        pub struct $name(ModelWorld);

        impl $name {
            /// A world for `config` driven by `model`; refuses a model of the other kind or
            /// one trained for another scenario.
            pub fn new(config: Arc<ScenarioConfig>, model: Arc<WorldModel>) -> Result<Self, WorldModelError> {
                Ok(Self(ModelWorld::new(config, model, $kind)?))
            }

            /// The world model that predicts this world's steps.
            pub fn model(&self) -> &Arc<WorldModel> {
                self.0.model()
            }

            /// The model world inside.
            pub fn into_inner(self) -> ModelWorld {
                self.0
            }
        }

        impl World for $name {
            fn reset(&mut self, seed: u64) -> Result<(Observation, StepInfo), SimError> {
                self.0.reset(seed)
            }
            fn step(&mut self, action: &[f64]) -> Result<StepResult, SimError> {
                self.0.step(action)
            }
            fn observation_spec(&self) -> &Arc<ObservationSpec> {
                self.0.host.observation_spec()
            }
            fn action_spec(&self) -> &ActionSpec {
                self.0.host.action_spec()
            }
            fn state_spec(&self) -> &StateSpec {
                self.0.host.state_spec()
            }
            fn state(&self) -> Result<WorldState, SimError> {
                self.0.state()
            }
            fn set_state(&mut self, state: &WorldState) -> Result<(), SimError> {
                self.0.set_state(state)
            }
            fn observe(&mut self) -> Result<Observation, SimError> {
                self.0.host.observe()
            }
            fn control_period(&self) -> f64 {
                self.0.host.control_period()
            }
            fn parameters(&self) -> Option<&EpisodeParameters> {
                self.0.host.parameters()
            }
            fn link_poses(&self) -> Vec<crate::LinkPose> {
                self.0.host.link_poses()
            }
        }
    };
}

model_world!(LearnedWorld, ModelKind::Learned, "A world whose next state is the current state plus a learned change.");
model_world!(HybridWorld, ModelKind::Hybrid, "A world that steps rapier and then adds a learned correction to the state it reached.");

/// B model worlds stepped together: their physics in parallel, the network once for all.
pub struct ModelBatch {
    worlds: Vec<ModelWorld>,
    model: Arc<WorldModel>,
}

impl ModelBatch {
    /// `size` worlds of the model's kind for `config`.
    pub fn new(config: Arc<ScenarioConfig>, model: Arc<WorldModel>, size: usize) -> Result<Self, WorldModelError> {
        let kind = model.config.kind;
        let worlds = (0..size).map(|_| ModelWorld::new(config.clone(), model.clone(), kind)).collect::<Result<_, _>>()?;
        Ok(Self { worlds, model })
    }

    /// B, the number of worlds.
    pub fn len(&self) -> usize {
        self.worlds.len()
    }

    /// Whether the batch holds no world.
    pub fn is_empty(&self) -> bool {
        self.worlds.is_empty()
    }

    /// The observation spec shared by every world; `None` for an empty batch.
    pub fn observation_spec(&self) -> Option<&Arc<ObservationSpec>> {
        self.worlds.first().map(|w| w.host.observation_spec())
    }

    /// The action spec shared by every world; `None` for an empty batch.
    pub fn action_spec(&self) -> Option<&ActionSpec> {
        self.worlds.first().map(|w| w.host.action_spec())
    }

    /// The state spec shared by every world; `None` for an empty batch.
    pub fn state_spec(&self) -> Option<&StateSpec> {
        self.worlds.first().map(|w| w.host.state_spec())
    }

    /// The control period in seconds.
    pub fn control_period(&self) -> Option<f64> {
        self.worlds.first().map(|w| w.host.control_period())
    }

    /// World `index` (panics if `index` ≥ B).
    pub fn world(&self, index: usize) -> &ModelWorld {
        &self.worlds[index]
    }

    /// World `index`, mutably (panics if `index` ≥ B).
    pub fn world_mut(&mut self, index: usize) -> &mut ModelWorld {
        &mut self.worlds[index]
    }

    /// The randomized parameters of world `index`'s episode.
    pub fn parameters(&self, index: usize) -> Option<&EpisodeParameters> {
        self.worlds.get(index).and_then(|w| w.host.parameters())
    }

    /// Resets world `i` with `seeds[i]`.
    pub fn reset(&mut self, seeds: &[u64]) -> Vec<Result<(Observation, StepInfo), SimError>> {
        self.worlds.par_iter_mut().zip(seeds).map(|(w, seed)| w.reset(*seed)).collect()
    }

    /// Resets world `i` with `seeds[i]` where it is `Some`; the others are left alone.
    pub fn reset_some(&mut self, seeds: &[Option<u64>]) -> Vec<Option<Result<(Observation, StepInfo), SimError>>> {
        self.worlds.par_iter_mut().zip(seeds).map(|(w, seed)| seed.map(|s| w.reset(s))).collect()
    }

    /// Steps world `i` with `actions[i]`; `None` leaves it alone (its episode is over) and
    /// gives `None`.
    pub fn step(&mut self, actions: &[Option<Vec<f64>>]) -> Vec<Option<Result<StepResult, SimError>>> {
        let prepared: Vec<Option<Result<PreparedStep, SimError>>> =
            self.worlds.par_iter_mut().zip(actions).map(|(w, a)| a.as_ref().map(|a| w.prepare(a))).collect();
        let mut inputs = Vec::new();
        let mut rows = 0;
        for p in prepared.iter().flatten().flatten() {
            inputs.extend_from_slice(&p.input);
            rows += 1;
        }
        let prediction = self.model.predict(inputs, rows);
        let state_size = self.model.config.state_size();
        let mut row = 0;
        // Each world's half-done step with its row of the prediction (target, disagreement).
        type Job = (Option<Result<PreparedStep, SimError>>, Option<(Vec<f64>, f64)>);
        let jobs: Vec<Job> = prepared
            .into_iter()
            .map(|p| {
                let slot = match (&p, &prediction) {
                    (Some(Ok(_)), Ok(pred)) => {
                        let r = row;
                        row += 1;
                        Some((pred.target[r * state_size..(r + 1) * state_size].to_vec(), pred.disagreement[r]))
                    }
                    _ => None,
                };
                (p, slot)
            })
            .collect();
        let failure = prediction.as_ref().err().map(|e| e.to_string());
        self.worlds
            .par_iter_mut()
            .zip(jobs)
            .map(|(world, (prepared, slot))| match prepared? {
                Err(e) => Some(Err(e)),
                Ok(prepared) => Some(match slot {
                    Some((target, disagreement)) => world.complete(prepared, &target, disagreement),
                    None => Err(SimError::Model(failure.clone().unwrap_or_default())),
                }),
            })
            .collect()
    }
}
