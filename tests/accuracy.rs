//! Physics settings against a fine reference (`dreamrig_sim::accuracy`): every shipped scenario's
//! `timing` keeps its trajectories within the tolerance, and a setting too coarse for it is
//! caught, by the library and by `dreamrig validate`.

mod common;

use common::{fixture, repo};
use dreamrig_sim::accuracy::{self, TOLERANCE};
use dreamrig_sim::scenario::config::SolverConfig;
use dreamrig_sim::Scenario;
use std::process::{Command, Output};

fn dreamrig(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dreamrig")).args(args).current_dir(repo()).output().expect("dreamrig runs")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[test]
fn every_shipped_scenario_stays_within_the_accuracy_tolerance() {
    for path in dreamrig_sim::scenario::shipped() {
        let config = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}")).config;
        for seed in [0, 1] {
            let report = accuracy::measure(&config, seed).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(report.steps >= 40, "{}: {} steps compared", path.display(), report.steps);
            assert!(report.within_tolerance(), "{} (seed {seed}): {report}", path.display());
        }
    }
}

#[test]
fn the_reference_is_converged_and_a_one_step_control_period_is_caught_as_too_coarse() {
    let path = repo().join("scenarios/arm7-reach.yaml");
    let config = Scenario::load(&path).unwrap().config;
    // The reference measured against its own, finer reference: far inside the tolerance.
    let mut fine = (*config).clone();
    fine.timing = accuracy::reference_timing(&config.timing);
    assert!(accuracy::reference_timing(&fine.timing).physics_dt < fine.timing.physics_dt);
    let converged = accuracy::measure(&fine, 0).unwrap();
    assert!(converged.error < TOLERANCE / 5.0, "{converged}");
    // One physics step per 20 ms control period, one substep: far from the reference.
    let mut coarse = (*config).clone();
    coarse.timing.physics_dt = coarse.timing.control_period();
    coarse.timing.substeps = 1;
    coarse.timing.solver = SolverConfig { substeps: 1, ..SolverConfig::RAPIER_DEFAULT };
    let report = accuracy::measure(&coarse, 0).unwrap();
    assert!(report.error > TOLERANCE, "{report}");
    assert!(!report.worst_value.is_empty() && report.worst_step >= 1, "{report}");
}

#[test]
fn validate_warns_about_a_solver_setting_too_coarse_for_the_tolerance() {
    let path = fixture("coarse-solver.yaml");
    let out = dreamrig(&["validate", path.to_str().unwrap()]);
    let printed = text(&out);
    assert!(out.status.success(), "a warning, not an error: {printed}");
    assert!(printed.contains("warning:") && printed.contains("timing: too coarse"), "{printed}");
    assert!(printed.contains("tolerance 10%") && printed.contains("largest error"), "{printed}");
    // Skipped on request.
    let out = dreamrig(&["validate", "--no-accuracy", path.to_str().unwrap()]);
    assert!(out.status.success() && !text(&out).contains("warning:"), "{}", text(&out));
}
