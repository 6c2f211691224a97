//! `dreamrig dataset validate`: a dataset checked against the v3.0 layout and against itself.

use crate::layout::episodes_file;
use crate::reader::{int_column, read_parquet, LeRobotDataset};
use crate::writer::column_values;
use crate::{format, DatasetError};
use polars::prelude::*;

const DEFAULT_FEATURES: [&str; 5] = ["timestamp", "frame_index", "episode_index", "index", "task_index"];

/// Every problem found; an empty list means the dataset is valid.
/// Checks the default features, contiguous `index`, `timestamp` = `frame_index` / fps (±1e-4 s),
/// episodes numbered 0, 1, … with frames from 0, the totals of `info.json`, the episode metadata of
/// `meta/episodes/chunk-000/file-000.parquet`, and min/max/mean/std of `meta/stats.json` (relative
/// tolerance 1e-6). Errors, rather than problems: the dataset cannot be opened, a data file is
/// unreadable or lacks `index`, `frame_index`, `episode_index` or `timestamp`, or the episode
/// metadata file is unreadable or lacks `length`, `dataset_from_index` or `dataset_to_index`.
pub fn validate(root: &std::path::Path) -> Result<Vec<String>, DatasetError> {
    let dataset = LeRobotDataset::open(root)?;
    let info = &dataset.info;
    let mut problems = Vec::new();
    for f in DEFAULT_FEATURES {
        if info.feature(f).is_none() {
            problems.push(format!("meta/info.json: the default feature {f} is missing"));
        }
    }
    let (mut expected_index, mut frames) = (0i64, 0u64);
    let mut lengths: Vec<(i64, i64, i64)> = Vec::new();
    let mut stats_rows: Vec<(String, usize, Vec<f64>)> = info
        .features
        .iter()
        .filter(|(_, f)| f.dtype != "video" && f.dtype != "image" && f.dtype != "string")
        .map(|(n, f)| (n.clone(), f.shape.iter().product(), Vec::new()))
        .collect();
    for path in &dataset.data_files {
        let file = std::fs::File::open(path).map_err(|e| crate::io(path, e))?;
        let df = ParquetReader::new(file)
            .finish()
            .map_err(|e| format(path, format!("not a readable Parquet file (corrupt or truncated?): {e}")))?;
        let index = int_column(&df, "index", path)?;
        let frame_index = int_column(&df, "frame_index", path)?;
        let episode = int_column(&df, "episode_index", path)?;
        let timestamps = column_values(df.column("timestamp").map_err(|e| format(path, e.to_string()))?, path)?;
        for row in 0..df.height() {
            if index[row] != expected_index {
                problems.push(format!(
                    "{}: row {row}: index {} where {expected_index} was expected (indices must be contiguous)",
                    path.display(),
                    index[row]
                ));
                break;
            }
            expected_index += 1;
            let expected_time = frame_index[row] as f64 / info.fps as f64;
            if (timestamps[row] - expected_time).abs() > 1e-4 {
                problems.push(format!(
                    "{}: row {row}: timestamp {} but frame_index / fps = {expected_time}",
                    path.display(),
                    timestamps[row]
                ));
                break;
            }
            match lengths.last_mut() {
                Some((e, len, _)) if *e == episode[row] => {
                    if frame_index[row] != *len {
                        problems.push(format!(
                            "{}: row {row}: frame_index {} in episode {e}, expected {len}",
                            path.display(),
                            frame_index[row]
                        ));
                    }
                    *len += 1;
                }
                _ => {
                    if frame_index[row] != 0 {
                        problems.push(format!(
                            "{}: row {row}: episode {} starts at frame_index {}",
                            path.display(),
                            episode[row],
                            frame_index[row]
                        ));
                    }
                    lengths.push((episode[row], 1, index[row]));
                }
            }
        }
        frames += df.height() as u64;
        for (name, width, values) in stats_rows.iter_mut() {
            match df.column(name) {
                Ok(c) => {
                    let v = column_values(c, path)?;
                    if v.len() != *width * df.height() {
                        problems.push(format!(
                            "{}: feature {name} has {} values per frame, info.json says {width}",
                            path.display(),
                            v.len() / df.height().max(1)
                        ));
                    }
                    values.extend(v);
                }
                Err(_) => problems.push(format!("{}: column {name} (a feature in info.json) is missing", path.display())),
            }
        }
    }
    if frames != info.total_frames {
        problems.push(format!("meta/info.json: total_frames is {} but the data files hold {frames}", info.total_frames));
    }
    if lengths.len() as u64 != info.total_episodes {
        problems.push(format!("meta/info.json: total_episodes is {} but the data files hold {}", info.total_episodes, lengths.len()));
    }
    for (k, (e, _, _)) in lengths.iter().enumerate() {
        if *e != k as i64 {
            problems.push(format!("episode_index {e} at position {k}: episodes must be numbered 0, 1, 2, … in order"));
            break;
        }
    }
    // Episode metadata against the data.
    let meta = root.join(episodes_file(0, 0));
    if meta.exists() {
        let df = read_parquet(&meta)?;
        let length = int_column(&df, "length", &meta)?;
        let from = int_column(&df, "dataset_from_index", &meta)?;
        let to = int_column(&df, "dataset_to_index", &meta)?;
        for (k, (_, len, start)) in lengths.iter().enumerate() {
            if length.get(k) != Some(len) || from.get(k) != Some(start) || to.get(k) != Some(&(start + len)) {
                problems.push(format!(
                    "{}: row {k} (length, from, to) does not match the data ({len}, {start}, {})",
                    meta.display(),
                    start + len
                ));
                break;
            }
        }
    } else {
        problems.push(format!("{} is missing", meta.display()));
    }
    // Stats recomputed and compared.
    let stats_path = root.join("meta/stats.json");
    match std::fs::read_to_string(&stats_path).ok().and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok()) {
        None => problems.push(format!("{} is missing or not JSON", stats_path.display())),
        Some(stats) => {
            for (name, width, values) in &stats_rows {
                let rows: Vec<&[f64]> = values.chunks((*width).max(1)).collect();
                let recomputed = serde_json::to_value(crate::feature_stats(&rows, *width)).expect("stats serialize");
                let stored = &stats[name];
                for key in ["min", "max", "mean", "std"] {
                    let close = match (stored[key].as_array(), recomputed[key].as_array()) {
                        (Some(a), Some(b)) if a.len() == b.len() => a.iter().zip(b).all(|(x, y)| {
                            let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
                            (x - y).abs() <= 1e-6 * (1.0 + y.abs())
                        }),
                        _ => false,
                    };
                    if !close {
                        problems.push(format!("meta/stats.json: {name}.{key} does not match the data"));
                    }
                }
            }
        }
    }
    Ok(problems)
}
