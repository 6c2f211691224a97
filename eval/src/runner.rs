//! The evaluation runner: the grid of episodes (scenario × policy × episode), run in parallel
//! with rayon, each committed to the journal as it completes.

use crate::journal::{Journal, JournalEntry, RunManifest, MANIFEST_FORMAT};
use crate::record::EpisodeRecord;
use crate::spec::EvalSpec;
use crate::EvalError;
use dreamrig_datasets::{EpisodeBuffer, FrameLayout};
use dreamrig_policies::remote::{RemoteBatch, RemoteClient};
use dreamrig_policies::{BatchPolicy, Policy};
use dreamrig_sim::{ActionSpec, EndReason, ModelBatch, Observation, PhysicsWorld, SimError, StepResult, World, WorldModel, WorldState};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use std::collections::{HashMap, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Which slice of the episode grid a process runs: episodes whose grid index ≡ `index` mod
/// `count`, so every shard gets a similar mix of scenarios and policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// Parses `I/N` (0 ≤ I < N).
    pub fn parse(text: &str) -> Result<Self, String> {
        let (i, n) = text.split_once('/').ok_or_else(|| format!("expected I/N (e.g. 0/4), got {text:?}"))?;
        let index: u32 = i.trim().parse().map_err(|_| format!("shard index {i:?} is not a whole number"))?;
        let count: u32 = n.trim().parse().map_err(|_| format!("shard count {n:?} is not a whole number"))?;
        if count == 0 || index >= count {
            return Err(format!("expected 0 ≤ I < N, got {index}/{count}"));
        }
        Ok(Self { index, count })
    }

    /// The shard of a Kubernetes Indexed Job (`JOB_COMPLETION_INDEX`, with the completion
    /// count in `JOB_COMPLETIONS`) or a Slurm job array (`SLURM_ARRAY_TASK_ID`,
    /// `SLURM_ARRAY_TASK_COUNT`, `SLURM_ARRAY_TASK_MIN`), if the environment describes one.
    pub fn from_environment(env: &dyn Fn(&str) -> Option<String>) -> Result<Option<Self>, String> {
        let number = |name: &str| -> Result<Option<u32>, String> {
            match env(name) {
                None => Ok(None),
                Some(v) => v.trim().parse().map(Some).map_err(|_| format!("{name}={v:?} is not a whole number")),
            }
        };
        if let Some(index) = number("JOB_COMPLETION_INDEX")? {
            let count = number("JOB_COMPLETIONS")?
                .ok_or("JOB_COMPLETION_INDEX is set but JOB_COMPLETIONS is not: set it to the Job's completions (see docs/scale-out.md)")?;
            return Self::parse(&format!("{index}/{count}")).map(Some);
        }
        if let Some(task) = number("SLURM_ARRAY_TASK_ID")? {
            let count = number("SLURM_ARRAY_TASK_COUNT")?.ok_or("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not")?;
            let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            return Self::parse(&format!("{}/{count}", task.saturating_sub(min))).map(Some);
        }
        Ok(None)
    }

    pub fn contains(&self, grid_index: usize) -> bool {
        grid_index % self.count as usize == self.index as usize
    }
}

/// One cell of the grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EpisodeKey {
    pub scenario: usize,
    pub policy: usize,
    pub episode: u32,
}

/// The seed of episode `k` of a scenario: shared by every policy (common random numbers, so
/// policies are compared on the same episodes) and independent of sharding and threads.
pub fn episode_seed(master: u64, scenario: &str, episode: u32) -> u64 {
    let mut h = 0xcbf29ce484222325u64;
    for b in master.to_le_bytes().iter().chain(scenario.as_bytes()).chain(&episode.to_le_bytes()) {
        h = (h ^ *b as u64).wrapping_mul(0x100000001b3);
    }
    h
}

/// Every episode of the spec in grid order.
pub fn grid(spec: &EvalSpec) -> Vec<EpisodeKey> {
    let mut keys = Vec::new();
    for (scenario, policies) in spec.pairs.iter().enumerate() {
        for &policy in policies {
            for episode in 0..spec.episodes {
                keys.push(EpisodeKey { scenario, policy, episode });
            }
        }
    }
    keys
}

pub struct RunOptions {
    pub out: PathBuf,
    pub threads: Option<usize>,
    pub resume: bool,
    pub shard: Option<Shard>,
    /// Set (by a Ctrl-C handler) to stop: running episodes are abandoned, finished ones kept.
    pub interrupt: Arc<AtomicBool>,
    pub show_progress: bool,
    /// Keep every episode's frames (for `--record-dataset`).
    pub record_frames: bool,
    /// Something to see every step of every episode (`--rerun`, `--record-mcap`).
    pub watch: Option<Arc<dyn WatchEpisodes>>,
}

/// Sees one episode's steps as they happen. A watcher that fails is dropped with a warning;
/// the episode runs on (watching never changes results).
pub trait EpisodeWatcher: Send {
    /// An observation, with the robot's link poses, before the policy acts on it.
    fn observe(&mut self, step: u64, time_s: f64, observation: &Observation, poses: &[dreamrig_sim::LinkPose]) -> Result<(), String>;
    /// The action taken at `step` and the reward it earned.
    fn act(&mut self, step: u64, action: &[f64], reward: f64) -> Result<(), String>;
    /// The episode is over.
    fn finish(self: Box<Self>, record: &EpisodeRecord) -> Result<(), String>;
}

