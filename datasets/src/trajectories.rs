//! A dataset's episodes as state/action trajectories for world-model training, identification
//! and fidelity.

use crate::reader::LeRobotDataset;
use crate::DatasetError;
use dreamrig_sim::scenario::config::ScenarioConfig;
use dreamrig_sim::world_model::data::Trajectory;
use std::path::Path;

/// Reads the episodes of the LeRobot v3.0 dataset at `dataset` as trajectories of `config`'s
/// full state: `observation.environment_state` (f64 per state value, in the scenario's state
/// order) and `action`, with each episode's `dreamrig/seed` from `meta/episodes`.
///
/// Errors: the dataset cannot be read ([`DatasetError::Io`], [`DatasetError::Format`]), its fps
/// is not the scenario's control rate, it has no `observation.environment_state`, its state
/// names differ from the scenario's, or an episode has no seed ([`DatasetError::Mismatch`]).
pub fn load_trajectories(dataset: &Path, config: &ScenarioConfig) -> Result<Vec<Trajectory>, DatasetError> {
    let data = LeRobotDataset::open(dataset)?;
    // A world model steps one control period per frame: frames at another rate would be
    // learned (or identified) as a different robot, without a word.
    let rate = 1.0 / config.timing.control_period();
    if (data.info.fps as f64 - rate).abs() > 1e-6 * rate {
        return Err(DatasetError::Mismatch(format!(
            "{}: the dataset has {} frames per second, and scenario {} steps at {rate} Hz (control_period {} s); \
             use the scenario the data was recorded with, or record it again at this rate",
            dataset.display(),
            data.info.fps,
            config.name,
            config.timing.control_period()
        )));
    }
    let names = &dreamrig_sim::physics::WorldLayout::new(config).state.names;
    let feature = data.info.feature("observation.environment_state").ok_or_else(|| {
        DatasetError::Mismatch(format!(
            "{}: the dataset has no observation.environment_state feature (the full simulator state a world model learns); record it with `dreamrig dataset generate` or `dreamrig eval --record-dataset`",
            dataset.display()
        ))
    })?;
    if let Some(listed) = feature.names.as_array() {
        let listed: Vec<&str> = listed.iter().filter_map(|v| v.as_str()).collect();
        if listed != names.iter().map(String::as_str).collect::<Vec<_>>() {
            return Err(DatasetError::Mismatch(format!(
                "{}: observation.environment_state holds [{}], scenario {} has state [{}]",
                dataset.display(),
                listed.join(", "),
                config.name,
                names.join(", ")
            )));
        }
    }
    let metadata = data.episode_metadata()?;
    let episodes = data.episodes(&["observation.environment_state", "action"])?;
    let mut out = Vec::with_capacity(episodes.len());
    for e in episodes {
        let seed = metadata.iter().find(|m| m.episode_index == e.episode_index).map(|m| m.seed).ok_or_else(|| {
            DatasetError::Mismatch(format!("{}: episode {} has no dreamrig/seed in meta/episodes", dataset.display(), e.episode_index))
        })?;
        let row = |feature: &str, t: usize| -> Vec<f64> { e.frame(feature, t).unwrap_or_default().iter().map(|v| *v as f64).collect() };
        out.push(Trajectory {
            episode_index: e.episode_index as u64,
            seed,
            states: (0..e.frames).map(|t| row("observation.environment_state", t)).collect(),
            actions: (0..e.frames).map(|t| row("action", t)).collect(),
        });
    }
    Ok(out)
}
