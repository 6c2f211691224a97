//! System identification of a hybrid model's physics prior: before the network learns a
//! residual, the physical parameters the scenario can express and a real robot most often gets
//! wrong — actuator strength, an action delay, each joint's damping, Coulomb friction and
//! armature (reflected rotor inertia), and a payload at a named link — are fitted to the logged
//! transitions.
//!
//! A network approximates what it learns smoothly; Coulomb friction's stick and slip, or a
//! delayed motor, are discontinuous or need the right action, and a physics engine with the
//! right parameters reproduces them exactly. The residual is then left with what the scenario
//! cannot express. The fitted values are reported, which is useful in itself: *this robot's
//! slider friction is 0.03 N, its motor 80% of nominal*.
//!
//! The fit minimizes the prior's **open-loop** error over windows of several control steps from
//! logged states with the logged actions, each state dimension in units of its standard
//! deviation in the data, as `dreamrig wm eval` weighs it (a one-step objective rewards
//! parameters that fit one step and drift over fifty, such as a weaker motor standing in for
//! rotor inertia). The delay is chosen first (each candidate with its best gain, by
//! golden-section search; checked again once the joints are fitted, and the fit repeated
//! from a delay that then does better); every continuous parameter is fitted jointly by a
//! Levenberg–Marquardt least-squares search (Marquardt 1963, "An algorithm for least-squares
//! estimation of nonlinear parameters": the normal equations damped by λ·diag(JᵀJ)) with
//! forward-difference Jacobians and bounds, handled by holding parameters that sit on a bound
//! the gradient pushes against or that a step would push out. It is
//! written here rather than taken from the `levenberg-marquardt` crate because that port of
//! MINPACK has no bounds (damping, friction, armature and mass are ≥ 0, and exactly 0 is a
//! common answer) and no budget of objective evaluations, each of which steps the physics
//! hundreds of times; the linear algebra is nalgebra's. Work is split into fixed-size chunks
//! in a fixed order, so the result does not depend on the thread count.
//!
//! An identified prior is then checked on the validation episodes against the nominal physics,
//! open loop at the horizons `wm eval` reports ([`validate_prior`]); one that is worse anywhere
//! is not used.

use crate::error::SimError;
use crate::physics::WorldLayout;
use crate::scenario::config::{ActuatorConfig, Distribution, PayloadConfig, ScenarioConfig};
use crate::world::World;
use crate::world_model::data::Trajectory;
use crate::world_model::WorldModelError;
use crate::PhysicsWorld;
use nalgebra::{DMatrix, DVector};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Damping, Coulomb friction and armature of one joint, in the joint's units (N·s/m, N and kg
/// for a slider; N·m·s/rad, N·m and kg·m² for a hinge).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JointDynamics {
    /// Joint name (URDF `<joint name>`).
    pub joint: String,
    /// Viscous damping, N·m·s/rad (hinge) or N·s/m (slider).
    pub damping: f64,
    /// Coulomb friction, N·m (hinge) or N (slider).
    pub friction: f64,
    /// Armature (reflected rotor inertia), kg·m² (hinge) or kg (slider); 0 in model files
    /// written before it was identified.
    #[serde(default)]
    pub armature: f64,
}

/// A point mass fitted at a link's origin (a gripped tool or object the URDF does not have).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayloadMass {
    /// Robot link (URDF `<link name>`) the mass is attached to, at its origin.
    pub link: String,
    /// Mass, kg (0: none found).
    pub mass: f64,
}

/// The identified and the nominal physics, open loop on the validation episodes at the
/// horizons `wm eval` reports: what decides whether the identified prior is used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriorValidation {
    /// Horizons measured, control steps.
    pub horizons: Vec<usize>,
    /// Steps between window starts.
    pub stride: usize,
    /// Windows averaged at each horizon.
    pub windows: Vec<usize>,
    /// The nominal physics' normalized open-loop error at each horizon (as `wm eval` reports it).
    pub nominal: Vec<f64>,
    /// The identified physics' error at each horizon.
    pub identified: Vec<f64>,
    /// Whether the identified prior is used: its error is finite and at most the nominal's at
    /// every horizon, with no window diverged.
    pub kept: bool,
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
    /// The payload fitted at a link, when one was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<PayloadMass>,
    /// Mean squared open-loop error of the nominal physics over the fitted windows, per state
    /// dimension in units of that dimension's standard deviation, averaged over the window's
    /// steps (model files written before windows were used hold a one-step error in units of
    /// the spread of the change).
    pub nominal_error: f64,
    /// The same for the identified physics.
    pub identified_error: f64,
    /// Transitions the fit simulated per evaluation (windows × `window_steps`).
    pub transitions: usize,
    /// Control steps per open-loop window of the objective (0 in model files written before
    /// windows were used: one step).
    #[serde(default)]
    pub window_steps: usize,
    /// Objective evaluations the fit took.
    pub evaluations: usize,
    /// The check against the nominal physics on validation episodes, when there were any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<PriorValidation>,
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
    /// The prior's payload is attached to a link the scenario's robot does not have.
    #[error("the identified prior has a payload at link \"{0}\", which the scenario's robot does not have")]
    PayloadLink(String),
    /// A gain, damping, friction, armature or mass is negative or non-finite (a corrupt or
    /// hand-edited file).
    #[error("the identified prior holds a negative or non-finite gain, damping, friction, armature or mass")]
    NotPhysical,
}

