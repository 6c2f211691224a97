//! Generating datasets: run a policy in a scenario and record every frame.

use crate::layout::FrameLayout;
use crate::writer::EpisodeBuffer;
use crate::DatasetError;
use dreamrig_policies::{Policy, PolicySpec};
use dreamrig_sim::{make_world, PhysicsWorld, Scenario, World};
use rayon::prelude::*;
use std::path::Path;

#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub episodes: u32,
    pub seed: u64,
    /// Only episodes k with k mod N = I.
    pub shard: Option<(u32, u32)>,
}

/// The seed of episode `k` of a generation run.
pub fn episode_seed(seed: u64, episode: u32) -> u64 {
    let mut h = 0xcbf29ce484222325u64;
    for b in seed.to_le_bytes().iter().chain(&episode.to_le_bytes()) {
        h = (h ^ *b as u64).wrapping_mul(0x100000001b3);
    }
    h
}

/// Frames per second of a scenario's control loop; LeRobot needs a whole number.
pub fn fps_of(scenario: &Scenario) -> Result<u32, DatasetError> {
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

/// Runs one episode and records it. Policy and world errors end the recording early (the
/// frames so far are kept, the episode is marked unsuccessful) and are returned alongside.
pub fn record_episode(
    world: &mut dyn World,
    policy: &mut dyn Policy,
    layout: &FrameLayout,
    task: &str,
    policy_name: &str,
    seed: u64,
) -> (EpisodeBuffer, Option<String>) {
    let (mut observation, _) = match world.reset(seed) {
        Ok(r) => r,
        Err(e) => return (EpisodeBuffer::new(layout, task, seed, policy_name, serde_json::Value::Null), Some(e.to_string())),
    };
    let parameters = world.parameters().map(|p| serde_json::to_value(p).expect("parameters serialize")).unwrap_or_default();
    let mut buffer = EpisodeBuffer::new(layout, task, seed, policy_name, parameters);
    policy.reset(seed);
    loop {
        let state = match world.state() {
            Ok(s) => s,
            Err(e) => return (buffer, Some(e.to_string())),
        };
        let action = match policy.act(&observation) {
            Ok(a) => a,
            Err(e) => return (buffer, Some(e.to_string())),
        };
        let result = match world.step(&action) {
            Ok(r) => r,
            Err(e) => return (buffer, Some(e.to_string())),
        };
        let done = result.terminated || result.truncated;
        buffer.push(layout, &observation, &state, &action, result.reward, done);
        observation = result.observation;
        if done {
            buffer.success = result.info.success;
            return (buffer, None);
        }
    }
}

/// Runs `options.episodes` episodes (this shard's share) in parallel and returns their
/// recordings in episode order.
pub fn generate(
    scenario: &Scenario,
    policy: &PolicySpec,
    base_dir: &Path,
    options: &GenerateOptions,
) -> Result<(FrameLayout, Vec<EpisodeBuffer>), DatasetError> {
    let probe = PhysicsWorld::new(scenario.config.clone());
    let layout = FrameLayout::new(probe.observation_spec(), probe.action_spec(), probe.state_spec());
    // Learned and hybrid scenarios generate their data inside the world model: load it once
    // here so that a bad model file is an error before any episode runs.
    make_world(&scenario.config).map_err(|e| DatasetError::Mismatch(e.to_string()))?;
    policy
        .build(&scenario.config, probe.observation_spec(), probe.action_spec(), base_dir)
        .map_err(|e| DatasetError::Mismatch(e.to_string()))?;
    let task = if scenario.config.description.is_empty() { scenario.config.name.clone() } else { scenario.config.description.clone() };
    let episodes: Vec<u32> = (0..options.episodes).filter(|k| options.shard.is_none_or(|(i, n)| k % n == i)).collect();
    let results: Vec<(EpisodeBuffer, Option<String>)> = episodes
        .par_iter()
        .map_init(
            || {
                let world = make_world(&scenario.config).expect("loaded once above");
                let policy =
                    policy.build(&scenario.config, world.observation_spec(), world.action_spec(), base_dir).expect("built once above");
                (world, policy)
            },
            |(world, built), k| {
                record_episode(world.as_mut(), built.as_mut(), &layout, &task, &policy.name, episode_seed(options.seed, *k))
            },
        )
        .collect();
    let mut buffers = Vec::with_capacity(results.len());
    for (k, (buffer, error)) in episodes.iter().zip(results) {
        if let Some(e) = error {
            tracing::warn!(episode = k, "episode ended early: {e}");
        }
        if buffer.frames > 0 {
            buffers.push(buffer);
        }
    }
    Ok((layout, buffers))
}
