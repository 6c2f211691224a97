//! Evaluation: policies × scenarios × seeds run in parallel, with metrics, confidence
//! intervals, result tables (Parquet, CSV, JSON) and a report.
//!
//! Results are a function of the spec alone: every episode's seed derives from the spec's
//! master seed, episodes are committed to a journal as they finish, and outputs are written
//! from the journal in a fixed order — so thread count, sharding, interruption and resumption
//! never change them.

pub mod compare;
pub mod journal;
pub mod metrics;
pub mod record;
pub mod report;
pub mod runner;
pub mod spec;
pub mod tables;

pub use journal::JournalEntry;
pub use record::{EpisodeRecord, EpisodeTiming, SummaryRecord};
pub use runner::{run, run_episode, EpisodeStart, EpisodeWatcher, RunOptions, RunOutcome, Shard, WatchEpisodes};
pub use spec::{EvalSpec, SpecOverrides};

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{file}: {key}{}{message}", if key.is_empty() { "" } else { ": " })]
    Spec { file: PathBuf, key: String, message: String },
    #[error("{path}: {reason}")]
    Io { path: PathBuf, reason: String },
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Sim(#[from] dreamrig_sim::SimError),
    #[error(transparent)]
    Policy(#[from] dreamrig_policies::PolicyError),
}

/// Writes the tables and the report of a set of episodes into `out`.
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
    journal::write_atomic(&out.join("report.html"), report::html(title, fingerprint, &summaries, &records).as_bytes())?;
    Ok(summaries)
}

/// Writes the recorded frames of a run as LeRobot v3.0 datasets, one per scenario, in
/// `dataset_root/<scenario>`, episodes in grid order (success labels included).
pub fn write_recorded_datasets(
    spec: &EvalSpec,
    run: &Path,
    dataset_root: &Path,
    entries: &[JournalEntry],
) -> Result<Vec<PathBuf>, EvalError> {
    let journal = journal::Journal::open(run)?;
    let mut written = Vec::new();
    for (s, scenario) in spec.scenarios.iter().enumerate() {
        let world = dreamrig_sim::PhysicsWorld::new(scenario.config.clone());
        use dreamrig_sim::World;
        let layout = dreamrig_datasets::FrameLayout::new(world.observation_spec(), world.action_spec(), world.state_spec());
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
        let fps = dreamrig_datasets::fps_of(scenario).map_err(|e| EvalError::Usage(e.to_string()))?;
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

/// Combines the journals of shard runs of one spec into `out`, giving exactly the outputs a
/// single unsharded run writes.
pub fn merge(spec: &EvalSpec, runs: &[PathBuf], out: &Path) -> Result<Vec<SummaryRecord>, EvalError> {
    let mut entries: Vec<JournalEntry> = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for run in runs {
        let manifest = journal::Journal::read_manifest(run)?
            .ok_or_else(|| EvalError::Usage(format!("{} is not a dreamrig eval run folder (no run.json)", run.display())))?;
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
    let planned = runner::grid(spec).len();
    if entries.len() != planned {
        tracing::warn!(found = entries.len(), planned, "the merged runs do not cover the whole spec");
    }
    runner::sort_entries(spec, &mut entries);
    let manifest = journal::RunManifest {
        format: journal::MANIFEST_FORMAT.into(),
        spec: spec.path.display().to_string(),
        spec_name: spec.name.clone(),
        fingerprint: spec.fingerprint.clone(),
        shard: None,
        episodes_planned: planned as u64,
    };
    journal::write_atomic(&journal::Journal::manifest_path(out), &serde_json::to_vec_pretty(&manifest).expect("manifest serializes"))?;
    let target = journal::Journal::open(out)?;
    for entry in &entries {
        let scenario = spec.scenarios.iter().position(|s| s.config.name == entry.record.scenario).unwrap_or(0);
        let policy = spec.policies.iter().position(|p| p.name == entry.record.policy).unwrap_or(0);
        target.commit(scenario, policy, entry)?;
    }
    write_outputs(out, &spec.name, &spec.fingerprint, &entries)
}
