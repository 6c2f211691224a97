//! Rollouts outside an evaluation spec, through the same engine: `dreamrig run`'s episodes,
//! dataset generation (`dreamrig dataset generate`) and the demonstrations of behaviour cloning
//! (`dreamrig policy train-bc`). Each is the engine plus observers; none has a loop of its own.

use crate::record::EpisodeRecord;
use crate::tracker::EpisodeMetrics;
use crate::EvalError;
use dreamrig_datasets::{EpisodeBuffer, FrameLayout, FrameRecorder};
use dreamrig_policies::neural::Demonstrations;
use dreamrig_policies::wrappers::ActionNoise;
use dreamrig_policies::{Policy, PolicyError, PolicySpec};
use dreamrig_rollout::{roll_out, Control, Episode, PolicyBatch, Progress, RolloutReport};
use dreamrig_sim::scenario::config::ScenarioConfig;
use dreamrig_sim::{
    ActionSpec, EpisodeEnd, EpisodeInfo, EpisodeStart, ObservationSpec, ObserverError, Scenario, StepObserver, StepView, WorldBatch,
};
use indicatif::ProgressBar;
use rayon::prelude::*;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Builds a policy for a scenario's observation and action specs.
pub type PolicyBuilder<'a> = dyn Fn(&ObservationSpec, &ActionSpec) -> Result<Box<dyn Policy>, PolicyError> + Sync + 'a;

/// One world and one policy for `config`, built to check both before any episode runs.
fn build_pair(config: &Arc<ScenarioConfig>, build: &PolicyBuilder<'_>) -> Result<(WorldBatch, PolicyBatch), EvalError> {
    let worlds = WorldBatch::for_scenario(config, 1).map_err(|e| EvalError::Usage(e.to_string()))?;
    let (Some(observation), Some(action)) = (worlds.observation_spec(), worlds.action_spec()) else {
        return Err(EvalError::Usage(format!("{}: the scenario has no world", config.name)));
    };
    let policy = build(observation, action)?;
    Ok((worlds, PolicyBatch::Each(vec![policy])))
}

/// Runs `episodes` one at a time through the engine, in parallel over the current rayon pool:
/// each worker builds one world and one policy and reuses them for its episodes. `roll` runs one
/// episode with the observers it wants. Results come back in the order of `episodes`.
///
/// Errors: the scenario's world model cannot be loaded, or the policy cannot be built.
fn each_episode<R: Send>(
    config: &Arc<ScenarioConfig>,
    build: &PolicyBuilder<'_>,
    episodes: &[Episode],
    roll: impl Fn(&mut WorldBatch, &mut PolicyBatch, Episode) -> R + Sync,
) -> Result<Vec<R>, EvalError> {
    build_pair(config, build)?;
    Ok(episodes
        .par_iter()
        .map_init(
            || build_pair(config, build).expect("built once above"),
            |(worlds, policies), episode| roll(worlds, policies, *episode),
        )
        .collect())
}

/// What [`run_episodes`] came to.
pub struct EpisodesRun {
    /// One record per episode that ended, in episode order.
    pub records: Vec<EpisodeRecord>,
    /// Failures of the caller's observer (it was detached at the first).
    pub observer_errors: Vec<ObserverError>,
    pub interrupted: bool,
}

/// Runs episode `k` of `seeds` with seed `seeds[k]`, as `dreamrig run` does, and measures each
/// as an evaluation would. Without `observer` the episodes run in parallel on the current rayon
/// pool; with one they run one after another through one world, so that the observer sees them
/// in order (one MCAP file with a running clock, one Rerun timeline).
///
/// Errors: the world model cannot be loaded or the policy cannot be built.
pub fn run_episodes(
    config: &Arc<ScenarioConfig>,
    policy_name: &str,
    build: &PolicyBuilder<'_>,
    seeds: &[u64],
    observer: Option<&mut dyn StepObserver>,
    progress: &ProgressBar,
    interrupt: &AtomicBool,
) -> Result<EpisodesRun, EvalError> {
    let control = Control { interrupt: Some(interrupt), timeout_s: None };
    let episodes: Vec<Episode> = seeds.iter().enumerate().map(|(k, seed)| Episode { episode: k as u32, seed: *seed }).collect();
    let measure = |worlds: &mut WorldBatch, policies: &mut PolicyBatch, episode: Episode, extra: Option<&mut dyn StepObserver>| {
        measured(config, policy_name, worlds, policies, episode, extra, progress, &control)
    };
    let results: Vec<(Option<EpisodeRecord>, RolloutReport)> = match observer {
        None => each_episode(config, build, &episodes, |w, p, e| measure(w, p, e, None))?,
        Some(observer) => {
            let (mut worlds, mut policies) = build_pair(config, build)?;
            let mut results = Vec::with_capacity(episodes.len());
            let mut attached = true;
            for episode in &episodes {
                let result = measure(&mut worlds, &mut policies, *episode, attached.then_some(&mut *observer));
                attached &= result.1.observer_errors.is_empty();
                let stop = result.1.interrupted();
                results.push(result);
                if stop {
                    break;
                }
            }
            results
        }
    };
    let interrupted = results.iter().any(|(_, report)| report.interrupted());
    let mut run = EpisodesRun { records: Vec::new(), observer_errors: Vec::new(), interrupted };
    for (record, report) in results {
        run.records.extend(record);
        run.observer_errors.extend(report.observer_errors);
    }
    Ok(run)
}