/// An episode about to be watched.
pub struct EpisodeStart<'a> {
    pub scenario: &'a dreamrig_sim::scenario::config::ScenarioConfig,
    pub policy: &'a str,
    pub episode: u32,
    pub seed: u64,
    pub action_names: &'a [String],
    /// The episode's goal, for tasks with one.
    pub goal: Option<[f64; 3]>,
    /// The robot's links after reset.
    pub poses: &'a [dreamrig_sim::LinkPose],
}

/// Makes a watcher for each episode that should be watched.
pub trait WatchEpisodes: Send + Sync {
    fn start(&self, episode: &EpisodeStart) -> Result<Option<Box<dyn EpisodeWatcher>>, String>;
}

/// An episode's watcher, if any, dropped at its first failure.
struct Watching(Option<Box<dyn EpisodeWatcher>>, String);

impl Watching {
    fn off() -> Self {
        Self(None, String::new())
    }

    fn start(
        watch: &Arc<dyn WatchEpisodes>,
        config: &dreamrig_sim::scenario::config::ScenarioConfig,
        record: &EpisodeRecord,
        action: &ActionSpec,
        goal: Option<[f64; 3]>,
        poses: &[dreamrig_sim::LinkPose],
    ) -> Self {
        let name = format!("{}/{}/{}", record.scenario, record.policy, record.episode);
        let start = EpisodeStart {
            scenario: config,
            policy: &record.policy,
            episode: record.episode,
            seed: record.seed,
            action_names: &action.names,
            goal,
            poses,
        };
        let watcher = match watch.start(&start) {
            Ok(watcher) => watcher,
            Err(e) => {
                tracing::warn!("not watching episode {name}: {e}");
                None
            }
        };
        Self(watcher, name)
    }

    fn check(&mut self, result: Result<(), String>) {
        if let Err(e) = result {
            tracing::warn!("stopped watching episode {}: {e}", self.1);
            self.0 = None;
        }
    }

    fn observe(&mut self, step: u64, time_s: f64, observation: &Observation, poses: impl FnOnce() -> Vec<dreamrig_sim::LinkPose>) {
        if let Some(w) = self.0.as_mut() {
            let result = w.observe(step, time_s, observation, &poses());
            self.check(result);
        }
    }

    fn act(&mut self, step: u64, action: &[f64], reward: f64) {
        if let Some(w) = self.0.as_mut() {
            let result = w.act(step, action, reward);
            self.check(result);
        }
    }

    fn finish(self, record: &EpisodeRecord) {
        if let Some(w) = self.0 {
            if let Err(e) = w.finish(record) {
                tracing::warn!("episode {}: {e}", self.1);
            }
        }
    }
}

pub struct RunOutcome {
    /// Every committed episode of this run folder, sorted.
    pub entries: Vec<JournalEntry>,
    pub ran: usize,
    pub skipped: usize,
    pub interrupted: bool,
}

enum EpisodeEnd {
    Finished(Box<(JournalEntry, Option<EpisodeBuffer>)>),
    Interrupted,
}

struct Rollout {
    record: EpisodeRecord,
}

fn failure(record: &mut EpisodeRecord, detail: String) {
    record.success = false;
    record.end_reason = "error".into();
    record.end_detail = detail;
    record.time_to_success_s = None;
}

/// One episode's metrics, accumulated step by step.
struct Tracker {
    record: EpisodeRecord,
    dt: f64,
    low: Vec<f64>,
    high: Vec<f64>,
    previous: Option<Vec<f64>>,
    smoothness: f64,
    effort: f64,
    steps: u64,
    disagreement_sum: f64,
    disagreement_steps: u64,
    /// The world model's trust threshold, for world-model dynamics.
    threshold: Option<f64>,
    ended: bool,
}

impl Tracker {
    fn new(record: EpisodeRecord, dt: f64, action: &ActionSpec, threshold: Option<f64>) -> Self {
        Self {
            record,
            dt,
            low: action.low.clone(),
            high: action.high.clone(),
            previous: None,
            smoothness: 0.0,
            effort: 0.0,
            steps: 0,
            disagreement_sum: 0.0,
            disagreement_steps: 0,
            threshold,
            ended: false,
        }
    }

    fn fail(&mut self, detail: String) {
        failure(&mut self.record, detail);
        self.ended = true;
    }

    fn step_error(&mut self, error: SimError) {
        match error {
            e @ (SimError::ActionLength { .. } | SimError::ActionNotFinite { .. }) => self.fail(format!("invalid action: {e}")),
            e @ SimError::Diverged { .. } => self.fail(format!("physics blew up: {e}")),
            e => self.fail(format!("world error: {e}")),
        }
    }

