//! Physics throughput: control steps per second for every shipped scenario, one world on one
//! thread, and a batch of worlds across threads; and the cost of writing a state into a world
//! (`set_state`, what every learned or hybrid step does), with and without collision meshes.
//! `cargo bench --bench physics`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use dreamrig_sim::{PhysicsWorld, Scenario, World, WorldBatch};
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
            let worlds: Vec<Box<dyn World>> = (0..BATCH).map(|_| Box::new(make_world(name)) as Box<dyn World>).collect();
            let mut batch = WorldBatch::from_worlds(worlds);
            let seeds: Vec<u64> = (0..BATCH as u64).collect();
            assert!(batch.reset(&seeds).iter().all(Result::is_ok));
            let actions: Vec<Option<Vec<f64>>> = (0..BATCH).map(|_| Some(hold_action(&make_world(name)))).collect();
            let mut next_seed = BATCH as u64;
            group.bench_function(BenchmarkId::new(name, format!("{BATCH}_worlds_{threads}_threads")), |b| {
                pool.install(|| {
                    b.iter(|| {
                        let results = batch.step(&actions);
                        let ended: Vec<usize> = results
                            .iter()
                            .enumerate()
                            .filter(|(_, r)| !matches!(r, Some(Ok(r)) if !(r.terminated || r.truncated)))
                            .map(|(i, _)| i)
                            .collect();
                        if !ended.is_empty() {
                            // Reset only the worlds whose episode ended, each with a fresh seed.
                            let Some(worlds) = batch_worlds(&mut batch) else { return };
                            for i in ended {
                                next_seed += 1;
                                worlds[i].reset(next_seed).expect("reset");
                            }
                        }
                    })
                })
            });
        }
    }
    group.finish();
}

/// `set_state` on a world ten steps into its episode: the shipped scenarios, and a room whose
/// wall (OBJ) and block (STL) are collision meshes.
fn set_state(c: &mut Criterion) {
    let mut group = c.benchmark_group("set_state");
    group.throughput(Throughput::Elements(1));
    let mesh_room = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mesh-room.yaml");
    let mesh_room = PhysicsWorld::new(Scenario::load(&mesh_room).unwrap_or_else(|e| panic!("{e}")).config);
    let worlds = SCENARIOS.iter().map(|name| (*name, make_world(name))).chain([("mesh-room", mesh_room)]);
    for (name, mut world) in worlds {
        world.reset(0).unwrap();
        let action = hold_action(&world);
        for _ in 0..10 {
            world.step(&action).unwrap();
        }
        let state = world.state().unwrap();
        group.bench_function(BenchmarkId::from_parameter(name), |b| b.iter(|| world.set_state(&state).unwrap()));
    }
    group.finish();
}

fn batch_worlds(batch: &mut WorldBatch) -> Option<&mut Vec<Box<dyn World>>> {
    match batch {
        WorldBatch::Each(worlds) => Some(worlds),
        WorldBatch::Model(_) => None,
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3)).warm_up_time(std::time::Duration::from_secs(1));
    targets = single_world, batched_worlds, set_state
}
criterion_main!(benches);
