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
use crate::zenoh::{NodeOptions, Qos, RosNode, RosPublisher, RosZenohError};
use dreamrig_sim::scenario::config::{ActuatorConfig, JointActuatorKind, ScenarioConfig};
use dreamrig_sim::{EpisodeEnd, EpisodeInfo, EpisodeOutcome, EpisodeStart, ObserverError, StepObserver, StepView};
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
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
    /// The options are unusable (the message names the field).
    #[error("serve options: {0}")]
    Options(String),
    /// The rcl node, a publisher or a subscription could not be created, or a publish failed.
    #[cfg(feature = "ros2")]
    #[error(transparent)]
    Rcl(#[from] crate::rcl::RclError),
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
    /// How many commands may wait for the world at once ([`COMMAND_QUEUE_LEN`] by default).
    pub command_queue: usize,
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
    /// Commands dropped on arrival because [`COMMAND_QUEUE_LEN`] commands were already waiting
    /// for the world (each is logged).
    pub dropped_commands: u64,
    /// Commands that had arrived but were still waiting when the session stopped.
    pub pending_commands: u64,
    /// Command messages that arrived before the session stopped, whatever became of them:
    /// `commands + malformed_commands + dropped_commands + pending_commands`. Messages still in
    /// transit when it stopped are not among them.
    pub received_commands: u64,
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
        if worth_logging(self.count) {
            tracing::warn!(topic, malformed = self.count, "ignored a malformed command: {reason}");
        }
    }
}

/// Whether the `count`-th of a kind of repeated warning is logged: the first five, then one in a
/// hundred, so a flood cannot drown the log.
fn worth_logging(count: u64) -> bool {
    count <= 5 || count % 100 == 0
}

fn cdr_reason(e: CdrError) -> String {
    format!("not a valid CDR message: {e}")
}

/// The topics a served robot takes commands on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandTopic {
    /// `/cmd_vel`, `geometry_msgs/msg/Twist`: the differential drive's `linear.x` (m/s) and
    /// `angular.z` (rad/s).
    CmdVel,
    /// `/joint_commands`, `std_msgs/msg/Float64MultiArray`: one value per joint actuator, in
    /// scenario order, in the actuator's units.
    JointCommands,
}

impl CommandTopic {
    /// The topic name before the node's namespace is applied.
    pub fn name(self) -> &'static str {
        match self {
            Self::CmdVel => "/cmd_vel",
            Self::JointCommands => "/joint_commands",
        }
    }

    /// The ROS 2 type, `package/msg/Name`.
    pub fn type_name(self) -> &'static str {
        match self {
            Self::CmdVel => Twist::TYPE_NAME,
            Self::JointCommands => Float64MultiArray::TYPE_NAME,
        }
    }
}

/// How many commands may wait for the world at once, unless [`ServeOptions::command_queue`] says
/// otherwise. In lock step each waiting command is one control step still to take; one that
/// arrives when the queue is full is dropped, counted ([`ServeReport::dropped_commands`]) and
/// logged, never merged into another.
pub const COMMAND_QUEUE_LEN: usize = 1024;

#[derive(Default)]
struct QueueState {
    waiting: VecDeque<(CommandTopic, Vec<u8>)>,
    dropped: u64,
    /// Every command pushed, queued or dropped.
    received: u64,
}

/// The commands received on every command topic, in arrival order, until the world takes them.
/// Transports push from their own threads ([`push`](Self::push)); the session pops.
#[derive(Clone)]
pub struct CommandQueue {
    shared: Arc<(Mutex<QueueState>, Condvar)>,
    capacity: usize,
    /// What a full queue gives up: the newest arrival (lock step, where every waiting command is
    /// a step still owed) or the oldest waiting command (real time, where the latest command is
    /// the one in force).
    keep_oldest: bool,
}

