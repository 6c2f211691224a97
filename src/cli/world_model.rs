use super::UsageError;
use anyhow::Context;
use dreamrig_eval::{EvalSpec, RunOptions, SpecOverrides};
use dreamrig_sim::world_model::data::{choose_episodes, Trajectory};
use dreamrig_sim::world_model::fidelity::OpenLoopOptions;
use dreamrig_sim::world_model::gate::CorrectionGate;
use dreamrig_sim::world_model::pipeline::{self, train_world_model, Fidelity, TrainProgress};
use dreamrig_sim::world_model::train::{TrainOptions, TrainedModel};
use dreamrig_sim::world_model::{IdentifyOptions, ModelKind, WorldModel};
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
}

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// LeRobot v3.0 dataset with observation.environment_state and action (what
    /// `dreamrig dataset generate` and `dreamrig eval --record-dataset` write).
    #[arg(long)]
    pub dataset: PathBuf,
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
    /// gain, action delay and each joint's damping and friction to the training episodes
    /// (system identification); `nominal` takes the scenario's values as they are.
    #[arg(long, value_parser = ["identified", "nominal"], default_value = "identified")]
    pub prior: String,
    /// Transitions the prior's parameters are fitted on (with --prior identified).
    #[arg(long, default_value_t = 1024)]
    pub identify_transitions: usize,
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
    }
}

/// Reads a dataset's episodes as state/action trajectories for `scenario`.
pub fn load_trajectories(dataset: &Path, config: &dreamrig_sim::scenario::config::ScenarioConfig) -> anyhow::Result<Vec<Trajectory>> {
    Ok(dreamrig_datasets::load_trajectories(dataset, config)?)
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
    let mut trajectories = load_trajectories(&args.dataset, &config)?;
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
        validation_fraction: args.validation_fraction,
        patience: args.patience,
        seed: args.seed,
        identified_prior: None,
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
        "scenario": args.scenario,
        "episodes": episodes,
        "max_episodes": args.max_episodes,
    });
    let identify = (kind == ModelKind::Hybrid && args.prior == "identified").then(|| IdentifyOptions {
        transitions: args.identify_transitions.max(1),
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
        TrainProgress::Identified(prior) => progress.suspend(|| {
            println!(
                "identified the physics prior in {:.1} s ({} evaluations on {} transitions): one-step error {:.3e} → {:.3e}",
                started.elapsed().as_secs_f64(),
                prior.evaluations,
                prior.transitions,
                prior.nominal_error,
                prior.identified_error
            );
            println!("  actuator gain ×{:.3}, action delay {} steps", prior.actuator_gain_scale, prior.action_latency_steps);
            for j in &prior.joints {
                println!("  joint {}: damping {:.4}, friction {:.4}", j.joint, j.damping, j.friction);
            }
        }),
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
        "trained a {kind} model ({} members, {} epochs in all) in {seconds:.1} s ({:.0} samples/s); best validation loss {best:.5}; disagreement threshold {:.4}",
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

/// A model, loaded, and its [`Fidelity`] on a dataset for a scenario (by default the one the
/// model was trained for, by its shipped name).
pub fn fidelity(
    model_path: &Path,
    dataset: &Path,
    scenario: Option<&str>,
    horizons: &[usize],
    stride: usize,
) -> anyhow::Result<(Arc<WorldModel>, Fidelity)> {
    let model = Arc::new(WorldModel::load(model_path).map_err(usage)?);
    let scenario = super::load_scenario(scenario.unwrap_or(&model.config.scenario.name))?;
    let trajectories = load_trajectories(dataset, &scenario.config)?;
    let options = OpenLoopOptions { horizons: horizons.to_vec(), stride };
    let measured = pipeline::fidelity(&scenario.config, &model, trajectories, &options).map_err(usage)?;
    Ok((model, measured))
}

fn eval_command(args: EvalArgs) -> anyhow::Result<ExitCode> {
    if args.horizons.is_empty() || args.horizons.contains(&0) || args.stride == 0 {
        return Err(UsageError("--horizons must list positive step counts and --stride must be positive".into()).into());
    }
    let (loaded, Fidelity { model, nominal, identified }) =
        fidelity(&args.model, &args.dataset, args.scenario.as_deref(), &args.horizons, args.stride)?;
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
    if let Some(path) = &args.json {
        let json = serde_json::json!({
            "model": args.model.display().to_string(),
            "kind": kind,
            "dataset": args.dataset.display().to_string(),
            "model_error": model,
            "physics_error": nominal,
            "identified_prior_error": identified,
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
