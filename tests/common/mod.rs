#![allow(dead_code)]

use dreamrig_sim::{PhysicsWorld, Scenario, World};
use std::path::PathBuf;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(name: &str) -> PathBuf {
    repo().join("tests").join("fixtures").join(name)
}

pub fn shipped(name: &str) -> PathBuf {
    repo().join("scenarios").join(format!("{name}.yaml"))
}

pub const SHIPPED: [&str; 5] = ["cartpole-balance", "reacher-2link", "arm7-reach", "diffdrive-nav", "pusher"];

pub fn world(path: &std::path::Path) -> PhysicsWorld {
    let scenario = Scenario::load(path).unwrap_or_else(|e| panic!("{e}"));
    PhysicsWorld::new(scenario.config)
}

/// A deterministic sequence of in-bounds actions (a cheap hash of step and index).
pub fn scripted_action(world: &dyn World, step: u64) -> Vec<f64> {
    let spec = world.action_spec();
    (0..spec.len())
        .map(|i| {
            let x = ((step * 2654435761 + i as u64 * 40503) % 1000) as f64 / 1000.0;
            spec.low[i] + (spec.high[i] - spec.low[i]) * x
        })
        .collect()
}

/// The Python interpreter of the interop-test environment, created by the project's own script
/// (`scripts/python-env.sh`: pyarrow, pandas, rosbags) if it does not exist yet.
pub fn python() -> String {
    let out = std::process::Command::new(repo().join("scripts/python-env.sh")).output().expect("scripts/python-env.sh runs");
    assert!(out.status.success(), "setting up the Python environment failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}
