//! `dreamrig serve`: one world stepped in (scaled) real time or in lock step with its
//! controller, its sensors published as ROS 2 topics over Zenoh and its robot driven by
//! `/cmd_vel` and `/joint_commands`.
//!
//! The rollout engine drives the world, as it does for every other command; this module gives
//! it the two ROS 2 ends ([`open`]): [`RosCommands`], the commands that arrive, which the caller
//! wraps as the episode's policy, and [`RosTopics`], a [`StepObserver`] that publishes each new
//! world state (and records it to MCAP), paces simulated time and stops the session after
//! `max_steps`.

use crate::mcap::{McapError, McapRecorder};
use crate::rerun::RerunError;
use crate::ros2::cdr::CdrError;
use crate::ros2::messages::{Float64MultiArray, RosMessage, Twist};
use crate::ros2::topics::TopicMapper;
use crate::zenoh::{NodeOptions, Qos, RosNode, RosPublisher, RosSubscription, RosZenohError};
use dreamrig_sim::scenario::config::{ActuatorConfig, JointActuatorKind, ScenarioConfig};
use dreamrig_sim::{EpisodeEnd, EpisodeInfo, EpisodeOutcome, EpisodeStart, ObserverError, StepObserver, StepView};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Why a serving session could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A node name was refused, the node, a publisher or a subscription could not be declared, or
    /// a publish failed.
    #[error(transparent)]
    Zenoh(#[from] RosZenohError),
    /// The MCAP recording could not be created, written or finished.
    #[error(transparent)]
    Mcap(#[from] McapError),
    /// Logging to Rerun failed.
    #[error(transparent)]
    Rerun(#[from] RerunError),
}

/// How simulated time advances.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pacing {
    /// Simulated seconds per wall-clock second (1 = real time).
    ///
    /// Must be positive and finite (the caller checks; pacing panics otherwise).
    RealTime(f64),
    /// As fast as the machine steps.
    Unpaced,
    /// One control step per command received: the controller sets the pace (and reads
    /// `/clock` for the time).
    Lockstep,
}

/// How a serving session runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The ROS node: domain, namespace, name, key mapping.
    pub node: NodeOptions,
    /// How simulated time advances.
    pub pacing: Pacing,
    /// Seed of the first episode; each new episode takes the next one.
    pub seed: u64,
    /// Wall-clock time without commands after which the robot is brought to a safe stop.
    pub command_timeout: Duration,
    /// Stop after this many control steps (all episodes together).
    pub max_steps: Option<u64>,
    /// Also record every published message to this MCAP file (ros2 profile).
    pub record_mcap: Option<PathBuf>,
}

/// What a serving session did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ServeReport {
    /// Control steps taken, all episodes together.
    pub steps: u64,
    /// Episodes that ended (terminated or truncated) and were reset.
    pub episodes: u64,
    /// Simulated seconds, all episodes together.
    pub simulated_s: f64,
    /// Wall-clock seconds from the first step to the end.
    pub wall_s: f64,
    /// Simulated seconds per wall-clock second reached.
    pub real_time_factor: f64,
    /// Messages published, per topic (the full key expression's topic name).
    pub published: BTreeMap<String, u64>,
    /// Commands applied.
    pub commands: u64,
    /// Commands ignored because they could not be decoded or applied (wrong length, non-finite).
    pub malformed_commands: u64,
    /// Times a silent command stream brought the robot to a safe stop.
    pub safe_stops: u64,
}

/// Where each command lands in the action vector.
#[derive(Debug, Clone)]
struct CommandLayout {
    /// Action slots of the differential drive (linear, angular), if any.
    drive: Option<usize>,
    /// Action slot, and whether it is a position target (held on a safe stop), per joint
    /// actuator in scenario order.
    joints: Vec<(usize, bool)>,
}

impl CommandLayout {
    fn new(config: &ScenarioConfig) -> Self {
        let mut layout = Self { drive: None, joints: Vec::new() };
        let mut slot = 0;
        for actuator in &config.robot.actuators {
            match actuator {
                ActuatorConfig::Joint { kind, .. } => layout.joints.push((slot, *kind == JointActuatorKind::Position)),
                ActuatorConfig::DifferentialDrive { .. } => layout.drive = Some(slot),
            }
            slot += actuator.width();
        }
        layout
    }

    /// The action that stops the robot safely: zero velocity and effort, position targets
    /// held where they are.
    fn safe_stop(&self, action: &mut [f64]) {
        if let Some(slot) = self.drive {
            action[slot] = 0.0;
            action[slot + 1] = 0.0;
        }
        for (slot, position) in &self.joints {
            if !position {
                action[*slot] = 0.0;
            }
        }
    }
}

