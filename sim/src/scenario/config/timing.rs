//! Timing section: physics step, control period, horizon.

use super::*;

/// Validated `timing` section: `physics_dt` in s and the whole number of physics steps per control step.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct TimingConfig {
    /// Physics step in s (`timing.physics_dt`, 1 µs to 0.1 s).
    pub physics_dt: f64,
    /// Physics steps per control step.
    pub substeps: u32,
    /// rapier's solver settings for each physics step (`timing.solver`).
    pub solver: SolverConfig,
    /// Whether the scenario chose any solver setting (`timing.solver` present): `dreamrig
    /// validate` then checks the choice against a fine reference ([`crate::accuracy`]).
    #[serde(skip)]
    pub solver_given: bool,
}

/// Validated `timing.solver`: rapier's constraint-solver settings for one physics step.
///
/// rapier 0.36 (`IntegrationParameters`) splits each physics step into `substeps` TGS-soft
/// substeps; each re-evaluates the multibody dynamics (mass matrix, Coriolis terms) and runs
/// `iterations` biased and `stabilization_iterations` unbiased Gauss–Seidel sweeps over the
/// constraints (joint limits, motors, contacts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SolverConfig {
    /// Solver substeps per physics step (rapier `num_solver_iterations`, 1 to 64).
    pub substeps: u32,
    /// Gauss–Seidel iterations per substep (rapier `num_internal_pgs_iterations`, 1 to 64).
    pub iterations: u32,
    /// Unbiased stabilization iterations per substep (rapier
    /// `num_internal_stabilization_iterations`, 0 to 64).
    pub stabilization_iterations: u32,
}

impl SolverConfig {
    /// rapier 0.36's defaults: 4 substeps, 1 iteration, 1 stabilization iteration.
    pub const RAPIER_DEFAULT: Self = Self { substeps: 4, iterations: 1, stabilization_iterations: 1 };
    /// The largest value any of the three settings takes.
    pub const MAX: u32 = 64;
}

impl Default for SolverConfig {
    fn default() -> Self {
        Self::RAPIER_DEFAULT
    }
}

impl TimingConfig {
    /// Time between two actions in s: `physics_dt × substeps`.
    pub fn control_period(&self) -> f64 {
        self.physics_dt * self.substeps as f64
    }
}

pub(super) fn timing_config(c: &mut Checker, spec: &TimingSpec) -> TimingConfig {
    let physics_dt = c.number("timing.physics_dt", spec.physics_dt, 1e-6, 0.1, "a time step in seconds from 0.000001 to 0.1");
    let control = c.number("timing.control_period", spec.control_period, 1e-6, 10.0, "a period in seconds from 0.000001 to 10");
    let ratio = control / physics_dt;
    let substeps = ratio.round();
    if (ratio - substeps).abs() > 1e-6 * ratio.max(1.0) || substeps < 1.0 {
        c.invalid("timing.control_period", format!("a whole multiple of physics_dt ({physics_dt})"), control);
    }
    if substeps > 100_000.0 {
        c.invalid("timing.control_period", "at most 100000 physics steps per control step", control);
    }
    let solver = solver_config(c, &spec.solver);
    let s = &spec.solver;
    let solver_given = s.substeps.is_some() || s.iterations.is_some() || s.stabilization_iterations.is_some();
    TimingConfig { physics_dt, substeps: substeps.clamp(1.0, 100_000.0) as u32, solver, solver_given }
}

fn solver_config(c: &mut Checker, spec: &SolverSpec) -> SolverConfig {
    let default = SolverConfig::RAPIER_DEFAULT;
    let max = SolverConfig::MAX as i64;
    let mut setting = |key: &str, value: Option<i64>, min: i64, default: u32| match value {
        Some(v) => c.count(key, v, min, max),
        None => default,
    };
    SolverConfig {
        substeps: setting("timing.solver.substeps", spec.substeps, 1, default.substeps),
        iterations: setting("timing.solver.iterations", spec.iterations, 1, default.iterations),
        stabilization_iterations: setting(
            "timing.solver.stabilization_iterations",
            spec.stabilization_iterations,
            0,
            default.stabilization_iterations,
        ),
    }
}
