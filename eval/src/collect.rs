//! Rollouts outside an evaluation spec, through the same engine: `dreamrig run`'s episodes,
//! dataset generation (`dreamrig dataset generate`) and the demonstrations of behaviour cloning
//! (`dreamrig policy train-bc`). Each is the engine plus observers; none has a loop of its own.

use crate::record::EpisodeRecord;
use crate::tracker::EpisodeMetrics;
use crate::EvalError;
use dreamrig_datasets::{EpisodeBuffer, FrameLayout, FrameRecorder};
use dreamrig_policies::neural::Demonstrations;
use dreamrig_policies::wrappers::{Degradation, Degraded};
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

/// Checks, before anything is written, that `config`'s world can be built (its world model
/// loads and fits) and that `build` gives a policy for it.
///
/// Errors: [`EvalError::Usage`] for the world, [`EvalError::Policy`] for the policy.
pub fn check_policy(config: &Arc<ScenarioConfig>, build: &PolicyBuilder<'_>) -> Result<(), EvalError> {
    build_pair(config, build).map(|_| ())
}

/// Runs `episodes` one at a time through the engine, in parallel over the current rayon pool:
/// each worker builds one world and one policy and reuses them for its episodes, and builds new
/// ones after a caught panic (so a half-updated world never plays the next episode). `roll` runs
/// one episode with the observers it wants and returns its result with the engine's report.
/// Results come back in the order of `episodes`.
///
/// The caller has built one pair with [`build_pair`] before (to check them), so building here
/// cannot fail.
fn each_episode<R: Send>(
    config: &Arc<ScenarioConfig>,
    build: &PolicyBuilder<'_>,
    episodes: &[Episode],
    roll: impl Fn(&mut WorldBatch, &mut PolicyBatch, Episode) -> (R, RolloutReport) + Sync,
) -> Vec<(R, RolloutReport)> {
    episodes
        .par_iter()
        .map_init(
            || build_pair(config, build).expect("built once above"),
            |pair, episode| {
                let result = roll(&mut pair.0, &mut pair.1, *episode);
                if result.1.panicked {
                    *pair = build_pair(config, build).expect("built once above");
                }
                result
            },
        )
        .collect()
}

