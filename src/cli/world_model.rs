use super::UsageError;
use anyhow::Context;
use dreamrig_eval::{EvalSpec, RunOptions, SpecOverrides};
use dreamrig_sim::world_model::data::{choose_episodes, Trajectory};
use dreamrig_sim::world_model::fidelity::OpenLoopOptions;
use dreamrig_sim::world_model::gate::CorrectionGate;
use dreamrig_sim::world_model::pipeline::{self, train_world_model, Fidelity, TrainProgress};
use dreamrig_sim::world_model::train::{TrainOptions, TrainedModel};
use dreamrig_sim::world_model::{IdentifiedPrior, IdentifyOptions, ModelKind, WorldModel};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(clap::Subcommand, Debug)]
pub enum WorldModelCommand {
    /// Train a learned or hybrid world model on a LeRobot v3.0 dataset.
    Train(TrainArgs),
    /// Open-loop prediction error of a model (and of the physics prior alone) on held-out data.
    Eval(EvalArgs),
    /// Run one policy zoo in two worlds and compare the policies' success rates.
    Compare(CompareArgs),
    /// Continue a logged episode from its state at a step, in physics or a world model, with
    /// the logged actions or another policy, and compare with the log (counterfactual replay).
    Replay(ReplayArgs),
}

#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// The log: a LeRobot v3.0 dataset (dreamrig's, or a robot's joint log with --map).
    #[arg(long)]
    pub log: PathBuf,
    /// How the log's elements map onto the scenario (as for `wm train`).
    #[arg(long)]
    pub map: Option<PathBuf>,
    /// The logged episode to start from (its episode_index).
    #[arg(long)]
    pub episode: u64,
    /// The step of the episode whose logged state the world starts from.
    #[arg(long, default_value_t = 0)]
    pub from_step: usize,
    /// Who acts: `logged` (the log's own actions, to the log's end) or a policy by name
    /// (zero, random, auto, lqr, reach, navigate, push).
    #[arg(long, default_value = "logged", value_parser = ["logged", "zero", "random", "auto", "lqr", "reach", "navigate", "push"])]
    pub policy: String,
    /// The world: `physics` (the scenario's nominal physics, as `wm eval` measures it),
    /// `physics:SCENARIO` (another scenario as it is, e.g. the "real" one), `hybrid:MODEL.json`
    /// or `learned:MODEL.json`.
    #[arg(long, default_value = "physics")]
    pub dynamics: String,
    /// The scenario the log is read against (its state and action names), and whose task
    /// scores the replay unless `physics:SCENARIO` names another (default: the model's, for
    /// learned and hybrid worlds; required with physics).
    #[arg(long)]
    pub scenario: Option<String>,
    /// Steps to take at most (default: to the scenario's horizon, or the log's end with the
    /// logged actions).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub steps: Option<u64>,
    /// Write every step (actions, states, logged states, errors, disagreement) as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub rerun: super::serve::RerunArgs,
}

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// LeRobot v3.0 dataset with observation.environment_state and action (what
    /// `dreamrig dataset generate` and `dreamrig eval --record-dataset` write).
    #[arg(long)]
    pub dataset: PathBuf,
    /// How the dataset's elements map onto the scenario's joints and actions, and their units
    /// (YAML; docs/world-model.md, "Logs of real robots"). Without it, elements are matched by
    /// name (`shoulder.pos`, `joint_state.position.shoulder`, …).
    #[arg(long)]
    pub map: Option<PathBuf>,
    /// The scenario the model is for (file or shipped name): its robot and state layout, and
    /// for hybrid models the physics prior.
    #[arg(long)]
    pub scenario: String,
    #[arg(long, value_parser = ["learned", "hybrid"])]
    pub kind: String,
    /// Model config to write (`.json`); the weights go beside it (`.safetensors`).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 3)]
    pub ensemble: usize,
    /// Hidden layer widths, comma-separated.
    #[arg(long, default_value = "128,128", value_delimiter = ',')]
    pub hidden: Vec<usize>,
    /// Earlier actions the model sees besides the current one.
    #[arg(long, default_value_t = 2)]
    pub action_history: usize,
    /// Hybrid models: earlier actions the physics is also stepped with, as inputs to the
    /// correction (at most --action-history).
    #[arg(long, default_value_t = 1)]
    pub prior_history: usize,
    /// Steps of the open-loop rollout loss.
    #[arg(long, default_value_t = 5)]
    pub rollout_steps: usize,
    /// Where the rollout loss turns from squared to linear (Huber's δ), in robust standard
    /// deviations of the predicted quantity (1.4826 × its median absolute deviation); a large
    /// value (1e6) makes every error squared.
    #[arg(long, default_value_t = 1.0)]
    pub huber_delta: f64,
    #[arg(long, default_value_t = 60)]
    pub epochs: usize,
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 1e-3)]
    pub learning_rate: f64,
    /// Epochs without a better validation loss before stopping.
    #[arg(long, default_value_t = 8)]
    pub patience: usize,
    /// Share of the episodes kept for validation (split by episode).
    #[arg(long, default_value_t = 0.2)]
    pub validation_fraction: f64,
    /// Hybrid models: the physics the prior steps with. `identified` first fits the actuator
    /// gain, action delay, each joint's damping, friction and armature, and a payload mass
    /// (--identify-payload) to the training episodes (system identification), and keeps the fit
    /// only if it is no worse than the nominal physics on the validation episodes; `nominal`
    /// takes the scenario's values as they are.
    #[arg(long, value_parser = ["identified", "nominal"], default_value = "identified")]
    pub prior: String,
    /// Transitions simulated per evaluation of the identification objective (with --prior
    /// identified), in open-loop windows of --identify-steps.
    #[arg(long, default_value_t = 640)]
    pub identify_transitions: usize,
    /// Control steps of each open-loop window the prior is fitted on.
    #[arg(long, default_value_t = 10)]
    pub identify_steps: usize,
    /// Link at whose origin a payload mass is fitted (`none`: no payload). Default: the
    /// scenario's `robot.end_effector`, or none without one.
    #[arg(long)]
    pub identify_payload: Option<String>,
    /// Train on N episodes of the dataset, drawn at random with --seed.
    #[arg(long)]
    pub max_episodes: Option<usize>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// World-model config (`.json`).
    #[arg(long)]
    pub model: PathBuf,
    /// Held-out LeRobot v3.0 dataset.
    #[arg(long)]
    pub dataset: PathBuf,
    /// How the dataset's elements map onto the scenario's joints and actions, and their units
    /// (YAML; docs/world-model.md, "Logs of real robots"). Without it, elements are matched by
    /// name (`shoulder.pos`, `joint_state.position.shoulder`, …).
    #[arg(long)]
    pub map: Option<PathBuf>,
    /// Scenario whose physics is the prior (default: the one the model was trained for, by
    /// its shipped name).
    #[arg(long)]
    pub scenario: Option<String>,
    #[arg(long, default_value = "1,10,50", value_delimiter = ',')]
    pub horizons: Vec<usize>,
    /// Steps between the starts of successive rollouts in an episode.
    #[arg(long, default_value_t = 10)]
    pub stride: usize,
    /// Also write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    /// Evaluation spec with the policy zoo.
    pub spec: PathBuf,
    /// The world taken as truth: `physics` (the spec's scenarios) or `physics:SCENARIO`.
    #[arg(long, default_value = "physics")]
    pub reference: String,
    /// The world under test: `hybrid:MODEL.json`, `learned:MODEL.json` or `physics:SCENARIO`.
    #[arg(long)]
    pub candidate: String,
    /// Folder for both runs and the comparison tables and report.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long)]
    pub threads: Option<usize>,
}

