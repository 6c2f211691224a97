//! System identification of a hybrid model's physics prior: before the network learns a
//! residual, the physical parameters the scenario can express and a real robot most often gets
//! wrong — actuator strength, an action delay, each joint's damping and Coulomb friction — are
//! fitted to the logged transitions.
//!
//! A network approximates what it learns smoothly; Coulomb friction's stick and slip, or a
//! delayed motor, are discontinuous or need the right action, and a physics engine with the
//! right parameters reproduces them exactly. The residual is then left with what the scenario
//! cannot express (an unmodelled payload, say). The fitted values are reported, which is
//! useful in itself: *this robot's slider friction is 0.03 N, its motor 80% of nominal*.
//!
//! The fit minimizes the prior's one-step error from logged states with logged actions, by
//! coordinate descent (golden-section line searches on a log scale). Work is split into
//! fixed-size chunks summed in order, so the result does not depend on the thread count.

use crate::error::SimError;
use crate::physics::WorldLayout;
use crate::scenario::config::{ActuatorConfig, Distribution, ScenarioConfig};
use crate::world::World;
use crate::world_model::data::Trajectory;
use crate::world_model::WorldModelError;
use crate::PhysicsWorld;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Damping and Coulomb friction of one joint, in the joint's units (N·s/m and N for a slider,
/// N·m·s/rad and N·m for a hinge).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JointDynamics {
    /// Joint name (URDF `<joint name>`).
    pub joint: String,
    /// Viscous damping, N·m·s/rad (hinge) or N·s/m (slider).
    pub damping: f64,
    /// Coulomb friction, N·m (hinge) or N (slider).
    pub friction: f64,
}

/// The physical parameters a hybrid model's prior steps with, fitted to data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentifiedPrior {
    /// Share of the commanded effort the actuators deliver (1 is nominal).
    pub actuator_gain_scale: f64,
    /// Control steps between an action and its effect.
    pub action_latency_steps: usize,
    /// Every moving joint of the robot, in the URDF's order.
    pub joints: Vec<JointDynamics>,
    /// Mean squared one-step error of the nominal physics on the fitted transitions, per state
    /// dimension in units of the spread of that dimension's change.
    pub nominal_error: f64,
    /// The same for the identified physics.
    pub identified_error: f64,
    /// Transitions the fit used.
    pub transitions: usize,
    /// Objective evaluations the fit took.
    pub evaluations: usize,
}

/// Why an identified prior cannot be applied to a scenario.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PriorError {
    /// The prior was identified on a robot with other joints (names, in URDF order).
    #[error("the identified prior has joints [{prior}], the scenario's robot has [{robot}]")]
    Joints {
        /// The prior's joint names, comma-separated.
        prior: String,
        /// The scenario robot's movable joint names, comma-separated.
        robot: String,
    },
    /// A gain, damping or friction is negative or non-finite (a corrupt or hand-edited file).
    #[error("the identified prior holds a negative or non-finite gain, damping or friction")]
    NotPhysical,
}

impl IdentifiedPrior {
    /// `scenario`'s nominal physics with these parameters.
    ///
    /// # Errors
    /// [`PriorError`] when the joints differ from the scenario's robot or a value is not physical.
    pub fn apply(&self, scenario: &ScenarioConfig) -> Result<ScenarioConfig, PriorError> {
        let mut config = scenario.nominal_physics();
        let joints = &Arc::make_mut(&mut config.robot.model).joints;
        if joints.len() != self.joints.len() || joints.iter().zip(&self.joints).any(|(a, b)| a.name != b.joint) {
            return Err(PriorError::Joints {
                prior: self.joints.iter().map(|j| j.joint.as_str()).collect::<Vec<_>>().join(", "),
                robot: joints.iter().map(|j| j.name.as_str()).collect::<Vec<_>>().join(", "),
            });
        }
        let valid = |v: f64| v.is_finite() && v >= 0.0;
        if !valid(self.actuator_gain_scale) || self.joints.iter().any(|j| !valid(j.damping) || !valid(j.friction)) {
            return Err(PriorError::NotPhysical);
        }
        let parameters = Parameters {
            gain: self.actuator_gain_scale,
            latency: self.action_latency_steps,
            damping: self.joints.iter().map(|j| j.damping).collect(),
            friction: self.joints.iter().map(|j| j.friction).collect(),
        };
        Ok(parameters.apply(&config))
    }
}

