//! Policies: what maps observations to actions. The `Policy` trait, controllers that solve the
//! shipped tasks, baselines, wrappers that degrade any policy, and neural policies.

pub mod baselines;
pub mod controllers;
pub mod kinematics;
pub mod neural;
pub mod remote;
pub mod wrappers;
pub mod zoo;

use dreamrig_sim::{ActionSpec, Observation, ObservationSpec};

pub use baselines::{RandomPolicy, ZeroPolicy};
pub use zoo::{PolicyKind, PolicySpec, WrapperSpec};

#[derive(Debug, Clone, thiserror::Error)]
pub enum PolicyError {
    #[error("policy {policy} needs {needed}, but the scenario provides {provided}")]
    SpecMismatch { policy: String, needed: String, provided: String },
    #[error("policy {policy}: {reason}")]
    Failed { policy: String, reason: String },
    #[error("{file}: {reason}")]
    Model { file: String, reason: String },
}

/// Maps observations to actions, one episode at a time.
pub trait Policy: Send {
    fn name(&self) -> &str;

    /// Checks, before any episode runs, that the scenario provides what the policy needs.
    fn check(&self, observation: &ObservationSpec, action: &ActionSpec) -> Result<(), PolicyError>;

    /// Starts an episode; a stochastic policy derives all its randomness from `seed`.
    fn reset(&mut self, seed: u64);

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
pub fn field(policy: &str, observation: &Observation, name: &str) -> Result<Vec<f64>, PolicyError> {
    observation
        .get(name)
        .map(|v| v.iter().map(|x| *x as f64).collect())
        .ok_or_else(|| PolicyError::Failed { policy: policy.into(), reason: format!("observation has no field `{name}`") })
}