impl CommandQueue {
    /// An empty queue that holds at most `capacity` commands (at least 1). When full, a lock-step
    /// queue (`lockstep`) drops what arrives; a real-time one drops its oldest command to make
    /// room, since the newest is the one in force.
    pub fn new(capacity: usize, lockstep: bool) -> Self {
        Self { shared: Arc::new((Mutex::new(QueueState::default()), Condvar::new())), capacity: capacity.max(1), keep_oldest: lockstep }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.shared.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues one serialized command (CDR with its encapsulation header) received on `topic`.
    /// When the queue is full, one command is dropped (this one in lock step, the oldest waiting
    /// one otherwise), counted and logged; returns whether this one was queued.
    pub fn push(&self, topic: CommandTopic, payload: Vec<u8>) -> bool {
        let mut state = self.state();
        state.received += 1;
        let dropped = (state.waiting.len() >= self.capacity).then(|| {
            state.dropped += 1;
            state.dropped
        });
        let queued = dropped.is_none() || !self.keep_oldest;
        if queued {
            if dropped.is_some() {
                state.waiting.pop_front();
            }
            state.waiting.push_back((topic, payload));
        }
        drop(state);
        self.shared.1.notify_one();
        if let Some(dropped) = dropped.filter(|d| worth_logging(*d)) {
            let which = if self.keep_oldest { "the one that arrived" } else { "the oldest" };
            tracing::warn!(
                topic = topic.name(),
                dropped,
                "dropped a command ({which}): {} commands already wait for the world",
                self.capacity
            );
        }
        queued
    }

    /// The oldest waiting command, waiting up to `timeout` for one.
    fn pop_timeout(&self, timeout: Duration) -> Option<(CommandTopic, Vec<u8>)> {
        let state = self.state();
        let (mut state, _) = self.shared.1.wait_timeout_while(state, timeout, |s| s.waiting.is_empty()).unwrap_or_else(|p| p.into_inner());
        state.waiting.pop_front()
    }

    /// Every waiting command, oldest first, with the number of commands received so far
    /// (read together, so a command arriving meanwhile is in both or neither).
    fn drain(&self) -> (Vec<(CommandTopic, Vec<u8>)>, u64) {
        let mut state = self.state();
        (state.waiting.drain(..).collect(), state.received)
    }

    /// Commands dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.state().dropped
    }
}