/// The physics a hybrid's prior steps with for `scenario` — its nominal physics, with
/// `identified` applied where there is one — and the same without the action delay, for the
/// probe that steps the physics under earlier actions and applies each at once.
pub fn prior_configs(
    scenario: &ScenarioConfig,
    identified: Option<&IdentifiedPrior>,
) -> Result<(ScenarioConfig, ScenarioConfig), PriorError> {
    let prior = match identified {
        None => scenario.nominal_physics(),
        Some(p) => p.apply(scenario)?,
    };
    let mut probe = prior.clone();
    probe.randomize.action_latency_steps = None;
    Ok((prior, probe))
}

/// What the search varies.
#[derive(Debug, Clone, PartialEq)]
struct Parameters {
    gain: f64,
    latency: usize,
    damping: Vec<f64>,
    friction: Vec<f64>,
}

impl Parameters {
    fn nominal(config: &ScenarioConfig) -> Self {
        let joints = &config.robot.model.joints;
        Self {
            gain: 1.0,
            latency: 0,
            damping: joints.iter().map(|j| j.damping).collect(),
            friction: joints.iter().map(|j| j.friction).collect(),
        }
    }

    /// `nominal` (already without randomized physics) stepping with these parameters.
    fn apply(&self, nominal: &ScenarioConfig) -> ScenarioConfig {
        let mut config = nominal.clone();
        for (i, joint) in Arc::make_mut(&mut config.robot.model).joints.iter_mut().enumerate() {
            joint.damping = self.damping[i];
            joint.friction = self.friction[i];
        }
        config.randomize.actuator_gain_scale = (self.gain != 1.0).then_some(Distribution::Constant(self.gain));
        config.randomize.action_latency_steps = (self.latency > 0).then_some(Distribution::Constant(self.latency as f64));
        config
    }
}

/// Settings of [`identify_prior`]: how many transitions to sample, the longest latency tried,
/// rounds of coordinate descent, and the `seed` of the transition sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IdentifyOptions {
    /// Transitions drawn from the data for the objective.
    pub transitions: usize,
    /// Longest action delay tried, in control steps.
    pub max_latency: usize,
    /// Rounds of coordinate descent over all parameters.
    pub rounds: usize,
    /// Seed of the transition sample (default 0).
    pub seed: u64,
}

impl Default for IdentifyOptions {
    fn default() -> Self {
        Self { transitions: 1024, max_latency: 2, rounds: 2, seed: 0 }
    }
}

/// Transitions evaluated together by one worker; fixed so that sums do not depend on the
/// thread count.
const CHUNK: usize = 32;
/// Golden-section iterations per line search.
const LINE_SEARCH_ITERATIONS: usize = 14;

struct Objective<'a> {
    nominal: &'a ScenarioConfig,
    trajectories: &'a [Trajectory],
    /// (trajectory, step), sorted so that a worker resets its world once per episode.
    samples: Vec<(usize, usize)>,
    /// Spread of each state dimension's one-step change over the samples.
    scale: Vec<f64>,
    evaluations: usize,
}

impl Objective<'_> {
    /// Mean squared normalized one-step error; infinite where the physics fails (a parameter
    /// set so far off that the state blows up is simply a bad one).
    fn error(&mut self, parameters: &Parameters) -> f64 {
        self.evaluations += 1;
        let config = Arc::new(parameters.apply(self.nominal));
        let sums: Result<Vec<f64>, SimError> = self
            .samples
            .par_chunks(CHUNK)
            .map(|chunk| {
                let mut world = PhysicsWorld::new(config.clone());
                let mut current: Option<usize> = None;
                let mut hold = Vec::new();
                let mut sum = 0.0;
                for &(e, t) in chunk {
                    let trajectory = &self.trajectories[e];
                    if current != Some(e) {
                        world.reset(trajectory.seed)?;
                        hold = world.hold_action()?;
                        current = Some(e);
                    }
                    let mut state = world.state()?;
                    state.values.clone_from(&trajectory.states[t]);
                    state.step = t as u64;
                    state.pending_actions = delayed_actions(&trajectory.actions, t, parameters.latency, &hold);
                    world.set_state(&state)?;
                    world.step(&trajectory.actions[t])?;
                    let reached = world.state_values_now()?;
                    let next = &trajectory.states[t + 1];
                    sum += reached.iter().zip(next).zip(&self.scale).map(|((a, b), s)| ((a - b) / s).powi(2)).sum::<f64>();
                }
                Ok(sum)
            })
            .collect();
        match sums {
            Ok(sums) => {
                let total: f64 = sums.iter().sum();
                let value = total / (self.samples.len() * self.scale.len()).max(1) as f64;
                if value.is_finite() {
                    value
                } else {
                    f64::INFINITY
                }
            }
            Err(_) => f64::INFINITY,
        }
    }
}