    fn step(&mut self, action: &[f64], result: &StepResult) {
        let record = &mut self.record;
        let applied: Vec<f64> = action.iter().enumerate().map(|(i, a)| a.clamp(self.low[i], self.high[i])).collect();
        self.effort += applied.iter().map(|a| a * a).sum::<f64>();
        if let Some(p) = &self.previous {
            self.smoothness += applied.iter().zip(p).map(|(a, b)| (a - b).powi(2)).sum::<f64>();
        }
        self.previous = Some(applied);
        self.steps += 1;
        if let Some(d) = result.info.model_disagreement {
            self.disagreement_sum += d;
            self.disagreement_steps += 1;
        }
        record.episode_return += result.reward;
        record.length = result.info.step;
        record.collisions += u64::from(result.info.collision);
        if let Some(c) = result.info.clearance {
            record.min_clearance_m = Some(record.min_clearance_m.map_or(c, |m| m.min(c)));
        }
        record.final_goal_error_m = result.info.goal_distance;
        if result.info.success && record.time_to_success_s.is_none() {
            record.time_to_success_s = Some(result.info.step as f64 * self.dt);
        }
        if result.terminated || result.truncated {
            record.success = result.info.success;
            match &result.info.end_reason {
                Some(EndReason::Success) => record.end_reason = "success".into(),
                Some(EndReason::Failure(detail)) => {
                    record.end_reason = "failure".into();
                    record.end_detail = detail.clone();
                }
                _ => record.end_reason = "horizon".into(),
            }
            if !record.success {
                record.time_to_success_s = None;
            }
            self.ended = true;
        }
    }

    fn finish(mut self) -> EpisodeRecord {
        let steps = self.steps;
        self.record.effort = if steps > 0 { self.effort / steps as f64 } else { 0.0 };
        self.record.action_smoothness = if steps > 1 { self.smoothness / (steps - 1) as f64 } else { 0.0 };
        if self.disagreement_steps > 0 {
            let mean = self.disagreement_sum / self.disagreement_steps as f64;
            self.record.model_disagreement = Some(mean);
            self.record.untrusted = self.threshold.is_some_and(|t| mean > t);
        }
        self.record
    }
}

/// Runs one episode, recording metrics as it goes. Faults (policy errors, invalid actions,
/// physics blow-ups, the wall-clock budget) end the episode as an `error` record.
fn roll_out(
    world: &mut dyn World,
    policy: &mut dyn Policy,
    record: EpisodeRecord,
    timeout_s: Option<f64>,
    interrupt: &AtomicBool,
    mut frames: Option<&mut Recording>,
    watch: Option<(&Arc<dyn WatchEpisodes>, &dreamrig_sim::scenario::config::ScenarioConfig)>,
) -> Option<Rollout> {
    let started = Instant::now();
    let seed = record.seed;
    let mut tracker = Tracker::new(record, world.control_period(), world.action_spec(), None);
    let mut observation = match world.reset(seed) {
        Ok((o, _)) => o,
        Err(e) => {
            tracker.fail(format!("reset failed: {e}"));
            return Some(Rollout { record: tracker.finish() });
        }
    };
    policy.reset(seed);
    if let Some(recording) = frames.as_deref_mut() {
        recording.buffer.parameters =
            world.parameters().map(|p| serde_json::to_value(p).expect("parameters serialize")).unwrap_or_default();
    }
    let mut watching = match watch {
        Some((watch, config)) => Watching::start(
            watch,
            config,
            &tracker.record,
            world.action_spec(),
            dreamrig_sim::task::episode_goal(config, world.parameters()),
            &world.link_poses(),
        ),
        None => Watching::off(),
    };
    let dt = world.control_period();
    while !tracker.ended {
        if interrupt.load(Ordering::Relaxed) {
            return None;
        }
        if let Some(limit) = timeout_s {
            if started.elapsed().as_secs_f64() > limit {
                tracker.fail(format!("over the wall-clock budget of {limit} s"));
                break;
            }
        }
        let step = tracker.steps;
        watching.observe(step, step as f64 * dt, &observation, || world.link_poses());
        let action = match policy.act(&observation) {
            Ok(a) => a,
            Err(e) => {
                tracker.fail(format!("policy error: {e}"));
                break;
            }
        };
        let state_before = if frames.is_some() { world.state().ok() } else { None };
        let result = match world.step(&action) {
            Ok(r) => r,
            Err(e) => {
                tracker.step_error(e);
                break;
            }
        };
        if let (Some(recording), Some(state)) = (frames.as_deref_mut(), &state_before) {
            recording.buffer.push(&recording.layout, &observation, state, &action, result.reward, result.terminated || result.truncated);
        }
        watching.act(step, &action, result.reward);
        tracker.step(&action, &result);
        observation = result.observation;
    }
    let record = tracker.finish();
    watching.finish(&record);
    if let Some(recording) = frames {
        recording.buffer.success = record.success;
    }
    Some(Rollout { record })
}

/// Episodes in a world model, or of a remote policy, run in lock-step batches of this many:
/// one network forward pass, or one query to the policy server, per step for all of them.
pub const LOCKSTEP_BATCH: usize = 64;

/// The worlds of a lock-step batch.
enum BatchWorlds {
    Model(ModelBatch),
    Physics(Vec<PhysicsWorld>),
}

impl BatchWorlds {
    fn observation_spec(&self) -> Arc<dreamrig_sim::ObservationSpec> {
        match self {
            BatchWorlds::Model(b) => b.observation_spec().expect("non-empty batch").clone(),
            BatchWorlds::Physics(w) => w[0].observation_spec().clone(),
        }
    }

    fn action_spec(&self) -> ActionSpec {
        match self {
            BatchWorlds::Model(b) => b.action_spec().expect("non-empty batch").clone(),
            BatchWorlds::Physics(w) => w[0].action_spec().clone(),
        }
    }

