use anyhow::Context;
use dreamrig_eval::run_episode;
use dreamrig_sim::{PhysicsWorld, World};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use std::process::ExitCode;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Scenario file, or the name of a shipped scenario (see `dreamrig scenarios`).
    pub scenario: String,
    /// Seed of the first episode; episode k uses seed + k.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Number of episodes.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub episodes: u64,
    /// Policy to run: a baseline (zero, random) or a shipped controller (auto picks the one
    /// for the scenario's task; lqr, reach, navigate, push).
    #[arg(long, default_value = "zero", value_parser = ["zero", "random", "auto", "lqr", "reach", "navigate", "push"])]
    pub policy: String,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Record the episodes' sensor topics (/clock, /joint_states, /scan, /imu, /odom, /tf) to an
    /// MCAP file with the ros2 profile; the episodes then run one after another.
    #[arg(long, value_name = "FILE")]
    pub record_mcap: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub rerun: super::serve::RerunArgs,
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let scenario = super::load_scenario(&args.scenario)?;
    let config = scenario.config.clone();
    let probe = PhysicsWorld::new(config.clone());
    let build = || dreamrig_policies::zoo::by_name(&args.policy, &config, probe.observation_spec(), probe.action_spec());
    build().map_err(|e| super::UsageError(e.to_string()))?;
    // Learned and hybrid dynamics load their world model here, so a bad model file is
    // reported before any episode runs.
    let make_world = || dreamrig_sim::make_world(&config);
    make_world().map_err(|e| super::UsageError(e.to_string()))?;
    let recording = args.rerun.recording(&config.name)?;
    if args.record_mcap.is_some() || recording.is_some() {
        let mut world = make_world().expect("loaded once above");
        let mut policy = build().expect("built once above");
        let logger = super::serve::RerunArgs::logger(recording.as_ref(), &config, world.action_spec())?;
        let seeds: Vec<u64> = (0..args.episodes).map(|k| args.seed.wrapping_add(k)).collect();
        let lengths =
            dreamrig_bridges::mcap::record_episodes(world.as_mut(), policy.as_mut(), &config, &seeds, args.record_mcap.as_deref(), logger)?;
        if let Some(recording) = recording {
            recording.finish()?;
        }
        let steps = lengths.iter().sum::<u64>();
        if let Some(path) = &args.record_mcap {
            println!("recorded {} episodes ({steps} steps) to {}", lengths.len(), path.display());
        }
        if let Some(path) = &args.rerun.rerun {
            println!("logged {} episodes ({steps} steps) to {}", lengths.len(), path.display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let pool = rayon::ThreadPoolBuilder::new().num_threads(args.threads.unwrap_or(0)).build().context("starting worker threads")?;
    let progress = ProgressBar::new(args.episodes);
    progress.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} episodes {per_sec} eta {eta}").expect("valid template"));
    if args.episodes < 2 {
        progress.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let started = Instant::now();
    let records = pool.install(|| {
        (0..args.episodes)
            .into_par_iter()
            .map_init(
                || (make_world().expect("loaded once above"), build().expect("built once above")),
                |(world, policy), episode| {
                    let seed = args.seed.wrapping_add(episode);
                    let record = run_episode(world.as_mut(), policy.as_mut(), &config.name, &args.policy, episode as u32, seed);
                    progress.inc(1);
                    record
                },
            )
            .collect::<Vec<_>>()
    });
    progress.finish_and_clear();
    let wall = started.elapsed().as_secs_f64();
    println!("scenario {} ({}), policy {}", config.name, scenario.path.display(), args.policy);
    println!("{:>8} {:>8} {:>12} {:>8}  end", "seed", "steps", "return", "success");
    for r in &records {
        let detail = if r.end_detail.is_empty() { String::new() } else { format!(": {}", r.end_detail) };
        println!("{:>8} {:>8} {:>12.3} {:>8}  {}{detail}", r.seed, r.length, r.episode_return, r.success, r.end_reason);
    }
    let steps: u64 = records.iter().map(|r| r.length).sum();
    let successes = records.iter().filter(|r| r.success).count();
    let mean_return = records.iter().map(|r| r.episode_return).sum::<f64>() / records.len() as f64;
    println!(
        "summary: {} episodes, {} steps, mean return {:.3}, success {}/{} ({:.1}%), wall time {:.3} s, {:.0} steps/s",
        records.len(),
        steps,
        mean_return,
        successes,
        records.len(),
        100.0 * successes as f64 / records.len() as f64,
        wall,
        steps as f64 / wall
    );
    Ok(ExitCode::SUCCESS)
}
