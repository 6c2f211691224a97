//! Reading LeRobot v3.0 datasets (dreamrig's or anyone's) into episodes and episode-aware
//! windows of consecutive frames, for multi-step training.

use crate::layout::{DatasetInfo, CODEBASE_VERSION};
use crate::writer::column_values;
use crate::{format, io, DatasetError};
use polars::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A LeRobot v3.0 dataset opened for reading: its `info.json`, tasks and data file list. Frames are
/// read on demand ([`LeRobotDataset::episodes`]).
pub struct LeRobotDataset {
    /// The dataset folder (holding `meta/` and `data/`).
    pub root: PathBuf,
    /// `meta/info.json`, features in the file's order.
    pub info: DatasetInfo,
    /// Task strings by task index.
    pub tasks: Vec<String>,
    /// Data files in (chunk, file) order.
    pub data_files: Vec<PathBuf>,
}

/// Frames of one episode: for each requested feature, its width and the values, frame-major.
#[derive(Debug, Clone, PartialEq)]
pub struct EpisodeFrames {
    /// The episode's `episode_index`.
    pub episode_index: i64,
    /// Number of frames.
    pub frames: usize,
    /// Feature name → (width = values per frame, `frames × width` values, frame-major).
    pub features: BTreeMap<String, (usize, Vec<f32>)>,
}

impl EpisodeFrames {
    /// Frame `t` of `feature`.
    pub fn frame(&self, feature: &str, t: usize) -> Option<&[f32]> {
        let (width, values) = self.features.get(feature)?;
        values.get(t * width..(t + 1) * width)
    }
}

/// What dreamrig records about an episode besides its frames.
#[derive(Debug, Clone, PartialEq)]
pub struct EpisodeMetadata {
    /// The episode's `episode_index`.
    pub episode_index: i64,
    /// The seed the episode's world and policy were reset with (`dreamrig/seed`).
    pub seed: u64,
    /// The name of the policy that acted (`dreamrig/policy`).
    pub policy: String,
    /// Whether the episode reached the task's success (`dreamrig/success`).
    pub success: bool,
}

/// `length` consecutive frames of one episode (never crossing into the next).
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// The episode the window lies in.
    pub episode_index: i64,
    /// Index of its first frame within the episode.
    pub start: usize,
    /// Number of frames.
    pub length: usize,
}

pub(crate) fn read_parquet(path: &Path) -> Result<DataFrame, DatasetError> {
    let file = std::fs::File::open(path).map_err(|e| io(path, e))?;
    ParquetReader::new(file).finish().map_err(|e| format(path, format!("not a readable Parquet file (corrupt or truncated?): {e}")))
}

/// An integer column of a file's frame as i64 values.
pub(crate) fn int_column(df: &DataFrame, name: &str, path: &Path) -> Result<Vec<i64>, DatasetError> {
    let fail = |e: PolarsError| format(path, format!("column {name}: {e}"));
    Ok(df.column(name).map_err(fail)?.cast(&DataType::Int64).map_err(fail)?.i64().map_err(fail)?.into_no_null_iter().collect())
}

/// The task strings of `meta/tasks.parquet`: the frame's pandas index, which pandas stores as a
/// column named after the index (`task`, as dreamrig writes it) or, when the index has no name,
/// `__index_level_0__` (as lerobot's `LeRobotDataset.create` … `finalize` writes it). Either
/// way it is the file's one string column besides `task_index`.
fn task_strings<'a>(df: &'a DataFrame, path: &Path) -> Result<&'a Column, DatasetError> {
    if let Ok(column) = df.column("task") {
        return Ok(column);
    }
    let strings: Vec<&Column> = df.columns().iter().filter(|c| c.dtype() == &DataType::String).collect();
    match strings.as_slice() {
        [one] => Ok(one),
        _ => {
            let found: Vec<String> = df.columns().iter().map(|c| format!("{} ({})", c.name(), c.dtype())).collect();
            Err(format(
                path,
                format!(
                    "expected task_index and one string column of task strings (\"task\" or the pandas index), found {}",
                    found.join(", ")
                ),
            ))
        }
    }
}

