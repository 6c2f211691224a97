//! Timing section: physics step, control period, horizon.

use super::*;

/// Validated `timing` section: `physics_dt` in s and the whole number of physics steps per control step.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct TimingConfig {
    /// Physics step in s (`timing.physics_dt`, 1 µs to 0.1 s).
    pub physics_dt: f64,
    /// Physics steps per control step.
    pub substeps: u32,
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
    TimingConfig { physics_dt, substeps: substeps.clamp(1.0, 100_000.0) as u32 }
}