/// One episode through the engine with the metrics observer, a progress tick and `extra`.
#[allow(clippy::too_many_arguments)]
fn measured(
    config: &ScenarioConfig,
    policy_name: &str,
    worlds: &mut WorldBatch,
    policies: &mut PolicyBatch,
    episode: Episode,
    extra: Option<&mut dyn StepObserver>,
    progress: &ProgressBar,
    control: &Control,
) -> (Option<EpisodeRecord>, RolloutReport) {
    let mut metrics = EpisodeMetrics::new(None);
    let mut bar = Progress(progress.clone());
    let report = {
        let mut list: Vec<&mut dyn StepObserver> = vec![&mut metrics, &mut bar];
        if let Some(extra) = extra {
            list.push(extra);
        }
        roll_out(config, policy_name, worlds, policies, &[episode], &mut list, control)
    };
    (metrics.take(0), report)
}

/// Which episodes a dataset generation records.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub episodes: u32,
    /// Episode `k` runs with seed [`dataset_episode_seed`]`(seed, k)`.
    pub seed: u64,
    /// Only episodes k with k mod N = I, as `(I, N)`.
    pub shard: Option<(u32, u32)>,
}

/// The seed of episode `k` of a dataset generation run: FNV-1a of the run's seed and `k`.
pub fn dataset_episode_seed(seed: u64, episode: u32) -> u64 {
    crate::grid::fnv1a(&[&seed.to_le_bytes(), &episode.to_le_bytes()])
}

/// Runs `policy` in `scenario` for `options.episodes` episodes (this shard's share) in parallel
/// on the current rayon pool and records every frame. Returns the frame layout and the
/// recordings in episode order; episodes that ended in a fault keep their frames so far (with a
/// warning), episodes with no frame are left out.
///
/// Errors: the world model cannot be loaded, or the policy cannot be built for the scenario.
pub fn generate_dataset(
    scenario: &Scenario,
    policy: &PolicySpec,
    base_dir: &Path,
    options: &GenerateOptions,
    progress: &ProgressBar,
) -> Result<(FrameLayout, Vec<EpisodeBuffer>), EvalError> {
    let config = &scenario.config;
    let build = |o: &ObservationSpec, a: &ActionSpec| policy.build(config, o, a, base_dir);
    let layout = {
        let (worlds, _) = build_pair(config, &build)?;
        match (worlds.observation_spec(), worlds.action_spec(), worlds.state_spec()) {
            (Some(o), Some(a), Some(s)) => FrameLayout::new(o, a, s),
            _ => return Err(EvalError::Usage(format!("{}: the scenario has no world", config.name))),
        }
    };
    let task = dreamrig_datasets::task_of(config);
    let episodes: Vec<Episode> = (0..options.episodes)
        .filter(|k| options.shard.is_none_or(|(i, n)| k % n == i))
        .map(|k| Episode { episode: k, seed: dataset_episode_seed(options.seed, k) })
        .collect();
    let control = Control::default();
    let results = each_episode(config, &build, &episodes, |worlds, policies, episode| {
        let mut frames = FrameRecorder::new(layout.clone(), &task);
        let mut bar = Progress(progress.clone());
        let report = roll_out(config, &policy.name, worlds, policies, &[episode], &mut [&mut frames, &mut bar], &control);
        if let EpisodeEnd::Fault(detail) = &report.outcomes[0].end {
            tracing::warn!(episode = episode.episode, "episode ended early: {detail}");
        }
        for e in &report.observer_errors {
            tracing::warn!(episode = episode.episode, "{e}");
        }
        frames.take(0)
    })?;
    Ok((layout, results.into_iter().flatten().filter(|b| b.frames > 0).collect()))
}