pub fn run(command: WorldModelCommand) -> anyhow::Result<ExitCode> {
    match command {
        WorldModelCommand::Train(args) => train_command(args),
        WorldModelCommand::Eval(args) => eval_command(args),
        WorldModelCommand::Compare(args) => compare_command(args),
        WorldModelCommand::Replay(args) => replay_command(args),
    }
}

/// Reads a dataset's episodes as state/action trajectories for `scenario`, through the map
/// file when one is given; says on stderr how a log without dreamrig's full state was mapped.
pub fn load_trajectories(
    dataset: &Path,
    config: &dreamrig_sim::scenario::config::ScenarioConfig,
    map: Option<&Path>,
) -> anyhow::Result<Vec<Trajectory>> {
    let map = map
        .map(|path| {
            dreamrig_datasets::FeatureMap::load(path).map_err(|e| match e {
                dreamrig_datasets::DatasetError::Io { .. } => UsageError(format!("--map: {e}")).into(),
                other => anyhow::Error::new(other),
            })
        })
        .transpose()?;
    let log = dreamrig_datasets::load_log(dataset, config, map.as_ref())?;
    let as_recorded = log.mapping.first().is_some_and(|m| m.starts_with("state: observation.environment_state"))
        && log.mapping.iter().all(|m| !m.starts_with("seeds: no") && !m.starts_with("action "));
    if !as_recorded {
        eprintln!("{} read as scenario {}:", dataset.display(), config.name);
        for line in &log.mapping {
            eprintln!("  {line}");
        }
    }
    Ok(log.trajectories)
}