    fn state_spec(&self) -> dreamrig_sim::StateSpec {
        match self {
            BatchWorlds::Model(b) => dreamrig_sim::StateSpec { names: b.world(0).state_names().to_vec() },
            BatchWorlds::Physics(w) => w[0].state_spec().clone(),
        }
    }

    fn state(&self, index: usize) -> Result<WorldState, SimError> {
        match self {
            BatchWorlds::Model(b) => b.world(index).state(),
            BatchWorlds::Physics(w) => w[index].state(),
        }
    }

    fn parameters(&self, index: usize) -> Option<&dreamrig_sim::EpisodeParameters> {
        match self {
            BatchWorlds::Model(b) => b.parameters(index),
            BatchWorlds::Physics(w) => w[index].parameters(),
        }
    }

    fn link_poses(&self, index: usize) -> Vec<dreamrig_sim::LinkPose> {
        match self {
            BatchWorlds::Model(b) => b.world(index).link_poses(),
            BatchWorlds::Physics(w) => w[index].link_poses(),
        }
    }

    fn reset(&mut self, seeds: &[u64]) -> Vec<Result<(Observation, dreamrig_sim::StepInfo), SimError>> {
        match self {
            BatchWorlds::Model(b) => b.reset(seeds),
            BatchWorlds::Physics(w) => w.par_iter_mut().zip(seeds).map(|(w, s)| w.reset(*s)).collect(),
        }
    }

    fn step(&mut self, actions: &[Option<Vec<f64>>]) -> Vec<Option<Result<StepResult, SimError>>> {
        match self {
            BatchWorlds::Model(b) => b.step(actions),
            BatchWorlds::Physics(w) => w.par_iter_mut().zip(actions).map(|(w, a)| a.as_ref().map(|a| w.step(a))).collect(),
        }
    }
}

/// The policies of a lock-step batch: one instance per episode, or one remote client that
/// answers for all of them.
enum BatchPolicies {
    Separate(Vec<Box<dyn Policy>>),
    Remote(RemoteBatch),
}

impl BatchPolicies {
    fn reset(&mut self, seeds: &[u64]) {
        match self {
            BatchPolicies::Separate(p) => p.iter_mut().zip(seeds).for_each(|(p, s)| p.reset(*s)),
            BatchPolicies::Remote(r) => BatchPolicy::reset(r, seeds),
        }
    }

    /// Actions for the episodes with an observation; a failed query fails all of them.
    fn act(&mut self, observations: &[Option<&Observation>]) -> Vec<Option<Result<Vec<f64>, String>>> {
        match self {
            BatchPolicies::Separate(policies) => {
                policies.par_iter_mut().zip(observations).map(|(p, o)| o.map(|o| p.act(o).map_err(|e| e.to_string()))).collect()
            }
            BatchPolicies::Remote(remote) => match remote.act_some(observations) {
                Ok(actions) => actions.into_iter().map(|a| a.map(Ok)).collect(),
                Err(e) => observations.iter().map(|o| o.map(|_| Err(e.to_string()))).collect(),
            },
        }
    }
}

