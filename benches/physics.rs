//! Physics throughput: control steps per second for every shipped scenario, one world on one
//! thread, and a batch of worlds across threads. `cargo bench --bench physics`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use dreamrig_sim::{BatchWorld, PhysicsWorld, Scenario, World};
use std::path::Path;

const SCENARIOS: [&str; 5] = ["cartpole-balance", "reacher-2link", "arm7-reach", "diffdrive-nav", "pusher"];
const BATCH: usize = 32;

fn make_world(name: &str) -> PhysicsWorld {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(format!("{name}.yaml"));
    PhysicsWorld::new(Scenario::load(&path).unwrap_or_else(|e| panic!("{e}")).config)
}

/// The action that holds a world still, so episodes run to their horizon.
fn hold_action(world: &PhysicsWorld) -> Vec<f64> {
    let spec = world.action_spec();
    (0..spec.len()).map(|i| 0.0f64.clamp(spec.low[i], spec.high[i])).collect()
}

fn step_or_reset(world: &mut PhysicsWorld, action: &[f64], seed: &mut u64) {
    match world.step(action) {
        Ok(r) if !(r.terminated || r.truncated) => {}
        _ => {
            *seed += 1;
            world.reset(*seed).expect("reset");
        }
    }
}

fn single_world(c: &mut Criterion) {
    let mut group = c.benchmark_group("steps_single_thread");
    group.throughput(Throughput::Elements(1));
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    for name in SCENARIOS {
        let mut world = make_world(name);
        world.reset(0).unwrap();
        let action = hold_action(&world);
        let mut seed = 0;
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            pool.install(|| b.iter(|| step_or_reset(&mut world, &action, &mut seed)))
        });
    }
    group.finish();
}

fn batched_worlds(c: &mut Criterion) {
    let mut group = c.benchmark_group("steps_batched");
    group.throughput(Throughput::Elements(BATCH as u64));
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        for name in SCENARIOS {
            let worlds: Vec<PhysicsWorld> = (0..BATCH).map(|_| make_world(name)).collect();
            let mut batch = BatchWorld::new(worlds);
            let seeds: Vec<u64> = (0..BATCH as u64).collect();
            batch.reset(&seeds).unwrap();
            let actions: Vec<Vec<f64>> = batch.worlds().iter().map(hold_action).collect();
            let mut next_seed = BATCH as u64;
            group.bench_function(BenchmarkId::new(name, format!("{BATCH}_worlds_{threads}_threads")), |b| {
                pool.install(|| {
                    b.iter(|| {
                        let results = batch.step(&actions);
                        for (world, result) in batch.worlds_mut().iter_mut().zip(results) {
                            if !matches!(result, Ok(ref r) if !(r.terminated || r.truncated)) {
                                next_seed += 1;
                                world.reset(next_seed).expect("reset");
                            }
                        }
                    })
                })
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3)).warm_up_time(std::time::Duration::from_secs(1));
    targets = single_world, batched_worlds
}
criterion_main!(benches);