/// The actions waiting in a physics world's delay queue before step `t`, oldest first: the
/// `latency` actions before it, or the hold action before the episode began.
pub fn delayed_actions(actions: &[Vec<f64>], t: usize, latency: usize, hold: &[f64]) -> Vec<Vec<f64>> {
    (1..=latency).rev().map(|back| if t >= back { actions[t - back].clone() } else { hold.to_vec() }).collect()
}

/// Minimizes `f` over `[low, high]` by golden-section search; returns the best point seen and
/// its value.
fn golden_section(f: &mut dyn FnMut(f64) -> f64, low: f64, high: f64, iterations: usize) -> (f64, f64) {
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let (mut a, mut b) = (low, high);
    let mut c = b - ratio * (b - a);
    let mut d = a + ratio * (b - a);
    let (mut fc, mut fd) = (f(c), f(d));
    let mut best = if fc <= fd { (c, fc) } else { (d, fd) };
    for _ in 0..iterations {
        if fc <= fd {
            b = d;
            d = c;
            fd = fc;
            c = b - ratio * (b - a);
            fc = f(c);
            if fc < best.1 {
                best = (c, fc);
            }
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + ratio * (b - a);
            fd = f(d);
            if fd < best.1 {
                best = (d, fd);
            }
        }
    }
    best
}

/// Size of a joint's forces: the strongest actuator's effort limit (the units damping and
/// friction are searched in, from a millionth of it to ten times it).
fn effort_scale(config: &ScenarioConfig) -> f64 {
    let largest = config
        .robot
        .actuators
        .iter()
        .map(|a| match a {
            ActuatorConfig::Joint { effort_limit, .. } | ActuatorConfig::DifferentialDrive { effort_limit, .. } => *effort_limit,
        })
        .fold(0.0, f64::max);
    if largest > 0.0 && largest.is_finite() {
        largest
    } else {
        1.0
    }
}