/// Counts and logs commands that cannot be applied; the simulation carries on.
#[derive(Default)]
struct Malformed {
    count: u64,
}

impl Malformed {
    fn report(&mut self, topic: &str, reason: &str) {
        self.count += 1;
        // Log the first few in full, then one in a hundred, so a flood cannot drown the log.
        if self.count <= 5 || self.count % 100 == 0 {
            tracing::warn!(topic, malformed = self.count, "ignored a malformed command: {reason}");
        }
    }
}

fn cdr_reason(e: CdrError) -> String {
    format!("not a valid CDR message: {e}")
}

/// The commands of a serving session: what arrives on `/cmd_vel` and `/joint_commands`,
/// turned into the action of the next control step. The caller makes it the episode's policy.
pub struct RosCommands {
    /// Each subscription with the topic name its decoding goes by.
    subscriptions: Vec<(RosSubscription, &'static str)>,
    layout: CommandLayout,
    lockstep: bool,
    command_timeout: Duration,
    /// The action now in force (length = the scenario's action length).
    action: Vec<f64>,
    /// The action a new episode starts from, left here by [`RosTopics`] at its start.
    hold: Arc<Mutex<Option<Vec<f64>>>>,
    last_command: Option<Instant>,
    stopped: bool,
    malformed: Malformed,
    commands: u64,
    safe_stops: u64,
}

impl RosCommands {
    /// The action for the next control step: the last command on each topic, or a safe stop
    /// when none came for the command timeout. In lock step it waits for a command first, until
    /// one arrives or `interrupt` is set (it then returns the action in force, and the caller
    /// stops before stepping).
    pub fn next_action(&mut self, interrupt: &AtomicBool) -> Vec<f64> {
        if let Some(hold) = self.hold.lock().unwrap_or_else(|p| p.into_inner()).take() {
            self.action = hold;
            self.stopped = true;
        }
        let mut received = false;
        if self.lockstep {
            while !received && !interrupt.load(Ordering::Relaxed) {
                if self.subscriptions.is_empty() {
                    // Nothing can command this robot: wait for the stop without spinning.
                    std::thread::sleep(Duration::from_millis(20));
                }
                for i in 0..self.subscriptions.len() {
                    if let Some(payload) = self.subscriptions[i].0.recv_timeout(Duration::from_millis(20)) {
                        let mut payloads = vec![payload];
                        payloads.extend(self.subscriptions[i].0.drain());
                        received |= self.apply(payloads, self.subscriptions[i].1);
                    }
                }
            }
        } else {
            for i in 0..self.subscriptions.len() {
                let payloads = self.subscriptions[i].0.drain();
                received |= self.apply(payloads, self.subscriptions[i].1);
            }
        }
        let now = Instant::now();
        if received {
            self.last_command = Some(now);
            self.stopped = false;
        } else if !self.stopped && self.last_command.is_none_or(|t| now - t > self.command_timeout) {
            self.layout.safe_stop(&mut self.action);
            self.stopped = true;
            self.safe_stops += 1;
            tracing::warn!("no command for {} ms: safe stop", self.command_timeout.as_millis());
        }
        self.action.clone()
    }