/// Runs a batch of episodes of one policy on one scenario in lock step: the scenario's world
/// model (when it has one) steps all of them at once, and a remote policy answers for all of
/// them in one query.
fn run_batch(
    spec: &EvalSpec,
    keys: &[EpisodeKey],
    model: Option<&Arc<WorldModel>>,
    interrupt: &AtomicBool,
    record_frames: bool,
    watch: Option<&Arc<dyn WatchEpisodes>>,
) -> Vec<EpisodeEnd> {
    let started = Instant::now();
    let scenario = &spec.scenarios[keys[0].scenario];
    let policy_spec = &spec.policies[keys[0].policy];
    let records: Vec<EpisodeRecord> = keys
        .iter()
        .map(|k| {
            empty_record(
                &scenario.config.name,
                &policy_spec.name,
                k.episode,
                episode_seed(spec.seed, &spec.seed_names[k.scenario], k.episode),
            )
        })
        .collect();
    let fallback = records.clone();
    let outcome = catch_unwind(AssertUnwindSafe(|| -> Option<Vec<(EpisodeRecord, Option<EpisodeBuffer>, f64)>> {
        let finished = |mut records: Vec<EpisodeRecord>, detail: String| {
            records.iter_mut().for_each(|r| failure(r, detail.clone()));
            Some(records.into_iter().map(|r| (r, None, 0.0)).collect())
        };
        let mut batch = match model {
            Some(model) => match ModelBatch::new(scenario.config.clone(), model.clone(), keys.len()) {
                Ok(b) => BatchWorlds::Model(b),
                Err(e) => return finished(records, format!("world model: {e}")),
            },
            None => BatchWorlds::Physics(keys.iter().map(|_| PhysicsWorld::new(scenario.config.clone())).collect()),
        };
        let (observation_spec, action_spec) = (batch.observation_spec(), batch.action_spec());
        let mut policies = match &policy_spec.remote {
            Some(remote) if policy_spec.wrappers.is_empty() => {
                match RemoteClient::connect(&policy_spec.name, remote, &action_spec, spec.base_dir()) {
                    Ok(client) => BatchPolicies::Remote(RemoteBatch::new(Arc::new(client))),
                    Err(e) => return finished(records, format!("policy could not be built: {e}")),
                }
            }
            _ => {
                let mut policies = Vec::with_capacity(keys.len());
                for _ in keys {
                    match policy_spec.build(&scenario.config, &observation_spec, &action_spec, spec.base_dir()) {
                        Ok(p) => policies.push(p),
                        Err(e) => return finished(records, format!("policy could not be built: {e}")),
                    }
                }
                BatchPolicies::Separate(policies)
            }
        };
        let dt = scenario.config.timing.control_period();
        let threshold = model.map(|m| m.config.disagreement_threshold);
        let mut trackers: Vec<Tracker> = records.into_iter().map(|r| Tracker::new(r, dt, &action_spec, threshold)).collect();
        let mut wall = vec![0.0; keys.len()];
        let seeds: Vec<u64> = trackers.iter().map(|t| t.record.seed).collect();
        let mut observations: Vec<Option<Observation>> = Vec::with_capacity(keys.len());
        for (i, reset) in batch.reset(&seeds).into_iter().enumerate() {
            match reset {
                Ok((o, _)) => observations.push(Some(o)),
                Err(e) => {
                    trackers[i].fail(format!("reset failed: {e}"));
                    observations.push(None);
                }
            }
        }
        let layout = FrameLayout::new(&observation_spec, &action_spec, &batch.state_spec());
        let task = if scenario.config.description.is_empty() { scenario.config.name.clone() } else { scenario.config.description.clone() };
        let mut buffers: Vec<Option<EpisodeBuffer>> = (0..keys.len())
            .map(|i| {
                record_frames.then(|| {
                    let mut buffer = EpisodeBuffer::new(&layout, &task, seeds[i], &policy_spec.name, serde_json::Value::Null);
                    buffer.parameters =
                        batch.parameters(i).map(|p| serde_json::to_value(p).expect("parameters serialize")).unwrap_or_default();
                    buffer
                })
            })
            .collect();
        policies.reset(&seeds);
        let mut watching: Vec<Watching> = trackers
            .iter()
            .enumerate()
            .map(|(i, t)| match watch {
                Some(watch) => Watching::start(
                    watch,
                    &scenario.config,
                    &t.record,
                    &action_spec,
                    dreamrig_sim::task::episode_goal(&scenario.config, batch.parameters(i)),
                    &batch.link_poses(i),
                ),
                None => Watching::off(),
            })
            .collect();
        while trackers.iter().any(|t| !t.ended) {
            if interrupt.load(Ordering::Relaxed) {
                return None;
            }
            if let Some(limit) = spec.episode_timeout_s {
                if started.elapsed().as_secs_f64() > limit {
                    for t in trackers.iter_mut().filter(|t| !t.ended) {
                        t.fail(format!("over the wall-clock budget of {limit} s"));
                    }
                    break;
                }
            }
            let active: Vec<Option<&Observation>> =
                observations.iter().zip(&trackers).map(|(o, t)| o.as_ref().filter(|_| !t.ended)).collect();
            for (i, observation) in active.iter().enumerate() {
                if let Some(observation) = observation {
                    let step = trackers[i].steps;
                    watching[i].observe(step, step as f64 * dt, observation, || batch.link_poses(i));
                }
            }
            let acted = policies.act(&active);
            let mut actions: Vec<Option<Vec<f64>>> = Vec::with_capacity(keys.len());
            for (i, a) in acted.into_iter().enumerate() {
                actions.push(match a {
                    Some(Ok(a)) => Some(a),
                    Some(Err(e)) => {
                        trackers[i].fail(format!("policy error: {e}"));
                        wall[i] = started.elapsed().as_secs_f64();
                        None
                    }
                    None => None,
                });
            }
            let states: Vec<Option<WorldState>> =
                (0..keys.len()).map(|i| (record_frames && actions[i].is_some()).then(|| batch.state(i).ok()).flatten()).collect();
            let results = batch.step(&actions);
            for (i, result) in results.into_iter().enumerate() {
                let Some(result) = result else { continue };
                match result {
                    Ok(result) => {
                        let action = actions[i].as_ref().expect("stepped worlds had an action");
                        if let (Some(buffer), Some(state), Some(observation)) = (buffers[i].as_mut(), &states[i], &observations[i]) {
                            buffer.push(&layout, observation, state, action, result.reward, result.terminated || result.truncated);
                        }
                        watching[i].act(trackers[i].steps, action, result.reward);
                        trackers[i].step(action, &result);
                        observations[i] = Some(result.observation);
                    }
                    Err(e) => trackers[i].step_error(e),
                }
                if trackers[i].ended {
                    wall[i] = started.elapsed().as_secs_f64();
                }
            }
        }
        Some(
            trackers
                .into_iter()
                .zip(buffers)
                .zip(wall)
                .zip(watching)
                .map(|(((t, mut buffer), wall), watching)| {
                    let record = t.finish();
                    watching.finish(&record);
                    if let Some(b) = buffer.as_mut() {
                        b.success = record.success;
                    }
                    (record, buffer, wall)
                })
                .collect(),
        )
    }));
    match outcome {
        Ok(Some(done)) => done
            .into_iter()
            .map(|(record, frames, wall_time_s)| EpisodeEnd::Finished(Box::new((JournalEntry { record, wall_time_s }, frames))))
            .collect(),
        Ok(None) => keys.iter().map(|_| EpisodeEnd::Interrupted).collect(),
        Err(payload) => {
            let message = panic_message(payload.as_ref());
            fallback
                .into_iter()
                .map(|mut r| {
                    failure(&mut r, format!("panicked: {message}"));
                    EpisodeEnd::Finished(Box::new((JournalEntry { record: r, wall_time_s: started.elapsed().as_secs_f64() }, None)))
                })
                .collect()
        }
    }
}