/// The commands of a serving session: what arrives on `/cmd_vel` and `/joint_commands`,
/// turned into the action of the next control step. The caller makes it the episode's policy.
pub struct RosCommands {
    queue: CommandQueue,
    /// Whether anything can command this robot (it has a drive or joint actuators).
    commandable: bool,
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
    /// The action for the next control step.
    ///
    /// In lock step: the next command in arrival order, one command per step. It waits for one
    /// until it comes or `interrupt` is set (it then returns the action in force, and the caller
    /// stops before stepping); a malformed command is counted and not stepped for.
    ///
    /// Otherwise: every command that arrived since the last step is applied in order (the last
    /// one on each topic is in force, as a ROS controller reads its command topic), or a safe stop
    /// when none came for the command timeout.
    pub fn next_action(&mut self, interrupt: &AtomicBool) -> Vec<f64> {
        if let Some(hold) = self.hold.lock().unwrap_or_else(|p| p.into_inner()).take() {
            self.action = hold;
            self.stopped = true;
        }
        let mut received = false;
        if self.lockstep {
            while !received && !interrupt.load(Ordering::Relaxed) {
                if !self.commandable {
                    // Nothing can command this robot: wait for the stop without spinning.
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
                if let Some((topic, payload)) = self.queue.pop_timeout(Duration::from_millis(20)) {
                    received = self.apply(topic, &payload);
                }
            }
        } else {
            for (topic, payload) in self.queue.drain().0 {
                received |= self.apply(topic, &payload);
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

    /// Applies one command received on `topic`; whether it could be applied. Every transport's
    /// commands pass here: a command that cannot be decoded, has the wrong length or holds a
    /// non-finite value is counted as malformed and ignored, and the action in force stays.
    fn apply(&mut self, topic: CommandTopic, payload: &[u8]) -> bool {
        match self.layout.decode(topic, payload) {
            Ok(values) => {
                for (slot, value) in values {
                    self.action[slot] = value;
                }
                self.commands += 1;
                true
            }
            Err(reason) => {
                self.malformed.report(topic.name(), &reason);
                false
            }
        }
    }
}

impl CommandLayout {
    /// The action slots and values a command sets, or why it cannot be applied.
    fn decode(&self, topic: CommandTopic, payload: &[u8]) -> Result<Vec<(usize, f64)>, String> {
        let finite = |what: &str, values: &[f64]| {
            if values.iter().all(|v| v.is_finite()) {
                Ok(())
            } else {
                Err(format!("expected finite {what}, got {values:?}"))
            }
        };
        match topic {
            CommandTopic::CmdVel => {
                let twist = Twist::decode(payload).map_err(cdr_reason)?;
                let slot = self.drive.ok_or("this robot has no differential drive to take /cmd_vel")?;
                // Only linear.x and angular.z drive the base, but a non-finite value anywhere
                // marks the message as broken.
                finite("linear and angular velocities", &[twist.linear, twist.angular].concat())?;
                Ok(vec![(slot, twist.linear[0]), (slot + 1, twist.angular[2])])
            }
            CommandTopic::JointCommands => {
                let message = Float64MultiArray::decode(payload).map_err(cdr_reason)?;
                if message.data.len() != self.joints.len() {
                    return Err(format!("expected {} values (one per joint actuator), got {}", self.joints.len(), message.data.len()));
                }
                finite("joint commands", &message.data)?;
                Ok(self.joints.iter().zip(&message.data).map(|((slot, _), value)| (*slot, *value)).collect())
            }
        }
    }

    /// The topics this robot takes commands on.
    fn topics(&self) -> Vec<CommandTopic> {
        let mut topics = Vec::new();
        if self.drive.is_some() {
            topics.push(CommandTopic::CmdVel);
        }
        if !self.joints.is_empty() {
            topics.push(CommandTopic::JointCommands);
        }
        topics
    }
}

/// The publisher of each topic of a [`TopicPlan`], by topic name before the namespace.
pub type Publishers = BTreeMap<String, Box<dyn TopicPublisher>>;

/// One published topic, whatever carries it (Zenoh or rcl).
pub trait TopicPublisher {
    /// Sends one serialized message (CDR with its 4-byte encapsulation header).
    ///
    /// # Errors
    /// The transport refused it.
    fn publish(&mut self, cdr: &[u8]) -> Result<(), ServeError>;
    /// The fully qualified topic name, such as `/robot1/joint_states`.
    fn topic(&self) -> &str;
    /// Messages sent so far.
    fn sent(&self) -> u64;
}

impl TopicPublisher for RosPublisher {
    fn publish(&mut self, cdr: &[u8]) -> Result<(), ServeError> {
        Ok(RosPublisher::publish(self, cdr)?)
    }

    fn topic(&self) -> &str {
        &self.topic
    }

    fn sent(&self) -> u64 {
        RosPublisher::sent(self)
    }
}

/// What a served scenario puts on ROS 2, whatever the transport: every published topic with
/// its type and QoS, and the command topics. Zenoh and rcl both open exactly this.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicPlan {
    /// (topic, `package/msg/Name`, QoS): `/tf_static` transient local with depth 1, every other
    /// topic reliable and volatile with depth 10.
    pub published: Vec<(String, &'static str, Qos)>,
    /// The topics the robot takes commands on (reliable, volatile; Zenoh announces depth 10, rcl
    /// subscribes keeping as many samples as the command queue holds).
    pub commands: Vec<CommandTopic>,
}

impl TopicPlan {
    /// The plan of `config`'s sensors and actuators.
    pub fn new(config: &ScenarioConfig) -> Self {
        Self::of(&TopicMapper::new(config), &CommandLayout::new(config))
    }

    /// The plan of a scenario's topics and command layout, already built.
    fn of(mapper: &TopicMapper, layout: &CommandLayout) -> Self {
        let published = mapper
            .topics()
            .into_iter()
            .map(|(topic, type_name)| {
                let qos = if topic == "/tf_static" { Qos::LATCHED } else { Qos::DEFAULT };
                (topic, type_name, qos)
            })
            .collect();
        Self { published, commands: layout.topics() }
    }
}

/// What carries a serving session's topics.
pub enum Transport {
    /// ROS 2 over Zenoh, on this session (rmw_zenoh's or zenoh-plugin-ros2dds's keys, as
    /// [`NodeOptions::mapping`] says).
    Zenoh(Arc<zenoh::Session>),
    /// rcl, with the ROS 2 installation and RMW implementation the environment points at.
    #[cfg(feature = "ros2")]
    Rcl,
}

/// The published side of a serving session, as a rollout observer: after every step it
/// publishes the world's new state (sensor topics at their rates, `/tf`, `/clock`) and records
/// it to MCAP; at each episode's start it publishes `/tf_static` and the state after reset. It
/// paces simulated time ([`Pacing::RealTime`]) and sets the stop flag once `max_steps` steps
/// are done.
pub struct RosTopics {
    /// What keeps the node alive: its Zenoh liveliness tokens and subscriptions, or the rcl
    /// node's spinning thread.
    _transport: Box<dyn std::any::Any>,
    mapper: TopicMapper,
    publishers: Publishers,
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
    fn publish(&mut self, topic: &str, cdr: &[u8], time_s: f64) -> Result<(), ServeError> {
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
        state: Option<&dreamrig_sim::WorldState>,
        time_s: f64,
    ) -> Result<(), ServeError> {
        for message in self.mapper.messages(observation, poses, state, time_s, Some(step)) {
            if step % self.mapper.period_steps(&message.topic) as u64 == 0 {
                self.publish(&message.topic, &message.cdr, time_s)?;
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
        // In lock step every applied command is one step, except one the stop came between
        // (applied, then the engine stopped before stepping): that one is still pending.
        let unstepped = if commands.lockstep { commands.commands.saturating_sub(self.steps) } else { 0 };
        let (pending, received) = commands.queue.drain();
        let report = ServeReport {
            steps: self.steps,
            episodes: self.episodes,
            simulated_s: self.offset_s,
            wall_s,
            real_time_factor: if wall_s > 0.0 { self.offset_s / wall_s } else { 0.0 },
            published: self.publishers.values().map(|p| (p.topic().to_string(), p.sent())).collect(),
            commands: commands.commands - unstepped,
            malformed_commands: commands.malformed.count,
            dropped_commands: commands.queue.dropped(),
            pending_commands: pending.len() as u64 + unstepped,
            received_commands: received,
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

    fn wants_state(&self) -> bool {
        self.mapper.needs_state()
    }

    fn episode_started(&mut self, episode: &EpisodeInfo<'_>, start: &EpisodeStart<'_>) -> Result<(), ObserverError> {
        self.started.get_or_insert_with(Instant::now);
        let hold = initial_action(episode, start);
        *self.hold.lock().unwrap_or_else(|p| p.into_inner()) = Some(hold);
        let latched = self.mapper.static_message(start.poses, self.offset_s);
        let published = self
            .publish(&latched.topic, &latched.cdr, self.offset_s)
            .and_then(|()| self.publish_state(0, start.observation, start.poses, start.state, self.offset_s));
        self.failed(published)
    }

    fn step(&mut self, episode: &EpisodeInfo<'_>, step: &StepView<'_>) -> Result<(), ObserverError> {
        self.steps += 1;
        let time_s = self.offset_s + (step.step + 1) as f64 * episode.dt;
        // The state an episode ends in is not published: the next episode's reset is, at the
        // same time.
        if !(step.result.terminated || step.result.truncated) {
            let published = self.publish_state(step.step + 1, &step.result.observation, step.next_poses, step.next_state, time_s);
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

/// Opens the ROS 2 node of a serving session on `transport`: its publishers and command
/// subscriptions (the scenario's [`TopicPlan`]) and the MCAP recording. `stop` is the flag the
/// rollout is controlled by: [`RosTopics`] sets it after `options.max_steps` steps.
///
/// # Errors
/// A Zenoh declaration or an rcl call fails, or the MCAP file cannot be created.
/// [`ServeError::Zenoh`] also if `options.node` fails [`NodeOptions::check`].
pub fn open(
    config: &ScenarioConfig,
    transport: Transport,
    options: &ServeOptions,
    stop: Arc<AtomicBool>,
) -> Result<(RosCommands, RosTopics), ServeError> {
    options.node.check()?;
    let (mapper, layout) = (TopicMapper::new(config), CommandLayout::new(config));
    let plan = TopicPlan::of(&mapper, &layout);
    if options.command_queue == 0 {
        return Err(ServeError::Options("command_queue: expected at least 1 command, got 0".into()));
    }
    let queue = CommandQueue::new(options.command_queue, options.pacing == Pacing::Lockstep);
    let (publishers, keep_alive): (Publishers, Box<dyn std::any::Any>) = match transport {
        Transport::Zenoh(session) => {
            let mut node = RosNode::new(session, options.node.clone())?;
            let mut publishers = Publishers::new();
            for (topic, type_name, qos) in &plan.published {
                publishers.insert(topic.clone(), Box::new(node.publisher(topic, type_name, *qos)?));
            }
            let mut subscriptions = Vec::new();
            for topic in &plan.commands {
                let (queue, topic) = (queue.clone(), *topic);
                subscriptions.push(node.subscription(topic.name(), topic.type_name(), Qos::DEFAULT, move |payload| {
                    queue.push(topic, payload);
                })?);
            }
            (publishers, Box::new((node, subscriptions)))
        }
        #[cfg(feature = "ros2")]
        Transport::Rcl => {
            let (publishers, node) = crate::rcl::RclNode::open(&options.node, &plan, queue.clone(), options.command_queue)?;
            (publishers, Box::new(node))
        }
    };
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
        queue,
        commandable: !plan.commands.is_empty(),
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
        _transport: keep_alive,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ros2::messages::RosMessage;

    fn layout(drive: bool, joints: usize) -> CommandLayout {
        let mut layout = CommandLayout { drive: drive.then_some(0), joints: Vec::new() };
        let first = if drive { 2 } else { 0 };
        layout.joints = (0..joints).map(|j| (first + j, false)).collect();
        layout
    }

    #[test]
    fn a_full_queue_drops_and_counts_what_arrives_and_keeps_arrival_order() {
        let queue = CommandQueue::new(3, true);
        for i in 0..5u8 {
            let topic = if i % 2 == 0 { CommandTopic::CmdVel } else { CommandTopic::JointCommands };
            assert_eq!(queue.push(topic, vec![i]), i < 3);
        }
        assert_eq!(queue.dropped(), 2);
        assert_eq!(queue.pop_timeout(Duration::ZERO), Some((CommandTopic::CmdVel, vec![0])));
        assert_eq!(queue.drain().0, vec![(CommandTopic::JointCommands, vec![1]), (CommandTopic::CmdVel, vec![2])]);
        assert_eq!(queue.pop_timeout(Duration::from_millis(1)), None);
    }

    #[test]
    fn a_full_real_time_queue_drops_its_oldest_command_so_the_newest_is_in_force() {
        let queue = CommandQueue::new(2, false);
        for i in 0..4u8 {
            assert!(queue.push(CommandTopic::CmdVel, vec![i]));
        }
        assert_eq!(queue.dropped(), 2);
        assert_eq!(queue.drain().0, vec![(CommandTopic::CmdVel, vec![2]), (CommandTopic::CmdVel, vec![3])]);
    }

    #[test]
    fn a_waiting_pop_wakes_when_another_thread_pushes() {
        let queue = CommandQueue::new(4, true);
        let pusher = queue.clone();
        let thread = std::thread::spawn(move || pusher.push(CommandTopic::CmdVel, vec![7]));
        assert_eq!(queue.pop_timeout(Duration::from_secs(60)), Some((CommandTopic::CmdVel, vec![7])));
        assert!(thread.join().unwrap());
    }

    #[test]
    fn non_finite_or_misshapen_commands_are_refused_with_the_reason() {
        let layout = layout(true, 2);
        let twist = |linear: [f64; 3], angular: [f64; 3]| Twist { linear, angular }.encode();
        assert_eq!(layout.decode(CommandTopic::CmdVel, &twist([0.5, 0.0, 0.0], [0.0, 0.0, -1.0])), Ok(vec![(0, 0.5), (1, -1.0)]));
        for bad in [[f64::NAN, 0.0, 0.0], [f64::INFINITY, 0.0, 0.0], [0.0, f64::NAN, 0.0]] {
            let reason = layout.decode(CommandTopic::CmdVel, &twist(bad, [0.0; 3])).unwrap_err();
            assert!(reason.starts_with("expected finite linear and angular velocities"), "{reason}");
        }
        assert!(layout.decode(CommandTopic::CmdVel, &twist([0.0; 3], [0.0, 0.0, f64::NEG_INFINITY])).is_err());
        assert!(layout.decode(CommandTopic::CmdVel, b"garbage").unwrap_err().starts_with("not a valid CDR message"));
        let joints = |data: Vec<f64>| Float64MultiArray { data }.encode();
        assert_eq!(layout.decode(CommandTopic::JointCommands, &joints(vec![1.0, 2.0])), Ok(vec![(2, 1.0), (3, 2.0)]));
        assert_eq!(
            layout.decode(CommandTopic::JointCommands, &joints(vec![1.0])),
            Err("expected 2 values (one per joint actuator), got 1".into())
        );
        assert!(layout.decode(CommandTopic::JointCommands, &joints(vec![1.0, f64::NAN])).is_err());
        let arm = super::tests::layout(false, 1);
        assert_eq!(
            arm.decode(CommandTopic::CmdVel, &twist([0.0; 3], [0.0; 3])),
            Err("this robot has no differential drive to take /cmd_vel".into())
        );
    }
}
