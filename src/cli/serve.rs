use anyhow::Context;
use dreamrig_bridges::mcap::StepRecorder;
use dreamrig_bridges::rerun::{RerunLogger, RerunRecording, RerunSink};
use dreamrig_bridges::serve::{Pacing, RosCommands, ServeOptions, Transport};
use dreamrig_bridges::zenoh::{KeyMapping, NodeOptions};
use dreamrig_policies::remote::{shared_session, ZenohConnection, DEFAULT_ROUTER};
use dreamrig_policies::{Policy, PolicyError};
use dreamrig_rollout::{roll_out_continuously, Control, PolicyBatch};
use dreamrig_sim::scenario::config::ScenarioConfig;
use dreamrig_sim::{ActionSpec, EpisodeEnd, Observation, ObservationSpec, StepObserver, WorldBatch};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where Rerun logs go (at most one).
#[derive(clap::Args, Debug, Default)]
pub struct RerunArgs {
    /// Log to Rerun in an .rrd file (written when the command ends).
    #[arg(long, value_name = "FILE.rrd", conflicts_with_all = ["rerun_connect", "rerun_spawn"])]
    pub rerun: Option<PathBuf>,
    /// Stream to a running Rerun viewer, e.g. rerun+http://127.0.0.1:9876/proxy.
    #[arg(long, value_name = "ADDRESS", conflicts_with = "rerun_spawn")]
    pub rerun_connect: Option<String>,
    /// Start a Rerun viewer (the `rerun` program on PATH) and stream to it.
    #[arg(long)]
    pub rerun_spawn: bool,
}

impl RerunArgs {
    /// The recording these flags ask for, named after the scenario or evaluation.
    pub fn recording(&self, name: &str) -> anyhow::Result<Option<RerunRecording>> {
        self.sink()?.map(|sink| RerunRecording::new(&sink, name)).transpose().context("starting the Rerun log")
    }

    /// A logger for one world in that recording.
    pub fn logger(
        recording: Option<&RerunRecording>,
        config: &ScenarioConfig,
        actions: &ActionSpec,
    ) -> anyhow::Result<Option<RerunLogger>> {
        recording.map(|r| RerunLogger::new(r, config, &actions.names, None)).transpose().context("starting the Rerun log")
    }

