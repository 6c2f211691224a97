//! The run folder: a manifest, and one small file per completed episode written atomically,
//! so that an interrupted run (Ctrl-C or kill -9) keeps every episode it finished and
//! `--resume` redoes none of them.

use crate::record::{EpisodeRecord, EpisodeTiming};
use crate::EvalError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so a
/// reader sees the old file or the new one, never a partial one.
///
/// Creates the folder if needed.
///
/// # Errors
/// [`EvalError::Io`] for any I/O error; `path` is then untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), EvalError> {
    dreamrig_sim::atomic::write_atomic(path, bytes).map_err(|e| EvalError::Io { path: path.to_path_buf(), reason: e.to_string() })
}

/// What a run folder holds: which spec, which shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunManifest {
    /// Manifest format tag: [`MANIFEST_FORMAT`].
    pub format: String,
    /// The spec file's path as the run was given it.
    pub spec: String,
    /// The spec's name ([`EvalSpec::name`](crate::EvalSpec)).
    pub spec_name: String,
    /// The spec's fingerprint ([`EvalSpec::fingerprint`](crate::EvalSpec)); a resume or a merge must match it.
    pub fingerprint: String,
    /// `None` for an unsharded run or a merge.
    pub shard: Option<(u32, u32)>,
    /// Episodes of the grid this folder is meant to hold: this shard's share, or the whole grid.
    pub episodes_planned: u64,
    /// A merge of runs that do not cover the whole grid (`merge --allow-partial`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    /// Episodes a partial merge holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub episodes_done: Option<u64>,
}

/// The `format` of the `run.json` manifests this version writes.
pub const MANIFEST_FORMAT: &str = "dreamrig-eval-run/1";

/// One committed episode: its reproducible record and, kept apart, its wall time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// The episode's results; the same in every run of the spec.
    pub record: EpisodeRecord,
    /// Wall-clock time the episode took, in seconds (0 where its world or policy could not be built).
    pub wall_time_s: f64,
}

impl JournalEntry {
    /// This entry as a row of `timings.csv`.
    pub fn timing(&self) -> EpisodeTiming {
        EpisodeTiming {
            scenario: self.record.scenario.clone(),
            policy: self.record.policy.clone(),
            episode: self.record.episode,
            wall_time_s: self.wall_time_s,
        }
    }
}

/// The `journal/` folder of a run folder: one JSON file per committed episode, named
/// `s{scenario:03}-p{policy:03}-e{episode:07}.json` by spec indices; recorded frames go beside it,
/// under the same names in `frames/`.
pub struct Journal {
    dir: PathBuf,
}

impl Journal {
    /// The manifest of the run folder `run`: `run/run.json`.
    pub fn manifest_path(run: &Path) -> PathBuf {
        run.join("run.json")
    }

    /// The manifest of the run folder `run`, or `None` if it has none.
    ///
    /// # Errors
    /// [`EvalError::Io`] if `run.json` cannot be read or is not a run manifest.
    pub fn read_manifest(run: &Path) -> Result<Option<RunManifest>, EvalError> {
        let path = Self::manifest_path(run);
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).map_err(|e| EvalError::Io { path: path.clone(), reason: e.to_string() })?;
        serde_json::from_str(&text).map(Some).map_err(|e| EvalError::Io { path, reason: format!("not a dreamrig run manifest: {e}") })
    }

    /// The journal of the run folder `run`, creating `run/journal/` if needed.
    ///
    /// # Errors
    /// [`EvalError::Io`] if the folder cannot be created.
    pub fn open(run: &Path) -> Result<Self, EvalError> {
        let dir = run.join("journal");
        std::fs::create_dir_all(&dir).map_err(|e| EvalError::Io { path: dir.clone(), reason: e.to_string() })?;
        Ok(Self { dir })
    }

    fn entry_path(&self, scenario: usize, policy: usize, episode: u32) -> PathBuf {
        self.dir.join(format!("s{scenario:03}-p{policy:03}-e{episode:07}.json"))
    }

    /// Writes `entry` atomically as the journal file of (`scenario`, `policy`, its episode), indices
    /// into the spec, replacing any earlier one. The episode counts as done from then on.
    ///
    /// # Errors
    /// [`EvalError::Io`] if the file cannot be written.
    pub fn commit(&self, scenario: usize, policy: usize, entry: &JournalEntry) -> Result<(), EvalError> {
        let bytes = serde_json::to_vec(entry).expect("records serialize");
        write_atomic(&self.entry_path(scenario, policy, entry.record.episode), &bytes)
    }

    fn frames_path(&self, scenario: usize, policy: usize, episode: u32) -> PathBuf {
        self.dir.with_file_name("frames").join(format!("s{scenario:03}-p{policy:03}-e{episode:07}.json"))
    }

    /// Keeps an episode's recorded frames until the dataset is written.
    ///
    /// Written atomically as JSON to `frames/`, before the episode's journal entry.
    ///
    /// # Errors
    /// [`EvalError::Io`] if the file cannot be written.
    pub fn commit_frames(
        &self,
        scenario: usize,
        policy: usize,
        episode: u32,
        frames: &dreamrig_datasets::EpisodeBuffer,
    ) -> Result<(), EvalError> {
        write_atomic(&self.frames_path(scenario, policy, episode), &serde_json::to_vec(frames).expect("frames serialize"))
    }

    /// The frames committed for an episode (spec indices), or `None` if none were.
    ///
    /// # Errors
    /// [`EvalError::Io`] if the file cannot be read or parsed.
    pub fn read_frames(&self, scenario: usize, policy: usize, episode: u32) -> Result<Option<dreamrig_datasets::EpisodeBuffer>, EvalError> {
        let path = self.frames_path(scenario, policy, episode);
        if !path.exists() {
            return Ok(None);
        }
        let bytes = std::fs::read(&path).map_err(|e| EvalError::Io { path: path.clone(), reason: e.to_string() })?;
        serde_json::from_slice(&bytes).map(Some).map_err(|e| EvalError::Io { path, reason: format!("corrupt frame record: {e}") })
    }

    /// Every committed entry; leftovers of interrupted writes are removed.
    ///
    /// Entries come in directory order, unsorted (see [`crate::runner::sort_entries`]).
    ///
    /// # Errors
    /// [`EvalError::Io`] if the folder or an entry cannot be read, or an entry is not valid JSON.
    pub fn entries(&self) -> Result<Vec<JournalEntry>, EvalError> {
        let io = |e: std::io::Error| EvalError::Io { path: self.dir.clone(), reason: e.to_string() };
        let mut entries = Vec::new();
        for item in std::fs::read_dir(&self.dir).map_err(io)? {
            let path = item.map_err(io)?.path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if name.starts_with('.') {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            if !name.ends_with(".json") {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(|e| EvalError::Io { path: path.clone(), reason: e.to_string() })?;
            let entry: JournalEntry = serde_json::from_str(&text)
                .map_err(|e| EvalError::Io { path: path.clone(), reason: format!("corrupt journal entry: {e}") })?;
            entries.push(entry);
        }
        Ok(entries)
    }
}