/// Runs one episode outside any evaluation spec (as `dreamrig run` does).
pub fn run_episode(
    world: &mut dyn World,
    policy: &mut dyn Policy,
    scenario: &str,
    policy_name: &str,
    episode: u32,
    seed: u64,
) -> EpisodeRecord {
    let record = empty_record(scenario, policy_name, episode, seed);
    let never = AtomicBool::new(false);
    roll_out(world, policy, record, None, &never, None, None).map(|r| r.record).expect("an episode that cannot be interrupted always ends")
}

fn empty_record(scenario: &str, policy: &str, episode: u32, seed: u64) -> EpisodeRecord {
    EpisodeRecord {
        scenario: scenario.into(),
        policy: policy.into(),
        episode,
        seed,
        success: false,
        episode_return: 0.0,
        length: 0,
        time_to_success_s: None,
        end_reason: String::new(),
        end_detail: String::new(),
        collisions: 0,
        min_clearance_m: None,
        final_goal_error_m: None,
        action_smoothness: 0.0,
        effort: 0.0,
        model_disagreement: None,
        untrusted: false,
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Frames of an episode being recorded as a dataset.
pub struct Recording {
    pub layout: FrameLayout,
    pub buffer: EpisodeBuffer,
}

/// Worlds and policies cached per worker thread, by scenario and policy.
#[derive(Default)]
struct WorkerCache {
    worlds: HashMap<usize, PhysicsWorld>,
    policies: HashMap<(usize, usize), Box<dyn Policy>>,
}

fn run_one(
    spec: &EvalSpec,
    key: EpisodeKey,
    cache: &mut WorkerCache,
    interrupt: &AtomicBool,
    record_frames: bool,
    watch: Option<&Arc<dyn WatchEpisodes>>,
) -> EpisodeEnd {
    let started = Instant::now();
    let scenario = &spec.scenarios[key.scenario];
    let policy_spec = &spec.policies[key.policy];
    let record = empty_record(
        &scenario.config.name,
        &policy_spec.name,
        key.episode,
        episode_seed(spec.seed, &spec.seed_names[key.scenario], key.episode),
    );
    let fallback = record.clone();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let world = cache.worlds.entry(key.scenario).or_insert_with(|| PhysicsWorld::new(scenario.config.clone()));
        if let std::collections::hash_map::Entry::Vacant(slot) = cache.policies.entry((key.scenario, key.policy)) {
            match policy_spec.build(&scenario.config, world.observation_spec(), world.action_spec(), spec.base_dir()) {
                Ok(p) => {
                    slot.insert(p);
                }
                Err(e) => {
                    let mut r = record.clone();
                    failure(&mut r, format!("policy could not be built: {e}"));
                    return Some((Rollout { record: r }, None));
                }
            }
        }
        let policy = cache.policies.get_mut(&(key.scenario, key.policy)).expect("inserted above");
        let mut recording = record_frames.then(|| {
            let layout = FrameLayout::new(world.observation_spec(), world.action_spec(), world.state_spec());
            let task =
                if scenario.config.description.is_empty() { scenario.config.name.clone() } else { scenario.config.description.clone() };
            let buffer = EpisodeBuffer::new(&layout, &task, record.seed, &policy_spec.name, serde_json::Value::Null);
            Recording { layout, buffer }
        });
        let rollout = roll_out(
            world,
            policy.as_mut(),
            record,
            spec.episode_timeout_s,
            interrupt,
            recording.as_mut(),
            watch.map(|w| (w, scenario.config.as_ref())),
        );
        rollout.map(|r| (r, recording.map(|r| r.buffer)))
    }));
    let (record, frames) = match outcome {
        Ok(Some((r, frames))) => (r.record, frames),
        Ok(None) => return EpisodeEnd::Interrupted,
        Err(payload) => {
            // The world or policy may be left half-updated: start both afresh.
            cache.worlds.remove(&key.scenario);
            cache.policies.remove(&(key.scenario, key.policy));
            let mut r = fallback;
            failure(&mut r, format!("panicked: {}", panic_message(payload.as_ref())));
            (r, None)
        }
    };
    EpisodeEnd::Finished(Box::new((JournalEntry { record, wall_time_s: started.elapsed().as_secs_f64() }, frames)))
}

