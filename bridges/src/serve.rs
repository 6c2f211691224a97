//! `dreamrig serve`: one world stepped in (scaled) real time or in lock step with its
//! controller, its sensors published as ROS 2 topics over Zenoh and its robot driven by
//! `/cmd_vel` and `/joint_commands`.

use crate::mcap::{McapError, McapRecorder};
use crate::rerun::{RerunError, RerunLogger};
use crate::ros2::cdr::CdrError;
use crate::ros2::messages::{Float64MultiArray, RosMessage, Twist};
use crate::ros2::topics::TopicMapper;
use crate::zenoh::{NodeOptions, Qos, RosNode, RosPublisher, RosSubscription, RosZenohError};
use dreamrig_sim::scenario::config::{ActuatorConfig, JointActuatorKind, ScenarioConfig};
use dreamrig_sim::{SimError, World};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Zenoh(#[from] RosZenohError),
    #[error(transparent)]
    Sim(#[from] SimError),
    #[error(transparent)]
    Mcap(#[from] McapError),
    #[error(transparent)]
    Rerun(#[from] RerunError),
}

/// How simulated time advances.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pacing {
    /// Simulated seconds per wall-clock second (1 = real time).
    RealTime(f64),
    /// As fast as the machine steps.
    Unpaced,
    /// One control step per command received: the controller sets the pace (and reads
    /// `/clock` for the time).
    Lockstep,
}

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub node: NodeOptions,
    pub pacing: Pacing,
    pub seed: u64,
    /// Wall-clock time without commands after which the robot is brought to a safe stop.
    pub command_timeout: Duration,
    /// Stop after this many control steps (all episodes together).
    pub max_steps: Option<u64>,
    pub record_mcap: Option<PathBuf>,
}

/// What a serving session did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ServeReport {
    pub steps: u64,
    pub episodes: u64,
    pub simulated_s: f64,
    pub wall_s: f64,
    /// Simulated seconds per wall-clock second reached.
    pub real_time_factor: f64,
    pub published: BTreeMap<String, u64>,
    pub commands: u64,
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

/// Publishes the world's topics, applies commands, and steps until `interrupt` is set or
/// `max_steps` is reached.
pub fn serve(
    world: &mut dyn World,
    config: &ScenarioConfig,
    session: Arc<zenoh::Session>,
    options: &ServeOptions,
    mut rerun: Option<&mut RerunLogger>,
    interrupt: &AtomicBool,
) -> Result<ServeReport, ServeError> {
    let mapper = TopicMapper::new(config);
    let mut node = RosNode::new(session, options.node.clone())?;
    let mut publishers: BTreeMap<&'static str, RosPublisher> = BTreeMap::new();
    for (topic, type_name) in mapper.topics() {
        let qos = if topic == "/tf_static" { Qos::LATCHED } else { Qos::DEFAULT };
        publishers.insert(topic, node.publisher(topic, type_name, qos)?);
    }
    let layout = CommandLayout::new(config);
    let cmd_vel: Option<RosSubscription> =
        layout.drive.map(|_| node.subscription("/cmd_vel", Twist::TYPE_NAME, Qos::DEFAULT)).transpose()?;
    let joint_commands: Option<RosSubscription> = (!layout.joints.is_empty())
        .then(|| node.subscription("/joint_commands", Float64MultiArray::TYPE_NAME, Qos::DEFAULT))
        .transpose()?;
    // Each with the topic name the command decoding goes by.
    let subscriptions: Vec<(RosSubscription, &str)> =
        cmd_vel.into_iter().map(|s| (s, "/cmd_vel")).chain(joint_commands.into_iter().map(|s| (s, "/joint_commands"))).collect();
    let mut recorder = options.record_mcap.as_ref().map(|path| McapRecorder::create(path, &mapper.topics())).transpose()?;
    tracing::info!(
        topics = publishers.len(),
        domain = options.node.domain_id,
        namespace = %options.node.namespace,
        "serving {} as ROS 2 node {}",
        config.name,
        options.node.name
    );

    let dt = world.control_period();
    let mut report = ServeReport::default();
    let mut malformed = Malformed::default();
    let mut episode_seed = options.seed;
    let (mut observation, _) = world.reset(episode_seed)?;
    let mut action = initial_action(world, config);
    let mut last_command: Option<Instant> = None;
    let mut stopped = true;
    let started = Instant::now();
    let mut time_offset = 0.0;
    let mut episode_step = 0u64;
    let mut publish_static = true;

    let publish = |publishers: &mut BTreeMap<&'static str, RosPublisher>,
                   recorder: &mut Option<McapRecorder>,
                   topic: &'static str,
                   cdr: &[u8],
                   time_s: f64|
     -> Result<(), ServeError> {
        if let Some(p) = publishers.get_mut(topic) {
            p.publish(cdr)?;
        }
        if let Some(r) = recorder.as_mut() {
            r.write(topic, (time_s * 1e9).round() as u64, cdr)?;
        }
        Ok(())
    };

    loop {
        let time_s = time_offset + episode_step as f64 * dt;
        let poses = world.link_poses();
        if publish_static {
            let latched = mapper.static_message(&poses, time_s);
            publish(&mut publishers, &mut recorder, latched.topic, &latched.cdr, time_s)?;
            publish_static = false;
        }
        for message in mapper.messages(&observation, &poses, time_s) {
            if episode_step % mapper.period_steps(message.topic) as u64 == 0 {
                publish(&mut publishers, &mut recorder, message.topic, &message.cdr, time_s)?;
            }
        }
        if let Some(logger) = rerun.as_deref_mut() {
            logger.log_step(report.steps, time_s, &observation, &poses)?;
        }
        if interrupt.load(Ordering::Relaxed) || options.max_steps.is_some_and(|m| report.steps >= m) {
            break;
        }

        // Commands: in lock step, wait for one; otherwise take what has arrived.
        let mut apply = |payloads: Vec<Vec<u8>>, topic: &str, action: &mut Vec<f64>| -> bool {
            let mut applied_any = false;
            for payload in payloads {
                let applied = if topic == "/cmd_vel" {
                    Twist::decode(&payload).map_err(cdr_reason).map(|twist| {
                        let slot = layout.drive.expect("subscribed only with a drive");
                        action[slot] = twist.linear[0];
                        action[slot + 1] = twist.angular[2];
                    })
                } else {
                    Float64MultiArray::decode(&payload).map_err(cdr_reason).and_then(|message| {
                        if message.data.len() != layout.joints.len() || message.data.iter().any(|v| !v.is_finite()) {
                            return Err(format!(
                                "expected {} finite values (one per joint actuator), got {:?}",
                                layout.joints.len(),
                                message.data
                            ));
                        }
                        for ((slot, _), value) in layout.joints.iter().zip(&message.data) {
                            action[*slot] = *value;
                        }
                        Ok(())
                    })
                };
                match applied {
                    Ok(()) => {
                        applied_any = true;
                        report.commands += 1;
                    }
                    Err(reason) => malformed.report(topic, &reason),
                }
            }
            applied_any
        };
        let mut received = false;
        if options.pacing == Pacing::Lockstep {
            while !received && !interrupt.load(Ordering::Relaxed) {
                for (subscription, topic) in &subscriptions {
                    if let Some(payload) = subscription.recv_timeout(Duration::from_millis(20)) {
                        let mut payloads = vec![payload];
                        payloads.extend(subscription.drain());
                        received |= apply(payloads, topic, &mut action);
                    }
                }
            }
            if !received {
                break;
            }
        } else {
            for (subscription, topic) in &subscriptions {
                received |= apply(subscription.drain(), topic, &mut action);
            }
        }
        let now = Instant::now();
        if received {
            last_command = Some(now);
            stopped = false;
        } else if !stopped && last_command.is_none_or(|t| now - t > options.command_timeout) {
            layout.safe_stop(&mut action);
            stopped = true;
            report.safe_stops += 1;
            tracing::warn!("no command for {} ms: safe stop", options.command_timeout.as_millis());
        }

        let result = world.step(&action)?;
        if let Some(logger) = rerun.as_deref_mut() {
            logger.log_action(report.steps, &action, result.reward)?;
        }
        report.steps += 1;
        episode_step += 1;
        observation = result.observation;
        if result.terminated || result.truncated {
            report.episodes += 1;
            time_offset += episode_step as f64 * dt;
            episode_step = 0;
            episode_seed += 1;
            tracing::info!(episode = report.episodes, success = result.info.success, "episode ended; resetting with seed {episode_seed}");
            observation = world.reset(episode_seed)?.0;
            action = initial_action(world, config);
            stopped = true;
            publish_static = true;
        }
        if let Pacing::RealTime(factor) = options.pacing {
            let due = started + Duration::from_secs_f64((time_offset + episode_step as f64 * dt) / factor);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
    }
    report.simulated_s = time_offset + episode_step as f64 * dt;
    report.wall_s = started.elapsed().as_secs_f64();
    report.real_time_factor = if report.wall_s > 0.0 { report.simulated_s / report.wall_s } else { 0.0 };
    report.published = publishers.values().map(|p| (p.topic.clone(), p.sent())).collect();
    report.malformed_commands = malformed.count;
    if let Some(r) = recorder {
        r.finish()?;
    }
    Ok(report)
}

/// What the robot does before the first command: position actuators hold the episode's
/// initial joint positions, everything else rests.
fn initial_action(world: &dyn World, config: &ScenarioConfig) -> Vec<f64> {
    let mut action = vec![0.0; world.action_spec().len()];
    let mut slot = 0;
    for actuator in &config.robot.actuators {
        if let ActuatorConfig::Joint { joint, kind: JointActuatorKind::Position, command_range, .. } = actuator {
            let initial = world.parameters().map(|p| p.initial_joints[*joint]).unwrap_or(config.robot.initial_joints[*joint]);
            action[slot] = initial.clamp(command_range.0, command_range.1);
        }
        slot += actuator.width();
    }
    action
}