    /// Applies the commands received on `topic`; whether any could be applied. A command that
    /// cannot be decoded, has the wrong length or holds a non-finite value is counted as
    /// malformed and ignored: the action in force stays.
    fn apply(&mut self, payloads: Vec<Vec<u8>>, topic: &str) -> bool {
        let mut applied_any = false;
        for payload in payloads {
            let applied = if topic == "/cmd_vel" {
                Twist::decode(&payload).map_err(cdr_reason).and_then(|twist| {
                    let (linear, angular) = (twist.linear[0], twist.angular[2]);
                    if !(linear.is_finite() && angular.is_finite()) {
                        return Err(format!("expected finite linear.x and angular.z, got {linear} and {angular}"));
                    }
                    let slot = self.layout.drive.expect("subscribed only with a drive");
                    self.action[slot] = linear;
                    self.action[slot + 1] = angular;
                    Ok(())
                })
            } else {
                Float64MultiArray::decode(&payload).map_err(cdr_reason).and_then(|message| {
                    if message.data.len() != self.layout.joints.len() || message.data.iter().any(|v| !v.is_finite()) {
                        return Err(format!(
                            "expected {} finite values (one per joint actuator), got {:?}",
                            self.layout.joints.len(),
                            message.data
                        ));
                    }
                    for ((slot, _), value) in self.layout.joints.iter().zip(&message.data) {
                        self.action[*slot] = *value;
                    }
                    Ok(())
                })
            };
            match applied {
                Ok(()) => {
                    applied_any = true;
                    self.commands += 1;
                }
                Err(reason) => self.malformed.report(topic, &reason),
            }
        }
        applied_any
    }
}

/// The published side of a serving session, as a rollout observer: after every step it
/// publishes the world's new state (sensor topics at their rates, `/tf`, `/clock`) and records
/// it to MCAP; at each episode's start it publishes `/tf_static` and the state after reset. It
/// paces simulated time ([`Pacing::RealTime`]) and sets the stop flag once `max_steps` steps
/// are done.
pub struct RosTopics {
    /// The node's liveliness tokens (the ROS graph sees it) live as long as this.
    _node: RosNode,
    mapper: TopicMapper,
    publishers: BTreeMap<&'static str, RosPublisher>,
    recorder: Option<McapRecorder>,
    pacing: Pacing,
    max_steps: Option<u64>,
    stop: Arc<AtomicBool>,
    hold: Arc<Mutex<Option<Vec<f64>>>>,
    /// When the first episode started (pacing and wall time count from it).
    started: Option<Instant>,
    /// Simulated time (s) at which the current episode started.
    offset_s: f64,
    steps: u64,
    episodes: u64,
}

impl RosTopics {
    fn publish(&mut self, topic: &'static str, cdr: &[u8], time_s: f64) -> Result<(), ServeError> {
        if let Some(p) = self.publishers.get_mut(topic) {
            p.publish(cdr)?;
        }
        if let Some(r) = self.recorder.as_mut() {
            r.write(topic, (time_s * 1e9).round() as u64, cdr)?;
        }
        Ok(())
    }

    /// Publishes the messages due at control step `step` of the episode.
    fn publish_state(
        &mut self,
        step: u64,
        observation: &dreamrig_sim::Observation,
        poses: &[dreamrig_sim::LinkPose],
        time_s: f64,
    ) -> Result<(), ServeError> {
        for message in self.mapper.messages(observation, poses, time_s) {
            if step % self.mapper.period_steps(message.topic) as u64 == 0 {
                self.publish(message.topic, &message.cdr, time_s)?;
            }
        }
        Ok(())
    }

    /// A publishing failure stops the session (no use stepping a world nobody sees).
    fn failed(&self, result: Result<(), ServeError>) -> Result<(), ObserverError> {
        result.map_err(|e| {
            self.stop.store(true, Ordering::Relaxed);
            ObserverError::new("ROS 2 publishing", e)
        })
    }

    /// The session's report, with the MCAP recording finished and moved into place.
    ///
    /// # Errors
    /// [`ServeError::Mcap`] if the MCAP recording cannot be finished or moved into place.
    pub fn finish(self, commands: &RosCommands) -> Result<ServeReport, ServeError> {
        let wall_s = self.started.map_or(0.0, |s| s.elapsed().as_secs_f64());
        let report = ServeReport {
            steps: self.steps,
            episodes: self.episodes,
            simulated_s: self.offset_s,
            wall_s,
            real_time_factor: if wall_s > 0.0 { self.offset_s / wall_s } else { 0.0 },
            published: self.publishers.values().map(|p| (p.topic.clone(), p.sent())).collect(),
            commands: commands.commands,
            malformed_commands: commands.malformed.count,
            safe_stops: commands.safe_stops,
        };
        if let Some(r) = self.recorder {
            r.finish()?;
        }
        Ok(report)
    }
}

impl StepObserver for RosTopics {
    fn wants_poses(&self) -> bool {
        true
    }

    fn episode_started(&mut self, episode: &EpisodeInfo<'_>, start: &EpisodeStart<'_>) -> Result<(), ObserverError> {
        self.started.get_or_insert_with(Instant::now);
        let hold = initial_action(episode, start);
        *self.hold.lock().unwrap_or_else(|p| p.into_inner()) = Some(hold);
        let latched = self.mapper.static_message(start.poses, self.offset_s);
        let published = self
            .publish(latched.topic, &latched.cdr, self.offset_s)
            .and_then(|()| self.publish_state(0, start.observation, start.poses, self.offset_s));
        self.failed(published)
    }

