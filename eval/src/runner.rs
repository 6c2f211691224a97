//! The evaluation runner: the pending episodes of the grid, run in parallel with rayon through
//! the rollout engine, each committed to the journal as it completes.

use crate::grid::{episode_seed, grid, EpisodeKey, Shard};
use crate::journal::{Journal, JournalEntry, RunManifest, MANIFEST_FORMAT};
use crate::spec::EvalSpec;
use crate::tracker::{empty_record, failure, EpisodeMetrics};
use crate::EvalError;
use dreamrig_datasets::{EpisodeBuffer, FrameLayout, FrameRecorder};
use dreamrig_policies::remote::{RemoteBatch, RemoteClient};
use dreamrig_policies::Policy;
use dreamrig_rollout::{roll_out, Control, Episode, PolicyBatch};
use dreamrig_sim::{PhysicsWorld, StepObserver, World, WorldBatch, WorldModel};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Makes the extra observers of one job (a batch of episodes run by one worker): what
/// `--record-mcap` and `--rerun` plug in. Called on the worker thread.
pub type ObserverFactory = dyn Fn() -> Box<dyn StepObserver> + Send + Sync;

/// How to run an evaluation.
pub struct RunOptions {
    /// The run folder (`run.json`, `journal/`).
    pub out: PathBuf,
    /// Worker threads (`None`: all cores). Results never depend on it.
    pub threads: Option<usize>,
    /// Finish a run already in `out` instead of refusing to touch it.
    pub resume: bool,
    /// Run only this slice of the grid (`None`: all of it).
    pub shard: Option<Shard>,
    /// Set (by a Ctrl-C handler) to stop: running episodes are abandoned, finished ones kept.
    pub interrupt: Arc<AtomicBool>,
    /// Draw a progress bar (on stderr).
    pub show_progress: bool,
    /// Keep every episode's frames (for `--record-dataset`).
    pub record_frames: bool,
    /// More observers of every step of every episode (`--rerun`, `--record-mcap`). An observer
    /// that fails is detached with a warning; the episodes run on (observing never changes
    /// results).
    pub observers: Option<Arc<ObserverFactory>>,
    /// Record the first camera's video of episodes 0 to `videos − 1` of each policy × scenario
    /// pair whose scenario has a camera, into `out/videos/` (report.html shows a success and a
    /// failure per pair); 0 records none.
    pub videos: u32,
}

/// Episodes per policy × scenario pair `dreamrig eval` records as videos by default.
pub const REPORT_VIDEOS: u32 = 4;

/// What a run came to.
pub struct RunOutcome {
    /// Every committed episode of this run folder, sorted.
    pub entries: Vec<JournalEntry>,
    /// Episodes this call ran and committed.
    pub ran: usize,
    /// Episodes of this shard already in the journal (when resuming), not run again.
    pub skipped: usize,
    /// The interrupt flag was set: some pending episodes were not run or not committed.
    pub interrupted: bool,
}

enum EpisodeEnd {
    Finished(Box<(JournalEntry, Option<EpisodeBuffer>)>),
    Interrupted,
}

/// Episodes in a world model, or of a remote or Python policy, run in lock-step batches of this
/// many: one network forward pass, one query to the policy server, or one call of the Python
/// callable, per step for all of them.
pub const LOCKSTEP_BATCH: usize = 64;

/// Worlds and policies cached per worker thread, by scenario and by (scenario, policy): a
/// physics world or a controller is built once per thread, not once per episode.
#[derive(Default)]
struct WorkerCache {
    worlds: HashMap<usize, Vec<Box<dyn World>>>,
    policies: HashMap<(usize, usize), Vec<Box<dyn Policy>>>,
}

/// What a job records besides its metrics.
#[derive(Clone, Copy, Default)]
struct JobTaps<'a> {
    /// Keep every episode's frames (`--record-dataset`).
    record_frames: bool,
    /// The caller's observers.
    observers: Option<&'a Arc<ObserverFactory>>,
    /// The run folder and the number of episodes per pair recorded as report videos.
    videos: Option<(&'a std::path::Path, u32)>,
}

