use anyhow::Context;
use dreamrig_bridges::mcap::StepRecorder;
use dreamrig_eval::run_episodes;
use dreamrig_sim::{ActionSpec, ObservationSpec, StepObserver, World};
use indicatif::{ProgressBar, ProgressStyle};
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
    /// MCAP file with the ros2 profile; the episodes then run one after another, on one clock.
    #[arg(long, value_name = "FILE")]
    pub record_mcap: Option<std::path::PathBuf>,
    /// Write the episodes, one after another, as an H.264 MP4 video of a camera's RGB image
    /// (one frame per control step); the episodes then run one after another.
    #[arg(long, value_name = "FILE.mp4")]
    pub video: Option<std::path::PathBuf>,
    /// The camera sensor `--video` shows (default: the scenario's first camera with an rgb output).
    #[arg(long, value_name = "NAME", requires = "video")]
    pub video_camera: Option<String>,
    #[command(flatten)]
    pub rerun: super::serve::RerunArgs,
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let scenario = super::load_scenario(&args.scenario)?;
    let config = scenario.config.clone();
    let build = |o: &ObservationSpec, a: &ActionSpec| dreamrig_policies::zoo::by_name(&args.policy, &config, o, a);
    // Check the world and the policy before anything is written or a viewer started.
    dreamrig_eval::collect::check_policy(&config, &build).map_err(super::eval_error)?;
    if let Some(path) = &args.record_mcap {
        super::refuse_folder_or_missing_parent(path, "--record-mcap")?;
    }
    let mut video = match &args.video {
        Some(path) => {
            super::refuse_folder_or_missing_parent(path, "--video")?;
            let observation = dreamrig_sim::PhysicsWorld::new(config.clone()).observation_spec().clone();
            let rgb: Vec<&dreamrig_sim::ImageSpec> = observation.images.iter().filter(|i| i.name.ends_with(".rgb")).collect();
            let image = match &args.video_camera {
                Some(camera) => rgb.iter().find(|i| &i.camera == camera).copied().ok_or_else(|| {
                    let names: Vec<&str> = rgb.iter().map(|i| i.camera.as_str()).collect();
                    anyhow::anyhow!(
                        "--video-camera {camera}: {} has no camera of that name with an rgb output (cameras with one: {})",
                        scenario.path.display(),
                        if names.is_empty() { "none".to_string() } else { names.join(", ") }
                    )
                })?,
                None => rgb.first().copied().ok_or_else(|| {
                    anyhow::anyhow!(
                        "--video: {} has no camera with an rgb output; add a `camera` sensor to the scenario (docs/scenarios.md, \"Cameras\")",
                        scenario.path.display()
                    )
                })?,
            };
            Some(dreamrig_datasets::video::VideoRecorder::new(image, config.timing.control_period(), path)?)
        }
        None => None,
    };
    let recording = args.rerun.recording(&config.name)?;
    let mut recorder = if args.record_mcap.is_some() || recording.is_some() {
        let action = dreamrig_sim::PhysicsWorld::new(config.clone()).action_spec().clone();
        let logger = super::serve::RerunArgs::logger(recording.as_ref(), &config, &action)?;
        Some(StepRecorder::new(&config, args.record_mcap.as_deref(), logger)?)
    } else {
        None
    };
    let pool = rayon::ThreadPoolBuilder::new().num_threads(args.threads.unwrap_or(0)).build().context("starting worker threads")?;
    let progress = ProgressBar::new(args.episodes);
    progress.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} episodes {per_sec} eta {eta}").expect("valid template"));
    if args.episodes < 2 {
        progress.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let interrupt = super::interrupt_on_ctrl_c(super::ABANDON_EPISODES);
    let seeds: Vec<u64> = (0..args.episodes).map(|k| args.seed.wrapping_add(k)).collect();
    let started = Instant::now();
    let mut taps: Vec<&mut dyn StepObserver> = Vec::new();
    if let Some(recorder) = recorder.as_mut() {
        taps.push(recorder);
    }
    if let Some(video) = video.as_mut() {
        taps.push(video);
    }
    let run = if taps.is_empty() {
        pool.install(|| run_episodes(&config, &args.policy, &build, &seeds, None, &progress, &interrupt))
    } else {
        // A recording needs its episodes in order: they run one after another, here.
        let mut taps = dreamrig_sim::observer::Observers(taps);
        run_episodes(&config, &args.policy, &build, &seeds, Some(&mut taps), &progress, &interrupt)
    }
    .map_err(super::eval_error)?;
    progress.finish_and_clear();
    let wall = started.elapsed().as_secs_f64();
    if let Some(error) = run.observer_errors.into_iter().next() {
        // The recorder is dropped unfinished: its temporary file goes, nothing half-written stays.
        return Err(anyhow::Error::new(error).context("recording the episodes"));
    }
    let records = run.records;
    let steps: u64 = records.iter().map(|r| r.length).sum();
    if let Some(recorder) = recorder {
        recorder.finish().context("finishing the recording")?;
        if let Some(recording) = recording {
            recording.finish().context("writing the Rerun log")?;
        }
        if let Some(path) = &args.record_mcap {
            println!("recorded {} episodes ({steps} steps) to {}", records.len(), path.display());
        }
        if let Some(path) = &args.rerun.rerun {
            println!("logged {} episodes ({steps} steps) to {}", records.len(), path.display());
        }
    }
    if let (Some(video), Some(path)) = (video, &args.video) {
        let episodes = video.episodes();
        if episodes > 0 {
            let frames = video.finish().context("writing the video")?;
            println!("wrote {episodes} episodes ({frames} frames) to {}", path.display());
        } else if !run.interrupted {
            anyhow::bail!("--video: no episode produced a frame; {} was not written", path.display());
        }
    }
    println!("scenario {} ({}), policy {}", config.name, scenario.path.display(), args.policy);
    println!("{:>8} {:>8} {:>12} {:>8}  end", "seed", "steps", "return", "success");
    for r in &records {
        let detail = if r.end_detail.is_empty() { String::new() } else { format!(": {}", r.end_detail) };
        println!("{:>8} {:>8} {:>12.3} {:>8}  {}{detail}", r.seed, r.length, r.episode_return, r.success, r.end_reason);
    }
    let successes = records.iter().filter(|r| r.success).count();
    let mean_return = records.iter().map(|r| r.episode_return).sum::<f64>() / records.len().max(1) as f64;
    println!(
        "summary: {} episodes, {} steps, mean return {:.3}, success {}/{} ({:.1}%), wall time {:.3} s, {:.0} steps/s",
        records.len(),
        steps,
        mean_return,
        successes,
        records.len(),
        100.0 * successes as f64 / records.len().max(1) as f64,
        wall,
        steps as f64 / wall
    );
    if run.interrupted {
        eprintln!("interrupted: {} of {} episodes ran", records.len(), args.episodes);
        return Ok(ExitCode::from(130));
    }
    let errors: Vec<_> = records.iter().filter(|r| r.end_reason == "error").collect();
    if let Some(first) = errors.first() {
        // A world that blew up or a policy that failed is not a result: say so in the exit code.
        eprintln!(
            "error: {} of {} episodes ended in an error; the first (seed {}): {}",
            errors.len(),
            records.len(),
            first.seed,
            first.end_detail
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