/// What [`run_episodes`] came to.
pub struct EpisodesRun {
    /// One record per episode that ended, in episode order.
    pub records: Vec<EpisodeRecord>,
    /// Failures of the caller's observer (it was detached at the first).
    pub observer_errors: Vec<ObserverError>,
    /// The interrupt flag stopped the run; the episodes it cut short have no record.
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
    let control = Control { interrupt: Some(interrupt), timeout_s: None, ..Control::default() };
    let episodes: Vec<Episode> = seeds.iter().enumerate().map(|(k, seed)| Episode { episode: k as u32, seed: *seed }).collect();
    let measure = |worlds: &mut WorldBatch, policies: &mut PolicyBatch, episode: Episode, extra: Option<&mut dyn StepObserver>| {
        measured(config, policy_name, worlds, policies, episode, extra, progress, &control)
    };
    let results: Vec<(Option<EpisodeRecord>, RolloutReport)> = match observer {
        None => {
            build_pair(config, build)?;
            each_episode(config, build, &episodes, |w, p, e| measure(w, p, e, None))
        }
        Some(observer) => {
            let (mut worlds, mut policies) = build_pair(config, build)?;
            let mut results = Vec::with_capacity(episodes.len());
            for episode in &episodes {
                let result = measure(&mut worlds, &mut policies, *episode, Some(&mut *observer));
                // A recording that failed, or an interrupt, ends the run: the caller reports it.
                let stop = result.1.interrupted() || !result.1.observer_errors.is_empty();
                if result.1.panicked {
                    (worlds, policies) = build_pair(config, build)?;
                }
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
    /// Episodes of the whole generation, before sharding.
    pub episodes: u32,
    /// Episode `k` runs with seed [`dataset_episode_seed`]`(seed, first_episode + k)`.
    pub seed: u64,
    /// Number of the run's first episode in the sequence of `seed`: the episodes already in a
    /// dataset being appended to, so that appending continues the sequence instead of
    /// repeating its seeds (3 episodes then 2 more equal 5 at once).
    pub first_episode: u32,
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
    let fps = dreamrig_datasets::fps_of(scenario).map_err(|e| EvalError::Usage(e.to_string()))?;
    let layout = {
        let (worlds, _) = build_pair(config, &build)?;
        match (worlds.observation_spec(), worlds.action_spec(), worlds.state_spec()) {
            (Some(o), Some(a), Some(s)) => FrameLayout::new(o, a, s, fps),
            _ => return Err(EvalError::Usage(format!("{}: the scenario has no world", config.name))),
        }
    };
    let task = dreamrig_datasets::task_of(config);
    let episodes: Vec<Episode> = (0..options.episodes)
        .filter(|k| options.shard.is_none_or(|(i, n)| k % n == i))
        .map(|k| Episode { episode: k, seed: dataset_episode_seed(options.seed, options.first_episode + k) })
        .collect();
    let control = Control::default();
    let results = each_episode(config, &build, &episodes, |worlds, policies, episode| {
        let mut frames = FrameRecorder::new(layout.clone(), &task, fps);
        let mut bar = Progress(progress.clone());
        let report = roll_out(config, &policy.name, worlds, policies, &[episode], &mut [&mut frames, &mut bar], &control);
        (frames.take(0), report)
    });
    let mut buffers = Vec::with_capacity(results.len());
    for (frames, report) in results {
        if let Some(error) = report.observer_errors.first() {
            // A recording that failed would leave a hole in the dataset: nothing is written.
            return Err(EvalError::Rollout(format!("recording frames: {}", dreamrig_rollout::error_chain(error))));
        }
        if let EpisodeEnd::Fault(detail) = &report.outcomes[0].end {
            tracing::warn!("episode ended early (its frames so far are kept): {detail}");
        }
        buffers.extend(frames.filter(|b| b.frames > 0));
    }
    Ok((layout, buffers))
}

/// How to collect demonstrations for behaviour cloning.
#[derive(Debug, Clone)]
pub struct DemonstrationOptions {
    /// Demonstration episodes, run one after another.
    pub episodes: u32,
    /// Observation fields the student reads, concatenated in this order.
    pub inputs: Vec<String>,
    /// Standard deviation of the noise on the teacher's driving actions, as a fraction of each
    /// action's half-range (DART, Laskey et al. 2017); the labels stay clean.
    pub noise: f64,
    /// Episode `k` runs with seed `seed × 1 000 003 + k`; the noise is one stream seeded from
    /// `seed` that runs on across episodes.
    pub seed: u64,
}

/// Collects demonstrations of the controller `teacher` (a name [`dreamrig_policies::zoo::by_name`]
/// knows) in the scenario's own dynamics: the teacher drives with noisy actions, and an observer
/// labels every observation with the teacher's clean action (a second, noise-free instance of
/// the teacher that sees the same observations). The episodes run one after another because the
/// noise is one stream across them (as it always was, so a seed gives the same demonstrations
/// as before the rollout engine).
///
/// Errors: the world model cannot be loaded, the teacher does not fit the scenario, or an input
/// field is not in the scenario's observations ([`EvalError::Usage`], [`EvalError::Policy`]); a
/// demonstration episode that faults ([`EvalError::Rollout`]).
pub fn collect_demonstrations(
    config: &Arc<ScenarioConfig>,
    teacher: &str,
    options: &DemonstrationOptions,
) -> Result<Demonstrations, EvalError> {
    let clean = |o: &ObservationSpec, a: &ActionSpec| dreamrig_policies::zoo::by_name(teacher, config, o, a);
    let (mut worlds, _) = build_pair(config, &clean)?;
    let observation = worlds.observation_spec().expect("a built batch has a world").clone();
    let action = worlds.action_spec().expect("a built batch has a world").clone();
    for name in &options.inputs {
        if observation.field(name).is_none() {
            let known: Vec<&str> = observation.fields.iter().map(|f| f.name.as_str()).collect();
            return Err(EvalError::Usage(format!("--inputs: the scenario has no observation field {name} (it has {})", known.join(", "))));
        }
    }
    let driver = Degraded {
        inner: clean(&observation, &action)?,
        degradation: DartNoise {
            noise: options.noise,
            low: action.low.clone(),
            high: action.high.clone(),
            rng: dreamrig_policies::baselines::policy_rng(options.seed, 99),
        },
    };
    let mut policies = PolicyBatch::Each(vec![Box::new(driver)]);
    let mut labels = Labeller { teacher: clean(&observation, &action)?, inputs: &options.inputs, data: Demonstrations::default() };
    let control = Control::default();
    for k in 0..options.episodes {
        let episode = Episode { episode: k, seed: options.seed.wrapping_mul(1_000_003).wrapping_add(k as u64) };
        let report = roll_out(config, teacher, &mut worlds, &mut policies, &[episode], &mut [&mut labels], &control);
        if let EpisodeEnd::Fault(detail) = &report.outcomes[0].end {
            return Err(EvalError::Rollout(format!("demonstration episode {k}: {detail}")));
        }
        if let Some(e) = report.observer_errors.first() {
            return Err(EvalError::Rollout(format!("demonstration episode {k}: {}", dreamrig_rollout::error_chain(e))));
        }
    }
    Ok(labels.data)
}

/// DART noise on the teacher's driving actions: each action value gets Gaussian noise of
/// `noise` × its half-range and is clipped to its bounds. Unlike [`ActionNoise`], the stream is
/// not reseeded per episode: it runs on across them.
///
/// [`ActionNoise`]: dreamrig_policies::wrappers::ActionNoise
struct DartNoise {
    noise: f64,
    low: Vec<f64>,
    high: Vec<f64>,
    rng: rand_chacha::ChaCha8Rng,
}

impl Degradation for DartNoise {
    fn reset(&mut self, _: u64) {}

    fn action(&mut self, clean: Vec<f64>) -> Vec<f64> {
        clean
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let z: f64 = rand_distr::Distribution::sample(&rand_distr::StandardNormal, &mut self.rng);
                (a + self.noise * (self.high[i] - self.low[i]) / 2.0 * z).clamp(self.low[i], self.high[i])
            })
            .collect()
    }
}

/// Labels every observation with a clean teacher's action.
struct Labeller<'a> {
    teacher: Box<dyn Policy>,
    inputs: &'a [String],
    data: Demonstrations,
}

impl StepObserver for Labeller<'_> {
    fn episode_started(&mut self, episode: &EpisodeInfo<'_>, _: &EpisodeStart<'_>) -> Result<(), ObserverError> {
        self.teacher.reset(episode.seed);
        Ok(())
    }

    fn step(&mut self, _: &EpisodeInfo<'_>, step: &StepView<'_>) -> Result<(), ObserverError> {
        let clean = self.teacher.act(step.observation).map_err(|e| ObserverError::new("demonstrations", e))?;
        let mut input = Vec::new();
        for name in self.inputs {
            let values = step
                .observation
                .get(name)
                .ok_or_else(|| ObserverError::message("demonstrations", format!("no observation field {name}")))?;
            input.extend_from_slice(values);
        }
        self.data.observations.push(input);
        self.data.actions.push(clean.iter().map(|a| *a as f32).collect());
        Ok(())
    }
}