impl IdentifiedPrior {
    /// `scenario`'s nominal physics with these parameters.
    ///
    /// # Errors
    /// [`PriorError`] when the joints or the payload link differ from the scenario's robot or
    /// a value is not physical.
    pub fn apply(&self, scenario: &ScenarioConfig) -> Result<ScenarioConfig, PriorError> {
        let config = scenario.nominal_physics();
        let joints = &config.robot.model.joints;
        if joints.len() != self.joints.len() || joints.iter().zip(&self.joints).any(|(a, b)| a.name != b.joint) {
            return Err(PriorError::Joints {
                prior: self.joints.iter().map(|j| j.joint.as_str()).collect::<Vec<_>>().join(", "),
                robot: joints.iter().map(|j| j.name.as_str()).collect::<Vec<_>>().join(", "),
            });
        }
        if let Some(payload) = &self.payload {
            if !config.robot.model.links.contains(&payload.link) {
                return Err(PriorError::PayloadLink(payload.link.clone()));
            }
        }
        let valid = |v: f64| v.is_finite() && v >= 0.0;
        if !valid(self.actuator_gain_scale)
            || self.joints.iter().any(|j| !valid(j.damping) || !valid(j.friction) || !valid(j.armature))
            || self.payload.as_ref().is_some_and(|p| !valid(p.mass))
        {
            return Err(PriorError::NotPhysical);
        }
        let parameters = Parameters {
            gain: self.actuator_gain_scale,
            latency: self.action_latency_steps,
            damping: self.joints.iter().map(|j| j.damping).collect(),
            friction: self.joints.iter().map(|j| j.friction).collect(),
            armature: self.joints.iter().map(|j| j.armature).collect(),
            payload: self.payload.as_ref().map_or(0.0, |p| p.mass),
        };
        Ok(parameters.apply(&config, self.payload.as_ref().map(|p| p.link.as_str())))
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
    armature: Vec<f64>,
    /// Mass at the payload link, kg (unused without one).
    payload: f64,
}

impl Parameters {
    fn nominal(config: &ScenarioConfig) -> Self {
        let joints = &config.robot.model.joints;
        Self {
            gain: 1.0,
            latency: 0,
            damping: joints.iter().map(|j| j.damping).collect(),
            friction: joints.iter().map(|j| j.friction).collect(),
            armature: joints.iter().map(|j| j.armature).collect(),
            payload: 0.0,
        }
    }

    /// `nominal` (already without randomized physics) stepping with these parameters, the
    /// payload (if positive) at the origin of `payload_link`.
    fn apply(&self, nominal: &ScenarioConfig, payload_link: Option<&str>) -> ScenarioConfig {
        let mut config = nominal.clone();
        for (i, joint) in Arc::make_mut(&mut config.robot.model).joints.iter_mut().enumerate() {
            joint.damping = self.damping[i];
            joint.friction = self.friction[i];
            joint.armature = self.armature[i];
        }
        if let Some(link) = payload_link.filter(|_| self.payload > 0.0) {
            config.robot.payload.push(PayloadConfig { link: link.to_string(), mass: self.payload, position: [0.0; 3] });
        }
        config.randomize.actuator_gain_scale = (self.gain != 1.0).then_some(Distribution::Constant(self.gain));
        config.randomize.action_latency_steps = (self.latency > 0).then_some(Distribution::Constant(self.latency as f64));
        config
    }

    /// The continuous parameters as one vector: gain, damping per joint, friction per joint,
    /// armature per joint, then the payload mass when one is fitted.
    fn vector(&self, with_payload: bool) -> Vec<f64> {
        let mut v = vec![self.gain];
        v.extend(&self.damping);
        v.extend(&self.friction);
        v.extend(&self.armature);
        if with_payload {
            v.push(self.payload);
        }
        v
    }

