//! Recording frames as the rollout engine steps: [`FrameRecorder`] is the observer that turns
//! every control step into a LeRobot frame.

use crate::layout::FrameLayout;
use crate::video::VideoEncoder;
use crate::writer::EpisodeBuffer;
use crate::DatasetError;
use dreamrig_sim::observer::slot_mut;
use dreamrig_sim::{EpisodeEnd, EpisodeInfo, EpisodeOutcome, EpisodeStart, ObserverError, Scenario, StepObserver, StepView};

/// Frames per second of a scenario's control loop; LeRobot needs a whole number. Every command
/// that writes a dataset asks this first.
///
/// Errors: [`DatasetError::Mismatch`] when the control rate (1 / `timing.control_period`) is not
/// a whole number of hertz (to within 10⁻⁶), or when a camera with an `rgb` output has a size
/// that cannot be a video feature (odd width or height; see [`crate::video::check_frame_size`]).
pub fn fps_of(scenario: &Scenario) -> Result<u32, DatasetError> {
    for sensor in &scenario.config.sensors {
        if let dreamrig_sim::scenario::config::SensorKind::Camera(camera) = &sensor.kind {
            if camera.rgb {
                if let Err(problem) = crate::video::check_frame_size(camera.width, camera.height) {
                    return Err(DatasetError::Mismatch(format!(
                        "{}: camera \"{}\": {problem}; its RGB images are recorded as a LeRobot video feature",
                        scenario.path.display(),
                        sensor.name
                    )));
                }
            }
        }
    }
    let rate = 1.0 / scenario.config.timing.control_period();
    let fps = rate.round();
    if (rate - fps).abs() > 1e-6 || fps < 1.0 {
        return Err(DatasetError::Mismatch(format!(
            "{}: the control rate is {rate} Hz; LeRobot datasets need a whole number of frames per second (choose a control_period of 1/N s)",
            scenario.path.display()
        )));
    }
    Ok(fps as u32)
}

/// The LeRobot task string of a scenario: its description, or its name when it has none.
pub fn task_of(scenario: &dreamrig_sim::scenario::config::ScenarioConfig) -> String {
    if scenario.description.is_empty() {
        scenario.name.clone()
    } else {
        scenario.description.clone()
    }
}

/// An observer that records every step of every episode of a rollout as LeRobot frames: the
/// observation the policy acted on, the world's full state at that moment
/// (`observation.environment_state`), the action, the reward and `next.done`. An episode's
/// buffer carries its seed, policy, randomized parameters and whether it succeeded.
///
/// Camera images of [`FrameLayout::video_fields`] are encoded as the episode runs (H.264, one
/// [`VideoEncoder`] per episode and camera), so an episode's raw frames are never all in memory.
///
/// Episodes that end in a fault keep the frames recorded so far (marked unsuccessful; an
/// episode whose reset failed has none); interrupted episodes are dropped.
pub struct FrameRecorder {
    layout: FrameLayout,
    task: String,
    fps: u32,
    buffers: Vec<Option<EpisodeBuffer>>,
    encoders: Vec<Vec<VideoEncoder>>,
    finished: Vec<Option<EpisodeBuffer>>,
}

impl FrameRecorder {
    /// A recorder of frames laid out as `layout`, labelled with `task`, at `fps` frames per
    /// second (the videos' frame rate; [`fps_of`]).
    pub fn new(layout: FrameLayout, task: &str, fps: u32) -> Self {
        Self { layout, task: task.into(), fps, buffers: Vec::new(), encoders: Vec::new(), finished: Vec::new() }
    }

    /// The frames of the episode in `slot` once it has ended (`None` before, for an
    /// interrupted episode, and after the first call).
    pub fn take(&mut self, slot: usize) -> Option<EpisodeBuffer> {
        self.finished.get_mut(slot).and_then(Option::take)
    }
}

impl StepObserver for FrameRecorder {
    fn wants_state(&self) -> bool {
        true
    }

    fn episode_started(&mut self, episode: &EpisodeInfo<'_>, start: &EpisodeStart<'_>) -> Result<(), ObserverError> {
        let parameters = match start.parameters {
            Some(p) => serde_json::to_value(p).map_err(|e| ObserverError::new("dataset", e))?,
            None => serde_json::Value::Null,
        };
        *slot_mut(&mut self.buffers, episode.slot) =
            Some(EpisodeBuffer::new(&self.layout, &self.task, episode.seed, episode.policy, parameters));
        let encoders = self
            .layout
            .video_fields
            .iter()
            .map(|v| {
                VideoEncoder::new(v.width, v.height, self.fps).map_err(|e| ObserverError::message("dataset", format!("{}: {e}", v.key)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if self.encoders.len() <= episode.slot {
            self.encoders.resize_with(episode.slot + 1, Vec::new);
        }
        self.encoders[episode.slot] = encoders;
        Ok(())
    }

    fn step(&mut self, episode: &EpisodeInfo<'_>, step: &StepView<'_>) -> Result<(), ObserverError> {
        let Some(buffer) = slot_mut(&mut self.buffers, episode.slot) else {
            return Err(ObserverError::message("dataset", format!("episode {} stepped before it started", episode.episode)));
        };
        let Some(state) = step.state else {
            return Err(ObserverError::message(
                "dataset",
                format!("episode {}: the world gave no state at step {}; the frame cannot be recorded", episode.episode, step.step),
            ));
        };
        let encoders = self.encoders.get_mut(episode.slot).map(Vec::as_mut_slice).unwrap_or_default();
        for (field, encoder) in self.layout.video_fields.iter().zip(encoders) {
            let Some(dreamrig_sim::ImageData::U8(rgb)) = step.observation.image(&field.image) else {
                return Err(ObserverError::message(
                    "dataset",
                    format!("episode {}: the observation at step {} has no 8-bit image {}", episode.episode, step.step, field.image),
                ));
            };
            encoder.push(rgb).map_err(|e| ObserverError::message("dataset", format!("{}: {e}", field.key)))?;
        }
        let done = step.result.terminated || step.result.truncated;
        buffer.push(&self.layout, step.observation, state, step.action, step.result.reward, done);
        Ok(())
    }

    fn episode_ended(&mut self, episode: &EpisodeInfo<'_>, outcome: &EpisodeOutcome) -> Result<(), ObserverError> {
        let buffer = slot_mut(&mut self.buffers, episode.slot).take();
        let videos: Vec<_> =
            self.encoders.get_mut(episode.slot).map(std::mem::take).unwrap_or_default().into_iter().map(VideoEncoder::finish).collect();
        *slot_mut(&mut self.finished, episode.slot) = match outcome.end {
            EpisodeEnd::Interrupted => None,
            _ => {
                // An episode whose reset failed ends with no frames, but it still has a buffer.
                let mut buffer = buffer
                    .unwrap_or_else(|| EpisodeBuffer::new(&self.layout, &self.task, episode.seed, episode.policy, serde_json::Value::Null));
                buffer.success = outcome.success();
                if buffer.frames > 0 {
                    buffer.videos = videos;
                }
                Some(buffer)
            }
        };
        Ok(())
    }
}
