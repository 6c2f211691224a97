//! How far a scenario's physics settings (`timing.physics_dt`, `timing.solver`) take its
//! trajectories from a fine reference: the check behind each shipped scenario's choice of the
//! cheapest accurate setting, and behind `dreamrig validate`'s accuracy warning.
//!
//! The measurement: one episode of the scenario (nominal physics, the episode's seeded initial
//! state) is rolled out twice under the same open-loop excitation, once with the scenario's
//! settings and once with [`reference_timing`] (a physics step of at most 0.1 ms and half the
//! setting's, and a solver run well past convergence). At every control step each coordinate's difference (joint
//! positions, base and object poses: the trajectory; velocities are left out, as they differ
//! most in the first instants of a stiff servo's transient without moving the trajectory) is
//! divided by that coordinate's spread (its standard deviation over the reference trajectory,
//! floored at [`SPREAD_FLOOR`]); the error is the largest such ratio over the episode. A setting
//! passes when it is at most [`TOLERANCE`].

use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::scenario::config::{ScenarioConfig, SolverConfig, TimingConfig};
use crate::{ActionSpec, PhysicsWorld, SimError, World};

/// The largest accepted error: 10% of a coordinate's spread over the episode, at any step.
pub const TOLERANCE: f64 = 0.10;

/// Smallest spread a coordinate is measured against (in its own unit: m, rad, or a quaternion
/// component), so that a coordinate the episode barely moves (the tilt of a wheeled base, the
/// height of a box on the floor) is not judged on millimetre-scale wobble: with [`TOLERANCE`],
/// differences below 5 mm or 5 mrad never count.
pub const SPREAD_FLOOR: f64 = 0.05;

/// Simulated time one accuracy episode covers at most, s (shorter when the horizon is).
pub const EPISODE_SECONDS: f64 = 2.0;

/// Largest physics step of the reference, s.
pub const REFERENCE_DT: f64 = 1.0e-4;

/// The least the reference solver runs: 4 substeps (25 µs each at [`REFERENCE_DT`]) of 4
/// Gauss–Seidel and 2 stabilization iterations (more where the setting measured runs more).
pub const REFERENCE_SOLVER: SolverConfig = SolverConfig { substeps: 4, iterations: 4, stabilization_iterations: 2 };

/// How one setting compares with the reference.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AccuracyReport {
    /// The setting measured.
    pub timing: TimingConfig,
    /// The reference it was measured against.
    pub reference: TimingConfig,
    /// Control steps compared.
    pub steps: usize,
    /// Largest |coordinate − reference| / spread over the steps and the coordinates.
    pub error: f64,
    /// The coordinate (state value name) where that largest error occurred; empty when no
    /// coordinate differs at all (or the world has none).
    pub worst_value: String,
    /// Control step (1-based) where it occurred; 0 when no coordinate differs.
    pub worst_step: usize,
    /// [`TOLERANCE`].
    pub tolerance: f64,
}

impl AccuracyReport {
    /// Whether the error is at most the tolerance.
    pub fn within_tolerance(&self) -> bool {
        self.error <= self.tolerance
    }
}

impl std::fmt::Display for AccuracyReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.timing.solver;
        let r = &self.reference;
        write!(
            f,
            "physics_dt {} s, solver substeps {} iterations {} stabilization {}: largest error {:.2}% of the spread \
             ({} at step {} of {}), tolerance {:.0}%, against a reference with physics_dt {:.2e} s and {} substeps",
            self.timing.physics_dt,
            s.substeps,
            s.iterations,
            s.stabilization_iterations,
            100.0 * self.error,
            self.worst_value,
            self.worst_step,
            self.steps,
            100.0 * self.tolerance,
            r.physics_dt,
            r.solver.substeps,
        )
    }
}

/// The reference for `timing`: the same control period, split into physics steps of at most
/// [`REFERENCE_DT`] and at most half of `timing`'s, with each solver setting the larger of
/// [`REFERENCE_SOLVER`]'s and `timing`'s: always finer than the setting it judges.
pub fn reference_timing(timing: &TimingConfig) -> TimingConfig {
    let period = timing.control_period();
    let per_step = (period / REFERENCE_DT.min(0.5 * timing.physics_dt)).ceil().max(2.0 * timing.substeps as f64) as u32;
    let (r, s) = (REFERENCE_SOLVER, timing.solver);
    let solver = SolverConfig {
        substeps: r.substeps.max(s.substeps),
        iterations: r.iterations.max(s.iterations),
        stabilization_iterations: r.stabilization_iterations.max(s.stabilization_iterations),
    };
    TimingConfig { physics_dt: period / per_step as f64, substeps: per_step, solver, solver_given: true }
}

