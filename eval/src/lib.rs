//! Evaluation: policies × scenarios × seeds run in parallel, with metrics, confidence
//! intervals, result tables (Parquet, CSV, JSON) and a report.
//!
//! Results are a function of the spec alone: every episode's seed derives from the spec's
//! master seed, episodes are committed to a journal as they finish, and outputs are written
//! from the journal in a fixed order — so thread count, sharding, interruption and resumption
//! never change them.

#![warn(missing_docs)]

pub mod collect;
pub mod compare;
pub mod grid;
pub mod journal;
pub mod metrics;
pub mod record;
pub mod replay;
pub mod report;
pub mod runner;
pub mod spec;
pub mod tables;
pub mod tracker;
pub mod videos;

pub use collect::{
    collect_demonstrations, dataset_episode_seed, generate_dataset, run_episodes, DemonstrationOptions, EpisodesRun, GenerateOptions,
    PolicyBuilder,
};
pub use grid::{episode_seed, EpisodeKey, Shard, ShardError};
pub use journal::JournalEntry;
pub use record::{EpisodeRecord, EpisodeTiming, SummaryRecord};
pub use runner::{run, ObserverFactory, RunOptions, RunOutcome, LOCKSTEP_BATCH};
pub use spec::{EvalSpec, ExternalHost, SpecOverrides};
pub use tracker::EpisodeMetrics;

use std::path::{Path, PathBuf};

