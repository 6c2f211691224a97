//! Camera frames per second of one scenario, for `scripts/bench-render.sh`: one physics world,
//! reset once, whose observation (every sensor, cameras rendered and read back) is taken again
//! and again from the same state for about the given wall time after a warm-up. Prints one JSON
//! object: `{"scenario", "frames", "seconds", "frames_per_second", "cameras", "adapter", "cpu"}`
//! (`adapter`: the Vulkan device that rendered; `cpu`: whether it is a CPU rasterizer).
//!
//! `cargo run --release --example render_rate -- SCENARIO [SECONDS]` (default 3 s).

use dreamrig_sim::{PhysicsWorld, Scenario, World};
use std::time::Instant;

fn main() {
    if let Err(message) = run() {
        eprintln!("render_rate: {message}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        return Err("usage: render_rate SCENARIO [SECONDS]".into());
    };
    let seconds: f64 = match args.get(1) {
        Some(s) => s.parse().map_err(|_| format!("SECONDS: expected a number, got {s:?}"))?,
        None => 3.0,
    };
    if seconds.is_nan() || seconds <= 0.0 {
        return Err("SECONDS must be positive".into());
    }
    let config = Scenario::load(std::path::Path::new(path)).map_err(|e| e.to_string())?.config;
    let mut world = PhysicsWorld::new(config.clone());
    let (first, _) = world.reset(0).map_err(|e| e.to_string())?;
    let cameras = first.spec.images.len();
    if cameras == 0 {
        return Err(format!("{path}: the scenario renders no image"));
    }
    for _ in 0..5 {
        world.observe().map_err(|e| e.to_string())?;
    }
    let (mut frames, start) = (0u64, Instant::now());
    while start.elapsed().as_secs_f64() < seconds {
        world.observe().map_err(|e| e.to_string())?;
        frames += 1;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let device = dreamrig_sim::render::RenderDevice::shared().map_err(|e| e.to_string())?;
    println!(
        "{}",
        serde_json::json!({
            "scenario": config.name,
            "frames": frames,
            "seconds": elapsed,
            "frames_per_second": frames as f64 / elapsed,
            "cameras": cameras,
            "adapter": device.adapter(),
            "cpu": device.is_cpu(),
        })
    );
    Ok(())
}