/// Fits the prior's actuator gain, action delay and joint damping and friction to
/// `trajectories` (logged in the system the model is for), starting from `scenario`'s nominal
/// physics.
pub fn identify_prior(
    scenario: &ScenarioConfig,
    trajectories: &[Trajectory],
    options: &IdentifyOptions,
    on_progress: &mut dyn FnMut(&str),
) -> Result<IdentifiedPrior, WorldModelError> {
    let nominal = scenario.nominal_physics();
    let layout = WorldLayout::new(&nominal);
    let s = layout.state.names.len();
    let mut all: Vec<(usize, usize)> =
        trajectories.iter().enumerate().flat_map(|(e, t)| (0..t.transitions()).map(move |i| (e, i))).collect();
    if all.is_empty() {
        return Err(WorldModelError::Data("no transitions to identify the physics prior on".into()));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    if all.len() > options.transitions {
        crate::seed::shuffle(&mut all, &mut rng);
        all.truncate(options.transitions.max(1));
        all.sort_unstable();
    }
    let samples = all;
    let change = |&(e, t): &(usize, usize)| -> Vec<f64> {
        trajectories[e].states[t + 1].iter().zip(&trajectories[e].states[t]).map(|(b, a)| b - a).collect()
    };
    let count = samples.len() as f64;
    let mut mean = vec![0.0; s];
    for sample in &samples {
        mean.iter_mut().zip(change(sample)).for_each(|(m, c)| *m += c);
    }
    mean.iter_mut().for_each(|m| *m /= count);
    let mut scale = vec![0.0; s];
    for sample in &samples {
        scale.iter_mut().zip(change(sample)).zip(&mean).for_each(|((v, c), m)| *v += (c - m).powi(2));
    }
    // A dimension that never changes in the data gets a unit scale: its errors count in its
    // own units rather than blow up.
    for v in scale.iter_mut() {
        *v = (*v / count).sqrt();
        if v.is_nan() || *v <= 1e-9 {
            *v = 1.0;
        }
    }
    let mut objective = Objective { nominal: &nominal, trajectories, samples, scale, evaluations: 0 };
    let start = Parameters::nominal(&nominal);
    let nominal_error = objective.error(&start);
    let (gain_low, gain_high) = (0.2f64.ln(), 5f64.ln());

    // The delay first: each candidate with its best gain, since a delayed motor and a weak
    // one look alike for one step.
    let mut best = (start.clone(), nominal_error);
    for latency in 0..=options.max_latency {
        let mut trial = Parameters { latency, ..start.clone() };
        let (g, value) = golden_section(
            &mut |x| objective.error(&Parameters { gain: x.exp(), ..trial.clone() }),
            gain_low,
            gain_high,
            LINE_SEARCH_ITERATIONS,
        );
        trial.gain = g.exp();
        on_progress(&format!("delay {latency} steps: gain {:.3}, error {value:.3e}", trial.gain));
        if value < best.1 {
            best = (trial, value);
        }
    }

    let effort = effort_scale(&nominal);
    let (low, high) = ((effort * 1e-6).ln(), (effort * 10.0).ln());
    for round in 0..options.rounds {
        for j in 0..best.0.damping.len() {
            for friction in [false, true] {
                let current = best.0.clone();
                let with = |v: f64| {
                    let mut p = current.clone();
                    if friction {
                        p.friction[j] = v;
                    } else {
                        p.damping[j] = v;
                    }
                    p
                };
                let (x, value) = golden_section(&mut |x| objective.error(&with(x.exp())), low, high, LINE_SEARCH_ITERATIONS);
                let zero = objective.error(&with(0.0));
                let (v, value) = if zero <= value { (0.0, zero) } else { (x.exp(), value) };
                if value < best.1 {
                    best = (with(v), value);
                }
            }
        }
        let current = best.0.clone();
        let (g, value) = golden_section(
            &mut |x| objective.error(&Parameters { gain: x.exp(), ..current.clone() }),
            gain_low,
            gain_high,
            LINE_SEARCH_ITERATIONS,
        );
        if value < best.1 {
            best = (Parameters { gain: g.exp(), ..current }, value);
        }
        on_progress(&format!("round {}: error {:.3e} (nominal {nominal_error:.3e})", round + 1, best.1));
    }
    let (parameters, identified_error) = best;
    Ok(IdentifiedPrior {
        actuator_gain_scale: parameters.gain,
        action_latency_steps: parameters.latency,
        joints: nominal
            .robot
            .model
            .joints
            .iter()
            .enumerate()
            .map(|(i, j)| JointDynamics { joint: j.name.clone(), damping: parameters.damping[i], friction: parameters.friction[i] })
            .collect(),
        nominal_error,
        identified_error,
        transitions: objective.samples.len(),
        evaluations: objective.evaluations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_section_finds_the_minimum_of_a_parabola() {
        let (x, value) = golden_section(&mut |x| (x - 1.3).powi(2) + 2.0, -5.0, 5.0, 30);
        assert!((x - 1.3).abs() < 1e-3, "{x}");
        assert!((value - 2.0).abs() < 1e-6);
    }

    #[test]
    fn delayed_actions_are_the_earlier_ones_oldest_first_with_hold_before_the_start() {
        let actions: Vec<Vec<f64>> = (0..5).map(|i| vec![i as f64]).collect();
        assert_eq!(delayed_actions(&actions, 3, 2, &[9.0]), vec![vec![1.0], vec![2.0]]);
        assert_eq!(delayed_actions(&actions, 1, 2, &[9.0]), vec![vec![9.0], vec![0.0]]);
        assert!(delayed_actions(&actions, 3, 0, &[9.0]).is_empty());
    }
}
