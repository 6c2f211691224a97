//! Recording ROS 2 topics to MCAP with the `ros2` profile (ros2msg schemas, CDR messages), so
//! that `ros2 bag play`, Foxglove, rosbags and mcap-ros2-support open it.

use crate::ros2::definitions::{definition, fields, type_hash, DefinitionError};
use dreamrig_sim::{EpisodeInfo, EpisodeOutcome, EpisodeStart, ObserverError, StepObserver, StepView};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

/// Why an MCAP recording could not be created, written or finished.
#[derive(Debug, thiserror::Error)]
pub enum McapError {
    /// Creating, writing, finishing or moving the file failed, or a message was written to a topic
    /// the recorder has no channel for; `path` is the final MCAP path.
    #[error("{path}: {reason}")]
    Io {
        /// The final MCAP path.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// A topic's type has no known `.msg` definition (for its schema and type hash).
    #[error(transparent)]
    Definition(#[from] DefinitionError),
}

const QOS: &str = "- history: keep_last\n  depth: 10\n  reliability: reliable\n  durability: volatile\n  deadline: {sec: 0, nsec: 0}\n  lifespan: {sec: 0, nsec: 0}\n  liveliness: automatic\n  liveliness_lease_duration: {sec: 0, nsec: 0}\n  avoid_ros_namespace_conventions: false\n";

/// The `ros2msg` schema text: the type's `.msg`, then every nested type it uses, each after a
/// line of 80 `=` and `MSG: pkg/Type`.
///
/// # Errors
/// [`DefinitionError`] if the type, or a type it uses, has no known definition.
pub fn schema_text(type_name: &str) -> Result<String, DefinitionError> {
    let mut text = definition(type_name)?.to_string();
    let mut seen = vec![type_name.to_string()];
    let mut queue: Vec<String> = fields(type_name)?.into_iter().map(|f| f.field_type.nested_type_name).filter(|n| !n.is_empty()).collect();
    while let Some(nested) = queue.pop() {
        if seen.contains(&nested) {
            continue;
        }
        seen.push(nested.clone());
        let short = nested.replace("/msg/", "/");
        text.push_str(&format!("\n{}\nMSG: {short}\n{}", "=".repeat(80), definition(&nested)?));
        queue.extend(fields(&nested)?.into_iter().map(|f| f.field_type.nested_type_name).filter(|n| !n.is_empty()));
    }
    Ok(text)
}

/// An MCAP file being written; it appears under its name only once finished.
pub struct McapRecorder {
    path: PathBuf,
    temporary: PathBuf,
    writer: mcap::Writer<BufWriter<File>>,
    channels: BTreeMap<String, (u16, u32)>,
    /// Moved into place: nothing to clean up on drop.
    done: bool,
}

impl Drop for McapRecorder {
    /// A recorder dropped unfinished (an error, an interrupt) removes its temporary file.
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.temporary);
        }
    }
}

impl McapRecorder {
    /// Starts an MCAP file (profile `ros2`) for `path`, written beside it with the extension
    /// `mcap.tmp` (`run.mcap` → `run.mcap.tmp`) until [`finish`](Self::finish). `topics` are
    /// (topic, type name) pairs: each gets a `ros2msg` schema and a `cdr` channel with the metadata
    /// rosbag2 writes (`offered_qos_profiles`: reliable, keep last 10, volatile or, for
    /// `/tf_static`, transient local; `topic_type_hash`: RIHS01).
    ///
    /// # Errors
    /// [`McapError::Io`] if the file cannot be created or written; [`McapError::Definition`] for a
    /// type without a known definition.
    pub fn create(path: &Path, topics: &[(String, &str)]) -> Result<Self, McapError> {
        let io = |e: &dyn std::fmt::Display| McapError::Io { path: path.to_path_buf(), reason: e.to_string() };
        let temporary = path.with_extension("mcap.tmp");
        let file = File::create(&temporary).map_err(|e| io(&e))?;
        let mut writer = mcap::WriteOptions::new().profile("ros2").library("dreamrig").create(BufWriter::new(file)).map_err(|e| io(&e))?;
        let mut channels = BTreeMap::new();
        for (topic, type_name) in topics {
            let schema = writer.add_schema(type_name, "ros2msg", schema_text(type_name)?.as_bytes()).map_err(|e| io(&e))?;
            let durability = if *topic == "/tf_static" { QOS.replace("volatile", "transient_local") } else { QOS.to_string() };
            let metadata =
                BTreeMap::from([("offered_qos_profiles".to_string(), durability), ("topic_type_hash".to_string(), type_hash(type_name)?)]);
            let channel = writer.add_channel(schema, topic, "cdr", &metadata).map_err(|e| io(&e))?;
            channels.insert(topic.to_string(), (channel, 0));
        }
        Ok(Self { path: path.to_path_buf(), temporary, writer, channels, done: false })
    }

