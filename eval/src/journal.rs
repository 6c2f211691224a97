//! The run folder: a manifest, and one small file per completed episode written atomically,
//! so that an interrupted run (Ctrl-C or kill -9) keeps every episode it finished and
//! `--resume` redoes none of them.

use crate::record::{EpisodeRecord, EpisodeTiming};
use crate::EvalError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so a
/// reader sees the old file or the new one, never a partial one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), EvalError> {
    dreamrig_sim::atomic::write_atomic(path, bytes).map_err(|e| EvalError::Io { path: path.to_path_buf(), reason: e.to_string() })
}

/// What a run folder holds: which spec, which shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunManifest {
    pub format: String,
    pub spec: String,
    pub spec_name: String,
    pub fingerprint: String,
    /// `None` for an unsharded run or a merge.
    pub shard: Option<(u32, u32)>,
    pub episodes_planned: u64,
    /// A merge of runs that do not cover the whole grid (`merge --allow-partial`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    /// Episodes a partial merge holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub episodes_done: Option<u64>,
}

pub const MANIFEST_FORMAT: &str = "dreamrig-eval-run/1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    pub record: EpisodeRecord,
    pub wall_time_s: f64,
}

impl JournalEntry {
    pub fn timing(&self) -> EpisodeTiming {
        EpisodeTiming {
            scenario: self.record.scenario.clone(),
            policy: self.record.policy.clone(),
            episode: self.record.episode,
            wall_time_s: self.wall_time_s,
        }
    }
}

pub struct Journal {
    dir: PathBuf,
}

impl Journal {
    pub fn manifest_path(run: &Path) -> PathBuf {
        run.join("run.json")
    }

    pub fn read_manifest(run: &Path) -> Result<Option<RunManifest>, EvalError> {
        let path = Self::manifest_path(run);
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).map_err(|e| EvalError::Io { path: path.clone(), reason: e.to_string() })?;
        serde_json::from_str(&text).map(Some).map_err(|e| EvalError::Io { path, reason: format!("not a dreamrig run manifest: {e}") })
    }

    pub fn open(run: &Path) -> Result<Self, EvalError> {
        let dir = run.join("journal");
        std::fs::create_dir_all(&dir).map_err(|e| EvalError::Io { path: dir.clone(), reason: e.to_string() })?;
        Ok(Self { dir })
    }

    fn entry_path(&self, scenario: usize, policy: usize, episode: u32) -> PathBuf {
        self.dir.join(format!("s{scenario:03}-p{policy:03}-e{episode:07}.json"))
    }

    pub fn commit(&self, scenario: usize, policy: usize, entry: &JournalEntry) -> Result<(), EvalError> {
        let bytes = serde_json::to_vec(entry).expect("records serialize");
        write_atomic(&self.entry_path(scenario, policy, entry.record.episode), &bytes)
    }

    fn frames_path(&self, scenario: usize, policy: usize, episode: u32) -> PathBuf {
        self.dir.with_file_name("frames").join(format!("s{scenario:03}-p{policy:03}-e{episode:07}.json"))
    }

    /// Keeps an episode's recorded frames until the dataset is written.
    pub fn commit_frames(
        &self,
        scenario: usize,
        policy: usize,
        episode: u32,
        frames: &dreamrig_datasets::EpisodeBuffer,
    ) -> Result<(), EvalError> {
        write_atomic(&self.frames_path(scenario, policy, episode), &serde_json::to_vec(frames).expect("frames serialize"))
    }

    pub fn read_frames(&self, scenario: usize, policy: usize, episode: u32) -> Result<Option<dreamrig_datasets::EpisodeBuffer>, EvalError> {
        let path = self.frames_path(scenario, policy, episode);
        if !path.exists() {
            return Ok(None);
        }
        let bytes = std::fs::read(&path).map_err(|e| EvalError::Io { path: path.clone(), reason: e.to_string() })?;
        serde_json::from_slice(&bytes).map(Some).map_err(|e| EvalError::Io { path, reason: format!("corrupt frame record: {e}") })
    }

    /// Every committed entry; leftovers of interrupted writes are removed.
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
