//! Robot learning datasets in LeRobot v3.0 format (the layout of `huggingface/lerobot` ≥ 0.4):
//! `meta/info.json`, `meta/stats.json`, `meta/tasks.parquet`, `meta/episodes/…` and
//! `data/chunk-XXX/file-XXX.parquet` with one row per frame.
//!
//! [`FrameRecorder`] is the rollout observer that records frames into [`EpisodeBuffer`]s; [`write_dataset`] writes or appends
//! episodes atomically; [`LeRobotDataset`] reads any v3.0 dataset with state and action
//! features into episode-aware batches; [`validate`] checks a dataset against the layout.

#![warn(missing_docs)]

mod convert;
mod layout;
mod log_map;
mod reader;
mod recorder;
mod stats;
mod trajectories;
mod validate;
pub mod video;
mod writer;

pub use convert::{convert_v2_to_v3, ConvertReport, VIDEO_PATH};
pub use layout::{DatasetInfo, FeatureInfo, FrameLayout, VideoField, CODEBASE_VERSION};
pub use log_map::{element_quantity, estimate_velocities, unwrap_angles, Element, FeatureMap, Quantity, Source};
pub use reader::{EpisodeFrames, EpisodeMetadata, LeRobotDataset, Window};
pub use recorder::{fps_of, task_of, FrameRecorder};
pub use stats::{feature_stats, pool_stats, FeatureStats};
pub use trajectories::{load_log, load_trajectories, LoadedLog};
pub use validate::validate;
pub use writer::{write_dataset, EpisodeBuffer, WriteOptions};

use std::path::PathBuf;

/// Errors of reading, writing and validating datasets; each names the file or folder concerned.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// A file or folder cannot be read, written, renamed or listed.
    #[error("{path}: {reason}")]
    Io {
        /// The file or folder concerned.
        path: PathBuf,
        /// The operating system's error, with context.
        reason: String,
    },
    /// A file is not what the LeRobot v3.0 layout says: invalid JSON or Parquet, a missing column, a
    /// width that differs from `info.json`, another codebase version.
    #[error("{path}: {reason}")]
    Format {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A LeRobot v1.x or v2.x dataset; the message says how to convert it to v3.0.
    #[error(
        "{path}: this is a LeRobot {version} dataset; dreamrig reads v3.0. Convert it with \
         `dreamrig dataset convert {path} --out NEW_FOLDER` (the old dataset is left as it is)"
    )]
    OldVersion {
        /// The dataset's root folder.
        path: PathBuf,
        /// The dataset's `codebase_version` from `meta/info.json`, e.g. `v2.1`.
        version: String,
    },
    /// A `--map` file (how a dataset's features map onto a scenario) is unreadable or invalid,
    /// or names an element or joint that does not exist.
    #[error("{file}:{line}:{column}: {key}: {reason}", file = file.display())]
    Map {
        /// The map file.
        file: PathBuf,
        /// Line of the key (or of its nearest ancestor present in the file), 1-based.
        line: usize,
        /// Column of the key, 1-based.
        column: usize,
        /// Key path, e.g. `state.positions.shoulder.scale`.
        key: String,
        /// What is wrong, with the value found.
        reason: String,
    },
    /// The dataset does not fit what was asked: another scenario's features, state or fps, a folder
    /// that already holds something, an episode without a seed, a control rate that is not whole hertz.
    #[error("{0}")]
    Mismatch(String),
    /// A camera's frames cannot be encoded as video (odd size, encoder failure) or muxed.
    #[error("video: {0}")]
    Video(String),
}

pub(crate) fn io(path: &std::path::Path, e: impl std::fmt::Display) -> DatasetError {
    DatasetError::Io { path: path.to_path_buf(), reason: e.to_string() }
}

pub(crate) fn format(path: &std::path::Path, reason: impl Into<String>) -> DatasetError {
    DatasetError::Format { path: path.to_path_buf(), reason: reason.into() }
}