    /// Writes one message at simulated time `time_ns`.
    ///
    /// `time_ns` (ns) is both the log and the publish time; sequence numbers count per channel from 1.
    ///
    /// # Errors
    /// [`McapError::Io`] if `topic` has no channel or the write fails.
    pub fn write(&mut self, topic: &str, time_ns: u64, cdr: &[u8]) -> Result<(), McapError> {
        let Some((channel, sequence)) = self.channels.get_mut(topic) else {
            return Err(McapError::Io { path: self.path.clone(), reason: format!("no channel for topic {topic}") });
        };
        *sequence += 1;
        let header = mcap::records::MessageHeader { channel_id: *channel, sequence: *sequence, log_time: time_ns, publish_time: time_ns };
        self.writer.write_to_known_channel(&header, cdr).map_err(|e| McapError::Io { path: self.path.clone(), reason: e.to_string() })
    }

    /// Writes the summary (statistics, indexes) and moves the file into place.
    ///
    /// # Errors
    /// [`McapError::Io`] if the summary cannot be written or the file not moved; the temporary
    /// file is then removed.
    pub fn finish(mut self) -> Result<(), McapError> {
        let io = |e: &dyn std::fmt::Display| McapError::Io { path: self.path.clone(), reason: e.to_string() };
        self.writer.finish().map_err(|e| io(&e))?;
        dreamrig_sim::atomic::commit(&self.temporary, &self.path).map_err(|e| io(&e))?;
        self.done = true;
        Ok(())
    }
}