    /// The inverse of [`Parameters::vector`], keeping `self`'s latency.
    fn with_vector(&self, v: &[f64]) -> Self {
        let n = self.damping.len();
        Self {
            gain: v[0],
            latency: self.latency,
            damping: v[1..1 + n].to_vec(),
            friction: v[1 + n..1 + 2 * n].to_vec(),
            armature: v[1 + 2 * n..1 + 3 * n].to_vec(),
            payload: v.get(1 + 3 * n).copied().unwrap_or(0.0),
        }
    }
}

/// Settings of [`identify_prior`]: how much to simulate per evaluation, the longest latency
/// tried, the payload link, the search budget and the `seed` of the window sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IdentifyOptions {
    /// Transitions simulated per evaluation of the objective: windows of `window_steps` drawn
    /// from the data until they hold this many.
    pub transitions: usize,
    /// Control steps of each open-loop window (1 is a one-step objective).
    pub window_steps: usize,
    /// Longest action delay tried, in control steps.
    pub max_latency: usize,
    /// Link at whose origin a payload mass is fitted; `None` fits none.
    pub payload_link: Option<String>,
    /// Most Levenberg–Marquardt iterations (each costs one evaluation per parameter for the
    /// Jacobian, and one to four more for the step).
    pub iterations: usize,
    /// Seed of the window sample (default 0).
    pub seed: u64,
}

impl Default for IdentifyOptions {
    fn default() -> Self {
        Self { transitions: 640, window_steps: 10, max_latency: 2, payload_link: None, iterations: 6, seed: 0 }
    }
}

/// Windows evaluated together by one worker; fixed so that sums do not depend on the thread
/// count.
const CHUNK: usize = 4;
/// Golden-section iterations of the gain search for each delay.
const LINE_SEARCH_ITERATIONS: usize = 10;
/// A Levenberg–Marquardt iteration that lowers the error by less than this share ends the search.
const MIN_IMPROVEMENT: f64 = 1e-3;
/// Residual (in state standard deviations) of each value of a window whose physics failed, and
/// the largest any value counts for: a hundred standard deviations is no prediction at all.
const FAILED_RESIDUAL: f64 = 100.0;
/// Damping beyond which a Levenberg–Marquardt iteration gives up looking for a better step.
const MAX_LAMBDA: f64 = 1e6;

struct Objective<'a> {
    nominal: &'a ScenarioConfig,
    payload_link: Option<&'a str>,
    trajectories: &'a [Trajectory],
    /// (trajectory, first step) of each window, sorted so that a worker resets its world once
    /// per episode.
    windows: Vec<(usize, usize)>,
    steps: usize,
    /// Standard deviation of each state dimension in the data (as `wm eval` normalizes).
    scale: Vec<f64>,
    evaluations: usize,
}

impl Objective<'_> {
    /// Normalized open-loop errors of every window, step and state dimension, scaled so that
    /// their sum of squares is the mean squared error. A window whose physics fails (a state
    /// blown up, a step refused) gets [`FAILED_RESIDUAL`] for each of its remaining values, so
    /// that one bad window makes a parameter set worse, not unusable; `None` only where a world
    /// cannot be built or reset.
    fn residuals(&mut self, parameters: &Parameters) -> Option<Vec<f64>> {
        self.evaluations += 1;
        let config = Arc::new(parameters.apply(self.nominal, self.payload_link));
        let s = self.scale.len();
        let norm = ((self.windows.len() * self.steps * s).max(1) as f64).sqrt();
        let chunks: Result<Vec<Vec<f64>>, SimError> = self
            .windows
            .par_chunks(CHUNK)
            .map(|chunk| {
                let mut world = PhysicsWorld::new(config.clone());
                let mut current: Option<usize> = None;
                let mut hold = Vec::new();
                let mut out = Vec::with_capacity(chunk.len() * self.steps * s);
                for &(e, t0) in chunk {
                    let trajectory = &self.trajectories[e];
                    if current != Some(e) {
                        world.reset(trajectory.seed)?;
                        hold = world.hold_action()?;
                        current = Some(e);
                    }
                    let start = out.len();
                    let window = (|| -> Result<(), SimError> {
                        let mut state = world.state()?;
                        state.values.clone_from(&trajectory.states[t0]);
                        state.step = t0 as u64;
                        state.pending_actions = delayed_actions(&trajectory.actions, t0, parameters.latency, &hold);
                        world.set_state(&state)?;
                        for t in t0..t0 + self.steps {
                            let result = world.step(&trajectory.actions[t])?;
                            if result.terminated || result.truncated {
                                // The task ended in the world's eyes (a goal reached, a time
                                // limit); the window goes on, as `wm eval`'s rollouts do.
                                let state = world.state()?;
                                world.set_state(&state)?;
                            }
                            let reached = world.state_values_now()?;
                            let logged = &trajectory.states[t + 1];
                            out.extend(reached.iter().zip(logged).zip(&self.scale).map(|((a, b), sd)| {
                                let r = (a - b) / sd;
                                if r.is_finite() {
                                    r.clamp(-FAILED_RESIDUAL, FAILED_RESIDUAL) / norm
                                } else {
                                    FAILED_RESIDUAL / norm
                                }
                            }));
                        }
                        Ok(())
                    })();
                    if window.is_err() {
                        // The rest of the window counts as failed; the world is reset for the next.
                        out.resize(start + self.steps * s, FAILED_RESIDUAL / norm);
                        current = None;
                    }
                }
                Ok(out)
            })
            .collect();
        Some(chunks.ok()?.into_iter().flatten().collect())
    }

    fn error(&mut self, parameters: &Parameters) -> f64 {
        self.residuals(parameters).map_or(f64::INFINITY, |r| r.iter().map(|v| v * v).sum())
    }
}