/// Runs one job (one episode, or a lock-step batch of one policy on one scenario) through the
/// rollout engine with the metrics observer, the frame recorder when frames are kept, and the
/// caller's observers.
fn run_job(
    spec: &EvalSpec,
    keys: &[EpisodeKey],
    model: Option<&Arc<WorldModel>>,
    cache: &mut WorkerCache,
    interrupt: &AtomicBool,
    taps: JobTaps<'_>,
) -> Vec<EpisodeEnd> {
    let JobTaps { record_frames, observers, videos } = taps;
    let (s, p) = (keys[0].scenario, keys[0].policy);
    let scenario = &spec.scenarios[s];
    let policy_spec = &spec.policies[p];
    let episodes: Vec<Episode> = keys
        .iter()
        .map(|k| Episode { episode: k.episode, seed: episode_seed(spec.seed, &spec.seed_names[k.scenario], k.episode) })
        .collect();
    let fail_all = |detail: String| -> Vec<EpisodeEnd> {
        episodes
            .iter()
            .map(|e| {
                let mut record = empty_record(&scenario.config.name, &policy_spec.name, e.episode, e.seed);
                failure(&mut record, detail.clone());
                EpisodeEnd::Finished(Box::new((JournalEntry { record, wall_time_s: 0.0 }, None)))
            })
            .collect()
    };
    let n = keys.len();
    let mut worlds = match model {
        Some(model) => match WorldBatch::with_model(&scenario.config, model.clone(), n) {
            Ok(worlds) => worlds,
            Err(e) => return fail_all(format!("world model: {e}")),
        },
        None => {
            let cached = cache.worlds.entry(s).or_default();
            let mut worlds: Vec<Box<dyn World>> = cached.drain(..n.min(cached.len())).collect();
            worlds.resize_with(n, || Box::new(PhysicsWorld::new(scenario.config.clone())));
            WorldBatch::from_worlds(worlds)
        }
    };
    let (observation_spec, action_spec, state_spec) = match (worlds.observation_spec(), worlds.action_spec(), worlds.state_spec()) {
        (Some(o), Some(a), Some(st)) => (o.clone(), a.clone(), st.clone()),
        _ => return fail_all("no world to run the episode in".into()),
    };
    let mut policies = match (&policy_spec.remote, &policy_spec.python, &spec.external) {
        (_, Some(reference), Some(host)) => match host.0.batch(&policy_spec.name, reference, &observation_spec, &action_spec) {
            Ok(batch) => PolicyBatch::Shared(batch),
            Err(e) => return fail_all(format!("policy could not be built: {e}")),
        },
        (Some(remote), _, _) if policy_spec.wrappers.is_empty() => {
            match RemoteClient::connect(&policy_spec.name, remote, &action_spec, spec.base_dir()) {
                Ok(client) => PolicyBatch::Shared(Box::new(RemoteBatch::new(Arc::new(client)))),
                Err(e) => return fail_all(format!("policy could not be built: {e}")),
            }
        }
        _ => {
            let cached = cache.policies.entry((s, p)).or_default();
            let mut policies: Vec<Box<dyn Policy>> = cached.drain(..n.min(cached.len())).collect();
            while policies.len() < n {
                match policy_spec.build(&scenario.config, &observation_spec, &action_spec, spec.base_dir()) {
                    Ok(policy) => policies.push(policy),
                    Err(e) => return fail_all(format!("policy could not be built: {e}")),
                }
            }
            PolicyBatch::Each(policies)
        }
    };
    let mut metrics = EpisodeMetrics::new(model.map(|m| m.config.disagreement_threshold));
    let mut frames = None;
    if record_frames {
        // Checked before the run started (write_recorded_datasets needs a whole fps too).
        let fps = match dreamrig_datasets::fps_of(scenario) {
            Ok(fps) => fps,
            Err(e) => return fail_all(e.to_string()),
        };
        let layout = FrameLayout::new(&observation_spec, &action_spec, &state_spec, fps);
        frames = Some(FrameRecorder::new(layout, &dreamrig_datasets::task_of(&scenario.config), fps));
    }
    let mut extra = observers.map(|make| make());
    let mut video = videos.filter(|(_, n)| keys.iter().any(|k| k.episode < *n)).and_then(|(out, n)| {
        let image = observation_spec.images.iter().find(|i| i.name.ends_with(".rgb"))?;
        crate::videos::EpisodeVideos::new(out, image, scenario.config.timing.control_period(), n)
    });
    let mut list: Vec<&mut dyn StepObserver> = vec![&mut metrics];
    if let Some(frames) = frames.as_mut() {
        list.push(frames);
    }
    if let Some(video) = video.as_mut() {
        list.push(video);
    }
    if let Some(extra) = extra.as_mut() {
        list.push(extra.as_mut());
    }
    let control = Control { interrupt: Some(interrupt), timeout_s: spec.episode_timeout_s, ..Control::default() };
    let report = roll_out(&scenario.config, &policy_spec.name, &mut worlds, &mut policies, &episodes, &mut list, &control);
    drop(list);
    drop(extra);
    if !report.panicked {
        // The worlds and policies may be half-updated after a panic: only clean ones are reused.
        if let Some(worlds) = worlds.into_worlds() {
            cache.worlds.entry(s).or_default().extend(worlds);
        }
        if let PolicyBatch::Each(policies) = policies {
            cache.policies.entry((s, p)).or_default().extend(policies);
        }
    }
    report
        .outcomes
        .iter()
        .enumerate()
        .map(|(slot, outcome)| match metrics.take(slot) {
            None => EpisodeEnd::Interrupted,
            Some(record) => {
                let frames = frames.as_mut().and_then(|f| f.take(slot));
                EpisodeEnd::Finished(Box::new((JournalEntry { record, wall_time_s: outcome.wall_time_s }, frames)))
            }
        })
        .collect()
}

