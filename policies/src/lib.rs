//! Policies: what maps observations to actions.

use dreamrig_sim::{ActionSpec, Observation, ObservationSpec};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[derive(Debug, Clone, thiserror::Error)]
pub enum PolicyError {
    #[error("policy {policy} needs {needed}, but the scenario provides {provided}")]
    SpecMismatch { policy: String, needed: String, provided: String },
    #[error("policy {policy} failed: {reason}")]
    Failed { policy: String, reason: String },
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

/// Always outputs zeros (for position actuators, a target of 0).
pub struct ZeroPolicy {
    width: usize,
}

impl ZeroPolicy {
    pub fn new(action: &ActionSpec) -> Self {
        Self { width: action.len() }
    }
}

impl Policy for ZeroPolicy {
    fn name(&self) -> &str {
        "zero"
    }

    fn check(&self, _observation: &ObservationSpec, action: &ActionSpec) -> Result<(), PolicyError> {
        if action.len() != self.width {
            return Err(PolicyError::SpecMismatch {
                policy: "zero".into(),
                needed: format!("{} action values", self.width),
                provided: format!("{}", action.len()),
            });
        }
        Ok(())
    }

    fn reset(&mut self, _seed: u64) {}

    fn act(&mut self, _observation: &Observation) -> Result<Vec<f64>, PolicyError> {
        Ok(vec![0.0; self.width])
    }
}

/// Uniformly random actions within the action bounds.
pub struct RandomPolicy {
    low: Vec<f64>,
    high: Vec<f64>,
    rng: ChaCha8Rng,
}

impl RandomPolicy {
    pub fn new(action: &ActionSpec) -> Self {
        Self { low: action.low.clone(), high: action.high.clone(), rng: ChaCha8Rng::seed_from_u64(0) }
    }
}

impl Policy for RandomPolicy {
    fn name(&self) -> &str {
        "random"
    }

    fn check(&self, _observation: &ObservationSpec, action: &ActionSpec) -> Result<(), PolicyError> {
        if action.len() != self.low.len() {
            return Err(PolicyError::SpecMismatch {
                policy: "random".into(),
                needed: format!("{} action values", self.low.len()),
                provided: format!("{}", action.len()),
            });
        }
        Ok(())
    }

    fn reset(&mut self, seed: u64) {
        // A stream of its own, so the policy's draws never coincide with the world's.
        self.rng = ChaCha8Rng::seed_from_u64(seed);
        self.rng.set_stream(7);
    }

    fn act(&mut self, _observation: &Observation) -> Result<Vec<f64>, PolicyError> {
        Ok(self.low.iter().zip(&self.high).map(|(lo, hi)| lo + (hi - lo) * self.rng.random::<f64>()).collect())
    }
}

/// Builds a baseline policy by name.
pub fn baseline(name: &str, action: &ActionSpec) -> Option<Box<dyn Policy>> {
    match name {
        "zero" => Some(Box::new(ZeroPolicy::new(action))),
        "random" => Some(Box::new(RandomPolicy::new(action))),
        _ => None,
    }
}
