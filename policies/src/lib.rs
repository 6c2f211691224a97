//! Policies: what maps observations to actions. The `Policy` trait, controllers that solve the
//! shipped tasks, baselines, wrappers that degrade any policy, and neural policies.

#![warn(missing_docs)]

pub mod baselines;
pub mod controllers;
pub mod external;
pub mod kinematics;
pub mod neural;
pub mod remote;
pub mod wrappers;
pub mod zoo;

use dreamrig_sim::{ActionSpec, Observation, ObservationSpec};

pub use baselines::{RandomPolicy, ZeroPolicy};
pub use zoo::{PolicyKind, PolicySpec, WrapperSpec};

/// Why a policy cannot be built, checked against a scenario, or act. Each variant names the policy
/// (or the model file) for the message.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PolicyError {
    /// The scenario lacks what the policy needs: an observation field, a field length, the action
    /// names or width (from [`Policy::check`], [`require_field`], [`require_actions`]).
    #[error("policy {policy} needs {needed}, but the scenario provides {provided}")]
    SpecMismatch {
        /// The policy's name.
        policy: String,
        /// What the policy needs, e.g. `joint elbow in joint_state` or `2 action values`.
        needed: String,
        /// What the scenario provides instead.
        provided: String,
    },
    /// The policy cannot be built for this scenario (a missing actuator, sensor or joint; a bad spec),
    /// or failed while acting (a missing field, a remote server's error, a tensor error).
    #[error("policy {policy}: {reason}")]
    Failed {
        /// The policy's name.
        policy: String,
        /// What went wrong.
        reason: String,
    },
    /// A key of the policy's spec is wrong.
    #[error("policy {policy}: {problem}")]
    Spec {
        /// The policy's name.
        policy: String,
        /// The key at fault and what was expected there.
        problem: zoo::SpecProblem,
    },
    /// A model file (JSON config or safetensors weights) cannot be read or does not fit; `file` is its path.
    #[error("{file}: {reason}")]
    Model {
        /// Path of the model file, as displayed.
        file: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Maps observations to actions, one episode at a time.
pub trait Policy: Send {
    /// The name shown in errors and logs: a controller's name, a neural model's file stem, the spec
    /// name of a remote policy.
    fn name(&self) -> &str;

    /// Checks, before any episode runs, that the scenario provides what the policy needs.
    fn check(&self, observation: &ObservationSpec, action: &ActionSpec) -> Result<(), PolicyError>;

    /// Starts an episode; a stochastic policy derives all its randomness from `seed`.
    fn reset(&mut self, seed: u64);

    /// The action for `observation`: length = `action.len()` of the spec it was checked against, in
    /// that spec's order and units. An error ends the episode as a fault in the rollout engine.
    fn act(&mut self, observation: &Observation) -> Result<Vec<f64>, PolicyError>;
}

/// A policy for many environments at once, stepped in lock step: one call maps a batch of
/// observations to a batch of actions. Neural policies run one forward pass per batch, a remote
/// policy sends one query; any `Policy` can be batched by keeping one instance per environment
/// ([`PerEnvironment`]).
pub trait BatchPolicy: Send {
    /// Starts B episodes; environment `i` derives its randomness from `seeds[i]`.
    fn reset(&mut self, seeds: &[u64]);

    /// Actions for the B environments: `observations[i]` is `None` for an environment whose
    /// episode has ended, and its action is then `None` too. Errors fail the whole batch.
    fn act(&mut self, observations: &[Option<&Observation>]) -> Result<Vec<Option<Vec<f64>>>, PolicyError>;
}

/// One policy instance per environment.
pub struct PerEnvironment {
    policies: Vec<Box<dyn Policy>>,
}

impl PerEnvironment {
    /// `policies[i]` serves environment `i`; the batch size is `policies.len()` (observations beyond
    /// it get no action).
    pub fn new(policies: Vec<Box<dyn Policy>>) -> Self {
        Self { policies }
    }
}

impl BatchPolicy for PerEnvironment {
    fn reset(&mut self, seeds: &[u64]) {
        for (policy, seed) in self.policies.iter_mut().zip(seeds) {
            policy.reset(*seed);
        }
    }

    fn act(&mut self, observations: &[Option<&Observation>]) -> Result<Vec<Option<Vec<f64>>>, PolicyError> {
        self.policies.iter_mut().zip(observations).map(|(p, o)| o.map(|o| p.act(o)).transpose()).collect()
    }
}

/// Checks that an observation spec has a field of the given length (any length if `None`).
/// Errors: [`PolicyError::SpecMismatch`] when the field is missing (listing the spec's fields) or has another length.
pub fn require_field(policy: &str, spec: &ObservationSpec, name: &str, len: Option<usize>) -> Result<(), PolicyError> {
    let available = || spec.fields.iter().map(|f| format!("{} {:?}", f.name, f.shape)).collect::<Vec<_>>().join(", ");
    match spec.field(name) {
        None => Err(PolicyError::SpecMismatch {
            policy: policy.into(),
            needed: format!("observation field `{name}`"),
            provided: format!("[{}]", available()),
        }),
        Some(f) if len.is_some_and(|l| f.len() != l) => Err(PolicyError::SpecMismatch {
            policy: policy.into(),
            needed: format!("observation field `{name}` with {} values", len.unwrap_or(0)),
            provided: format!("{} values", f.len()),
        }),
        Some(_) => Ok(()),
    }
}

/// Checks that the action vector has exactly these names.
pub fn require_actions(policy: &str, spec: &ActionSpec, names: &[String]) -> Result<(), PolicyError> {
    if spec.names != names {
        return Err(PolicyError::SpecMismatch {
            policy: policy.into(),
            needed: format!("actions [{}]", names.join(", ")),
            provided: format!("[{}]", spec.names.join(", ")),
        });
    }
    Ok(())
}

/// The values of an observation field, as f64.
/// Errors: [`PolicyError::Failed`] when the observation has no field `name`.
pub fn field(policy: &str, observation: &Observation, name: &str) -> Result<Vec<f64>, PolicyError> {
    observation
        .get(name)
        .map(|v| v.iter().map(|x| *x as f64).collect())
        .ok_or_else(|| PolicyError::Failed { policy: policy.into(), reason: format!("observation has no field `{name}`") })
}