    fn sink(&self) -> anyhow::Result<Option<RerunSink>> {
        if let Some(path) = &self.rerun {
            dreamrig_bridges::rerun::check_destination(path).map_err(|e| super::UsageError(format!("--rerun {e}")))?;
            return Ok(Some(RerunSink::File(path.clone())));
        }
        Ok(self.rerun_connect.clone().map(RerunSink::Connect).or(self.rerun_spawn.then_some(RerunSink::Spawn)))
    }
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyMappingArg {
    /// rmw_zenoh's keys, attachments and liveliness tokens (ROS 2 with RMW_IMPLEMENTATION=rmw_zenoh_cpp).
    RmwZenoh,
    /// zenoh-plugin-ros2dds's keys (ROS 2 on DDS behind zenoh-bridge-ros2dds).
    Ros2dds,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportArg {
    /// ROS 2 over Zenoh, written by dreamrig itself (no ROS installation needed).
    Zenoh,
    /// rcl, the ROS 2 client library, with the RMW implementation of the environment (a build
    /// with the `ros2` feature, in the environment scripts/ros2-env.sh sets up).
    Rcl,
}

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Scenario file, or the name of a shipped scenario.
    pub scenario: String,
    /// Simulated seconds per wall-clock second (1 = real time).
    #[arg(long, default_value_t = 1.0, conflicts_with_all = ["lockstep", "unpaced"])]
    pub rate: f64,
    /// Advance one control step per command received on /cmd_vel or /joint_commands.
    #[arg(long, conflicts_with = "unpaced")]
    pub lockstep: bool,
    /// Step as fast as the machine can.
    #[arg(long)]
    pub unpaced: bool,
    /// ROS domain of the topics [default: ROS_DOMAIN_ID from the environment, else 0].
    #[arg(long)]
    pub domain_id: Option<u32>,
    /// ROS namespace of the node and its topics, e.g. /robot1.
    #[arg(long, default_value = "/")]
    pub namespace: String,
    /// ROS node name.
    #[arg(long, default_value = "dreamrig")]
    pub node_name: String,
    /// What carries the topics.
    #[arg(long, value_enum, default_value = "zenoh")]
    pub transport: TransportArg,
    /// How topics map to Zenoh keys (Zenoh transport).
    #[arg(long, value_enum, default_value = "rmw-zenoh")]
    pub key_mapping: KeyMappingArg,
    /// Zenoh router to join; when nothing listens there, dreamrig serves it in router mode.
    /// [default: tcp/127.0.0.1:7447]
    #[arg(long, conflicts_with = "zenoh_config")]
    pub router: Option<String>,
    /// A Zenoh configuration file (JSON5) to open the session with instead.
    #[arg(long, value_name = "FILE")]
    pub zenoh_config: Option<PathBuf>,
    /// Seed of the first episode; each new episode takes the next seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Stop after this many control steps (default: until Ctrl-C).
    #[arg(long)]
    pub steps: Option<u64>,
    /// Without commands for this long, the robot stops (velocities and efforts to zero,
    /// position targets held).
    #[arg(long, default_value_t = 500)]
    pub command_timeout_ms: u64,
    /// How many commands may wait for the world at once; in lock step each is one step to take.
    /// One that arrives when the queue is full is dropped, counted and logged.
    #[arg(long, default_value_t = dreamrig_bridges::serve::COMMAND_QUEUE_LEN, value_parser = clap::value_parser!(usize))]
    pub command_queue: usize,
    /// Also record the published topics to an MCAP file (ros2 profile).
    #[arg(long, value_name = "FILE")]
    pub record_mcap: Option<PathBuf>,
    /// Print the session's report as JSON on stdout when it ends.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub rerun: RerunArgs,
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let scenario = super::load_scenario(&args.scenario)?;
    let config = scenario.config.clone();
    let mut worlds = WorldBatch::for_scenario(&config, 1).map_err(super::usage)?;
    if !(args.rate.is_finite() && args.rate > 0.0) {
        return Err(super::UsageError(format!("--rate: expected a positive number, got {}", args.rate)).into());
    }
    if args.command_queue == 0 {
        return Err(super::UsageError("--command-queue: expected at least 1, got 0".into()).into());
    }
    let pacing = if args.lockstep {
        Pacing::Lockstep
    } else if args.unpaced {
        Pacing::Unpaced
    } else {
        Pacing::RealTime(args.rate)
    };
    let node = NodeOptions {
        domain_id: domain_id(args.domain_id)?,
        namespace: args.namespace.clone(),
        name: args.node_name.clone(),
        mapping: match args.key_mapping {
            KeyMappingArg::RmwZenoh => KeyMapping::RmwZenoh,
            KeyMappingArg::Ros2dds => KeyMapping::Ros2Dds,
        },
    };
    node.check().map_err(super::usage)?;
    let transport = match args.transport {
        TransportArg::Zenoh => {
            let connection = match &args.zenoh_config {
                Some(file) => ZenohConnection::ConfigFile(file.clone()),
                None => ZenohConnection::Router(args.router.clone().unwrap_or_else(|| DEFAULT_ROUTER.to_string())),
            };
            Transport::Zenoh(shared_session(&connection).map_err(super::usage)?)
        }
        TransportArg::Rcl => rcl_transport(&args)?,
    };
    let options = ServeOptions {
        node,
        pacing,
        seed: args.seed,
        command_timeout: Duration::from_millis(args.command_timeout_ms),
        max_steps: args.steps,
        record_mcap: args.record_mcap.clone(),
        command_queue: args.command_queue,
    };
    let recording = args.rerun.recording(&config.name)?;
    let action_spec = worlds.action_spec().cloned().unwrap_or_default();
    let logger = RerunArgs::logger(recording.as_ref(), &config, &action_spec)?;
    let mut rerun = logger.map(|logger| StepRecorder::new(&config, None, Some(logger))).transpose()?;
    let stop = super::stop_on_ctrl_c("stopping: the session ends after this step");
    let (commands, mut topics) = dreamrig_bridges::serve::open(&config, transport, &options, stop.clone())?;
    let commands = Arc::new(Mutex::new(commands));
    let mut policies = PolicyBatch::Each(vec![Box::new(RosCommandPolicy { commands: commands.clone(), stop: stop.clone() })]);
    let carrier = match args.transport {
        TransportArg::Zenoh => "Zenoh",
        TransportArg::Rcl => "rcl",
    };
    eprintln!("serving {} on {carrier} (Ctrl-C to stop)", config.name);
    let mut observers: Vec<&mut dyn StepObserver> = vec![&mut topics];
    if let Some(rerun) = rerun.as_mut() {
        observers.push(rerun);
    }
    let control = Control { interrupt: Some(&stop), timeout_s: None, ..Control::default() };
    let session = roll_out_continuously(&config, "ros2", &mut worlds, &mut policies, args.seed, &mut observers, &control);
    let report = topics.finish(&commands.lock().unwrap_or_else(|p| p.into_inner())).context("finishing the session")?;
    if let Some(rerun) = rerun {
        rerun.finish()?;
    }
    if let Some(recording) = recording {
        recording.finish()?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report).expect("report serializes"));
    } else {
        println!(
            "{} steps, {} episodes ended, {:.2} s simulated in {:.2} s (real-time factor {:.2}); {} commands received: {} applied, {} malformed, {} dropped, {} pending; {} safe stops",
            report.steps,
            report.episodes,
            report.simulated_s,
            report.wall_s,
            report.real_time_factor,
            report.received_commands,
            report.commands,
            report.malformed_commands,
            report.dropped_commands,
            report.pending_commands,
            report.safe_stops
        );
        for (topic, count) in &report.published {
            println!("  {topic}: {count} messages");
        }
    }
    if let Some(error) = session.observer_errors.into_iter().next() {
        return Err(anyhow::Error::new(error).context("serving"));
    }
    if let EpisodeEnd::Fault(detail) = &session.last.end {
        anyhow::bail!("episode {} (seed {}) ended in a fault: {detail}", session.finished, args.seed.wrapping_add(session.finished));
    }
    Ok(ExitCode::SUCCESS)
}

