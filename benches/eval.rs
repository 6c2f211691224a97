//! Evaluation throughput: episodes of each shipped scenario with its shipped controller, rolled
//! out by the engine with the metrics observer, on 1 and 2 worker threads (parallel
//! efficiency). `cargo bench --bench eval`.
//!
//! Each iteration runs the same 8 episodes (seeds 0..8), so every iteration does the same
//! work; the throughput is in environment steps, and episodes/s = 8 / time per iteration.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use dreamrig_eval::EpisodeMetrics;
use dreamrig_policies::zoo::by_name;
use dreamrig_rollout::{roll_out, Control, Episode, PolicyBatch};
use dreamrig_sim::{Scenario, WorldBatch};
use rayon::prelude::*;
use std::path::Path;

const SCENARIOS: [&str; 5] = ["cartpole-balance", "reacher-2link", "arm7-reach", "diffdrive-nav", "pusher"];
const EPISODES: u64 = 8;

fn run(scenario: &Scenario) -> u64 {
    let config = &scenario.config;
    (0..EPISODES)
        .into_par_iter()
        .map_init(
            || {
                let worlds = WorldBatch::for_scenario(config, 1).expect("world");
                let (observation, action) = (worlds.observation_spec().unwrap().clone(), worlds.action_spec().unwrap().clone());
                let policy = by_name("auto", config, &observation, &action).expect("controller");
                (worlds, PolicyBatch::Each(vec![policy]))
            },
            |(worlds, policies), seed| {
                let mut metrics = EpisodeMetrics::new(None);
                let episode = Episode { episode: seed as u32, seed };
                roll_out(config, "controller", worlds, policies, &[episode], &mut [&mut metrics], &Control::default());
                metrics.take(0).expect("the episode ended").length
            },
        )
        .sum()
}

fn episodes(c: &mut Criterion) {
    let mut group = c.benchmark_group("eval_controller_steps");
    for name in SCENARIOS {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(format!("{name}.yaml"));
        let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let steps = run(&scenario);
        group.throughput(Throughput::Elements(steps));
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            group.bench_function(BenchmarkId::new(name, format!("{EPISODES}_episodes_{threads}_threads")), |b| {
                b.iter(|| pool.install(|| run(&scenario)))
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(std::time::Duration::from_secs(4)).warm_up_time(std::time::Duration::from_secs(1));
    targets = episodes
}
criterion_main!(benches);
