//! Baselines: policies that know nothing about the task.

use crate::{Policy, PolicyError};
use dreamrig_sim::{ActionSpec, Observation, ObservationSpec};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn check_width(policy: &str, width: usize, action: &ActionSpec) -> Result<(), PolicyError> {
    if action.len() != width {
        return Err(PolicyError::SpecMismatch {
            policy: policy.into(),
            needed: format!("{width} action values"),
            provided: format!("{}", action.len()),
        });
    }
    Ok(())
}

/// Always outputs zeros, clipped into the action bounds (for position actuators: a target of
/// 0, or the nearest bound).
pub struct ZeroPolicy {
    action: Vec<f64>,
}

impl ZeroPolicy {
    /// One zero per action value of `action`, each clamped between the bounds `low` and `high`.
    pub fn new(action: &ActionSpec) -> Self {
        Self { action: action.low.iter().zip(&action.high).map(|(lo, hi)| 0.0f64.clamp(*lo, *hi)).collect() }
    }
}

impl Policy for ZeroPolicy {
    fn name(&self) -> &str {
        "zero"
    }

    fn check(&self, _observation: &ObservationSpec, action: &ActionSpec) -> Result<(), PolicyError> {
        check_width("zero", self.action.len(), action)
    }

    fn reset(&mut self, _seed: u64) {}

    fn act(&mut self, _observation: &Observation) -> Result<Vec<f64>, PolicyError> {
        Ok(self.action.clone())
    }
}

/// Uniformly random actions within the action bounds.
pub struct RandomPolicy {
    low: Vec<f64>,
    high: Vec<f64>,
    rng: ChaCha8Rng,
}

/// RNG stream of policy randomness: never the streams the world uses for the same seed.
pub const POLICY_STREAM: u64 = 7;

/// The RNG a policy draws from in the episode reset with `seed`: ChaCha8 seeded with
/// `seed ^ salt · 0x9E3779B97F4A7C15` (2⁶⁴/φ), on stream [`POLICY_STREAM`]. `salt` keeps users of one
/// seed apart (0: random policy, 1: action noise, 2: observation noise).
pub fn policy_rng(seed: u64, salt: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ salt.wrapping_mul(0x9E3779B97F4A7C15));
    rng.set_stream(POLICY_STREAM);
    rng
}

impl RandomPolicy {
    /// One uniform draw between `low` and `high` of `action` per value; the bounds must be finite.
    /// Seeded by `reset` (seed 0 before the first reset).
    pub fn new(action: &ActionSpec) -> Self {
        Self { low: action.low.clone(), high: action.high.clone(), rng: policy_rng(0, 0) }
    }
}

impl Policy for RandomPolicy {
    fn name(&self) -> &str {
        "random"
    }

    fn check(&self, _observation: &ObservationSpec, action: &ActionSpec) -> Result<(), PolicyError> {
        check_width("random", self.low.len(), action)
    }

    fn reset(&mut self, seed: u64) {
        self.rng = policy_rng(seed, 0);
    }

    fn act(&mut self, _observation: &Observation) -> Result<Vec<f64>, PolicyError> {
        Ok(self.low.iter().zip(&self.high).map(|(lo, hi)| lo + (hi - lo) * self.rng.random::<f64>()).collect())
    }
}
