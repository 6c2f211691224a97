//! Physics steps per second of one scenario, for `scripts/bench-mujoco.sh`: a batch of worlds
//! stepped with the action that holds every actuator at zero (none for a robot without
//! actuators), on a rayon pool of the given size, for about the given wall time after a warm-up.
//! Episodes that end are reset with the next seed. Prints one JSON object:
//! `{"scenario", "threads", "worlds", "control_steps", "physics_steps", "seconds",
//! "physics_steps_per_second", "physics_dt", "solver": {"substeps", "iterations",
//! "stabilization_iterations"}}`.
//!
//! `cargo run --release --example physics_rate -- SCENARIO [THREADS] [SECONDS] [WORLDS]`
//! (defaults: 1 thread, 3 s, 2 worlds per thread).

use dreamrig_sim::{Scenario, WorldBatch};
use std::time::Instant;

fn main() {
    if let Err(message) = run() {
        eprintln!("physics_rate: {message}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        return Err("usage: physics_rate SCENARIO [THREADS] [SECONDS] [WORLDS]".into());
    };
    let number = |i: usize, default: f64| -> Result<f64, String> {
        args.get(i).map_or(Ok(default), |s| s.parse().map_err(|_| format!("argument {}: expected a number, got {s:?}", i + 1)))
    };
    let threads = number(1, 1.0)? as usize;
    let seconds = number(2, 3.0)?;
    let worlds = number(3, 2.0 * threads as f64)? as usize;
    if threads == 0 || worlds == 0 || seconds.is_nan() || seconds <= 0.0 {
        return Err("THREADS, SECONDS and WORLDS must be positive".into());
    }
    let config = Scenario::load(std::path::Path::new(path)).map_err(|e| e.to_string())?.config;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().map_err(|e| e.to_string())?;
    // The whole measurement runs on the pool, so that stepping a batch is no hand-off between
    // the main thread and the pool's.
    pool.install(|| measure(&config, threads, seconds, worlds))
}

fn measure(
    config: &std::sync::Arc<dreamrig_sim::scenario::config::ScenarioConfig>,
    threads: usize,
    seconds: f64,
    worlds: usize,
) -> Result<(), String> {
    let mut batch = WorldBatch::physics(config, worlds);
    let mut next_seed = 0u64;
    let seeds: Vec<u64> = (0..worlds as u64).collect();
    next_seed += worlds as u64;
    for r in batch.reset(&seeds) {
        r.map_err(|e| e.to_string())?;
    }
    let spec = batch.action_spec().expect("a batch of at least one world").clone();
    let hold: Vec<f64> = (0..spec.len()).map(|i| 0.0f64.clamp(spec.low[i], spec.high[i])).collect();
    let actions: Vec<Option<Vec<f64>>> = vec![Some(hold); worlds];

    let mut step_all = |batch: &mut WorldBatch| -> Result<(), String> {
        let results = batch.step(&actions);
        let mut resets = vec![None; worlds];
        for (i, r) in results.into_iter().enumerate() {
            let r = r.expect("every world is stepped").map_err(|e| e.to_string())?;
            if r.terminated || r.truncated {
                resets[i] = Some(next_seed);
                next_seed += 1;
            }
        }
        if resets.iter().any(Option::is_some) {
            for r in batch.reset_some(&resets).into_iter().flatten() {
                r.map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    };
    // Warm-up: caches, the first contacts, the allocator.
    let warm = Instant::now();
    while warm.elapsed().as_secs_f64() < 0.2 * seconds {
        step_all(&mut batch)?;
    }
    let start = Instant::now();
    let mut rounds = 0u64;
    while start.elapsed().as_secs_f64() < seconds {
        step_all(&mut batch)?;
        rounds += 1;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let control_steps = rounds * worlds as u64;
    let physics_steps = control_steps * config.timing.substeps as u64;
    let solver = config.timing.solver;
    println!(
        "{}",
        serde_json::json!({
            "scenario": config.name,
            "threads": threads,
            "worlds": worlds,
            "control_steps": control_steps,
            "physics_steps": physics_steps,
            "seconds": elapsed,
            "physics_steps_per_second": physics_steps as f64 / elapsed,
            "physics_dt": config.timing.physics_dt,
            "solver": {
                "substeps": solver.substeps,
                "iterations": solver.iterations,
                "stabilization_iterations": solver.stabilization_iterations,
            },
        })
    );
    Ok(())
}