/// Why loading a spec, running its episodes, merging runs or writing results failed. The binary
/// maps [`Spec`](Self::Spec), [`Overrides`](Self::Overrides), [`Policy`](Self::Policy) and
/// [`Usage`](Self::Usage) to exit code 2 and the rest to exit code 1.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A problem in the evaluation spec file: `file` (with `:LINE:COLUMN` appended for YAML syntax
    /// errors), the key path such as `scenarios[1].policies[0]` (empty for the whole file), and what
    /// was expected.
    #[error("{file}: {key}{}{message}", if key.is_empty() { "" } else { ": " })]
    Spec {
        /// The spec file, with `:LINE:COLUMN` appended for YAML syntax errors.
        file: PathBuf,
        /// Key path such as `scenarios[1].policies[0]`; empty for the whole file.
        key: String,
        /// What was expected, and what was found.
        message: String,
    },
    /// Problems located in the spec file itself, each at its line: bad values it gives a
    /// scenario (its `randomize` overrides), a key given twice in one mapping.
    #[error(transparent)]
    Located(dreamrig_sim::ScenarioErrors),
    /// A file or folder of the run that could not be read, parsed or written; `path` is the file (or
    /// the table's name, `episodes`, `timings` or `summary`, when a table could not be assembled).
    #[error("{path}: {reason}")]
    Io {
        /// The file or folder concerned, or the table's name (`episodes`, `timings`, `summary`) when a table could not be assembled.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A request that cannot be carried out as given: an output path that is a file, a run folder
    /// of another spec or shard, an incomplete merge, a world model that does not load or fit.
    #[error("{0}")]
    Usage(String),
    /// A simulation error passed through from `dreamrig_sim`.
    #[error(transparent)]
    Sim(#[from] dreamrig_sim::SimError),
    /// A policy that could not be built or checked for a scenario.
    #[error(transparent)]
    Policy(#[from] dreamrig_policies::PolicyError),
    /// A fault while episodes ran (a policy error, diverging physics) that the caller cannot
    /// record as an episode's result.
    #[error("{0}")]
    Rollout(String),
}

/// Writes the tables and the report of a set of episodes into `out`.
///
/// Files: `episodes.parquet`/`.csv`, `timings.csv`, `summary.parquet`/`.csv`/`.json`, `report.md`
/// and `report.html`, each written atomically; the report shows the episode videos found in
/// `out/videos` ([`videos::report_videos`]). `entries` should be in grid order (see
/// [`runner::sort_entries`]); rows keep their order. Returns one summary per scenario × policy pair.
///
/// # Errors
/// [`EvalError::Io`] if a table cannot be assembled or a file cannot be written.
pub fn write_outputs(out: &Path, title: &str, fingerprint: &str, entries: &[JournalEntry]) -> Result<Vec<SummaryRecord>, EvalError> {
    let records: Vec<EpisodeRecord> = entries.iter().map(|e| e.record.clone()).collect();
    let timings: Vec<EpisodeTiming> = entries.iter().map(JournalEntry::timing).collect();
    let summaries = metrics::summarize(&records);
    let mut episodes = tables::episodes_frame(&records)?;
    tables::write_parquet(&out.join("episodes.parquet"), &mut episodes)?;
    tables::write_csv(&out.join("episodes.csv"), &mut episodes)?;
    let mut timing = tables::timings_frame(&timings)?;
    tables::write_csv(&out.join("timings.csv"), &mut timing)?;
    let mut summary = tables::summary_frame(&summaries)?;
    tables::write_parquet(&out.join("summary.parquet"), &mut summary)?;
    tables::write_csv(&out.join("summary.csv"), &mut summary)?;
    tables::write_json(&out.join("summary.json"), &mut summary)?;
    journal::write_atomic(&out.join("report.md"), report::markdown(title, fingerprint, &summaries).as_bytes())?;
    let videos = videos::report_videos(out, &records);
    journal::write_atomic(&out.join("report.html"), report::html(title, fingerprint, &summaries, &records, &videos).as_bytes())?;
    Ok(summaries)
}

/// Checks, before any episode runs, that a run's episodes can be recorded as LeRobot datasets
/// in `dataset_root` (what `--record-dataset DIR` asks): it is not a file, every scenario's
/// control rate is a whole number of Hz, and no `dataset_root/<scenario>` exists yet. `option`
/// names the setting in messages.
///
/// # Errors
/// [`EvalError::Usage`] saying which of those fails.
pub fn check_recorded_dataset_targets(spec: &EvalSpec, dataset_root: &Path, option: &str) -> Result<(), EvalError> {
    check_output_folder(dataset_root, option)?;
    for scenario in &spec.scenarios {
        dreamrig_datasets::fps_of(scenario).map_err(|e| EvalError::Usage(e.to_string()))?;
        let target = dataset_root.join(&scenario.config.name);
        if target.exists() {
            return Err(EvalError::Usage(format!("{option}: {} already exists; choose another folder", target.display())));
        }
    }
    Ok(())
}

/// Writes the recorded frames of a run as LeRobot v3.0 datasets, one per scenario, in
/// `dataset_root/<scenario>`, episodes in grid order (success labels included).
///
/// Returns the dataset folders written.
///
/// # Errors
/// [`EvalError::Io`] if the journal's frame files cannot be read; [`EvalError::Usage`] if an
/// episode in `entries` has no frame file (the run was started without `--record-dataset`), a
/// scenario's control rate is not a whole number of Hz, or a dataset cannot be written.
pub fn write_recorded_datasets(
    spec: &EvalSpec,
    run: &Path,
    dataset_root: &Path,
    entries: &[JournalEntry],
) -> Result<Vec<PathBuf>, EvalError> {
    let journal = journal::Journal::open(run)?;
    let mut written = Vec::new();
    for (s, scenario) in spec.scenarios.iter().enumerate() {
        let fps = dreamrig_datasets::fps_of(scenario).map_err(|e| EvalError::Usage(e.to_string()))?;
        let world = dreamrig_sim::PhysicsWorld::new(scenario.config.clone());
        use dreamrig_sim::World;
        let layout = dreamrig_datasets::FrameLayout::new(world.observation_spec(), world.action_spec(), world.state_spec(), fps);
        let mut buffers = Vec::new();
        for entry in entries.iter().filter(|e| e.record.scenario == scenario.config.name) {
            let p = spec.policies.iter().position(|p| p.name == entry.record.policy).unwrap_or(0);
            match journal.read_frames(s, p, entry.record.episode)? {
                Some(frames) if frames.frames > 0 => buffers.push(frames),
                Some(_) => {}
                None => {
                    return Err(EvalError::Usage(format!(
                        "episode {} of {} on {} has no recorded frames (was the run started without --record-dataset?)",
                        entry.record.episode, entry.record.policy, scenario.config.name
                    )))
                }
            }
        }
        let root = dataset_root.join(&scenario.config.name);
        let options = dreamrig_datasets::WriteOptions {
            robot_type: scenario.config.robot.model.urdf.name.clone(),
            fps,
            append: false,
            data_file_size_mb: 100,
        };
        dreamrig_datasets::write_dataset(&root, &layout, &buffers, &options).map_err(|e| EvalError::Usage(e.to_string()))?;
        written.push(root);
    }
    Ok(written)
}

/// Refuses an output folder path that names an existing file (exit 2 in the binary).
///
/// `option` names the command-line option in the message.
///
/// # Errors
/// [`EvalError::Usage`] if `path` is an existing file.
pub fn check_output_folder(path: &Path, option: &str) -> Result<(), EvalError> {
    if path.is_file() {
        return Err(EvalError::Usage(format!(
            "{option} {}: this is an existing file; expected a folder (a new one, or one holding an earlier run)",
            path.display()
        )));
    }
    Ok(())
}

/// Combines the journals of shard runs of one spec into `out`, giving exactly the outputs a
/// single unsharded run writes.
///
/// Errors ([`EvalError::Usage`]): a folder that is no run of this spec, a folder or a shard given
/// twice, two runs with different results for one episode, and — unless `allow_partial` — runs
/// that do not cover the whole grid (the message names the missing shards). A partial merge is
/// marked in `run.json` (`partial`, `episodes_done`) and in the report's title.
pub fn merge(spec: &EvalSpec, runs: &[PathBuf], out: &Path, allow_partial: bool) -> Result<Vec<SummaryRecord>, EvalError> {
    check_output_folder(out, "--out")?;
    let mut entries: Vec<JournalEntry> = Vec::new();
    let mut seen = std::collections::HashMap::new();
    let mut folders: Vec<(PathBuf, &PathBuf)> = Vec::new();
    let mut shards: Vec<((u32, u32), &PathBuf)> = Vec::new();
    for run in runs {
        let canonical = std::fs::canonicalize(run).unwrap_or_else(|_| run.clone());
        if let Some((_, first)) = folders.iter().find(|(c, _)| *c == canonical) {
            return Err(EvalError::Usage(format!(
                "{} is given twice (as {} and {}); give each shard's run folder once",
                canonical.display(),
                first.display(),
                run.display()
            )));
        }
        folders.push((canonical, run));
        let manifest = journal::Journal::read_manifest(run)?
            .ok_or_else(|| EvalError::Usage(format!("{} is not a dreamrig eval run folder (no run.json)", run.display())))?;
        if let Some(shard) = manifest.shard {
            if let Some((_, first)) = shards.iter().find(|(s, _)| *s == shard) {
                return Err(EvalError::Usage(format!(
                    "{} and {} are both shard {}/{} of the spec; give each shard once",
                    first.display(),
                    run.display(),
                    shard.0,
                    shard.1
                )));
            }
            shards.push((shard, run));
        }
        if manifest.fingerprint != spec.fingerprint {
            return Err(EvalError::Usage(format!(
                "{} is a run of a different spec (fingerprint {}, expected {})",
                run.display(),
                manifest.fingerprint,
                spec.fingerprint
            )));
        }
        for entry in journal::Journal::open(run)?.entries()? {
            match seen.get(&entry.record.key()) {
                Some(previous) if previous != &entry.record => {
                    return Err(EvalError::Usage(format!("episode {:?} appears in two runs with different results", entry.record.key())));
                }
                Some(_) => {}
                None => {
                    seen.insert(entry.record.key(), entry.record.clone());
                    entries.push(entry);
                }
            }
        }
    }
    let planned = grid::grid(spec).len();
    let partial = entries.len() < planned;
    if partial {
        let counts: std::collections::BTreeSet<u32> = shards.iter().map(|((_, n), _)| *n).collect();
        let missing = match (counts.len(), counts.first()) {
            (1, Some(&n)) if shards.len() == runs.len() => {
                let missing: Vec<String> =
                    (0..n).filter(|i| !shards.iter().any(|((index, _), _)| index == i)).map(|i| format!("{i}/{n}")).collect();
                if missing.is_empty() {
                    " (every shard is there, but some are unfinished: finish them with --resume)".to_string()
                } else {
                    format!(" (missing shards: {})", missing.join(", "))
                }
            }
            _ => String::new(),
        };
        let message = format!("the runs hold {} of the spec's {planned} episodes{missing}", entries.len());
        if !allow_partial {
            return Err(EvalError::Usage(format!(
                "{message}; run what is missing and merge every shard, or pass --allow-partial for a result marked partial"
            )));
        }
        tracing::warn!("{message}; writing a partial result");
    }
    runner::sort_entries(spec, &mut entries);
    let manifest = journal::RunManifest {
        format: journal::MANIFEST_FORMAT.into(),
        spec: spec.path.display().to_string(),
        spec_name: spec.name.clone(),
        fingerprint: spec.fingerprint.clone(),
        shard: None,
        episodes_planned: planned as u64,
        partial,
        episodes_done: partial.then_some(entries.len() as u64),
    };
    journal::write_atomic(&journal::Journal::manifest_path(out), &serde_json::to_vec_pretty(&manifest).expect("manifest serializes"))?;
    let target = journal::Journal::open(out)?;
    for entry in &entries {
        let scenario = spec.scenarios.iter().position(|s| s.config.name == entry.record.scenario).unwrap_or(0);
        let policy = spec.policies.iter().position(|p| p.name == entry.record.policy).unwrap_or(0);
        target.commit(scenario, policy, entry)?;
    }
    let title = if partial { format!("{} (PARTIAL: {} of {planned} episodes)", spec.name, entries.len()) } else { spec.name.clone() };
    write_outputs(out, &title, &spec.fingerprint, &entries)
}