/// How to collect demonstrations for behaviour cloning.
#[derive(Debug, Clone)]
pub struct DemonstrationOptions {
    pub episodes: u32,
    /// Observation fields the student reads, concatenated in this order.
    pub inputs: Vec<String>,
    /// Standard deviation of the noise on the teacher's driving actions, as a fraction of each
    /// action's half-range (DART, Laskey et al. 2017); the labels stay clean.
    pub noise: f64,
    /// Episode `k` runs with seed `seed × 1 000 003 + k`.
    pub seed: u64,
}

/// Collects demonstrations of the controller `teacher` (a name [`dreamrig_policies::zoo::by_name`]
/// knows) in the scenario's own dynamics: the teacher drives with noisy actions, and an observer
/// labels every observation with the teacher's clean action (a second, noise-free instance of
/// the teacher that sees the same observations). Episodes run in parallel; the samples come in
/// episode order.
///
/// Errors: the world model cannot be loaded, the teacher does not fit the scenario, or an input
/// field is not in the scenario's observations.
pub fn collect_demonstrations(config: &Arc<ScenarioConfig>, teacher: &str, options: &DemonstrationOptions) -> Result<Demonstrations, EvalError> {
    let clean = |o: &ObservationSpec, a: &ActionSpec| dreamrig_policies::zoo::by_name(teacher, config, o, a);
    let noise = options.noise;
    let noisy = |o: &ObservationSpec, a: &ActionSpec| -> Result<Box<dyn Policy>, PolicyError> {
        Ok(Box::new(ActionNoise::wrap(clean(o, a)?, noise, a)))
    };
    let (worlds, _) = build_pair(config, &clean)?;
    let observation = worlds.observation_spec().expect("a built batch has a world").clone();
    let action = worlds.action_spec().expect("a built batch has a world").clone();
    for name in &options.inputs {
        if observation.field(name).is_none() {
            let known: Vec<&str> = observation.fields.iter().map(|f| f.name.as_str()).collect();
            return Err(EvalError::Usage(format!("--inputs: the scenario has no observation field {name} (it has {})", known.join(", "))));
        }
    }
    let episodes: Vec<Episode> =
        (0..options.episodes).map(|k| Episode { episode: k, seed: options.seed.wrapping_mul(1_000_003).wrapping_add(k as u64) }).collect();
    let control = Control::default();
    let results = each_episode(config, &noisy, &episodes, |worlds, policies, episode| {
        let mut labels = Labeller { teacher: clean(&observation, &action), inputs: &options.inputs, data: Demonstrations::default() };
        let report = roll_out(config, teacher, worlds, policies, &[episode], &mut [&mut labels], &control);
        (labels.data, report)
    })?;
    let mut data = Demonstrations::default();
    for (episode, (samples, report)) in results.into_iter().enumerate() {
        if let EpisodeEnd::Fault(detail) = &report.outcomes[0].end {
            return Err(EvalError::Usage(format!("demonstration episode {episode}: {detail}")));
        }
        if let Some(e) = report.observer_errors.into_iter().next() {
            return Err(EvalError::Usage(format!("demonstration episode {episode}: {e}")));
        }
        data.observations.extend(samples.observations);
        data.actions.extend(samples.actions);
    }
    Ok(data)
}

/// Labels every observation with a clean teacher's action.
struct Labeller<'a> {
    teacher: Result<Box<dyn Policy>, PolicyError>,
    inputs: &'a [String],
    data: Demonstrations,
}

impl StepObserver for Labeller<'_> {
    fn episode_started(&mut self, episode: &EpisodeInfo<'_>, _: &EpisodeStart<'_>) -> Result<(), ObserverError> {
        let teacher = self.teacher.as_mut().map_err(|e| ObserverError::message("demonstrations", e.to_string()))?;
        teacher.reset(episode.seed);
        Ok(())
    }

    fn step(&mut self, _: &EpisodeInfo<'_>, step: &StepView<'_>) -> Result<(), ObserverError> {
        let teacher = self.teacher.as_mut().map_err(|e| ObserverError::message("demonstrations", e.to_string()))?;
        let clean = teacher.act(step.observation).map_err(|e| ObserverError::new("demonstrations", e))?;
        let mut input = Vec::new();
        for name in self.inputs {
            let values = step.observation.get(name).ok_or_else(|| ObserverError::message("demonstrations", format!("no observation field {name}")))?;
            input.extend_from_slice(values);
        }
        self.data.observations.push(input);
        self.data.actions.push(clean.iter().map(|a| *a as f32).collect());
        Ok(())
    }
}