fn usage(e: dreamrig_sim::world_model::WorldModelError) -> anyhow::Error {
    match e {
        dreamrig_sim::world_model::WorldModelError::Network(_) | dreamrig_sim::world_model::WorldModelError::Sim(_) => e.into(),
        other => super::usage(other),
    }
}

fn train_command(args: TrainArgs) -> anyhow::Result<ExitCode> {
    let scenario = super::load_scenario(&args.scenario)?;
    let config = scenario.config.clone();
    let kind = if args.kind == "hybrid" { ModelKind::Hybrid } else { ModelKind::Learned };
    if !(0.0..1.0).contains(&args.validation_fraction) || args.validation_fraction <= 0.0 {
        return Err(UsageError(format!("--validation-fraction: expected a share between 0 and 1, got {}", args.validation_fraction)).into());
    }
    if args.out.extension().is_none_or(|e| e != "json") {
        return Err(UsageError(format!("--out: expected a .json path for the model config, got {}", args.out.display())).into());
    }
    let mut trajectories = load_trajectories(&args.dataset, &config, args.map.as_deref())?;
    if let Some(n) = args.max_episodes {
        trajectories = choose_episodes(trajectories, n, args.seed);
    }
    let episodes = trajectories.len();
    let transitions: usize = trajectories.iter().map(Trajectory::transitions).sum();
    eprintln!("{episodes} episodes, {transitions} transitions from {}", args.dataset.display());
    let options = TrainOptions {
        kind,
        hidden: args.hidden.clone(),
        activation: "silu".into(),
        ensemble: args.ensemble,
        action_history: args.action_history,
        prior_history: args.prior_history,
        max_epochs: args.epochs,
        batch_size: args.batch_size,
        learning_rate: args.learning_rate,
        rollout_steps: args.rollout_steps,
        huber_delta: args.huber_delta,
        validation_fraction: args.validation_fraction,
        patience: args.patience,
        seed: args.seed,
        identified_prior: None,
        rejected_prior: None,
    };
    if kind == ModelKind::Hybrid && args.prior_history > args.action_history {
        return Err(
            UsageError(format!("--prior-history {} is longer than --action-history {}", args.prior_history, args.action_history)).into()
        );
    }
    let progress = ProgressBar::new((args.epochs * args.ensemble) as u64);
    progress.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} epochs  {msg}").expect("valid template"),
    );
    progress.enable_steady_tick(std::time::Duration::from_millis(200));
    let started = std::time::Instant::now();
    let provenance = serde_json::json!({
        "dataset": args.dataset.display().to_string(),
        "map": args.map.as_ref().map(|m| m.display().to_string()),
        "scenario": args.scenario,
        "episodes": episodes,
        "max_episodes": args.max_episodes,
    });
    let payload_link = match args.identify_payload.as_deref() {
        Some("none") => None,
        Some(link) => Some(link.to_string()),
        None => config.robot.end_effector.clone(),
    };
    let identifying = kind == ModelKind::Hybrid && args.prior == "identified";
    if identifying && args.identify_steps == 0 {
        return Err(UsageError("--identify-steps must be at least 1".into()).into());
    }
    if !identifying && args.identify_payload.is_some() {
        return Err(UsageError("--identify-payload applies only to --kind hybrid with --prior identified".into()).into());
    }
    let identify = identifying.then(|| IdentifyOptions {
        transitions: args.identify_transitions.max(1),
        window_steps: args.identify_steps,
        payload_link,
        max_latency: args.action_history.min(IdentifyOptions::default().max_latency),
        seed: args.seed,
        ..IdentifyOptions::default()
    });
    if identify.is_some() {
        progress.set_message("identifying the physics prior");
    }
    let mut samples = 0usize;
    let mut on_progress = |event: TrainProgress<'_>| match event {
        TrainProgress::Identifying(message) => {
            progress.set_message(format!("identifying the physics prior: {message}"));
            tracing::info!("{message}");
        }
        TrainProgress::Identified(prior) => progress.suspend(|| print!("{}", identified_table(prior, started.elapsed().as_secs_f64()))),
        TrainProgress::Epoch(m) => {
            samples += m.samples;
            progress.set_position((m.member * args.epochs + m.epoch + 1) as u64);
            progress.set_message(format!(
                "member {} epoch {} train {:.4} validation {:.4}",
                m.member, m.epoch, m.train_loss, m.validation_loss
            ));
            tracing::info!(member = m.member, epoch = m.epoch, train = m.train_loss, validation = m.validation_loss, "epoch");
        }
    };
    let trained = train_world_model(&config, trajectories, options, identify.as_ref(), provenance, &mut on_progress).map_err(usage)?;
    progress.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    // A failed write is a failure while running (exit 1), not the user's fault.
    trained.save(&args.out).context("saving the model")?;
    let metrics_path = TrainedModel::metrics_path(&args.out);
    let best = trained.metrics.iter().map(|m| m.validation_loss).fold(f64::INFINITY, f64::min);
    println!(
        "trained a {kind} model ({} members, {} epochs in all) in {seconds:.1} s ({:.0} samples/s); best validation loss {best:.5}; disagreement threshold {:.3e}",
        args.ensemble,
        trained.metrics.len(),
        samples as f64 / seconds.max(1e-9),
        trained.config.disagreement_threshold
    );
    if let Some(gate) = &trained.gate {
        print!("{}", gate_table(gate));
    }
    println!(
        "model: {} (weights {}), metrics: {}",
        args.out.display(),
        args.out.with_extension("safetensors").display(),
        metrics_path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// An identified prior as `wm train` prints it: the fit, the fitted values, and the check
/// against the nominal physics on the validation episodes that decides whether it is used.
fn identified_table(prior: &IdentifiedPrior, seconds: f64) -> String {
    let mut out = format!(
        "identified the physics prior in {seconds:.1} s ({} evaluations of {} transitions in {}-step open-loop windows): error {:.3e} → {:.3e}\n",
        prior.evaluations, prior.transitions, prior.window_steps, prior.nominal_error, prior.identified_error
    );
    out.push_str(&format!("  actuator gain ×{:.3}, action delay {} steps\n", prior.actuator_gain_scale, prior.action_latency_steps));
    for j in &prior.joints {
        out.push_str(&format!("  joint {}: damping {:.4}, friction {:.4}, armature {:.3e}\n", j.joint, j.damping, j.friction, j.armature));
    }
    if let Some(payload) = &prior.payload {
        out.push_str(&format!("  payload at {}: {:.4} kg\n", payload.link, payload.mass));
    }
    if let Some(v) = &prior.validation {
        let cells = |errors: &[f64]| errors.iter().map(|e| format!(" {e:>10.4}")).collect::<String>();
        let horizons: String = v.horizons.iter().map(|h| format!(" {:>10}", format!("{h} steps"))).collect();
        out.push_str(&format!(
            "checked on the validation episodes, {} windows (open-loop error, normalized as `wm eval` reports it):\n",
            v.windows.first().copied().unwrap_or(0)
        ));
        out.push_str(&format!("  {:<18}{horizons}\n", "horizon"));
        out.push_str(&format!("  {:<18}{}\n", "nominal physics", cells(&v.nominal)));
        out.push_str(&format!("  {:<18}{}\n", "identified", cells(&v.identified)));
        out.push_str(if v.kept {
            "kept the identified prior: no worse than the nominal physics at any horizon\n"
        } else {
            "kept the NOMINAL physics as the prior: the identified one is worse at some horizon or a window diverged (the attempt is stored as training.rejected_identified_prior)\n"
        });
    }
    out
}

/// The correction gate's measurements as `wm train` prints them: the prior's and each share's
/// open-loop error per horizon on the validation episodes, and the share kept.
fn gate_table(gate: &CorrectionGate) -> String {
    let windows: Vec<String> = gate.windows.iter().map(usize::to_string).collect();
    let mut out = format!(
        "correction gate on {} validation episodes, {} windows (open-loop error per horizon, normalized as `wm eval` reports it):\n",
        gate.validation_episodes,
        windows.first().cloned().unwrap_or_else(|| "0".into())
    );
    let row = |label: &str, errors: &[f64], note: &str| {
        let cells: String = errors.iter().map(|e| format!(" {e:>10.4}")).collect();
        format!("  {label:<16}{cells}{note}\n")
    };
    let horizons: String = gate.horizons.iter().map(|h| format!(" {:>10}", format!("{h} steps"))).collect();
    out.push_str(&format!("  {:<16}{horizons}\n", "horizon"));
    out.push_str(&row("prior alone", &gate.prior, ""));
    for c in gate.candidates.iter().filter(|c| c.scale > 0.0) {
        let note = match (c.no_worse, c.failed_windows) {
            (true, _) => String::new(),
            (false, 0) => "  worse than the prior".into(),
            (false, n) => format!("  {n} windows diverged"),
        };
        out.push_str(&row(&format!("correction ×{:.1}", c.scale), &c.errors, &note));
    }
    let kept = gate.kept();
    if gate.scale == 0.0 {
        out.push_str("kept none of the correction: no share did better than the prior alone without doing worse somewhere, so the model steps the prior alone\n");
    } else {
        let last = gate.horizons.len() - 1;
        out.push_str(&format!(
            "kept the correction ×{:.1}: hybrid/prior {} at {} steps\n",
            gate.scale,
            match (kept.errors[last], gate.prior[last]) {
                (e, p) if p > 0.0 => format!("{:.2}", e / p),
                _ => "n/a (the prior's error is 0)".into(),
            },
            gate.horizons[last]
        ));
    }
    out
}

/// Says when a model was trained through a map file and none is given now: the log is then
/// read by names, which may not be how the model's data was read.
fn note_training_map(model: &WorldModel, map: Option<&Path>) {
    if let (Some(trained_with), None) = (model.config.training.get("map").and_then(|m| m.as_str()), map) {
        eprintln!("note: the model was trained on data read through --map {trained_with}; without --map this log is read by element names");
    }
}

/// A model, loaded, and its [`Fidelity`] on a dataset for a scenario (by default the one the
/// model was trained for, by its shipped name).
pub fn fidelity(
    model_path: &Path,
    dataset: &Path,
    map: Option<&Path>,
    scenario: Option<&str>,
    horizons: &[usize],
    stride: usize,
) -> anyhow::Result<(Arc<WorldModel>, Fidelity)> {
    let model = Arc::new(WorldModel::load(model_path).map_err(usage)?);
    note_training_map(&model, map);
    let scenario = super::load_scenario(scenario.unwrap_or(&model.config.scenario.name))?;
    let trajectories = load_trajectories(dataset, &scenario.config, map)?;
    let options = OpenLoopOptions { horizons: horizons.to_vec(), stride };
    let measured = pipeline::fidelity(&scenario.config, &model, trajectories, &options).map_err(usage)?;
    Ok((model, measured))
}

fn eval_command(args: EvalArgs) -> anyhow::Result<ExitCode> {
    if args.horizons.is_empty() || args.horizons.contains(&0) || args.stride == 0 {
        return Err(UsageError("--horizons must list positive step counts and --stride must be positive".into()).into());
    }
    let (loaded, Fidelity { model, nominal, identified, flag }) =
        fidelity(&args.model, &args.dataset, args.map.as_deref(), args.scenario.as_deref(), &args.horizons, args.stride)?;
    let kind = loaded.config.kind;
    let mut out = std::io::stdout().lock();
    writeln!(out, "open-loop error (RMSE / std of each state dimension in the data), {kind} vs the nominal physics alone")?;
    if kind == ModelKind::Hybrid {
        let scale = loaded.config.correction_scale;
        let note = if scale == 0.0 { ": none, the model steps its prior alone" } else { "" };
        writeln!(out, "the hybrid adds {scale} of its learned correction (kept by the correction gate at training){note}")?;
    }
    let identified_header = if identified.is_some() { format!(" {:>16}", "identified prior") } else { String::new() };
    writeln!(out, "{:>8} {:>10} {:>12} {:>14}{identified_header} {:>8}", "horizon", "windows", kind.to_string(), "physics prior", "ratio")?;
    for (i, (m, p)) in model.horizons.iter().zip(&nominal.horizons).enumerate() {
        let identified_column = identified.as_ref().map(|r| format!(" {:>16.4}", r.horizons[i].overall)).unwrap_or_default();
        writeln!(
            out,
            "{:>8} {:>10} {:>12.4} {:>14.4}{identified_column} {:>8.3}",
            m.horizon,
            m.windows,
            m.overall,
            p.overall,
            m.overall / p.overall.max(1e-12)
        )?;
    }
    writeln!(out, "\nper dimension at horizon {}:", model.horizons.last().map(|h| h.horizon).unwrap_or(0))?;
    if let (Some(m), Some(p)) = (model.horizons.last(), nominal.horizons.last()) {
        let last = identified.as_ref().and_then(|r| r.horizons.last());
        for (i, name) in model.state_names.iter().enumerate() {
            let identified_column = last.map(|r| format!(" {:>10.4}", r.per_dimension[i])).unwrap_or_default();
            writeln!(out, "  {name:<40} {:>10.4} {:>10.4}{identified_column}", m.per_dimension[i], p.per_dimension[i])?;
        }
    }
    if model.failed_windows > 0 || nominal.failed_windows > 0 {
        writeln!(out, "failed rollouts (non-finite state): model {}, physics {}", model.failed_windows, nominal.failed_windows)?;
    }
    match &flag {
        Some(f) => {
            let share = |v: Option<f64>, none: &str| v.map_or(format!("n/a ({none})"), |v| format!("{:.2}", v));
            writeln!(
                out,
                "\ndisagreement flag on {} episodes ({}-step rollouts; flagged above {:.3e}, error target {:.3e}): precision {}, recall {} ({} flagged and above, {} flagged within, {} above unflagged)",
                f.episodes,
                f.horizon,
                f.threshold,
                f.error_target,
                share(f.precision, "no episode flagged"),
                share(f.recall, "no episode above the target"),
                f.true_positives,
                f.false_positives,
                f.false_negatives
            )?;
        }
        None => writeln!(
            out,
            "\nno disagreement-flag figures: the model file has no disagreement_error_target (written by an older dreamrig, or calibrated on validation episodes under 10 steps), or no episode here is 10 steps long"
        )?,
    }
    if let Some(path) = &args.json {
        let json = serde_json::json!({
            "model": args.model.display().to_string(),
            "kind": kind,
            "dataset": args.dataset.display().to_string(),
            "model_error": model,
            "physics_error": nominal,
            "identified_prior_error": identified,
            "disagreement_flag": flag,
        });
        dreamrig_sim::atomic::write_atomic(path, &serde_json::to_vec_pretty(&json)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn run_world(
    spec_path: &Path,
    world: &str,
    out: &Path,
    threads: Option<usize>,
) -> anyhow::Result<(EvalSpec, Vec<dreamrig_eval::SummaryRecord>)> {
    let overrides = SpecOverrides::parse_world(world).map_err(|e| UsageError(format!("world {world:?}: {e}")))?;
    let spec = EvalSpec::load_with(spec_path, &overrides).map_err(|e| match e {
        dreamrig_eval::EvalError::Spec { .. } | dreamrig_eval::EvalError::Located(_) => super::usage(e),
        other => anyhow::Error::new(other),
    })?;
    let options = RunOptions {
        out: out.to_path_buf(),
        threads,
        resume: false,
        shard: None,
        interrupt: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        show_progress: true,
        record_frames: false,
        videos: 0,
        observers: None,
    };
    let outcome = dreamrig_eval::run(&spec, &options).map_err(super::eval_error)?;
    let summaries = dreamrig_eval::write_outputs(out, &format!("{} in {world}", spec.name), &spec.fingerprint, &outcome.entries)
        .context("writing results")?;
    Ok((spec, summaries))
}

fn compare_command(args: CompareArgs) -> anyhow::Result<ExitCode> {
    if args.out.exists() {
        return Err(UsageError(format!("--out: {} already exists; choose a new folder", args.out.display())).into());
    }
    eprintln!("reference: {}", args.reference);
    let (reference_spec, reference) = run_world(&args.spec, &args.reference, &args.out.join("reference"), args.threads)?;
    eprintln!("candidate: {}", args.candidate);
    let (candidate_spec, candidate) = run_world(&args.spec, &args.candidate, &args.out.join("candidate"), args.threads)?;
    let mut comparisons = Vec::new();
    for (r, c) in reference_spec.scenarios.iter().zip(&candidate_spec.scenarios) {
        let rows_r: Vec<_> = reference.iter().filter(|s| s.scenario == r.config.name).cloned().collect();
        let rows_c: Vec<_> = candidate.iter().filter(|s| s.scenario == c.config.name).cloned().collect();
        let label = if r.config.name == c.config.name { r.config.name.clone() } else { format!("{} vs {}", r.config.name, c.config.name) };
        comparisons.push((label, dreamrig_eval::compare::compare(&args.reference, &rows_r, &args.candidate, &rows_c)));
    }
    dreamrig_eval::compare::write_comparison(&args.out, &comparisons)?;
    for (scenario, c) in &comparisons {
        println!("{scenario}: Pearson r = {:.3}, Spearman ρ = {:.3}, MMRV = {:.3}", c.pearson, c.spearman, c.mmrv);
        println!("  {:<28} {:>10} {:>10} {:>8}", "policy", "reference", "candidate", "diff");
        for row in &c.rows {
            println!(
                "  {:<28} {:>9.1}% {:>9.1}% {:>+8.1}",
                row.policy,
                100.0 * row.reference_success_rate,
                100.0 * row.candidate_success_rate,
                100.0 * row.difference
            );
        }
    }
    println!("comparison: {}", args.out.join("comparison.html").display());
    Ok(ExitCode::SUCCESS)
}

fn replay_command(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    use dreamrig_eval::replay::{replay, ReplayPolicy, ReplayRequest};
    use dreamrig_sim::world_model::fidelity::state_scale;
    let world = dreamrig_eval::SpecOverrides::parse_world(&args.dynamics).map_err(|e| UsageError(format!("--dynamics: {e}")))?;
    // The scenario the log is read against: named, or the model's.
    let model = match &world.dynamics {
        Some((_, Some(model))) => Some(WorldModel::load(model).map_err(usage)?),
        _ => None,
    };
    if let Some(model) = &model {
        note_training_map(model, args.map.as_deref());
    }
    let scenario_name = match (&args.scenario, &model) {
        (Some(name), _) => name.clone(),
        (None, Some(model)) => model.config.scenario.name.clone(),
        (None, None) => {
            return Err(UsageError(format!(
                "--scenario: name the scenario the log is read against (--dynamics {} names no model)",
                args.dynamics
            ))
            .into())
        }
    };
    let scenario = super::load_scenario(&scenario_name)?;
    let config = scenario.config.clone();
    if let Some(path) = &args.json {
        super::refuse_folder_or_missing_parent(path, "--json")?;
    }
    // The world: nominal physics, another scenario as it is, or the model on this scenario.
    let world_config: Arc<dreamrig_sim::scenario::config::ScenarioConfig> = match (&world.scenario, &world.dynamics) {
        (Some(other), _) => {
            let other = super::load_scenario(other)?.config;
            let (ours, theirs) = (dreamrig_sim::physics::WorldLayout::new(&config), dreamrig_sim::physics::WorldLayout::new(&other));
            if ours.state.names != theirs.state.names || ours.action.names != theirs.action.names {
                return Err(UsageError(format!(
                    "--dynamics {}: scenario {} has other state or action names than {}",
                    args.dynamics, other.name, config.name
                ))
                .into());
            }
            let (a, b) = (config.timing.control_period(), other.timing.control_period());
            if (a - b).abs() > 1e-9 * a {
                return Err(UsageError(format!(
                    "--dynamics {}: scenario {} steps every {b} s, the log and {} every {a} s; a replay compares them frame by frame",
                    args.dynamics, other.name, config.name
                ))
                .into());
            }
            other
        }
        (None, Some((_, Some(_)))) => {
            let overrides = dreamrig_sim::scenario::overrides::ScenarioOverrides { dynamics: world.dynamics_spec(), ..Default::default() };
            dreamrig_sim::Scenario::load_with(&scenario.path, &overrides)?.config
        }
        _ => Arc::new(config.nominal_physics()),
    };
    let mut worlds = dreamrig_sim::WorldBatch::for_scenario(&world_config, 1).map_err(usage)?;
    let trajectories = load_trajectories(&args.log, &config, args.map.as_deref())?;
    let s = dreamrig_sim::physics::WorldLayout::new(&config).state.names.len();
    let scale = state_scale(trajectories.iter(), s);
    let Some(trajectory) = trajectories.iter().find(|t| t.episode_index == args.episode).cloned() else {
        let indices: Vec<String> = trajectories.iter().map(|t| t.episode_index.to_string()).collect();
        let shown = if indices.len() > 20 {
            format!("{} … {}", indices[..10].join(", "), indices[indices.len() - 3..].join(", "))
        } else {
            indices.join(", ")
        };
        return Err(
            UsageError(format!("--episode {}: {} has no such episode (episodes: {shown})", args.episode, args.log.display())).into()
        );
    };
    let prepared = dreamrig_sim::world_model::prepare::prepare_episodes(&config, vec![trajectory], 0, None).map_err(usage)?.remove(0);
    let policy = if args.policy == "logged" {
        ReplayPolicy::Logged
    } else {
        let (observation, action) =
            (worlds.observation_spec().expect("one world").clone(), worlds.action_spec().expect("one world").clone());
        let built = dreamrig_policies::zoo::by_name(&args.policy, &world_config, &observation, &action)
            .map_err(|e| super::eval_error(dreamrig_eval::EvalError::Policy(e)))?;
        ReplayPolicy::Other(args.policy.clone(), built)
    };
    let recording = args.rerun.recording(&format!("{} replay", config.name))?;
    let interrupt = super::interrupt_on_ctrl_c(super::ABANDON_EPISODES);
    let request = ReplayRequest {
        config: &world_config,
        episode: &prepared,
        scale: &scale,
        from_step: args.from_step,
        steps: args.steps.map(|n| n as usize),
        poses: recording.is_some(),
        interrupt: Some(&interrupt),
    };
    let replayed = replay(&request, &mut worlds, policy).map_err(super::eval_error)?;
    if let Some(recording) = recording {
        log_replay(&recording, &config, &prepared, &replayed)?;
        recording.finish().context("writing the Rerun log")?;
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "replay of episode {} of {} from step {} in {}, policy {}",
        args.episode,
        args.log.display(),
        args.from_step,
        args.dynamics,
        args.policy
    )?;
    // With the logged actions the distance from the log is the world's error; with another
    // policy it is how far the counterfactual departs from what happened.
    let distance = if args.policy == "logged" { "error" } else { "from log" };
    // A row per horizon: `step` is the episode's step the action was taken at (as in --json),
    // `ahead` the steps taken since the start, after which the state is compared.
    writeln!(out, "{:>8} {:>8} {:>12} {:>14} {:>10}", "step", "ahead", distance, "disagreement", "reward")?;
    let last = replayed.steps.len();
    for (i, step) in replayed.steps.iter().enumerate() {
        let h = i + 1;
        if [1, 2, 5, 10, 20, 50, 100, 200, 500].contains(&h) || h == last {
            let error = step.error.map_or("-".to_string(), |e| format!("{e:.4}"));
            let disagreement = step.model_disagreement.map_or("-".to_string(), |d| format!("{d:.4}"));
            writeln!(out, "{:>8} {:>8} {:>12} {:>14} {:>10.4}", step.step, h, error, disagreement, step.reward)?;
        }
    }
    let detail = if replayed.end_detail.is_empty() { String::new() } else { format!(": {}", replayed.end_detail) };
    writeln!(
        out,
        "{} steps, return {:.3}, success {}, end {}{detail}",
        replayed.steps.len(),
        replayed.episode_return,
        replayed.success,
        replayed.end_reason
    )?;
    writeln!(
        out,
        "{distance}: RMS over state dimensions of (world − log) / the dimension's spread in the log, as `wm eval` normalizes; - past the log's end"
    )?;
    if let Some(path) = &args.json {
        dreamrig_sim::atomic::write_atomic(path, &serde_json::to_vec_pretty(&replayed)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(match replayed.end_reason.as_str() {
        "interrupted" => ExitCode::from(130),
        "error" => {
            // A world that blew up or a policy that failed is not a result: say so in the exit code.
            eprintln!("error: the replay ended in an error: {}", replayed.end_detail);
            ExitCode::from(1)
        }
        _ => ExitCode::SUCCESS,
    })
}

/// The logged and the replayed robot side by side in Rerun (`logged/…` and `imagined/…`), with
/// the error against the log and the ensemble's disagreement per step.
fn log_replay(
    recording: &dreamrig_bridges::rerun::RerunRecording,
    config: &Arc<dreamrig_sim::scenario::config::ScenarioConfig>,
    episode: &dreamrig_sim::world_model::prepare::PreparedEpisode,
    replayed: &dreamrig_eval::replay::Replay,
) -> anyhow::Result<()> {
    use dreamrig_bridges::rerun::RerunLogger;
    use dreamrig_sim::World;
    let action_names = dreamrig_sim::physics::WorldLayout::new(config).action.names;
    let logged = RerunLogger::new(recording, config, &action_names, Some("logged")).context("starting the Rerun log")?;
    let imagined = RerunLogger::new(recording, config, &action_names, Some("imagined")).context("starting the Rerun log")?;
    // The logged robot's links: the logged states, placed by a physics world.
    let mut placer = dreamrig_sim::PhysicsWorld::new(Arc::new(config.nominal_physics()));
    placer.reset(episode.trajectory.seed)?;
    // Only the links are drawn: sensors (lidar hits, depth images) are not part of a state.
    let empty = dreamrig_sim::Observation::new(Arc::new(dreamrig_sim::ObservationSpec::default()), Vec::new());
    let dt = config.timing.control_period();
    for step in &replayed.steps {
        let k = step.step + 1;
        let time_s = k as f64 * dt;
        imagined.log_step(k as u64, time_s, &empty, &step.poses)?;
        imagined.log_action(k as u64, &step.action, step.reward)?;
        let mut scalars = Vec::new();
        if let Some(state) = &step.logged_state {
            let mut at = placer.state()?;
            at.values.clone_from(state);
            placer.set_state(&at)?;
            logged.log_step(k as u64, time_s, &empty, &placer.link_poses())?;
            if let Some(action) = &step.logged_action {
                logged.log_action(k as u64, action, 0.0)?;
            }
        }
        if let Some(e) = step.error {
            scalars.push(("replay/error".to_string(), e));
        }
        if let Some(d) = step.model_disagreement {
            scalars.push(("replay/disagreement".to_string(), d));
        }
        imagined.log_scalars(k as u64, &scalars)?;
    }
    Ok(())
}
