use anyhow::Context;
use dreamrig_bridges::mcap::StepRecorder;
use dreamrig_bridges::rerun::{RerunLogger, RerunRecording};
use dreamrig_eval::{EvalSpec, ObserverFactory, RunOptions, Shard};
use dreamrig_sim::observer::slot_mut;
use dreamrig_sim::{EpisodeEnd, EpisodeInfo, EpisodeOutcome, EpisodeStart, ObserverError, StepObserver, StepView};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Evaluation spec (YAML): policies × scenarios × episodes.
    pub spec: PathBuf,
    /// Folder for the results (episodes, summary, report).
    #[arg(long)]
    pub out: PathBuf,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Finish an interrupted run in --out, keeping the episodes it completed.
    #[arg(long)]
    pub resume: bool,
    /// Run slice I of N of the episode grid (merge the slices with `dreamrig merge`). Without
    /// it, a Kubernetes Indexed Job (JOB_COMPLETION_INDEX, JOB_COMPLETIONS) or Slurm array
    /// (SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT) in the environment picks the slice.
    #[arg(long)]
    pub shard: Option<String>,
    /// Also record every evaluated episode as a LeRobot v3.0 dataset, one per scenario, in
    /// DIR/<scenario> (episode metadata includes the policy and its success).
    #[arg(long, value_name = "DIR")]
    pub record_dataset: Option<PathBuf>,
    /// For scenarios with a camera: record the first N episodes of each policy as videos in
    /// OUT/videos/, and show a success and a failure per policy in report.html (0: none).
    #[arg(long, value_name = "N", default_value_t = dreamrig_eval::runner::REPORT_VIDEOS)]
    pub videos: u32,
    /// Run every scenario with other dynamics: `physics`, `learned:MODEL.json` or
    /// `hybrid:MODEL.json` (a world model trained with `dreamrig wm train`).
    #[arg(long, value_name = "BACKEND[:MODEL]")]
    pub dynamics: Option<String>,
    /// Replace the spec's master seed (e.g. to draw held-out episodes from a data spec).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Record every episode's ROS 2 topics to DIR/SCENARIO/POLICY/episode-K.mcap (ros2 profile).
    #[arg(long, value_name = "DIR")]
    pub record_mcap: Option<PathBuf>,
    /// Log every episode to Rerun (under episodes/SCENARIO/POLICY/K).
    #[command(flatten)]
    pub rerun: super::serve::RerunArgs,
}

#[derive(clap::Args, Debug)]
pub struct MergeArgs {
    /// The spec the shards ran.
    pub spec: PathBuf,
    /// Run folders of the shards.
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// Folder for the merged results.
    #[arg(long)]
    pub out: PathBuf,
    /// Merge runs that do not cover the whole spec (a shard missing or unfinished); the result
    /// is marked partial in run.json and the report.
    #[arg(long)]
    pub allow_partial: bool,
}

fn shard(args: &EvalArgs) -> anyhow::Result<Option<Shard>> {
    if let Some(text) = &args.shard {
        return Ok(Some(Shard::parse(text).map_err(|e| super::UsageError(format!("--shard: {e}")))?));
    }
    let found = Shard::from_environment(&|name| std::env::var(name).ok()).map_err(super::usage)?;
    if let Some(s) = found {
        eprintln!("running shard {}/{} (from the job environment)", s.index, s.count);
    }
    Ok(found)
}

fn load(spec: &std::path::Path) -> anyhow::Result<EvalSpec> {
    load_with(spec, &dreamrig_eval::SpecOverrides::default())
}

fn load_with(spec: &std::path::Path, overrides: &dreamrig_eval::SpecOverrides) -> anyhow::Result<EvalSpec> {
    EvalSpec::load_with(spec, overrides).map_err(|e| match e {
        dreamrig_eval::EvalError::Spec { .. } | dreamrig_eval::EvalError::Located(_) => super::usage(e),
        other => anyhow::Error::new(other),
    })
}