/// A column of 64-bit seeds: `uint64`, as dreamrig writes `dreamrig/seed`, or `int64`, as
/// datasets written before it did hold them (the same 64 bits, read back unchanged).
pub(crate) fn seed_column(df: &DataFrame, name: &str, path: &Path) -> Result<Vec<u64>, DatasetError> {
    let fail = |e: PolarsError| format(path, format!("column {name}: {e}"));
    let column = df.column(name).map_err(fail)?;
    match column.dtype() {
        DataType::UInt64 => Ok(column.u64().map_err(fail)?.into_no_null_iter().collect()),
        DataType::Int64 => Ok(column.i64().map_err(fail)?.into_no_null_iter().map(|v| v as u64).collect()),
        other => Err(format(path, format!("column {name}: expected uint64 seeds, found {other}"))),
    }
}

impl LeRobotDataset {
    /// Opens the dataset at `root`: reads `meta/info.json` and `meta/tasks.parquet` (if present) and
    /// lists `data/*/*.parquet`. Errors: [`DatasetError::Io`] when `meta/info.json` or `data/` cannot be
    /// read; [`DatasetError::OldVersion`] for v1.x/v2.x; [`DatasetError::Format`] for invalid JSON,
    /// another codebase version, fps 0, or an unreadable tasks file.
    pub fn open(root: &Path) -> Result<Self, DatasetError> {
        let info_path = root.join("meta/info.json");
        let text = std::fs::read_to_string(&info_path)
            .map_err(|e| io(&info_path, format!("cannot read ({e}); is this a LeRobot dataset folder?")))?;
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| format(&info_path, format!("not valid JSON: {e}")))?;
        let version = value.get("codebase_version").and_then(|v| v.as_str()).unwrap_or("").to_string();
        if !version.starts_with("v3.") {
            if version.starts_with("v2.") || version.starts_with("v1.") {
                return Err(DatasetError::OldVersion { path: root.to_path_buf(), version });
            }
            return Err(format(&info_path, format!("codebase_version {version:?}: expected {CODEBASE_VERSION}")));
        }
        // From the text, not the parsed value: a JSON map value forgets the order of features.
        let info: DatasetInfo =
            serde_json::from_str(&text).map_err(|e| format(&info_path, format!("not a LeRobot v3.0 info.json: {e}")))?;
        if info.fps == 0 {
            return Err(format(&info_path, "fps must be positive"));
        }
        let mut data_files = Vec::new();
        let data = root.join("data");
        let chunks = std::fs::read_dir(&data).map_err(|e| io(&data, e))?;
        for chunk in chunks {
            let chunk = chunk.map_err(|e| io(&data, e))?.path();
            if !chunk.is_dir() {
                continue;
            }
            for file in std::fs::read_dir(&chunk).map_err(|e| io(&chunk, e))? {
                let file = file.map_err(|e| io(&chunk, e))?.path();
                if file.extension().is_some_and(|e| e == "parquet") {
                    data_files.push(file);
                }
            }
        }
        data_files.sort();
        let tasks_path = root.join("meta/tasks.parquet");
        let tasks = if tasks_path.exists() {
            let df = read_parquet(&tasks_path)?;
            let fail = |e: PolarsError| format(&tasks_path, e.to_string());
            let indices = int_column(&df, "task_index", &tasks_path)?;
            let names = task_strings(&df, &tasks_path)?.str().map_err(fail)?.clone();
            let mut tasks = vec![String::new(); indices.len()];
            for (i, name) in indices.iter().zip(names.iter()) {
                if let Some(slot) = tasks.get_mut(*i as usize) {
                    *slot = name.unwrap_or("").to_string();
                }
            }
            tasks
        } else {
            Vec::new()
        };
        Ok(Self { root: root.to_path_buf(), info, tasks, data_files })
    }

    /// Reads the given features of every episode, in episode order.
    /// An episode's rows must be contiguous in the data files. Errors: [`DatasetError::Format`] for a
    /// feature not in `info.json`, a missing column, or a column whose width differs from the feature's
    /// shape; [`DatasetError::Io`] for an unreadable file.
    pub fn episodes(&self, features: &[&str]) -> Result<Vec<EpisodeFrames>, DatasetError> {
        for f in features {
            if self.info.feature(f).is_none() {
                let names: Vec<&str> = self.info.features.iter().map(|(n, _)| n.as_str()).collect();
                return Err(format(&self.root.join("meta/info.json"), format!("no feature {f} (features: {})", names.join(", "))));
            }
        }
        let mut out: Vec<EpisodeFrames> = Vec::new();
        for path in &self.data_files {
            let df = read_parquet(path)?;
            let fail = |e: PolarsError| format(path, e.to_string());
            let episode = int_column(&df, "episode_index", path)?;
            let mut columns = Vec::new();
            for f in features {
                let width: usize = self.info.feature(f).expect("checked").shape.iter().product();
                let values = column_values(df.column(f).map_err(fail)?, path)?;
                if values.len() != width * df.height() {
                    return Err(format(path, format!("feature {f}: {} values for {} rows of width {width}", values.len(), df.height())));
                }
                columns.push((f.to_string(), width, values));
            }
            for (row, e) in episode.iter().enumerate() {
                if out.last().is_none_or(|last| last.episode_index != *e) {
                    out.push(EpisodeFrames {
                        episode_index: *e,
                        frames: 0,
                        features: columns.iter().map(|(n, w, _)| (n.clone(), (*w, Vec::new()))).collect(),
                    });
                }
                let current = out.last_mut().expect("pushed above");
                current.frames += 1;
                for (name, width, values) in &columns {
                    current
                        .features
                        .get_mut(name)
                        .expect("created")
                        .1
                        .extend(values[row * width..(row + 1) * width].iter().map(|v| *v as f32));
                }
            }
        }
        Ok(out)
    }

    /// dreamrig's metadata of every episode (seed, policy, success), in episode order. Needs
    /// a dataset written by dreamrig (the `dreamrig/…` episode columns).
    /// Errors: [`DatasetError::Io`] when `meta/episodes` cannot be listed, [`DatasetError::Format`] when
    /// a file is unreadable or lacks one of those columns.
    pub fn episode_metadata(&self) -> Result<Vec<EpisodeMetadata>, DatasetError> {
        let dir = self.root.join("meta/episodes");
        std::fs::read_dir(&dir).map_err(|e| io(&dir, e))?;
        let files = episode_metadata_files(&self.root);
        let mut out = Vec::new();
        for file in files {
            for row in crate::writer::read_episode_rows(&file, &[])? {
                out.push(EpisodeMetadata { episode_index: row.index, seed: row.seed, policy: row.policy, success: row.success });
            }
        }
        out.sort_by_key(|m| m.episode_index);
        Ok(out)
    }

    /// Each episode's `dreamrig/seed` by episode index, from `meta/episodes`; empty when the
    /// dataset was not written by dreamrig (no such column, as in datasets lerobot wrote).
    /// Errors: [`DatasetError::Format`] when a file is unreadable or its seeds are not integers.
    pub fn episode_seeds(&self) -> Result<BTreeMap<i64, u64>, DatasetError> {
        let mut out = BTreeMap::new();
        let mut without = None;
        for file in episode_metadata_files(&self.root) {
            let df = read_parquet(&file)?;
            if df.column("dreamrig/seed").is_err() {
                without = Some(file);
                continue;
            }
            let index = int_column(&df, "episode_index", &file)?;
            let seeds = seed_column(&df, "dreamrig/seed", &file)?;
            out.extend(index.into_iter().zip(seeds));
        }
        match without {
            Some(file) if !out.is_empty() => {
                Err(format(&file, "has no dreamrig/seed column, and the dataset's other episode files have one (a mixed append?)"))
            }
            Some(_) => Ok(BTreeMap::new()),
            None => Ok(out),
        }
    }

    /// Every run of `length` consecutive frames inside one episode.
    /// Episodes shorter than `length` give none; windows come in episode order, then by start.
    pub fn windows(episodes: &[EpisodeFrames], length: usize) -> Vec<Window> {
        episodes
            .iter()
            .flat_map(|e| {
                (0..(e.frames + 1).saturating_sub(length)).map(move |start| Window { episode_index: e.episode_index, start, length })
            })
            .collect()
    }
}

/// The episode metadata files of the dataset at `root` (`meta/episodes/chunk-*/file-*.parquet`),
/// in path order (chunk, then file); empty when there are none.
pub fn episode_metadata_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Ok(chunks) = std::fs::read_dir(root.join("meta/episodes")) {
        for chunk in chunks.flatten() {
            if let Ok(entries) = std::fs::read_dir(chunk.path()) {
                files.extend(entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "parquet")));
            }
        }
    }
    files.sort();
    files
}
