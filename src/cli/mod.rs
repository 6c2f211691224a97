mod dataset;
mod eval;
mod policy;
mod run;
mod scenarios;
mod serve;
mod validate;
mod world_model;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// dreamrig: test robot policies offline and generate robot training data, in physics
/// simulation and in learned world models.
#[derive(Parser, Debug)]
#[command(name = "dreamrig", version, about, long_about = None)]
pub struct Cli {
    /// Log more (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check scenario files and report every problem with file:line:column.
    Validate(validate::ValidateArgs),
    /// List the scenarios that ship with dreamrig.
    Scenarios(scenarios::ScenariosArgs),
    /// Run episodes of a scenario with one policy and print a summary.
    Run(run::RunArgs),
    /// Evaluate policies × scenarios × seeds in parallel; write tables and a report.
    Eval(eval::EvalArgs),
    /// Combine the run folders of evaluation shards into one result.
    Merge(eval::MergeArgs),
    /// Generate, inspect and check LeRobot v3.0 datasets.
    #[command(subcommand)]
    Dataset(dataset::DatasetCommand),
    /// Train policies.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Run a world as a ROS 2 node over Zenoh (rmw_zenoh wire format): sensors out, commands in.
    Serve(serve::ServeArgs),
    /// Train, measure and compare learned and hybrid world models.
    #[command(subcommand, name = "wm")]
    WorldModel(world_model::WorldModelCommand),
}

impl Command {
    /// Whether the command may open network connections: evaluations and runs (remote policies,
    /// Rerun), `serve` (Zenoh) and `wm compare` (evaluations). The others only read and write
    /// files and print.
    pub fn opens_sockets(&self) -> bool {
        match self {
            Command::Run(_) | Command::Eval(_) | Command::Serve(_) => true,
            Command::WorldModel(command) => matches!(command, world_model::WorldModelCommand::Compare(_)),
            Command::Validate(_) | Command::Scenarios(_) | Command::Merge(_) | Command::Dataset(_) | Command::Policy(_) => false,
        }
    }
}

/// A problem with what the user gave (exit code 2) rather than a failure while running (1).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// A library error that is the user's fault: displays as the error itself and keeps its causes
/// in the chain (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct UsageCause(Box<dyn std::error::Error + Send + Sync>);

/// `error`, marked as the user's fault (exit code 2), its causes kept.
pub fn usage(error: impl std::error::Error + Send + Sync + 'static) -> anyhow::Error {
    anyhow::Error::new(UsageCause(Box::new(error)))
}

/// The exit code of an error: 2 when the user's input is at fault (usage, scenario and spec
/// validation, a dataset that does not fit), 1 for failures while running (I/O included).
pub fn exit_code(error: &anyhow::Error) -> u8 {
    let usage = error.chain().any(|e| {
        e.is::<UsageError>()
            || e.is::<UsageCause>()
            || e.is::<dreamrig_sim::ScenarioErrors>()
            || e.is::<dreamrig_sim::ScenarioError>()
            || e.downcast_ref::<dreamrig_datasets::DatasetError>().is_some_and(|d| !matches!(d, dreamrig_datasets::DatasetError::Io { .. }))
    });
    if usage {
        2
    } else {
        1
    }
}

pub fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Validate(args) => validate::run(args),
        Command::Scenarios(args) => scenarios::run(args),
        Command::Run(args) => run::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Merge(args) => eval::merge(args),
        Command::Policy(command) => policy::run(command),
        Command::Dataset(command) => dataset::run(command),
        Command::WorldModel(command) => world_model::run(command),
        Command::Serve(args) => serve::run(args),
    }
}

/// Loads a scenario given by path or shipped name.
pub fn load_scenario(name_or_path: &str) -> anyhow::Result<dreamrig_sim::Scenario> {
    let path = dreamrig_sim::scenario::resolve(name_or_path)?;
    Ok(dreamrig_sim::Scenario::load(&path)?)
}

/// A flag set by Ctrl-C (every press), which prints `message`: for a live session that must
/// finish its recordings however often Ctrl-C is pressed.
pub fn stop_on_ctrl_c(message: &'static str) -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let _ = ctrlc::set_handler(move || {
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
        eprintln!("\n{message}");
    });
    stop
}

/// What `run` and `eval` say on Ctrl-C.
pub const ABANDON_EPISODES: &str =
    "interrupted: the episodes in hand are abandoned; completed episodes are kept (an eval resumes with --resume)";

/// A flag set by Ctrl-C, which then prints `message`: the rollout engine stops at the next step
/// and keeps what finished. A second Ctrl-C exits at once (code 130).
pub fn interrupt_on_ctrl_c(message: &'static str) -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    use std::sync::atomic::Ordering;
    let interrupt = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = interrupt.clone();
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\n{message}");
    });
    interrupt
}

/// An evaluation error with its exit code: the spec's or the user's fault (2) or a failure while
/// running (1).
pub fn eval_error(error: dreamrig_eval::EvalError) -> anyhow::Error {
    match error {
        dreamrig_eval::EvalError::Usage(m) => anyhow::Error::new(UsageError(m)),
        dreamrig_eval::EvalError::Spec { .. } | dreamrig_eval::EvalError::Located(_) | dreamrig_eval::EvalError::Policy(_) => usage(error),
        other => anyhow::Error::new(other),
    }
}

/// Refuses a file path that is an existing folder, or whose folder does not exist (usage error,
/// exit 2), before anything is run.
pub fn refuse_folder_or_missing_parent(path: &std::path::Path, option: &str) -> anyhow::Result<()> {
    if path.is_dir() {
        return Err(UsageError(format!("{option} {}: this is an existing folder; expected a file path", path.display())).into());
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.is_dir() {
            return Err(UsageError(format!("{option} {}: the folder {} does not exist", path.display(), parent.display())).into());
        }
    }
    Ok(())
}

/// Refuses a folder path that is an existing file (usage error, exit 2), before anything is run.
pub fn refuse_file(path: &std::path::Path, option: &str) -> anyhow::Result<()> {
    dreamrig_eval::check_output_folder(path, option).map_err(eval_error)
}
