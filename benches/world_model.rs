//! World-model throughput: steps/s of learned and hybrid cart-pole worlds at batch sizes 1, 64
//! and 1024 next to physics, training samples/s, and the GFLOP/s of the batched forward pass
//! against this machine's peak. `cargo bench --bench world_model`.
//!
//! The networks are the default architecture (3 members × 128-128 SiLU, 2 earlier actions);
//! their weights come from one short training run, since speed does not depend on them.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use dreamrig_sim::world_model::data::Trajectory;
use dreamrig_sim::world_model::prepare::{prepare_episodes, PreparedEpisode};
use dreamrig_sim::world_model::train::{train, TrainOptions};
use dreamrig_sim::world_model::{ModelKind, WorldModel};
use dreamrig_sim::{ModelBatch, PhysicsWorld, Scenario, World};
use rayon::prelude::*;
use std::path::Path;
use std::sync::Arc;

fn scenario() -> Scenario {
    Scenario::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/cartpole-balance.yaml")).unwrap_or_else(|e| panic!("{e}"))
}

/// Short random-action trajectories: enough to fit normalization and time training.
fn trajectories(config: &Arc<dreamrig_sim::scenario::config::ScenarioConfig>, episodes: u64) -> Vec<Trajectory> {
    let mut world = PhysicsWorld::new(config.clone());
    (0..episodes)
        .map(|k| {
            world.reset(k).unwrap();
            let mut states = vec![world.state().unwrap().values];
            let mut actions = Vec::new();
            for t in 0..40u64 {
                let action = vec![(((t * 2654435761 + k * 97) % 1000) as f64 / 50.0) - 10.0];
                if world.step(&action).is_err() {
                    break;
                }
                actions.push(action);
                states.push(world.state().unwrap().values);
            }
            Trajectory { episode_index: k, seed: k, states, actions }
        })
        .collect()
}

fn options(kind: ModelKind, epochs: usize) -> TrainOptions {
    TrainOptions { kind, max_epochs: epochs, patience: epochs, ..TrainOptions::default() }
}

fn model(kind: ModelKind, episodes: &[PreparedEpisode], config: &Arc<dreamrig_sim::scenario::config::ScenarioConfig>) -> Arc<WorldModel> {
    let trained = train(config, episodes, &options(kind, 1), serde_json::Value::Null, &mut |_| {}).unwrap();
    Arc::new(trained.model(Path::new("bench")).unwrap())
}

/// Peak single-precision GFLOP/s of this CPU: cores × clock × FLOPs per cycle (two FMA units
/// of 8 lanes with AVX2, 16 with AVX-512).
fn peak_gflops() -> (f64, String) {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let mhz = info
        .lines()
        .find(|l| l.starts_with("cpu MHz"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    let flags = info.lines().find(|l| l.starts_with("flags")).unwrap_or_default();
    let per_cycle = if flags.contains(" avx512f") {
        64.0
    } else if flags.contains(" fma") {
        32.0
    } else {
        8.0
    };
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as f64;
    (cores * mhz / 1000.0 * per_cycle, format!("{cores} cores × {:.2} GHz × {per_cycle} FLOP/cycle", mhz / 1000.0))
}

fn world_model(c: &mut Criterion) {
    let config = scenario().config;
    let prepared = prepare_episodes(&config, trajectories(&config, 20), TrainOptions::default().priors(), None).unwrap();
    let learned = model(ModelKind::Learned, &prepared, &config);
    let hybrid = model(ModelKind::Hybrid, &prepared, &config);

    let mut group = c.benchmark_group("world_model_steps");
    for batch_size in [1usize, 64, 1024] {
        group.throughput(Throughput::Elements(batch_size as u64));
        for (name, m) in [("learned", &learned), ("hybrid", &hybrid)] {
            let mut batch = ModelBatch::new(config.clone(), m.clone(), batch_size).unwrap();
            let seeds: Vec<u64> = (0..batch_size as u64).collect();
            group.bench_function(BenchmarkId::new(name, batch_size), |b| {
                b.iter_custom(|iterations| {
                    let mut total = std::time::Duration::ZERO;
                    for _ in 0..iterations {
                        // A fresh episode each time (untimed), so no world has ended.
                        batch.reset(&seeds);
                        let actions: Vec<Option<Vec<f64>>> = (0..batch_size).map(|i| Some(vec![(i % 7) as f64 - 3.0])).collect();
                        let started = std::time::Instant::now();
                        std::hint::black_box(batch.step(&actions));
                        total += started.elapsed();
                    }
                    total
                })
            });
        }
        let mut worlds: Vec<PhysicsWorld> = (0..batch_size).map(|_| PhysicsWorld::new(config.clone())).collect();
        group.bench_function(BenchmarkId::new("physics", batch_size), |b| {
            b.iter_custom(|iterations| {
                let mut total = std::time::Duration::ZERO;
                for _ in 0..iterations {
                    worlds.par_iter_mut().enumerate().for_each(|(i, w)| {
                        w.reset(i as u64).unwrap();
                    });
                    let started = std::time::Instant::now();
                    let stepped =
                        worlds.par_iter_mut().enumerate().map(|(i, w)| w.step(&[(i % 7) as f64 - 3.0]).is_ok()).filter(|ok| *ok).count();
                    total += started.elapsed();
                    std::hint::black_box(stepped);
                }
                total
            })
        });
    }
    group.finish();

    // The forward pass alone, as FLOP/s.
    let (peak, how) = peak_gflops();
    let mut group = c.benchmark_group("world_model_forward");
    for rows in [1usize, 64, 1024] {
        let width = hybrid.config.input_size();
        let inputs: Vec<f32> = (0..rows * width).map(|i| ((i % 13) as f32 - 6.0) / 6.0).collect();
        let flops = hybrid.flops_per_row() * rows as f64;
        let started = std::time::Instant::now();
        let mut runs = 0;
        while started.elapsed().as_secs_f64() < 1.0 {
            hybrid.predict(inputs.clone(), rows).unwrap();
            runs += 1;
        }
        let gflops = flops * runs as f64 / started.elapsed().as_secs_f64() / 1e9;
        println!(
            "forward pass, {rows} rows: {gflops:.2} GFLOP/s = {:.1}% of the {peak:.0} GFLOP/s peak ({how})",
            100.0 * gflops / peak.max(1e-9)
        );
        group.throughput(Throughput::Elements(rows as u64));
        group.bench_function(BenchmarkId::new("hybrid_forward", rows), |b| b.iter(|| hybrid.predict(inputs.clone(), rows).unwrap()));
    }
    group.finish();

    let mut group = c.benchmark_group("world_model_training");
    let transitions: usize = prepared.iter().map(|e| e.trajectory.transitions()).sum();
    // One epoch sees every rollout window once, each window `rollout_steps` samples long.
    group.throughput(Throughput::Elements((transitions * TrainOptions::default().rollout_steps) as u64));
    group.bench_function("hybrid_epoch", |b| {
        let mut o = options(ModelKind::Hybrid, 1);
        o.ensemble = 1;
        b.iter(|| train(&config, &prepared, &o, serde_json::Value::Null, &mut |_| {}).unwrap())
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(std::time::Duration::from_secs(3)).warm_up_time(std::time::Duration::from_secs(1));
    targets = world_model
}
criterion_main!(benches);
