//! Robot learning datasets in LeRobot v3.0 format (the layout of `huggingface/lerobot` ≥ 0.4):
//! `meta/info.json`, `meta/stats.json`, `meta/tasks.parquet`, `meta/episodes/…` and
//! `data/chunk-XXX/file-XXX.parquet` with one row per frame.
//!
//! [`FrameRecorder`] is the rollout observer that records frames into [`EpisodeBuffer`]s; [`write_dataset`] writes or appends
//! episodes atomically; [`LeRobotDataset`] reads any v3.0 dataset with state and action
//! features into episode-aware batches; [`validate`] checks a dataset against the layout.

mod layout;
mod reader;
mod recorder;
mod stats;
mod trajectories;
mod validate;
mod writer;

pub use layout::{DatasetInfo, FeatureInfo, FrameLayout, CODEBASE_VERSION};
pub use reader::{EpisodeFrames, EpisodeMetadata, LeRobotDataset, Window};
pub use recorder::{fps_of, task_of, FrameRecorder};
pub use stats::{feature_stats, FeatureStats};
pub use trajectories::load_trajectories;
pub use validate::validate;
pub use writer::{write_dataset, EpisodeBuffer, WriteOptions};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("{path}: {reason}")]
    Io { path: PathBuf, reason: String },
    #[error("{path}: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error(
        "{path}: this is a LeRobot {version} dataset; dreamrig reads v3.0. Convert it with \
         `python -m lerobot.scripts.convert_dataset_v21_to_v30 --repo-id=<id> --root={path} --push-to-hub=false` (lerobot ≥ 0.4)"
    )]
    OldVersion { path: PathBuf, version: String },
    #[error("{0}")]
    Mismatch(String),
}

pub(crate) fn io(path: &std::path::Path, e: impl std::fmt::Display) -> DatasetError {
    DatasetError::Io { path: path.to_path_buf(), reason: e.to_string() }
}

pub(crate) fn format(path: &std::path::Path, reason: impl Into<String>) -> DatasetError {
    DatasetError::Format { path: path.to_path_buf(), reason: reason.into() }
}
