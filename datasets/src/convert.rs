//! LeRobot v2.x → v3.0: a dataset written by lerobot ≤ 0.3 (one Parquet file and one MP4 per
//! episode, JSON-lines metadata) rewritten in the layout lerobot ≥ 0.4 and dreamrig read.
//!
//! Layouts: `../shared/specs/interop.md` §4.2 (v3.0) and §4.3 (v2.1), after lerobot's
//! `datasets/utils.py` at v0.3.3 and v0.4.x. What changes:
//!
//! - `data/chunk-C/episode_E.parquet` (one per episode) → `data/chunk-C/file-F.parquet`, episodes
//!   appended in order until a file reaches `data_files_size_in_mb`; the per-frame columns are
//!   kept as they are, and `index` is renumbered 0…N−1 in episode order (v2.1 already numbers it
//!   so; the renumbering makes `dataset_from_index`/`dataset_to_index` exact whatever it held);
//! - `videos/chunk-C/KEY/episode_E.mp4` → `videos/KEY/chunk-C/file-F.mp4`, one file per episode,
//!   **not re-encoded** (copied), so each episode's `from_timestamp` is 0 and its
//!   `to_timestamp` its length / fps: a v3.0 video file may hold one episode as well as many;
//! - `meta/episodes.jsonl` → `meta/episodes/chunk-000/file-000.parquet` (tasks, length, data and
//!   video file indices, frame and time ranges); `meta/tasks.jsonl` → `meta/tasks.parquet` (task
//!   strings as the pandas index);
//! - `meta/stats.json` is computed from the data (numeric features), and for video features
//!   aggregated from `meta/episodes_stats.jsonl` (count-weighted mean, pooled standard
//!   deviation, min, max), as lerobot's `aggregate_stats` does; per-episode `stats/…` columns
//!   are not written (lerobot drops them on load).
//!
//! The new dataset is built in a staging folder beside the destination and renamed into place:
//! an interrupted conversion leaves nothing, and the old dataset is only read.

use crate::layout::{DatasetInfo, CHUNKS_SIZE, CODEBASE_VERSION, DATA_PATH};
use crate::reader::read_parquet;
use crate::writer::{compute_stats, write_parquet, write_tasks};
use crate::{format, io, DatasetError};
use polars::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `video_path` of the v3.0 datasets the converter writes (LeRobot's `DEFAULT_VIDEO_PATH`).
pub const VIDEO_PATH: &str = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4";

/// What a conversion wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvertReport {
    /// The old dataset's `codebase_version`.
    pub from_version: String,
    /// Episodes converted.
    pub episodes: u64,
    /// Frames converted.
    pub frames: u64,
    /// Data files written.
    pub data_files: usize,
    /// Video files carried over (episodes × video features).
    pub videos: usize,
}

#[derive(serde::Deserialize)]
struct EpisodeLine {
    episode_index: i64,
    #[serde(default)]
    tasks: Vec<String>,
    length: i64,
}

#[derive(serde::Deserialize)]
struct TaskLine {
    task_index: i64,
    task: String,
}

/// Reads a JSON-lines file into rows of `T`; errors name the file and line.
fn json_lines<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>, DatasetError> {
    let text = std::fs::read_to_string(path).map_err(|e| io(path, format!("cannot read ({e})")))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format(path, format!("line {}: {e}", i + 1))))
        .collect()
}

/// Fills a v2.x path template (`{episode_chunk:03d}`, `{episode_index:06d}`, `{video_key}`).
fn v2_path(template: &str, chunk: i64, episode: i64, video_key: &str) -> String {
    template
        .replace("{episode_chunk:03d}", &format!("{chunk:03}"))
        .replace("{episode_index:06d}", &format!("{episode:06}"))
        .replace("{video_key}", video_key)
}

/// `videos/KEY/chunk-C/file-F.mp4` for the `n`th video file of a feature.
fn v3_video_path(key: &str, n: u64) -> String {
    VIDEO_PATH
        .replace("{video_key}", key)
        .replace("{chunk_index:03d}", &format!("{:03}", n / CHUNKS_SIZE))
        .replace("{file_index:03d}", &format!("{:03}", n % CHUNKS_SIZE))
}