/// Why a [`StepRecorder`] could not record.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The MCAP recording failed.
    #[error(transparent)]
    Mcap(#[from] McapError),
    /// Logging to Rerun failed.
    #[error(transparent)]
    Rerun(#[from] crate::rerun::RerunError),
}

/// Every control step of one or more episodes, recorded to one MCAP file and/or logged to
/// Rerun as it happens: `dreamrig run` records its episodes into one, and `dreamrig eval
/// --record-mcap DIR --rerun FILE` gives each episode its own.
///
/// It is a rollout observer: episodes observed one after another share one clock (each starts
/// one control period after the previous one's last observation) and one step counter.
pub struct StepRecorder {
    mapper: crate::ros2::topics::TopicMapper,
    recorder: Option<McapRecorder>,
    rerun: Option<crate::rerun::RerunLogger>,
    /// Simulated time (s) and step count at which the next observed episode starts.
    offset_s: f64,
    offset_steps: u64,
}

impl StepRecorder {
    /// A recorder of `config`'s topics (see [`TopicMapper`](crate::ros2::topics::TopicMapper)) into the
    /// MCAP file `mcap` and/or the Rerun `rerun` logger; with neither it records nothing.
    ///
    /// # Errors
    /// [`RecordError::Mcap`] if the MCAP file cannot be created.
    pub fn new(
        config: &dreamrig_sim::scenario::config::ScenarioConfig,
        mcap: Option<&Path>,
        rerun: Option<crate::rerun::RerunLogger>,
    ) -> Result<Self, RecordError> {
        let mapper = crate::ros2::topics::TopicMapper::new(config);
        let recorder = mcap.map(|path| McapRecorder::create(path, &mapper.topics())).transpose()?;
        Ok(Self { mapper, recorder, rerun, offset_s: 0.0, offset_steps: 0 })
    }

    /// An episode starts at `time_s`: `/tf_static` for the links at reset, the goal in Rerun.
    ///
    /// `time_s` is in seconds (written to MCAP in ns).
    ///
    /// # Errors
    /// [`RecordError`] if the MCAP write or the Rerun log fails.
    pub fn start_episode(&mut self, time_s: f64, goal: Option<[f64; 3]>, poses: &[dreamrig_sim::LinkPose]) -> Result<(), RecordError> {
        if let Some(recorder) = self.recorder.as_mut() {
            let latched = self.mapper.static_message(poses, time_s);
            recorder.write(&latched.topic, (time_s * 1e9).round() as u64, &latched.cdr)?;
        }
        if let Some(logger) = &self.rerun {
            logger.start_episode(goal)?;
        }
        Ok(())
    }

    /// An observation, before the policy acts on it, with the world's state at that moment
    /// (`/joint_states` lists the joints no sensor reads from it).
    ///
    /// The topics of [`TopicMapper::messages`](crate::ros2::topics::TopicMapper::messages) due at
    /// the episode's control step `episode_step` (sensors with a rate at it) are written at
    /// `time_s` (s; ns in MCAP); Rerun gets step `step` (counted over the recording).
    ///
    /// # Errors
    /// [`RecordError`] if the MCAP write or the Rerun log fails.
    pub fn observe(
        &mut self,
        step: u64,
        episode_step: u64,
        time_s: f64,
        observation: &dreamrig_sim::Observation,
        poses: &[dreamrig_sim::LinkPose],
        state: Option<&dreamrig_sim::WorldState>,
    ) -> Result<(), RecordError> {
        if let Some(recorder) = self.recorder.as_mut() {
            for message in self.mapper.messages(observation, poses, state, time_s, Some(episode_step)) {
                if episode_step % self.mapper.period_steps(&message.topic) as u64 != 0 {
                    continue;
                }
                recorder.write(&message.topic, (time_s * 1e9).round() as u64, &message.cdr)?;
            }
        }
        if let Some(logger) = &self.rerun {
            logger.log_step(step, time_s, observation, poses)?;
        }
        Ok(())
    }

    /// Logs the action applied at step `step` and its reward to Rerun (MCAP has no topic for them).
    ///
    /// # Errors
    /// [`RecordError::Rerun`] if logging fails.
    pub fn act(&mut self, step: u64, action: &[f64], reward: f64) -> Result<(), RecordError> {
        if let Some(logger) = &self.rerun {
            logger.log_action(step, action, reward)?;
        }
        Ok(())
    }

    /// Writes the MCAP summary and moves the file into place.
    ///
    /// # Errors
    /// [`RecordError::Mcap`] if the file cannot be finished or moved.
    pub fn finish(self) -> Result<(), RecordError> {
        if let Some(recorder) = self.recorder {
            recorder.finish()?;
        }
        Ok(())
    }
}

impl StepObserver for StepRecorder {
    fn wants_poses(&self) -> bool {
        true
    }

    fn wants_state(&self) -> bool {
        self.recorder.is_some() && self.mapper.needs_state()
    }

    fn episode_started(&mut self, _: &EpisodeInfo<'_>, start: &EpisodeStart<'_>) -> Result<(), ObserverError> {
        self.start_episode(self.offset_s, start.goal, start.poses).map_err(|e| ObserverError::new(self.name(), e))
    }

    fn step(&mut self, _: &EpisodeInfo<'_>, step: &StepView<'_>) -> Result<(), ObserverError> {
        let n = self.offset_steps + step.step;
        let observed = self.observe(n, step.step, self.offset_s + step.time_s, step.observation, step.poses, step.state);
        observed.and_then(|()| self.act(n, step.action, step.result.reward)).map_err(|e| ObserverError::new(self.name(), e))
    }

    fn episode_ended(&mut self, episode: &EpisodeInfo<'_>, outcome: &EpisodeOutcome) -> Result<(), ObserverError> {
        self.offset_s += (outcome.steps + 1) as f64 * episode.dt;
        self.offset_steps += outcome.steps + 1;
        Ok(())
    }
}

impl StepRecorder {
    fn name(&self) -> &'static str {
        match (&self.recorder, &self.rerun) {
            (Some(_), Some(_)) => "MCAP/Rerun recording",
            (Some(_), None) => "MCAP recording",
            _ => "Rerun log",
        }
    }
}