/// Spread (standard deviation) of each state dimension's one-step change over `samples`
/// ((episode, step) pairs); 1 for a dimension that never changes, so that its errors count in
/// its own units rather than blow up.
fn change_scale(trajectories: &[Trajectory], samples: &[(usize, usize)], s: usize) -> Vec<f64> {
    let change = |&(e, t): &(usize, usize)| -> Vec<f64> {
        trajectories[e].states[t + 1].iter().zip(&trajectories[e].states[t]).map(|(b, a)| b - a).collect()
    };
    let count = samples.len().max(1) as f64;
    let mut mean = vec![0.0; s];
    for sample in samples {
        mean.iter_mut().zip(change(sample)).for_each(|(m, c)| *m += c / count);
    }
    let mut scale = vec![0.0; s];
    for sample in samples {
        scale.iter_mut().zip(change(sample)).zip(&mean).for_each(|((v, c), m)| *v += (c - m).powi(2) / count);
    }
    scale.into_iter().map(|v| if v.sqrt() > 1e-9 { v.sqrt() } else { 1.0 }).collect()
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

/// Bounds and finite-difference steps of a least-squares search.
struct Bounds {
    low: Vec<f64>,
    high: Vec<f64>,
    /// Smallest forward-difference step of each parameter (the step is 1% of the value, at least this).
    step: Vec<f64>,
}

/// Minimizes the sum of squares of `residuals(x)` over `bounds` from `x`, by Levenberg–Marquardt
/// with Marquardt's diagonal scaling and forward-difference Jacobians; a parameter on a bound
/// that the gradient pushes against is held for that iteration, and one a step would push out
/// of its bounds is put on that bound (the others solved again given its move). `residuals` returns `None`
/// where it cannot be evaluated (treated as an infinite error). Each iteration raises the
/// damping on the same Jacobian until a step lowers the error or the damping passes
/// [`MAX_LAMBDA`]. Returns the best point and its error; stops after `iterations`, when no step
/// helps, or when an iteration improves by less than [`MIN_IMPROVEMENT`].
fn levenberg_marquardt(
    residuals: &mut dyn FnMut(&[f64]) -> Option<Vec<f64>>,
    mut x: Vec<f64>,
    bounds: &Bounds,
    iterations: usize,
    on_iteration: &mut dyn FnMut(usize, f64),
) -> (Vec<f64>, f64) {
    let cost = |r: &[f64]| r.iter().map(|v| v * v).sum::<f64>();
    let Some(mut r) = residuals(&x) else { return (x, f64::INFINITY) };
    let mut error = cost(&r);
    let n = x.len();
    let mut lambda = 1e-2;
    for iteration in 0..iterations {
        let m = r.len();
        let mut jacobian = DMatrix::<f64>::zeros(m, n);
        for j in 0..n {
            let h = (0.01 * x[j].abs()).max(bounds.step[j]);
            let (h, sign) = if x[j] + h <= bounds.high[j] { (h, 1.0) } else { (h, -1.0) };
            let mut probe = x.clone();
            probe[j] += sign * h;
            // A probe the physics cannot step leaves the column at zero: the parameter is held.
            if let Some(rp) = residuals(&probe) {
                for i in 0..m {
                    jacobian[(i, j)] = (rp[i] - r[i]) / (sign * h);
                }
            }
        }
        let residual = DVector::from_column_slice(&r);
        let normal = jacobian.transpose() * &jacobian;
        let gradient = jacobian.transpose() * residual;
        let largest = (0..n).map(|i| normal[(i, i)]).fold(0.0, f64::max).max(f64::MIN_POSITIVE);
        let held: Vec<bool> = (0..n)
            .map(|i| {
                normal[(i, i)] <= 1e-12 * largest
                    || (x[i] <= bounds.low[i] && gradient[i] > 0.0)
                    || (x[i] >= bounds.high[i] && gradient[i] < 0.0)
            })
            .collect();
        // A step for the free parameters; a parameter the step would push out of its bounds is
        // put on that bound and the others solved again given its move.
        let step = |lambda: f64| -> Option<Vec<f64>> {
            let mut fixed: Vec<Option<f64>> = held.iter().map(|h| h.then_some(0.0)).collect();
            for _ in 0..=n {
                let mut system = normal.clone();
                let mut rhs = -gradient.clone();
                for i in 0..n {
                    if let Some(d) = fixed[i] {
                        for k in 0..n {
                            rhs[k] -= normal[(k, i)] * d;
                        }
                    }
                }
                for i in 0..n {
                    if let Some(d) = fixed[i] {
                        system.row_mut(i).fill(0.0);
                        system.column_mut(i).fill(0.0);
                        system[(i, i)] = 1.0;
                        rhs[i] = d;
                    } else {
                        system[(i, i)] += lambda * normal[(i, i)];
                    }
                }
                let delta = system.cholesky()?.solve(&rhs);
                let mut crossed = false;
                for i in 0..n {
                    if fixed[i].is_some() {
                        continue;
                    }
                    if x[i] + delta[i] < bounds.low[i] {
                        fixed[i] = Some(bounds.low[i] - x[i]);
                        crossed = true;
                    } else if x[i] + delta[i] > bounds.high[i] {
                        fixed[i] = Some(bounds.high[i] - x[i]);
                        crossed = true;
                    }
                }
                if !crossed {
                    return Some((0..n).map(|i| (x[i] + delta[i]).clamp(bounds.low[i], bounds.high[i])).collect());
                }
            }
            None
        };
        let mut improved = None;
        while lambda <= MAX_LAMBDA {
            let Some(trial) = step(lambda) else {
                lambda *= 10.0;
                continue;
            };
            match residuals(&trial) {
                Some(rt) if cost(&rt) < error => {
                    improved = Some((trial, rt));
                    lambda = (lambda / 3.0).max(1e-7);
                    break;
                }
                _ => lambda *= 4.0,
            }
        }
        let Some((trial, rt)) = improved else { break };
        let previous = error;
        x = trial;
        r = rt;
        error = cost(&r);
        on_iteration(iteration + 1, error);
        if previous - error < MIN_IMPROVEMENT * previous {
            break;
        }
    }
    (x, error)
}

/// Size of each joint's forces: its actuator's effort limit, or the strongest actuator's for a
/// joint without one (the scale of damping, friction and armature bounds and steps).
fn effort_scales(config: &ScenarioConfig) -> Vec<f64> {
    let mut largest = 0.0f64;
    let mut by_joint = std::collections::HashMap::new();
    for actuator in &config.robot.actuators {
        match actuator {
            ActuatorConfig::Joint { effort_limit, joint, .. } => {
                largest = largest.max(*effort_limit);
                by_joint.insert(*joint, *effort_limit);
            }
            ActuatorConfig::DifferentialDrive { effort_limit, .. } => largest = largest.max(*effort_limit),
        }
    }
    let fallback = if largest > 0.0 && largest.is_finite() { largest } else { 1.0 };
    (0..config.robot.model.joints.len())
        .map(|j| by_joint.get(&j).copied().filter(|e| *e > 0.0 && e.is_finite()).unwrap_or(fallback))
        .collect()
}

/// Fits the prior's actuator gain, action delay, each joint's damping, friction and armature,
/// and a payload at `options.payload_link`, to `trajectories` (logged in the system the model
/// is for), starting from `scenario`'s nominal physics.
///
/// # Errors
/// [`WorldModelError::Data`] when no episode is `options.window_steps` transitions long, or the
/// payload link is not one of the robot's links.
pub fn identify_prior(
    scenario: &ScenarioConfig,
    trajectories: &[Trajectory],
    options: &IdentifyOptions,
    on_progress: &mut dyn FnMut(&str),
) -> Result<IdentifiedPrior, WorldModelError> {
    let nominal = scenario.nominal_physics();
    let layout = WorldLayout::new(&nominal);
    let s = layout.state.names.len();
    let steps = options.window_steps.max(1);
    if let Some(link) = &options.payload_link {
        if !nominal.robot.model.links.contains(link) {
            return Err(WorldModelError::Data(format!(
                "payload link \"{link}\" is not a link of the robot (links: {})",
                nominal.robot.model.links.join(", ")
            )));
        }
    }
    // Windows of `steps` transitions, and single transitions, drawn with the seed.
    let sample = |length: usize, wanted: usize, rng: &mut ChaCha8Rng| -> Vec<(usize, usize)> {
        let mut all: Vec<(usize, usize)> = trajectories
            .iter()
            .enumerate()
            .flat_map(|(e, t)| (0..(t.transitions() + 1).saturating_sub(length)).map(move |i| (e, i)))
            .collect();
        if all.len() > wanted {
            crate::seed::shuffle(&mut all, rng);
            all.truncate(wanted.max(1));
            all.sort_unstable();
        }
        all
    };
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let windows = sample(steps, (options.transitions / steps).max(1), &mut rng);
    if windows.is_empty() {
        return Err(WorldModelError::Data(format!(
            "no training episode has the {steps} transitions an identification window needs (the longest has {}); log longer episodes or pass a smaller --identify-steps",
            trajectories.iter().map(Trajectory::transitions).max().unwrap_or(0)
        )));
    }
    let transitions = sample(1, options.transitions.max(1), &mut rng);
    let mut objective = Objective {
        nominal: &nominal,
        payload_link: options.payload_link.as_deref(),
        trajectories,
        windows,
        steps,
        scale: crate::world_model::fidelity::state_scale(trajectories.iter(), s),
        evaluations: 0,
    };
    let start = Parameters::nominal(&nominal);
    let nominal_error = objective.error(&start);
    let (gain_low, gain_high) = (0.2f64, 5f64);

    // The delay first, on one-step errors in units of the spread of each dimension's change:
    // a delayed action shows most clearly in the step right after it, and over a window a
    // delay and a slower robot (more inertia, a stronger motor) look alike. Each candidate
    // gets its best gain, since a delayed motor and a weak one look alike for one step.
    let mut one_step = Objective {
        nominal: &nominal,
        payload_link: options.payload_link.as_deref(),
        trajectories,
        scale: change_scale(trajectories, &transitions, s),
        windows: transitions,
        steps: 1,
        evaluations: 0,
    };
    let mut delay: Option<(Parameters, f64)> = None;
    for latency in 0..=options.max_latency {
        let mut trial = Parameters { latency, ..start.clone() };
        let (g, value) = golden_section(
            &mut |x| one_step.error(&Parameters { gain: x.exp(), ..trial.clone() }),
            gain_low.ln(),
            gain_high.ln(),
            LINE_SEARCH_ITERATIONS,
        );
        trial.gain = g.exp();
        on_progress(&format!("delay {latency} steps: gain {:.3}, one-step error {value:.3e}", trial.gain));
        if delay.as_ref().is_none_or(|(_, v)| value < *v) {
            delay = Some((trial, value));
        }
    }
    objective.evaluations += one_step.evaluations;
    let chosen = delay.expect("at least delay 0").0;
    let mut best = (start.clone(), nominal_error);

    // Then every continuous parameter jointly.
    let effort = effort_scales(&nominal);
    let n = effort.len();
    let with_payload = options.payload_link.is_some();
    // The mass of the links that move (children of movable joints, and the links welded to
    // them are not told apart here: the children's masses set the scale).
    let moving: std::collections::HashSet<&str> = nominal.robot.model.joints.iter().map(|j| j.child_link.as_str()).collect();
    let robot_mass: f64 = nominal
        .robot
        .model
        .urdf
        .links
        .iter()
        .filter(|l| moving.contains(l.name.as_str()))
        .map(|l| l.inertial.mass.value.max(0.0))
        .sum::<f64>()
        .max(1e-3);
    let mut bounds = Bounds { low: vec![gain_low], high: vec![gain_high], step: vec![1e-3] };
    for (share, floor) in [(10.0, 1e-3), (10.0, 1e-3), (10.0, 1e-5)] {
        // damping, friction, armature: 0 to `share` × effort, steps from `floor` × effort
        bounds.low.extend(vec![0.0; n]);
        bounds.high.extend(effort.iter().map(|e| e * share));
        bounds.step.extend(effort.iter().map(|e| e * floor));
    }
    if with_payload {
        bounds.low.push(0.0);
        bounds.high.push(10.0 * robot_mass);
        bounds.step.push(1e-3 * robot_mass);
    }
    // From the nominal values with the chosen delay, not from the delay search's gain: a
    // weaker motor is how one parameter imitates a slower robot, and starting there leaves the
    // search in that basin when the truth is rotor inertia or a payload.
    let mut fit = Parameters { latency: chosen.latency, ..start.clone() };
    let mut tried = vec![false; options.max_latency + 1];
    loop {
        tried[fit.latency] = true;
        let x0: Vec<f64> =
            fit.vector(with_payload).iter().zip(bounds.low.iter().zip(&bounds.high)).map(|(v, (l, h))| v.clamp(*l, *h)).collect();
        let (x, error) = levenberg_marquardt(
            &mut |x| objective.residuals(&fit.with_vector(x)),
            x0,
            &bounds,
            options.iterations,
            &mut |iteration, error| {
                on_progress(&format!("delay {} steps, iteration {iteration}: error {error:.3e} (nominal {nominal_error:.3e})", fit.latency))
            },
        );
        if error < best.1 {
            best = (fit.with_vector(&x), error);
        }
        // The delay was chosen with nothing but the gain fitted; with the joints fitted too,
        // another delay (with its best gain) may now do better: fit again from there.
        let mut switch: Option<(Parameters, f64)> = None;
        for latency in (0..=options.max_latency).filter(|l| !tried[*l]) {
            let base = Parameters { latency, ..best.0.clone() };
            let (g, value) = golden_section(
                &mut |x| objective.error(&Parameters { gain: x.exp(), ..base.clone() }),
                gain_low.ln(),
                gain_high.ln(),
                LINE_SEARCH_ITERATIONS,
            );
            if value < best.1 && switch.as_ref().is_none_or(|(_, v)| value < *v) {
                switch = Some((Parameters { gain: g.exp(), ..base }, value));
            }
        }
        match switch {
            Some((parameters, value)) => {
                on_progress(&format!("delay {} steps does better with the fitted joints ({value:.3e}); fitting again", parameters.latency));
                best = (parameters.clone(), value);
                fit = parameters;
            }
            None => break,
        }
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
            .map(|(i, j)| JointDynamics {
                joint: j.name.clone(),
                damping: parameters.damping[i],
                friction: parameters.friction[i],
                armature: parameters.armature[i],
            })
            .collect(),
        payload: options.payload_link.as_ref().map(|link| PayloadMass { link: link.clone(), mass: parameters.payload }),
        nominal_error,
        identified_error,
        transitions: objective.windows.len() * steps,
        window_steps: steps,
        evaluations: objective.evaluations,
        validation: None,
    })
}

