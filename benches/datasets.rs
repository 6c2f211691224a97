//! Dataset throughput: frames per second written and read, and bytes per frame, for
//! `arm7-reach` and `diffdrive-nav` (with its lidar). `cargo bench --bench datasets`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use dreamrig_datasets::{write_dataset, LeRobotDataset, WriteOptions};
use dreamrig_eval::{generate_dataset, GenerateOptions};
use dreamrig_policies::PolicySpec;
use dreamrig_sim::Scenario;
use std::path::Path;

fn hidden() -> indicatif::ProgressBar {
    indicatif::ProgressBar::hidden()
}

fn folder_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| if e.path().is_dir() { folder_size(&e.path()) } else { e.metadata().map(|m| m.len()).unwrap_or(0) })
                .sum()
        })
        .unwrap_or(0)
}

fn datasets(c: &mut Criterion) {
    let mut group = c.benchmark_group("dataset_frames");
    let policy = PolicySpec { name: "controller".into(), controller: Some("auto".into()), ..PolicySpec::default() };
    for name in ["arm7-reach", "diffdrive-nav"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(format!("{name}.yaml"));
        let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let fps = dreamrig_datasets::fps_of(&scenario).unwrap();
        let (layout, episodes) = generate_dataset(
            &scenario,
            &policy,
            Path::new("."),
            &GenerateOptions { episodes: 8, seed: 0, first_episode: 0, shard: None },
            &hidden(),
        )
        .unwrap();
        let frames: usize = episodes.iter().map(|e| e.frames).sum();
        let dir = tempfile::tempdir().unwrap();
        let options = WriteOptions { robot_type: name.into(), fps, append: false, data_file_size_mb: 100 };
        let probe = dir.path().join("probe");
        write_dataset(&probe, &layout, &episodes, &options).unwrap();
        let data_bytes = folder_size(&probe.join("data"));
        println!(
            "{name}: {frames} frames, {:.0} bytes/frame in data files, {:.0} bytes/frame with metadata",
            data_bytes as f64 / frames as f64,
            folder_size(&probe) as f64 / frames as f64
        );
        group.throughput(Throughput::Elements(frames as u64));
        let mut k = 0;
        group.bench_function(BenchmarkId::new(name, "write"), |b| {
            b.iter(|| {
                k += 1;
                let root = dir.path().join(format!("w{k}"));
                write_dataset(&root, &layout, &episodes, &options).unwrap();
                std::fs::remove_dir_all(&root).unwrap();
            })
        });
        let features: Vec<String> =
            layout.features.iter().filter(|(n, _)| n.starts_with("observation") || n == "action").map(|(n, _)| n.clone()).collect();
        let features: Vec<&str> = features.iter().map(String::as_str).collect();
        group.bench_function(BenchmarkId::new(name, "read"), |b| {
            b.iter(|| {
                let dataset = LeRobotDataset::open(&probe).unwrap();
                dataset.episodes(&features).unwrap().len()
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(std::time::Duration::from_secs(3)).warm_up_time(std::time::Duration::from_secs(1));
    targets = datasets
}
criterion_main!(benches);