/// Converts the LeRobot v2.0/v2.1 dataset at `old` into a new v3.0 dataset at `new`.
///
/// # Errors
/// [`DatasetError::Mismatch`] when `new` exists or `old` is not a v2.x dataset;
/// [`DatasetError::Format`] when a metadata line, a data file or its rows do not fit the layout
/// (an episode's file holds another episode or another number of frames, a column the features
/// list is missing); [`DatasetError::Io`] when a file cannot be read or written.
pub fn convert_v2_to_v3(old: &Path, new: &Path) -> Result<ConvertReport, DatasetError> {
    let info_path = old.join("meta/info.json");
    let text =
        std::fs::read_to_string(&info_path).map_err(|e| io(&info_path, format!("cannot read ({e}); is this a LeRobot dataset folder?")))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| format(&info_path, format!("not valid JSON: {e}")))?;
    let version = value.get("codebase_version").and_then(|v| v.as_str()).unwrap_or("").to_string();
    if !version.starts_with("v2.") {
        return Err(DatasetError::Mismatch(format!(
            "{}: codebase_version is {version:?}; the converter reads LeRobot v2.0 and v2.1 datasets{}",
            old.display(),
            if version.starts_with("v3.") { " (this one is v3 already: dreamrig reads it as it is)" } else { "" }
        )));
    }
    if new.exists() {
        return Err(DatasetError::Mismatch(format!("{} already exists; choose a new folder for the converted dataset", new.display())));
    }
    let mut info: DatasetInfo = serde_json::from_str(&text).map_err(|e| format(&info_path, format!("not a LeRobot v2 info.json: {e}")))?;
    if info.fps == 0 {
        return Err(format(&info_path, "fps must be positive"));
    }
    let chunks_size = value.get("chunks_size").and_then(|v| v.as_i64()).filter(|c| *c > 0).unwrap_or(CHUNKS_SIZE as i64);
    let video_template = value.get("video_path").and_then(|v| v.as_str()).map(str::to_string);
    let video_keys: Vec<String> = info.features.iter().filter(|(_, f)| f.dtype == "video").map(|(k, _)| k.clone()).collect();
    if !video_keys.is_empty() && video_template.is_none() {
        return Err(format(&info_path, format!("features {} are videos, but video_path is null", video_keys.join(", "))));
    }
    let mut episodes: Vec<EpisodeLine> = json_lines(&old.join("meta/episodes.jsonl"))?;
    episodes.sort_by_key(|e| e.episode_index);
    let mut task_lines: Vec<TaskLine> = json_lines(&old.join("meta/tasks.jsonl"))?;
    task_lines.sort_by_key(|t| t.task_index);
    let tasks: Vec<String> = task_lines.into_iter().map(|t| t.task).collect();

    let parent = new.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
    let name = new.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "dataset".into());
    let staging = parent.join(format!(".{name}.staging-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    let result = (|| {
        std::fs::create_dir_all(staging.join("meta")).map_err(|e| io(&staging, e))?;
        let report = write_v3(old, &staging, &mut info, &version, chunks_size, video_template.as_deref(), &video_keys, &episodes, &tasks)?;
        if new.exists() {
            return Err(DatasetError::Mismatch(format!("{} appeared while converting; nothing was written there", new.display())));
        }
        std::fs::rename(&staging, new).map_err(|e| io(new, e))?;
        dreamrig_sim::atomic::sync_parent(new).map_err(|e| io(new, e))?;
        Ok(report)
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    result
}

#[allow(clippy::too_many_arguments)]
fn write_v3(
    old: &Path,
    staging: &Path,
    info: &mut DatasetInfo,
    version: &str,
    chunks_size: i64,
    video_template: Option<&str>,
    video_keys: &[String],
    episodes: &[EpisodeLine],
    tasks: &[String],
) -> Result<ConvertReport, DatasetError> {
    let limit = info.data_files_size_in_mb.max(1) * 1024 * 1024;
    let (mut chunk, mut file) = (0u64, 0u64);
    let mut pending: Option<DataFrame> = None;
    let mut pending_bytes = 0u64;
    let mut data_files: Vec<PathBuf> = Vec::new();
    let mut next_index = 0i64;
    // Per episode: (data chunk, data file, from, to).
    let mut placed: Vec<(u64, u64, i64, i64)> = Vec::with_capacity(episodes.len());
    let flush = |pending: &mut Option<DataFrame>, chunk: u64, file: u64, data_files: &mut Vec<PathBuf>| -> Result<(), DatasetError> {
        if let Some(mut df) = pending.take() {
            let path = staging.join(crate::layout::data_file(chunk, file));
            write_parquet(&path, &mut df, Vec::new())?;
            data_files.push(path);
        }
        Ok(())
    };
    for e in episodes {
        let source = old.join(v2_path(&info.data_path, e.episode_index / chunks_size, e.episode_index, ""));
        let mut df = read_parquet(&source)?;
        let rows = df.height() as i64;
        if rows != e.length {
            return Err(format(
                &source,
                format!("{rows} frames, and meta/episodes.jsonl gives episode {} {} frames", e.episode_index, e.length),
            ));
        }
        let indices = crate::reader::int_column(&df, "episode_index", &source)?;
        if let Some(other) = indices.iter().find(|i| **i != e.episode_index) {
            return Err(format(&source, format!("holds frames of episode {other}, expected only episode {}", e.episode_index)));
        }
        for (name, feature) in info.features.iter().filter(|(_, f)| !matches!(f.dtype.as_str(), "video" | "image")) {
            if df.column(name).is_err() {
                return Err(format(&source, format!("no column {name}, which meta/info.json lists as a {} feature", feature.dtype)));
            }
        }
        df.with_column(Column::new("index".into(), (next_index..next_index + rows).collect::<Vec<i64>>()))
            .map_err(|err| format(&source, err.to_string()))?;
        let bytes = std::fs::metadata(&source).map(|m| m.len()).unwrap_or(0);
        if pending.is_some() && pending_bytes + bytes > limit {
            flush(&mut pending, chunk, file, &mut data_files)?;
            (chunk, file) = crate::layout::next_file(chunk, file);
            pending_bytes = 0;
        }
        pending = Some(match pending.take() {
            None => df,
            Some(mut all) => {
                all.vstack_mut(&df).map_err(|err| format(&source, format!("its columns differ from the episodes' before it: {err}")))?;
                all
            }
        });
        pending_bytes += bytes;
        placed.push((chunk, file, next_index, next_index + rows));
        next_index += rows;
    }
    flush(&mut pending, chunk, file, &mut data_files)?;

    // Videos: one v3.0 file per episode and key, the MP4 as it is.
    let mut videos = 0usize;
    for key in video_keys {
        for (n, e) in episodes.iter().enumerate() {
            let template = video_template.expect("checked: videos have a path");
            let source = old.join(v2_path(template, e.episode_index / chunks_size, e.episode_index, key));
            if !source.is_file() {
                return Err(io(&source, format!("episode {}'s video of {key} does not exist", e.episode_index)));
            }
            let target = staging.join(v3_video_path(key, n as u64));
            std::fs::create_dir_all(target.parent().expect("in a folder")).map_err(|err| io(&target, err))?;
            // A copy, not a hard link: the new dataset must not share files a tool may rewrite
            // in place with the old one (on copy-on-write file systems the copy shares blocks).
            std::fs::copy(&source, &target).map_err(|err| io(&target, err))?;
            videos += 1;
        }
    }

    let fps = info.fps as f64;
    let n = episodes.len();
    let episodes_path = staging.join(crate::layout::episodes_file(0, 0));
    let int = |name: &str, values: Vec<i64>| Column::new(name.into(), values);
    let mut columns = vec![
        int("episode_index", episodes.iter().map(|e| e.episode_index).collect()),
        Column::new("tasks".into(), episodes.iter().map(|e| Series::new("".into(), e.tasks.clone())).collect::<Vec<Series>>()),
        int("length", episodes.iter().map(|e| e.length).collect()),
        int("data/chunk_index", placed.iter().map(|p| p.0 as i64).collect()),
        int("data/file_index", placed.iter().map(|p| p.1 as i64).collect()),
        int("dataset_from_index", placed.iter().map(|p| p.2).collect()),
        int("dataset_to_index", placed.iter().map(|p| p.3).collect()),
    ];
    for key in video_keys {
        columns.push(int(&format!("videos/{key}/chunk_index"), (0..n as i64).map(|i| i / CHUNKS_SIZE as i64).collect()));
        columns.push(int(&format!("videos/{key}/file_index"), (0..n as i64).map(|i| i % CHUNKS_SIZE as i64).collect()));
        columns.push(Column::new(format!("videos/{key}/from_timestamp").into(), vec![0.0f64; n]));
        columns.push(Column::new(
            format!("videos/{key}/to_timestamp").into(),
            episodes.iter().map(|e| e.length as f64 / fps).collect::<Vec<f64>>(),
        ));
    }
    columns.push(int("meta/episodes/chunk_index", vec![0; n]));
    columns.push(int("meta/episodes/file_index", vec![0; n]));
    let mut episodes_df = DataFrame::new(n, columns).map_err(|e| format(&episodes_path, e.to_string()))?;
    write_parquet(&episodes_path, &mut episodes_df, Vec::new())?;
    write_tasks(&staging.join("meta/tasks.parquet"), tasks)?;

    info.codebase_version = CODEBASE_VERSION.into();
    info.total_episodes = n as u64;
    info.total_frames = next_index as u64;
    info.total_tasks = tasks.len() as u64;
    info.chunks_size = CHUNKS_SIZE;
    info.splits = BTreeMap::from([("train".to_string(), format!("0:{n}"))]);
    info.data_path = DATA_PATH.into();
    info.video_path = (!video_keys.is_empty()).then(|| VIDEO_PATH.to_string());
    let mut stats = compute_stats(info, &data_files)?;
    let episode_stats = old.join("meta/episodes_stats.jsonl");
    if !video_keys.is_empty() && episode_stats.is_file() {
        let lines: Vec<serde_json::Value> = json_lines(&episode_stats)?;
        for key in video_keys {
            let per_episode: Vec<&serde_json::Value> = lines.iter().filter_map(|l| l.get("stats").and_then(|s| s.get(key))).collect();
            if let Some(aggregated) = aggregate_stats(&per_episode) {
                stats[key.as_str()] = aggregated;
            }
        }
    }
    let write_json = |path: PathBuf, value: String| dreamrig_sim::atomic::write_atomic(&path, value.as_bytes()).map_err(|e| io(&path, e));
    write_json(staging.join("meta/stats.json"), serde_json::to_string_pretty(&stats).expect("stats serialize"))?;
    write_json(staging.join("meta/info.json"), serde_json::to_string_pretty(&info).expect("info serializes"))?;
    Ok(ConvertReport {
        from_version: version.to_string(),
        episodes: n as u64,
        frames: next_index as u64,
        data_files: data_files.len(),
        videos,
    })
}

/// Flattens nested JSON arrays of numbers (a `(3, 1, 1)` image statistic) into values.
fn flatten(value: &serde_json::Value, out: &mut Vec<f64>) -> bool {
    match value {
        serde_json::Value::Array(items) => items.iter().all(|v| flatten(v, out)),
        serde_json::Value::Number(n) => {
            out.push(n.as_f64().unwrap_or(f64::NAN));
            true
        }
        _ => false,
    }
}

/// Puts `values` back into the nesting of `like`.
fn unflatten(like: &serde_json::Value, values: &mut impl Iterator<Item = f64>) -> serde_json::Value {
    match like {
        serde_json::Value::Array(items) => serde_json::Value::Array(items.iter().map(|v| unflatten(v, values)).collect()),
        _ => serde_json::json!(values.next().unwrap_or(f64::NAN)),
    }
}

/// Per-episode statistics of one feature (`{min, max, mean, std, count}`, values nested alike)
/// combined over episodes: min of mins, max of maxes, count-weighted mean, and the pooled
/// standard deviation `sqrt(Σ n_i (s_i² + (m_i − m)²) / Σ n_i)`. `None` when an episode's
/// statistics are missing or malformed.
fn aggregate_stats(per_episode: &[&serde_json::Value]) -> Option<serde_json::Value> {
    let first = per_episode.first()?;
    let read = |v: &serde_json::Value, key: &str| -> Option<Vec<f64>> {
        let mut out = Vec::new();
        flatten(v.get(key)?, &mut out).then_some(out)
    };
    let width = read(first, "mean")?.len();
    let (mut total, mut mean, mut min, mut max) = (0.0, vec![0.0; width], vec![f64::INFINITY; width], vec![f64::NEG_INFINITY; width]);
    let mut parts = Vec::new();
    for stats in per_episode {
        let count = read(stats, "count")?.first().copied()?;
        let (m, s, lo, hi) = (read(stats, "mean")?, read(stats, "std")?, read(stats, "min")?, read(stats, "max")?);
        if [m.len(), s.len(), lo.len(), hi.len()].iter().any(|l| *l != width) {
            return None;
        }
        total += count;
        for d in 0..width {
            mean[d] += count * m[d];
            min[d] = min[d].min(lo[d]);
            max[d] = max[d].max(hi[d]);
        }
        parts.push((count, m, s));
    }
    if total <= 0.0 {
        return None;
    }
    mean.iter_mut().for_each(|m| *m /= total);
    let std: Vec<f64> = (0..width)
        .map(|d| (parts.iter().map(|(n, m, s)| n * (s[d] * s[d] + (m[d] - mean[d]).powi(2))).sum::<f64>() / total).sqrt())
        .collect();
    let like = first.get("mean")?;
    Some(serde_json::json!({
        "min": unflatten(like, &mut min.into_iter()),
        "max": unflatten(like, &mut max.into_iter()),
        "mean": unflatten(like, &mut mean.into_iter()),
        "std": unflatten(like, &mut std.into_iter()),
        "count": [total as i64],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooled_statistics_equal_those_of_the_episodes_together() {
        // Episode A: 1, 3 (mean 2, std 1); episode B: 5, 5, 5 (mean 5, std 0). Together: 1, 3, 5, 5, 5.
        let a = serde_json::json!({"min": [[[1.0]]], "max": [[[3.0]]], "mean": [[[2.0]]], "std": [[[1.0]]], "count": [2]});
        let b = serde_json::json!({"min": [[[5.0]]], "max": [[[5.0]]], "mean": [[[5.0]]], "std": [[[0.0]]], "count": [3]});
        let all = aggregate_stats(&[&a, &b]).unwrap();
        let values = [1.0f64, 3.0, 5.0, 5.0, 5.0];
        let mean = values.iter().sum::<f64>() / 5.0;
        let std = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 5.0).sqrt();
        assert_eq!(all["mean"], serde_json::json!([[[mean]]]));
        assert!((all["std"][0][0][0].as_f64().unwrap() - std).abs() < 1e-12);
        assert_eq!(
            (all["min"][0][0][0].as_f64(), all["max"][0][0][0].as_f64(), &all["count"]),
            (Some(1.0), Some(5.0), &serde_json::json!([5]))
        );
        assert!(aggregate_stats(&[&serde_json::json!({"mean": [1.0]})]).is_none(), "no count: not aggregated");
    }

    #[test]
    fn v2_and_v3_paths_fill_like_lerobot_templates() {
        assert_eq!(
            v2_path("videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4", 1, 1002, "observation.images.top"),
            "videos/chunk-001/observation.images.top/episode_001002.mp4"
        );
        assert_eq!(v3_video_path("cam", 1001), "videos/cam/chunk-001/file-001.mp4");
    }
}