    fn step(&mut self, episode: &EpisodeInfo<'_>, step: &StepView<'_>) -> Result<(), ObserverError> {
        self.steps += 1;
        let time_s = self.offset_s + (step.step + 1) as f64 * episode.dt;
        // The state an episode ends in is not published: the next episode's reset is, at the
        // same time.
        if !(step.result.terminated || step.result.truncated) {
            let published = self.publish_state(step.step + 1, &step.result.observation, step.next_poses, time_s);
            self.failed(published)?;
        }
        if self.max_steps.is_some_and(|m| self.steps >= m) {
            self.stop.store(true, Ordering::Relaxed);
        }
        if let (Pacing::RealTime(factor), Some(started)) = (self.pacing, self.started) {
            let due = started + Duration::from_secs_f64(time_s / factor);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        Ok(())
    }

    fn episode_ended(&mut self, episode: &EpisodeInfo<'_>, outcome: &EpisodeOutcome) -> Result<(), ObserverError> {
        self.offset_s += outcome.steps as f64 * episode.dt;
        if let EpisodeEnd::Finished { success, .. } = outcome.end {
            self.episodes += 1;
            tracing::info!(episode = self.episodes, success, "episode ended; the next one starts");
        }
        Ok(())
    }
}

/// Opens the ROS 2 node of a serving session: its publishers (one per topic the scenario's
/// sensors give), its command subscriptions and the MCAP recording. `stop` is the flag the
/// rollout is controlled by: [`RosTopics`] sets it after `options.max_steps` steps.
///
/// # Errors
/// A Zenoh declaration fails, or the MCAP file cannot be created.
/// [`ServeError::Zenoh`] also if `options.node` fails [`NodeOptions::check`].
pub fn open(
    config: &ScenarioConfig,
    session: Arc<zenoh::Session>,
    options: &ServeOptions,
    stop: Arc<AtomicBool>,
) -> Result<(RosCommands, RosTopics), ServeError> {
    let mapper = TopicMapper::new(config);
    let mut node = RosNode::new(session, options.node.clone())?;
    let mut publishers: BTreeMap<&'static str, RosPublisher> = BTreeMap::new();
    for (topic, type_name) in mapper.topics() {
        let qos = if topic == "/tf_static" { Qos::LATCHED } else { Qos::DEFAULT };
        publishers.insert(topic, node.publisher(topic, type_name, qos)?);
    }
    let layout = CommandLayout::new(config);
    let mut subscriptions = Vec::new();
    if layout.drive.is_some() {
        subscriptions.push((node.subscription("/cmd_vel", Twist::TYPE_NAME, Qos::DEFAULT)?, "/cmd_vel"));
    }
    if !layout.joints.is_empty() {
        subscriptions.push((node.subscription("/joint_commands", Float64MultiArray::TYPE_NAME, Qos::DEFAULT)?, "/joint_commands"));
    }
    let recorder = options.record_mcap.as_ref().map(|path| McapRecorder::create(path, &mapper.topics())).transpose()?;
    tracing::info!(
        topics = publishers.len(),
        domain = options.node.domain_id,
        namespace = %options.node.namespace,
        "serving {} as ROS 2 node {}",
        config.name,
        options.node.name
    );
    let hold = Arc::new(Mutex::new(None));
    let commands = RosCommands {
        subscriptions,
        layout,
        lockstep: options.pacing == Pacing::Lockstep,
        command_timeout: options.command_timeout,
        action: Vec::new(),
        hold: hold.clone(),
        last_command: None,
        stopped: true,
        malformed: Malformed::default(),
        commands: 0,
        safe_stops: 0,
    };
    let topics = RosTopics {
        _node: node,
        mapper,
        publishers,
        recorder,
        pacing: options.pacing,
        max_steps: options.max_steps,
        stop,
        hold,
        started: None,
        offset_s: 0.0,
        steps: 0,
        episodes: 0,
    };
    Ok((commands, topics))
}

/// What the robot does before the first command of an episode: position actuators hold the
/// episode's initial joint positions (clamped to their command range), everything else rests.
fn initial_action(episode: &EpisodeInfo<'_>, start: &EpisodeStart<'_>) -> Vec<f64> {
    let config = episode.scenario;
    let mut action = vec![0.0; episode.action_spec.len()];
    let mut slot = 0;
    for actuator in &config.robot.actuators {
        if let ActuatorConfig::Joint { joint, kind: JointActuatorKind::Position, command_range, .. } = actuator {
            let initial = start.parameters.map(|p| p.initial_joints[*joint]).unwrap_or(config.robot.initial_joints[*joint]);
            action[slot] = initial.clamp(command_range.0, command_range.1);
        }
        slot += actuator.width();
    }
    action
}
