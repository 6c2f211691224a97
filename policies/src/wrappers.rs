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

/// What a wrapper does to the observations going in and the actions coming out.
pub trait Degradation: Send {
    /// Starts an episode; any randomness derives from `seed` alone.
    fn reset(&mut self, seed: u64);

    /// A changed observation, or `None` to pass it through unchanged.
    fn observation(&mut self, _observation: &Observation) -> Option<Observation> {
        None
    }

    /// The action sent to the world instead of the policy's `action` (same length).
    fn action(&mut self, action: Vec<f64>) -> Vec<f64>;
}

/// A policy seen through a [`Degradation`].
pub struct Degraded<D: Degradation> {
    /// The wrapped policy; its name and `check` are the wrapper's.
    pub inner: Box<dyn Policy>,
    /// What is done to the policy's inputs and outputs.
    pub degradation: D,
}

impl<D: Degradation> Policy for Degraded<D> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn check(&self, observation: &ObservationSpec, action: &ActionSpec) -> Result<(), PolicyError> {
        self.inner.check(observation, action)
    }

    fn reset(&mut self, seed: u64) {
        self.inner.reset(seed);
        self.degradation.reset(seed);
    }

    fn act(&mut self, observation: &Observation) -> Result<Vec<f64>, PolicyError> {
        let action = match self.degradation.observation(observation) {
            Some(changed) => self.inner.act(&changed)?,
            None => self.inner.act(observation)?,
        };
        Ok(self.degradation.action(action))
    }
}

fn half_range(low: f64, high: f64) -> f64 {
    if low.is_finite() && high.is_finite() {
        (high - low) / 2.0
    } else {
        1.0
    }
}

/// Gaussian noise on every action value: `std` is a fraction of the half-range of the
/// action's bounds. The result is clipped to the bounds.
pub struct ActionNoise {
    std: f64,
    low: Vec<f64>,
    high: Vec<f64>,
    rng: ChaCha8Rng,
}

impl ActionNoise {
    /// `inner` with N(0, (`std` · half-range)²) added to each action value (half-range 1 where a bound
    /// of `action` is infinite), then clipped to the bounds.
    pub fn wrap(inner: Box<dyn Policy>, std: f64, action: &ActionSpec) -> Degraded<Self> {
        Degraded { inner, degradation: Self { std, low: action.low.clone(), high: action.high.clone(), rng: policy_rng(0, 1) } }
    }
}

impl Degradation for ActionNoise {
    fn reset(&mut self, seed: u64) {
        self.rng = policy_rng(seed, 1);
    }

    fn action(&mut self, mut action: Vec<f64>) -> Vec<f64> {
        for (i, a) in action.iter_mut().enumerate() {
            let (lo, hi) = (self.low[i], self.high[i]);
            *a = (*a + self.std * half_range(lo, hi) * gaussian(&mut self.rng)).clamp(lo, hi);
        }
        action
    }
}

/// Gaussian noise of standard deviation `std` (in each field's own unit) on every
/// observation value before the policy sees it.
pub struct ObservationNoise {
    std: f64,
    rng: ChaCha8Rng,
}

impl ObservationNoise {
    /// `inner` seeing every observation value plus N(0, `std`²) noise.
    pub fn wrap(inner: Box<dyn Policy>, std: f64) -> Degraded<Self> {
        Degraded { inner, degradation: Self { std, rng: policy_rng(0, 2) } }
    }
}

impl Degradation for ObservationNoise {
    fn reset(&mut self, seed: u64) {
        self.rng = policy_rng(seed, 2);
    }

    fn observation(&mut self, observation: &Observation) -> Option<Observation> {
        let mut noisy = observation.clone();
        for v in noisy.fields.iter_mut().flatten() {
            *v += (self.std * gaussian(&mut self.rng)) as f32;
        }
        Some(noisy)
    }

    fn action(&mut self, action: Vec<f64>) -> Vec<f64> {
        action
    }
}

/// Actions delayed by `steps` control steps; until then the first action is repeated.
pub struct Latency {
    steps: usize,
    queue: VecDeque<Vec<f64>>,
}

impl Latency {
    /// `inner` with its actions delayed by `steps` control steps (0: no delay).
    pub fn wrap(inner: Box<dyn Policy>, steps: usize) -> Degraded<Self> {
        Degraded { inner, degradation: Self { steps, queue: VecDeque::new() } }
    }
}

impl Degradation for Latency {
    fn reset(&mut self, _seed: u64) {
        self.queue.clear();
    }

    fn action(&mut self, action: Vec<f64>) -> Vec<f64> {
        if self.queue.is_empty() {
            self.queue.extend(std::iter::repeat_n(action.clone(), self.steps));
        }
        self.queue.push_back(action);
        self.queue.pop_front().expect("just pushed")
    }
}

/// Actions scaled about the centre of their bounds by `scale` (a weak or overdriven
/// actuator), clipped to the bounds.
pub struct GainScale {
    scale: f64,
    low: Vec<f64>,
    high: Vec<f64>,
}

impl GainScale {
    /// `inner` with each action a mapped to centre + `scale` · (a − centre), centre being the middle of
    /// `action`'s bounds (0 where a bound is infinite), then clipped to the bounds.
    pub fn wrap(inner: Box<dyn Policy>, scale: f64, action: &ActionSpec) -> Degraded<Self> {
        Degraded { inner, degradation: Self { scale, low: action.low.clone(), high: action.high.clone() } }
    }
}

impl Degradation for GainScale {
    fn reset(&mut self, _seed: u64) {}

    fn action(&mut self, action: Vec<f64>) -> Vec<f64> {
        action
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let (lo, hi) = (self.low[i], self.high[i]);
                let centre = if lo.is_finite() && hi.is_finite() { (lo + hi) / 2.0 } else { 0.0 };
                (centre + self.scale * (a - centre)).clamp(lo, hi)
            })
            .collect()
    }
}