/// A smooth open-loop excitation for `steps` control steps of `period` s: per action value, the
/// sum of three sinusoids (0.2 to 2 Hz, random phases, drawn from `seed`) spanning the middle
/// half of the value's range; where a bound is not finite, ±1 around 0 (no finite bound) or
/// around 2 inside the finite one. Shape: `steps` × action length.
pub fn excitation(spec: &ActionSpec, seed: u64, steps: usize, period: f64) -> Vec<Vec<f64>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let waves: Vec<[(f64, f64); 3]> = (0..spec.len())
        .map(|_| std::array::from_fn(|_| (rng.random_range(0.2..2.0), rng.random_range(0.0..std::f64::consts::TAU))))
        .collect();
    (0..steps)
        .map(|k| {
            let t = k as f64 * period;
            (0..spec.len())
                .map(|i| {
                    let (lo, hi) = (spec.low[i], spec.high[i]);
                    // `half` is twice the swing: the signal spans mid ± half / 2.
                    let (mid, half) = match (lo.is_finite(), hi.is_finite()) {
                        (true, true) => (0.5 * (lo + hi), 0.5 * (hi - lo)),
                        (true, false) => (lo + 2.0, 2.0),
                        (false, true) => (hi - 2.0, 2.0),
                        (false, false) => (0.0, 2.0),
                    };
                    let signal: f64 = waves[i].iter().map(|(hz, phase)| (std::f64::consts::TAU * hz * t + phase).sin()).sum::<f64>() / 3.0;
                    mid + 0.5 * half * signal
                })
                .collect()
        })
        .collect()
}

/// Measures `config`'s physics settings against [`reference_timing`] over one episode of seed
/// `seed` (nominal physics; the task never ends the episode early), `min(horizon, 2 s)` long.
///
/// # Errors
/// [`SimError`] when either world cannot reset or step (a state that is not finite, for one).
pub fn measure(config: &ScenarioConfig, seed: u64) -> Result<AccuracyReport, SimError> {
    let mut config = config.nominal_physics();
    let period = config.timing.control_period();
    let steps = ((EPISODE_SECONDS / period).ceil() as usize).clamp(1, config.task.horizon_steps.max(1) as usize);
    // The whole episode is compared: nothing the task checks may end it early.
    config.task.horizon_steps = steps as u32 + 1;
    config.task.success_hold_steps = u32::MAX;
    config.task.failure_joint_bounds.clear();
    config.task.failure_on_collision = false;
    config.task.failure_distance = None;
    let mut reference = config.clone();
    reference.timing = reference_timing(&config.timing);

    let run = |config: ScenarioConfig| -> Result<(Vec<String>, Vec<Vec<f64>>), SimError> {
        let mut world = PhysicsWorld::new(Arc::new(config));
        world.reset(seed)?;
        let actions = excitation(world.action_spec(), crate::seed::fnv1a(&[b"accuracy excitation", &seed.to_le_bytes()]), steps, period);
        let names = world.state_spec().names.clone();
        let mut trajectory = Vec::with_capacity(steps);
        for action in &actions {
            world.step(action)?;
            trajectory.push(world.state()?.values);
        }
        Ok((names, trajectory))
    };
    let timing = config.timing;
    // The coordinates come first in the state, the velocities after them.
    let coordinates = crate::scene::StateLayout::new(&config).velocity_start;
    let (names, fast) = run(config)?;
    let (_, fine) = run(reference.clone())?;

    let width = coordinates.min(names.len());
    let spread: Vec<f64> = (0..width)
        .map(|i| {
            let n = fine.len() as f64;
            let mean = fine.iter().map(|s| s[i]).sum::<f64>() / n;
            let var = fine.iter().map(|s| (s[i] - mean).powi(2)).sum::<f64>() / n;
            var.sqrt().max(SPREAD_FLOOR)
        })
        .collect();
    let (mut error, mut worst_value, mut worst_step) = (0.0_f64, None, 0);
    for (k, (a, b)) in fast.iter().zip(&fine).enumerate() {
        for i in 0..width {
            let e = (a[i] - b[i]).abs() / spread[i];
            // NaN compares false: a non-finite state is an error, caught by the world itself.
            if e > error {
                (error, worst_value, worst_step) = (e, Some(i), k + 1);
            }
        }
    }
    Ok(AccuracyReport {
        timing,
        reference: reference.timing,
        steps,
        error,
        worst_value: worst_value.and_then(|i| names.get(i).cloned()).unwrap_or_default(),
        worst_step,
        tolerance: TOLERANCE,
    })
}