pub fn run(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let overrides = match &args.dynamics {
        None => dreamrig_eval::SpecOverrides::default(),
        Some(text) => dreamrig_eval::SpecOverrides::for_dynamics(text).map_err(|e| super::UsageError(format!("--dynamics: {e}")))?,
    };
    let mut spec = load_with(&args.spec, &overrides)?;
    if let Some(seed) = args.seed {
        spec.override_seed(seed);
    }
    let shard = shard(&args)?;
    super::refuse_file(&args.out, "--out")?;
    if let Some(folder) = &args.record_mcap {
        super::refuse_file(folder, "--record-mcap")?;
    }
    // A panicking policy fails its episode (the runner catches it); report it through the log
    // rather than as a raw panic message in the middle of the progress bar.
    std::panic::set_hook(Box::new(|info| tracing::warn!("episode panicked: {info}")));
    let interrupt = super::interrupt_on_ctrl_c(super::ABANDON_EPISODES);
    if let Some(dir) = &args.record_dataset {
        dreamrig_eval::check_recorded_dataset_targets(&spec, dir, "--record-dataset").map_err(super::eval_error)?;
    }
    let recording = args.rerun.recording(&spec.name)?;
    let observers: Option<Arc<ObserverFactory>> = (args.record_mcap.is_some() || recording.is_some()).then(|| {
        let outputs = Arc::new(TapOutputs { mcap: args.record_mcap.clone(), rerun: recording.as_ref().map(RerunRecording::share) });
        Arc::new(move || Box::new(Taps { outputs: outputs.clone(), open: Vec::new() }) as Box<dyn StepObserver>) as Arc<ObserverFactory>
    });
    let options = RunOptions {
        out: args.out.clone(),
        threads: args.threads,
        resume: args.resume,
        shard,
        interrupt,
        show_progress: true,
        record_frames: args.record_dataset.is_some(),
        videos: args.videos,
        observers,
    };
    let outcome = dreamrig_eval::run(&spec, &options).map_err(super::eval_error)?;
    if let Some(recording) = recording {
        recording.finish().context("writing the Rerun log")?;
    }
    let summaries = dreamrig_eval::write_outputs(&args.out, &spec.name, &spec.fingerprint, &outcome.entries).context("writing results")?;
    let wall: f64 = outcome.entries.iter().map(|e| e.wall_time_s).sum();
    let steps: u64 = outcome.entries.iter().map(|e| e.record.length).sum();
    println!("{} episodes ran, {} already done; results in {}", outcome.ran, outcome.skipped, args.out.display());
    println!("{:<20} {:<24} {:>4} {:>22} {:>12}", "scenario", "policy", "rank", "success [95% CI]", "mean return");
    for s in &summaries {
        println!(
            "{:<20} {:<24} {:>4} {:>6.1}% [{:>5.1}, {:>5.1}] {:>12.3}",
            s.scenario,
            s.policy,
            s.rank,
            100.0 * s.success_rate,
            100.0 * s.success_ci_low,
            100.0 * s.success_ci_high,
            s.mean_return
        );
    }
    if wall > 0.0 {
        println!("{steps} environment steps in {wall:.1} episode-seconds of worker time ({:.0} steps/s per worker)", steps as f64 / wall);
    }
    if outcome.interrupted {
        eprintln!(
            "interrupted: {} episodes are saved in {}; run the same command with --resume to finish",
            outcome.entries.len(),
            args.out.display()
        );
        return Ok(ExitCode::from(130));
    }
    if let Some(dir) = &args.record_dataset {
        let written = dreamrig_eval::write_recorded_datasets(&spec, &args.out, dir, &outcome.entries).map_err(super::eval_error)?;
        for path in written {
            println!("dataset: {}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn merge(args: MergeArgs) -> anyhow::Result<ExitCode> {
    let spec = load(&args.spec)?;
    let summaries = dreamrig_eval::merge(&spec, &args.runs, &args.out, args.allow_partial).map_err(super::eval_error)?;
    println!("merged {} runs: {} policy × scenario pairs; results in {}", args.runs.len(), summaries.len(), args.out.display());
    Ok(ExitCode::SUCCESS)
}

/// `--record-mcap` and `--rerun` for the episodes of an evaluation: an observer that gives
/// every episode its own MCAP file (`DIR/<scenario>/<policy>/episode-<k>.mcap`) and Rerun entity
/// path (`episodes/<scenario>/<policy>/<k>`).
struct Taps {
    outputs: Arc<TapOutputs>,
    /// The recorder of the episode in each slot of the batch.
    open: Vec<Option<StepRecorder>>,
}

/// Where [`Taps`] record to.
struct TapOutputs {
    mcap: Option<PathBuf>,
    rerun: Option<RerunRecording>,
}

impl Taps {
    fn recorder(&self, episode: &EpisodeInfo<'_>) -> anyhow::Result<StepRecorder> {
        let (config, policy, k) = (episode.scenario, episode.policy, episode.episode);
        let mcap = match &self.outputs.mcap {
            Some(dir) => {
                let folder = dir.join(&config.name).join(policy);
                std::fs::create_dir_all(&folder).with_context(|| format!("creating {}", folder.display()))?;
                Some(folder.join(format!("episode-{k}.mcap")))
            }
            None => None,
        };
        let rerun = match &self.outputs.rerun {
            Some(recording) => {
                let path = format!("episodes/{}/{policy}/{k}", config.name);
                Some(RerunLogger::new(recording, config, &episode.action_spec.names, Some(&path))?)
            }
            None => None,
        };
        Ok(StepRecorder::new(config, mcap.as_deref(), rerun)?)
    }
}

impl StepObserver for Taps {
    fn wants_poses(&self) -> bool {
        true
    }

    // A failure affects one episode's recording: it is logged and that episode goes unrecorded,
    // while the other episodes of the batch keep theirs.
    fn episode_started(&mut self, episode: &EpisodeInfo<'_>, start: &EpisodeStart<'_>) -> Result<(), ObserverError> {
        let recorder = match self.recorder(episode) {
            Ok(mut recorder) => match recorder.episode_started(episode, start) {
                Ok(()) => Some(recorder),
                Err(e) => {
                    tracing::warn!("episode {} not recorded: {}", episode.episode, dreamrig_rollout::error_chain(&e));
                    None
                }
            },
            Err(e) => {
                tracing::warn!("episode {} not recorded: {e:#}", episode.episode);
                None
            }
        };
        *slot_mut(&mut self.open, episode.slot) = recorder;
        Ok(())
    }

    fn step(&mut self, episode: &EpisodeInfo<'_>, step: &StepView<'_>) -> Result<(), ObserverError> {
        let Some(slot) = self.open.get_mut(episode.slot) else { return Ok(()) };
        if let Some(Err(e)) = slot.as_mut().map(|recorder| recorder.step(episode, step)) {
            tracing::warn!("episode {}: recording stopped: {}", episode.episode, dreamrig_rollout::error_chain(&e));
            *slot = None;
        }
        Ok(())
    }

    fn episode_ended(&mut self, episode: &EpisodeInfo<'_>, outcome: &EpisodeOutcome) -> Result<(), ObserverError> {
        let Some(recorder) = self.open.get_mut(episode.slot).and_then(Option::take) else { return Ok(()) };
        if outcome.end == EpisodeEnd::Interrupted {
            return Ok(());
        }
        if let Err(e) = recorder.finish() {
            tracing::warn!("episode {}: recording not finished: {}", episode.episode, dreamrig_rollout::error_chain(&e));
        }
        Ok(())
    }
}