/// About how many windows per horizon [`validate_prior`] rolls out: the stride between window
/// starts is widened to the total of possible starts over this (at least
/// [`crate::world_model::gate::GATE_STRIDE`]); each episode's count rounds up, so up to one
/// more per episode.
const VALIDATION_WINDOWS: usize = 64;

/// Rolls the nominal physics and `prior`'s out open loop on `validation` episodes at the
/// horizons `wm eval` reports (those longer than every episode left out) and says whether the
/// prior is kept: no worse than nominal at any horizon, no window diverged.
///
/// Returns `None` when no validation episode has a transition.
///
/// # Errors
/// The prior does not apply to `scenario`; a world fails to build.
pub fn validate_prior(
    scenario: &ScenarioConfig,
    prior: &IdentifiedPrior,
    validation: &[Trajectory],
) -> Result<Option<PriorValidation>, WorldModelError> {
    use crate::world_model::fidelity::{open_loop, OpenLoopOptions};
    use crate::world_model::gate::{gate_horizons, horizon_errors, no_worse, GATE_STRIDE};
    let longest = validation.iter().map(Trajectory::transitions).max().unwrap_or(0);
    if longest == 0 {
        return Ok(None);
    }
    let horizons = gate_horizons(longest);
    let largest = *horizons.iter().max().expect("a horizon");
    let starts: usize = validation.iter().map(|t| (t.transitions() + 1).saturating_sub(largest)).sum();
    let stride = GATE_STRIDE.max(starts.div_ceil(VALIDATION_WINDOWS));
    let nominal = Arc::new(scenario.nominal_physics());
    let prepared = crate::world_model::prepare::prepare_episodes(&nominal, validation.to_vec(), 0, None)?;
    let refs: Vec<_> = prepared.iter().collect();
    let options = OpenLoopOptions { horizons: horizons.clone(), stride };
    let nominal_report = open_loop(&nominal, None, &refs, &options)?;
    let identified = Arc::new(prior.apply(scenario).map_err(|e| WorldModelError::Data(format!("the identified prior: {e}")))?);
    let identified_report = open_loop(&identified, None, &refs, &options)?;
    let (nominal_errors, identified_errors) = (horizon_errors(&nominal_report), horizon_errors(&identified_report));
    let kept = no_worse(&identified_errors, identified_report.failed_windows, &nominal_errors);
    Ok(Some(PriorValidation {
        horizons,
        stride,
        windows: nominal_report.horizons.iter().map(|h| h.windows).collect(),
        nominal: nominal_errors,
        identified: identified_errors,
        kept,
    }))
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
    fn levenberg_marquardt_fits_a_curve_and_holds_a_parameter_at_its_bound() {
        // y = a·exp(b·t) + c on 20 points: a = 2, b = -1.5, c = 0.3 recovered from far off.
        let t: Vec<f64> = (0..20).map(|i| i as f64 * 0.1).collect();
        let y: Vec<f64> = t.iter().map(|t| 2.0 * (-1.5 * t).exp() + 0.3).collect();
        let mut curve =
            |x: &[f64]| -> Option<Vec<f64>> { Some(t.iter().zip(&y).map(|(t, y)| x[0] * (x[1] * t).exp() + x[2] - y).collect()) };
        let bounds = Bounds { low: vec![0.0, -10.0, 0.0], high: vec![10.0, 10.0, 10.0], step: vec![1e-7; 3] };
        let (x, error) = levenberg_marquardt(&mut curve, vec![1.0, 0.0, 1.0], &bounds, 50, &mut |_, _| {});
        assert!((x[0] - 2.0).abs() < 1e-3 && (x[1] + 1.5).abs() < 1e-3 && (x[2] - 0.3).abs() < 1e-3, "{x:?}");
        assert!(error < 1e-8, "{error}");
        // (x0 − 2)² + (x1 + 1)² + (x0 + x1 − 1)² with x1 ≥ 0: x1 stays on its bound, x0 = 1.5.
        let mut bowl = |x: &[f64]| -> Option<Vec<f64>> { Some(vec![x[0] - 2.0, x[1] + 1.0, x[0] + x[1] - 1.0]) };
        let bounds = Bounds { low: vec![-10.0, 0.0], high: vec![10.0, 10.0], step: vec![1e-7; 2] };
        let (x, _) = levenberg_marquardt(&mut bowl, vec![0.0, 3.0], &bounds, 50, &mut |_, _| {});
        assert_eq!(x[1], 0.0, "x1 held at its bound: {x:?}");
        assert!((x[0] - 1.5).abs() < 1e-4, "{x:?}");
        // A parameter set that cannot be evaluated is never accepted.
        let mut failing = |x: &[f64]| -> Option<Vec<f64>> { (x[0] <= 1.0).then(|| vec![x[0] - 3.0]) };
        let one = Bounds { low: vec![0.0], high: vec![5.0], step: vec![1e-6] };
        let (x, error) = levenberg_marquardt(&mut failing, vec![0.5], &one, 10, &mut |_, _| {});
        assert!(x[0] <= 1.0 && error.is_finite(), "{x:?} {error}");
    }

    #[test]
    fn the_parameter_vector_round_trips_with_and_without_a_payload() {
        let p =
            Parameters { gain: 0.8, latency: 1, damping: vec![0.1, 0.2], friction: vec![0.3, 0.4], armature: vec![0.5, 0.6], payload: 0.7 };
        assert_eq!(p.vector(true), vec![0.8, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]);
        assert_eq!(p.with_vector(&p.vector(true)), p);
        assert_eq!(p.with_vector(&p.vector(false)), Parameters { payload: 0.0, ..p.clone() });
    }

    #[test]
    fn delayed_actions_are_the_earlier_ones_oldest_first_with_hold_before_the_start() {
        let actions: Vec<Vec<f64>> = (0..5).map(|i| vec![i as f64]).collect();
        assert_eq!(delayed_actions(&actions, 3, 2, &[9.0]), vec![vec![1.0], vec![2.0]]);
        assert_eq!(delayed_actions(&actions, 1, 2, &[9.0]), vec![vec![9.0], vec![0.0]]);
        assert!(delayed_actions(&actions, 3, 0, &[9.0]).is_empty());
    }
}