/// Runs (or resumes) the spec's episodes of this shard into `options.out`.
pub fn run(spec: &EvalSpec, options: &RunOptions) -> Result<RunOutcome, EvalError> {
    let all = grid(spec);
    let mine: Vec<(usize, EpisodeKey)> =
        all.iter().copied().enumerate().filter(|(i, _)| options.shard.is_none_or(|s| s.contains(*i))).collect();
    let manifest = RunManifest {
        format: MANIFEST_FORMAT.into(),
        spec: spec.path.display().to_string(),
        spec_name: spec.name.clone(),
        fingerprint: spec.fingerprint.clone(),
        shard: options.shard.map(|s| (s.index, s.count)),
        episodes_planned: mine.len() as u64,
    };
    match Journal::read_manifest(&options.out)? {
        Some(existing) if !options.resume => {
            return Err(EvalError::Usage(format!(
                "{} already holds a run of {} ({} episodes planned); pass --resume to finish it, or choose another --out",
                options.out.display(),
                existing.spec_name,
                existing.episodes_planned
            )))
        }
        Some(existing) if existing.fingerprint != manifest.fingerprint || existing.shard != manifest.shard => {
            return Err(EvalError::Usage(format!(
                "{} holds a run of a different spec or shard (fingerprint {}, shard {:?}; this is {}, shard {:?}); it cannot be resumed with this spec",
                options.out.display(),
                existing.fingerprint,
                existing.shard,
                manifest.fingerprint,
                manifest.shard
            )))
        }
        _ => {}
    }
    crate::journal::write_atomic(
        &Journal::manifest_path(&options.out),
        &serde_json::to_vec_pretty(&manifest).expect("manifest serializes"),
    )?;
    let journal = Journal::open(&options.out)?;
    let done: HashSet<(String, String, u32)> = journal.entries()?.iter().map(|e| e.record.key()).collect();
    let pending: Vec<EpisodeKey> = mine
        .iter()
        .map(|(_, k)| *k)
        .filter(|k| !done.contains(&(spec.scenarios[k.scenario].config.name.clone(), spec.policies[k.policy].name.clone(), k.episode)))
        .collect();
    let skipped = mine.len() - pending.len();
    tracing::info!(planned = mine.len(), skipped, pending = pending.len(), "evaluation {}", spec.name);

    let progress = ProgressBar::new(pending.len() as u64);
    progress.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} episodes  {per_sec}  eta {eta}")
            .expect("valid template"),
    );
    if !options.show_progress {
        progress.set_draw_target(ProgressDrawTarget::hidden());
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.threads.unwrap_or(0))
        .build()
        .map_err(|e| EvalError::Io { path: options.out.clone(), reason: format!("cannot start worker threads: {e}") })?;
    let interrupt = options.interrupt.clone();
    let models = load_models(spec)?;
    let jobs = plan_jobs(spec, &pending, &models);
    let commit = |key: &EpisodeKey, end: EpisodeEnd| -> Result<bool, EvalError> {
        match end {
            EpisodeEnd::Interrupted => Ok(false),
            EpisodeEnd::Finished(finished) => {
                let (entry, frames) = *finished;
                // Frames first: an episode counts as done only once its journal entry
                // exists, and then its frames are already there.
                if let Some(frames) = frames {
                    journal.commit_frames(key.scenario, key.policy, key.episode, &frames)?;
                }
                journal.commit(key.scenario, key.policy, &entry)?;
                progress.inc(1);
                Ok(true)
            }
        }
    };
    let results: Vec<Result<usize, EvalError>> = pool.install(|| {
        jobs.par_iter()
            .map_init(WorkerCache::default, |cache, job| {
                if interrupt.load(Ordering::Relaxed) {
                    return Ok(0);
                }
                match job {
                    Job::Single(key) => {
                        let end = run_one(spec, *key, cache, &interrupt, options.record_frames, options.watch.as_ref());
                        commit(key, end).map(usize::from)
                    }
                    Job::Batch(keys) => {
                        let ends =
                            run_batch(spec, keys, models.get(&keys[0].scenario), &interrupt, options.record_frames, options.watch.as_ref());
                        let mut ran = 0;
                        for (key, end) in keys.iter().zip(ends) {
                            ran += usize::from(commit(key, end)?);
                        }
                        Ok(ran)
                    }
                }
            })
            .collect()
    });
    progress.finish_and_clear();
    let mut ran = 0;
    for r in results {
        ran += r?;
    }
    let mut entries = journal.entries()?;
    sort_entries(spec, &mut entries);
    Ok(RunOutcome { entries, ran, skipped, interrupted: options.interrupt.load(Ordering::Relaxed) })
}

/// Work for one rayon task: one episode, or a lock-step batch of episodes of one policy on
/// one scenario (world-model scenarios, remote policies).
enum Job {
    Single(EpisodeKey),
    Batch(Vec<EpisodeKey>),
}

/// The world model of every scenario with learned or hybrid dynamics, loaded once and checked
/// against its scenario.
fn load_models(spec: &EvalSpec) -> Result<HashMap<usize, Arc<WorldModel>>, EvalError> {
    let mut models = HashMap::new();
    for (index, scenario) in spec.scenarios.iter().enumerate() {
        if let Some(path) = scenario.config.dynamics.model() {
            let model = WorldModel::load(path).map_err(|e| EvalError::Usage(e.to_string()))?;
            model.check_scenario(&scenario.config).map_err(|e| EvalError::Usage(e.to_string()))?;
            models.insert(index, Arc::new(model));
        }
    }
    Ok(models)
}

