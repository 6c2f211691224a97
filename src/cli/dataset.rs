use anyhow::Context;
use dreamrig_datasets::{write_dataset, LeRobotDataset, WriteOptions};
use dreamrig_eval::{generate_dataset, GenerateOptions};
use dreamrig_policies::PolicySpec;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand, Debug)]
pub enum DatasetCommand {
    /// Run a policy in a scenario and write the episodes as a LeRobot v3.0 dataset.
    Generate(GenerateArgs),
    /// Print a dataset's features, totals and tasks.
    Info(PathArgs),
    /// Check a dataset: layout, index continuity, timestamps, stats recomputed.
    Validate(PathArgs),
    /// Convert a LeRobot v2.0/v2.1 dataset (lerobot ≤ 0.3) into a new v3.0 one; the old one is
    /// only read.
    Convert(ConvertArgs),
}

#[derive(clap::Args, Debug)]
pub struct ConvertArgs {
    /// The v2.x dataset folder.
    pub dir: PathBuf,
    /// The new v3.0 dataset's folder (must not exist).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct GenerateArgs {
    /// Scenario file or shipped name.
    pub scenario: String,
    /// zero, random, or a shipped controller (auto, lqr, reach, navigate, push).
    #[arg(long, default_value = "auto")]
    pub policy: String,
    #[arg(long)]
    pub episodes: u32,
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Only episodes k with k mod N = I.
    #[arg(long)]
    pub shard: Option<String>,
    /// Add the episodes to the dataset in --out instead of refusing to touch it.
    #[arg(long)]
    pub append: bool,
    /// Worker threads (default: all cores). The dataset does not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
}

#[derive(clap::Args, Debug)]
pub struct PathArgs {
    /// Dataset folder (the one holding meta/ and data/).
    pub dir: PathBuf,
}

pub fn run(command: DatasetCommand) -> anyhow::Result<ExitCode> {
    match command {
        DatasetCommand::Generate(args) => {
            let scenario = super::load_scenario(&args.scenario)?;
            let shard = match &args.shard {
                Some(text) => {
                    let s = dreamrig_eval::Shard::parse(text).map_err(|e| super::UsageError(format!("--shard: {e}")))?;
                    Some((s.index, s.count))
                }
                None => None,
            };
            let spec = PolicySpec::from_bare_name(&args.policy);
            let fps = dreamrig_datasets::fps_of(&scenario)?;
            super::refuse_file(&args.out, "--out")?;
            let pool = rayon::ThreadPoolBuilder::new().num_threads(args.threads.unwrap_or(0)).build()?;
            // Appending continues the seed sequence after the episodes already there, and never
            // repeats a seed the dataset holds (duplicates would leak across a train/validation split).
            let (first_episode, existing_seeds) = if args.append && args.out.join("meta/info.json").exists() {
                let existing = LeRobotDataset::open(&args.out)?;
                let seeds: std::collections::BTreeSet<u64> = existing
                    .episode_metadata()
                    .with_context(|| format!("reading the seeds of the episodes in {} to append new ones", args.out.display()))?
                    .into_iter()
                    .map(|m| m.seed)
                    .collect();
                (u32::try_from(existing.info.total_episodes).context("too many episodes to append to")?, seeds)
            } else {
                (0, Default::default())
            };
            let options = GenerateOptions { episodes: args.episodes, seed: args.seed, first_episode, shard };
            let repeated: Vec<u64> = (0..args.episodes)
                .map(|k| dreamrig_eval::dataset_episode_seed(args.seed, first_episode + k))
                .filter(|s| existing_seeds.contains(s))
                .collect();
            if let Some(seed) = repeated.first() {
                return Err(super::UsageError(format!(
                    "--append: {} of the new episodes would repeat seeds already in {} (first: {seed}); give another --seed",
                    repeated.len(),
                    args.out.display()
                ))
                .into());
            }
            let started = std::time::Instant::now();
            let progress =
                indicatif::ProgressBar::new((0..options.episodes).filter(|k| shard.is_none_or(|(i, n)| k % n == i)).count() as u64);
            let (layout, episodes) = pool
                .install(|| generate_dataset(&scenario, &spec, std::path::Path::new("."), &options, &progress))
                .map_err(super::eval_error)?;
            progress.finish_and_clear();
            let frames: usize = episodes.iter().map(|e| e.frames).sum();
            let write = WriteOptions {
                robot_type: scenario.config.robot.model.urdf.name.clone(),
                fps,
                append: args.append,
                data_file_size_mb: 100,
            };
            let info = write_dataset(&args.out, &layout, &episodes, &write)?;
            println!(
                "wrote {} episodes ({frames} frames) to {} in {:.1} s; the dataset now has {} episodes, {} frames",
                episodes.len(),
                args.out.display(),
                started.elapsed().as_secs_f64(),
                info.total_episodes,
                info.total_frames
            );
            Ok(ExitCode::SUCCESS)
        }
        DatasetCommand::Info(args) => {
            let dataset = LeRobotDataset::open(&args.dir)?;
            let info = &dataset.info;
            println!(
                "{}: LeRobot {} dataset, robot {}",
                args.dir.display(),
                info.codebase_version,
                info.robot_type.as_deref().unwrap_or("?")
            );
            println!(
                "{} episodes, {} frames at {} fps, {} data files",
                info.total_episodes,
                info.total_frames,
                info.fps,
                dataset.data_files.len()
            );
            println!("tasks: {}", dataset.tasks.join(" | "));
            println!("features:");
            for (name, feature) in &info.features {
                println!("  {name:<40} {:<8} {:?}", feature.dtype, feature.shape);
            }
            Ok(ExitCode::SUCCESS)
        }
        DatasetCommand::Convert(args) => {
            let report = dreamrig_datasets::convert_v2_to_v3(&args.dir, &args.out)?;
            println!(
                "converted {} (LeRobot {}) into {} (v3.0): {} episodes, {} frames, {} data files, {} videos carried over as they were",
                args.dir.display(),
                report.from_version,
                args.out.display(),
                report.episodes,
                report.frames,
                report.data_files,
                report.videos
            );
            Ok(ExitCode::SUCCESS)
        }
        DatasetCommand::Validate(args) => {
            let problems = dreamrig_datasets::validate(&args.dir)?;
            if problems.is_empty() {
                println!("ok: {} is a valid LeRobot v3.0 dataset", args.dir.display());
                Ok(ExitCode::SUCCESS)
            } else {
                for p in &problems {
                    eprintln!("{}: {p}", args.dir.display());
                }
                eprintln!("{} problems", problems.len());
                Ok(ExitCode::from(2))
            }
        }
    }
}