/// Runs (or resumes) the spec's episodes of this shard into `options.out`.
///
/// Writes `run.json`, then commits each episode to the journal as it ends; a resume skips the
/// episodes already there. An episode that faults is recorded with end reason `error`; it does
/// not fail the run.
///
/// # Errors
/// [`EvalError::Usage`] if `out` is an existing file, holds a run and `resume` is off, holds a run
/// of another spec or shard, or a scenario's world model cannot be loaded or does not fit it;
/// [`EvalError::Io`] if the manifest or journal cannot be read or written or the thread pool
/// cannot start.
pub fn run(spec: &EvalSpec, options: &RunOptions) -> Result<RunOutcome, EvalError> {
    let all = grid(spec);
    let mine: Vec<(usize, EpisodeKey)> =
        all.iter().copied().enumerate().filter(|(i, _)| options.shard.is_none_or(|s| s.contains(*i))).collect();
    crate::check_output_folder(&options.out, "--out")?;
    let manifest = RunManifest {
        format: MANIFEST_FORMAT.into(),
        spec: spec.path.display().to_string(),
        spec_name: spec.name.clone(),
        fingerprint: spec.fingerprint.clone(),
        shard: options.shard.map(|s| (s.index, s.count)),
        episodes_planned: mine.len() as u64,
        partial: false,
        episodes_done: None,
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
    let run_one = |cache: &mut WorkerCache, job: &Job| -> Result<usize, EvalError> {
        if interrupt.load(Ordering::Relaxed) {
            return Ok(0);
        }
        let keys = job.keys();
        let taps = JobTaps {
            record_frames: options.record_frames,
            observers: options.observers.as_ref(),
            videos: Some((options.out.as_path(), options.videos)),
        };
        let ends = run_job(spec, keys, models.get(&keys[0].scenario), cache, &interrupt, taps);
        let mut ran = 0;
        for (key, end) in keys.iter().zip(ends) {
            ran += usize::from(commit(key, end)?);
        }
        Ok(ran)
    };
    // A Python policy's batches run one after another (each still steps its worlds in
    // parallel): a callable then serves one batch at a time, between its `reset` calls.
    let (serial, parallel): (Vec<Job>, Vec<Job>) = jobs.into_iter().partition(|job| spec.policies[job.keys()[0].policy].python.is_some());
    let results: Vec<Result<usize, EvalError>> = pool.install(|| {
        let mut results: Vec<Result<usize, EvalError>> = parallel.par_iter().map_init(WorkerCache::default, run_one).collect();
        let mut cache = WorkerCache::default();
        results.extend(serial.iter().map(|job| run_one(&mut cache, job)));
        results
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

impl Job {
    fn keys(&self) -> &[EpisodeKey] {
        match self {
            Job::Single(key) => std::slice::from_ref(key),
            Job::Batch(keys) => keys,
        }
    }
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
/// with wrappers run episode by episode (the wrappers act per episode); Python policies always
/// run in batches (they cannot have wrappers).
fn plan_jobs(spec: &EvalSpec, pending: &[EpisodeKey], models: &HashMap<usize, Arc<WorldModel>>) -> Vec<Job> {
    let mut jobs = Vec::new();
    let mut open: HashMap<(usize, usize), Vec<EpisodeKey>> = HashMap::new();
    let mut order: Vec<(usize, usize)> = Vec::new();
    let batched_policy = |policy: usize| {
        let p = &spec.policies[policy];
        p.python.is_some() || (p.remote.is_some() && p.wrappers.is_empty())
    };
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

    fn run_one(spec: &EvalSpec, key: EpisodeKey, cache: &mut WorkerCache, interrupt: &AtomicBool) -> EpisodeEnd {
        run_job(spec, &[key], None, cache, interrupt, JobTaps::default()).remove(0)
    }

    fn small_spec() -> EvalSpec {
        EvalSpec::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/evals/small.yaml")).unwrap()
    }

    #[test]
    fn a_panicking_policy_fails_its_episode_and_the_worker_carries_on() {
        let spec = small_spec();
        let mut cache = WorkerCache::default();
        cache.policies.insert((0, 0), vec![Box::new(Panicking)]);
        let never = AtomicBool::new(false);
        let EpisodeEnd::Finished(finished) = run_one(&spec, EpisodeKey { scenario: 0, policy: 0, episode: 0 }, &mut cache, &never) else {
            panic!("not interrupted")
        };
        let entry = &finished.0;
        assert_eq!(entry.record.end_reason, "error");
        assert!(entry.record.end_detail.contains("panicked: the policy fell over"), "{}", entry.record.end_detail);
        assert!(!entry.record.success);
        // The broken policy was dropped; the next episode builds the real one and succeeds.
        let EpisodeEnd::Finished(finished) = run_one(&spec, EpisodeKey { scenario: 0, policy: 0, episode: 1 }, &mut cache, &never) else {
            panic!("not interrupted")
        };
        assert!(finished.0.record.success, "{:?}", finished.0.record);
    }

    #[test]
    fn an_interrupt_abandons_the_episode_in_hand() {
        let spec = small_spec();
        let mut cache = WorkerCache::default();
        let stop = AtomicBool::new(true);
        assert!(matches!(run_one(&spec, EpisodeKey { scenario: 0, policy: 0, episode: 0 }, &mut cache, &stop), EpisodeEnd::Interrupted));
    }
}