/// The ROS domain: `--domain-id`, else `ROS_DOMAIN_ID` as every ROS 2 node reads it, else 0. The
/// two disagreeing is an error, not a silent choice.
fn domain_id(flag: Option<u32>) -> anyhow::Result<u32> {
    let from_env =
        match std::env::var("ROS_DOMAIN_ID") {
            Ok(value) if !value.trim().is_empty() => Some(value.trim().parse::<u32>().map_err(|_| {
                super::UsageError(format!("ROS_DOMAIN_ID: expected a domain id (an integer from 0 to 232), got {value:?}"))
            })?),
            _ => None,
        };
    match (flag, from_env) {
        (Some(flag), Some(env)) if flag != env => Err(super::UsageError(format!(
            "--domain-id {flag} disagrees with ROS_DOMAIN_ID={env} in the environment: pass one of them, or the same value"
        ))
        .into()),
        (Some(id), _) | (None, Some(id)) => Ok(id),
        (None, None) => Ok(0),
    }
}

/// rcl: the ROS 2 installation must be in the environment, and the Zenoh-only flags are refused
/// rather than ignored.
#[cfg(feature = "ros2")]
fn rcl_transport(args: &ServeArgs) -> anyhow::Result<Transport> {
    if args.zenoh_config.is_some() || args.router.is_some() || args.key_mapping != KeyMappingArg::RmwZenoh {
        return Err(super::UsageError(
            "--transport rcl: --router, --zenoh-config and --key-mapping are for the Zenoh transport; rcl finds its peers through the RMW implementation".into(),
        )
        .into());
    }
    dreamrig_bridges::rcl::check_environment(domain_id(args.domain_id)?).map_err(super::usage)?;
    Ok(Transport::Rcl)
}

#[cfg(not(feature = "ros2"))]
fn rcl_transport(_: &ServeArgs) -> anyhow::Result<Transport> {
    Err(super::UsageError(
        "--transport rcl: this dreamrig was built without the `ros2` feature. Set up ROS 2 with `scripts/ros2-env.sh`, `source` the file it prints, then `cargo build --release --features ros2` (docs/ros2.md)".into(),
    )
    .into())
}

/// The commands arriving over ROS 2, as the policy of the served episodes.
struct RosCommandPolicy {
    /// Shared with `run`, which reads the command counts at the end.
    commands: Arc<Mutex<RosCommands>>,
    /// The session's stop flag: a lock-step wait for a command ends when it is set.
    stop: Arc<AtomicBool>,
}

impl Policy for RosCommandPolicy {
    fn name(&self) -> &str {
        "ros2"
    }

    fn check(&self, _: &ObservationSpec, _: &ActionSpec) -> Result<(), PolicyError> {
        Ok(())
    }

    fn reset(&mut self, _seed: u64) {}

    fn act(&mut self, _: &Observation) -> Result<Vec<f64>, PolicyError> {
        Ok(self.commands.lock().unwrap_or_else(|p| p.into_inner()).next_action(&self.stop))
    }
}