/// Batches depend only on the pending episodes, never on the thread count. Remote policies
/// with wrappers run episode by episode (the wrappers act per episode).
fn plan_jobs(spec: &EvalSpec, pending: &[EpisodeKey], models: &HashMap<usize, Arc<WorldModel>>) -> Vec<Job> {
    let mut jobs = Vec::new();
    let mut open: HashMap<(usize, usize), Vec<EpisodeKey>> = HashMap::new();
    let mut order: Vec<(usize, usize)> = Vec::new();
    let batched_policy = |policy: usize| spec.policies[policy].remote.is_some() && spec.policies[policy].wrappers.is_empty();
    for key in pending {
        if !models.contains_key(&key.scenario) && !batched_policy(key.policy) {
            jobs.push(Job::Single(*key));
            continue;
        }
        let pair = (key.scenario, key.policy);
        let batch = open.entry(pair).or_insert_with(|| {
            order.push(pair);
            Vec::new()
        });
        batch.push(*key);
        if batch.len() == LOCKSTEP_BATCH {
            jobs.push(Job::Batch(std::mem::take(batch)));
        }
    }
    for pair in order {
        if let Some(batch) = open.remove(&pair).filter(|b| !b.is_empty()) {
            jobs.push(Job::Batch(batch));
        }
    }
    jobs
}

/// Grid order: scenarios and policies as the spec lists them, then episode index.
pub fn sort_entries(spec: &EvalSpec, entries: &mut [JournalEntry]) {
    let scenario_order = |name: &str| spec.scenarios.iter().position(|s| s.config.name == name).unwrap_or(usize::MAX);
    let policy_order = |name: &str| spec.policies.iter().position(|p| p.name == name).unwrap_or(usize::MAX);
    entries.sort_by_key(|e| (scenario_order(&e.record.scenario), policy_order(&e.record.policy), e.record.episode));
}

#[cfg(test)]
mod tests {
    use super::*;
    use dreamrig_policies::PolicyError;
    use dreamrig_sim::{ActionSpec, Observation, ObservationSpec};

    struct Panicking;

    impl Policy for Panicking {
        fn name(&self) -> &str {
            "panicking"
        }
        fn check(&self, _: &ObservationSpec, _: &ActionSpec) -> Result<(), PolicyError> {
            Ok(())
        }
        fn reset(&mut self, _: u64) {}
        fn act(&mut self, _: &Observation) -> Result<Vec<f64>, PolicyError> {
            panic!("the policy fell over")
        }
    }

    fn small_spec() -> EvalSpec {
        EvalSpec::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/evals/small.yaml")).unwrap()
    }

    #[test]
    fn a_panicking_policy_fails_its_episode_and_the_worker_carries_on() {
        let spec = small_spec();
        let mut cache = WorkerCache::default();
        cache.policies.insert((0, 0), Box::new(Panicking));
        let never = AtomicBool::new(false);
        let EpisodeEnd::Finished(finished) =
            run_one(&spec, EpisodeKey { scenario: 0, policy: 0, episode: 0 }, &mut cache, &never, false, None)
        else {
            panic!("not interrupted")
        };
        let entry = &finished.0;
        assert_eq!(entry.record.end_reason, "error");
        assert!(entry.record.end_detail.contains("panicked: the policy fell over"), "{}", entry.record.end_detail);
        assert!(!entry.record.success);
        // The broken policy was dropped; the next episode builds the real one and succeeds.
        let EpisodeEnd::Finished(finished) =
            run_one(&spec, EpisodeKey { scenario: 0, policy: 0, episode: 1 }, &mut cache, &never, false, None)
        else {
            panic!("not interrupted")
        };
        assert!(finished.0.record.success, "{:?}", finished.0.record);
    }

    #[test]
    fn an_interrupt_abandons_the_episode_in_hand() {
        let spec = small_spec();
        let mut cache = WorkerCache::default();
        let stop = AtomicBool::new(true);
        assert!(matches!(
            run_one(&spec, EpisodeKey { scenario: 0, policy: 0, episode: 0 }, &mut cache, &stop, false, None),
            EpisodeEnd::Interrupted
        ));
    }

    #[test]
    fn shards_partition_the_grid() {
        let n = 37;
        let shards: Vec<Shard> = (0..4).map(|i| Shard { index: i, count: 4 }).collect();
        for i in 0..n {
            assert_eq!(shards.iter().filter(|s| s.contains(i)).count(), 1);
        }
        assert!(Shard::parse("4/4").is_err());
        assert!(Shard::parse("x/4").is_err());
        assert_eq!(Shard::parse("2/5"), Ok(Shard { index: 2, count: 5 }));
    }

    #[test]
    fn slurm_array_variables_select_a_shard() {
        let env = |name: &str| match name {
            "SLURM_ARRAY_TASK_ID" => Some("12".to_string()),
            "SLURM_ARRAY_TASK_COUNT" => Some("8".to_string()),
            "SLURM_ARRAY_TASK_MIN" => Some("10".to_string()),
            _ => None,
        };
        assert_eq!(Shard::from_environment(&env), Ok(Some(Shard { index: 2, count: 8 })));
        let k8s_without_count = |name: &str| (name == "JOB_COMPLETION_INDEX").then(|| "3".to_string());
        assert!(Shard::from_environment(&k8s_without_count).unwrap_err().contains("JOB_COMPLETIONS"));
        assert_eq!(Shard::from_environment(&|_| None), Ok(None));
    }
}
