//! Wrappers that degrade any policy in a controlled way, so that a zoo of policies of graded
//! quality can be declared from one good controller.

use crate::baselines::policy_rng;
use crate::{Policy, PolicyError};
use dreamrig_sim::{ActionSpec, Observation, ObservationSpec};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use std::collections::VecDeque;

fn gaussian(rng: &mut ChaCha8Rng) -> f64 {
    StandardNormal.sample(rng)
}

/// Adds Gaussian noise to every action value: `std` is a fraction of the half-range of the
/// action's bounds. The result is clipped to the bounds.
pub struct ActionNoise {
    pub inner: Box<dyn Policy>,
    pub std: f64,
    low: Vec<f64>,
    high: Vec<f64>,
    rng: ChaCha8Rng,
}

impl ActionNoise {
    pub fn new(inner: Box<dyn Policy>, std: f64, action: &ActionSpec) -> Self {
        Self { inner, std, low: action.low.clone(), high: action.high.clone(), rng: policy_rng(0, 1) }
    }
}

impl Policy for ActionNoise {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn check(&self, o: &ObservationSpec, a: &ActionSpec) -> Result<(), PolicyError> {
        self.inner.check(o, a)
    }
    fn reset(&mut self, seed: u64) {
        self.inner.reset(seed);
        self.rng = policy_rng(seed, 1);
    }
    fn act(&mut self, observation: &Observation) -> Result<Vec<f64>, PolicyError> {
        let mut action = self.inner.act(observation)?;
        for (i, a) in action.iter_mut().enumerate() {
            let (lo, hi) = (self.low[i], self.high[i]);
            let half_range = if lo.is_finite() && hi.is_finite() { (hi - lo) / 2.0 } else { 1.0 };
            *a = (*a + self.std * half_range * gaussian(&mut self.rng)).clamp(lo, hi);
        }
        Ok(action)
    }
}

/// Adds Gaussian noise of standard deviation `std` (in each field's own unit) to every
/// observation value before the policy sees it.
pub struct ObservationNoise {
    pub inner: Box<dyn Policy>,
    pub std: f64,
    rng: ChaCha8Rng,
}

impl ObservationNoise {
    pub fn new(inner: Box<dyn Policy>, std: f64) -> Self {
        Self { inner, std, rng: policy_rng(0, 2) }
    }
}

impl Policy for ObservationNoise {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn check(&self, o: &ObservationSpec, a: &ActionSpec) -> Result<(), PolicyError> {
        self.inner.check(o, a)
    }
    fn reset(&mut self, seed: u64) {
        self.inner.reset(seed);
        self.rng = policy_rng(seed, 2);
    }
    fn act(&mut self, observation: &Observation) -> Result<Vec<f64>, PolicyError> {
        let mut noisy = observation.clone();
        for field in noisy.fields.iter_mut() {
            for v in field.iter_mut() {
                *v += (self.std * gaussian(&mut self.rng)) as f32;
            }
        }
        self.inner.act(&noisy)
    }
}

/// Delays the policy's actions by `steps` control steps; until then it repeats its first
/// action.
pub struct Latency {
    pub inner: Box<dyn Policy>,
    pub steps: usize,
    queue: VecDeque<Vec<f64>>,
}

impl Latency {
    pub fn new(inner: Box<dyn Policy>, steps: usize) -> Self {
        Self { inner, steps, queue: VecDeque::new() }
    }
}

impl Policy for Latency {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn check(&self, o: &ObservationSpec, a: &ActionSpec) -> Result<(), PolicyError> {
        self.inner.check(o, a)
    }
    fn reset(&mut self, seed: u64) {
        self.inner.reset(seed);
        self.queue.clear();
    }
    fn act(&mut self, observation: &Observation) -> Result<Vec<f64>, PolicyError> {
        let action = self.inner.act(observation)?;
        if self.queue.is_empty() {
            self.queue.extend(std::iter::repeat_n(action.clone(), self.steps));
        }
        self.queue.push_back(action);
        Ok(self.queue.pop_front().expect("just pushed"))
    }
}

/// Scales each action about the centre of its bounds by `scale` (a weak or overdriven
/// actuator), clipped to the bounds.
pub struct GainScale {
    pub inner: Box<dyn Policy>,
    pub scale: f64,
    low: Vec<f64>,
    high: Vec<f64>,
}

impl GainScale {
    pub fn new(inner: Box<dyn Policy>, scale: f64, action: &ActionSpec) -> Self {
        Self { inner, scale, low: action.low.clone(), high: action.high.clone() }
    }
}

impl Policy for GainScale {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn check(&self, o: &ObservationSpec, a: &ActionSpec) -> Result<(), PolicyError> {
        self.inner.check(o, a)
    }
    fn reset(&mut self, seed: u64) {
        self.inner.reset(seed);
    }
    fn act(&mut self, observation: &Observation) -> Result<Vec<f64>, PolicyError> {
        let action = self.inner.act(observation)?;
        Ok(action
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let (lo, hi) = (self.low[i], self.high[i]);
                let centre = if lo.is_finite() && hi.is_finite() { (lo + hi) / 2.0 } else { 0.0 };
                (centre + self.scale * (a - centre)).clamp(lo, hi)
            })
            .collect())
    }
}
