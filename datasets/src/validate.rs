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
/// tolerance 1e-6), and every pointer of the episode metadata (all `meta/episodes` files): each
/// episode's `data/chunk_index` and `data/file_index` name the data file that holds its frames,
/// its row range matches them, no data file is left unreferenced, and every `task_index` names a
/// task of `meta/tasks.parquet`; for video features (as lerobot writes them), that `info.json` has a
/// `video_path`, and that each episode's `videos/KEY/…` columns name an MP4 file that exists and a
/// time span of its length at the dataset's fps (the frames inside are not decoded). Errors, rather than problems: the dataset cannot be opened, a data file is
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
    let mut lengths: Vec<(i64, i64, i64, usize)> = Vec::new();
    let tasks = dataset.tasks.len() as i64;
    let mut stats_rows: Vec<(String, usize, Vec<f64>)> = info
        .features
        .iter()
        .filter(|(_, f)| f.dtype != "video" && f.dtype != "image" && f.dtype != "string")
        .map(|(n, f)| (n.clone(), f.shape.iter().product(), Vec::new()))
        .collect();
    for (file_number, path) in dataset.data_files.iter().enumerate() {
        let file = std::fs::File::open(path).map_err(|e| crate::io(path, e))?;
        let df = ParquetReader::new(file)
            .finish()
            .map_err(|e| format(path, format!("not a readable Parquet file (corrupt or truncated?): {e}")))?;
        let index = int_column(&df, "index", path)?;
        let frame_index = int_column(&df, "frame_index", path)?;
        let episode = int_column(&df, "episode_index", path)?;
        let timestamps = column_values(df.column("timestamp").map_err(|e| format(path, e.to_string()))?, path)?;
        if let Ok(task_index) = int_column(&df, "task_index", path) {
            if let Some((row, bad)) = task_index.iter().enumerate().find(|(_, t)| !(0..tasks).contains(*t)) {
                problems.push(format!("{}: row {row}: task_index {bad}, but meta/tasks.parquet has {tasks} tasks", path.display()));
            }
        }
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
                Some((e, len, _, file)) if *e == episode[row] => {
                    if *file != file_number {
                        problems.push(format!(
                            "{}: row {row}: episode {e} continues here from another file (an episode's frames are in one file)",
                            path.display()
                        ));
                        break;
                    }
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
                    lengths.push((episode[row], 1, index[row], file_number));
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
    for (k, (e, _, _, _)) in lengths.iter().enumerate() {
        if *e != k as i64 {
            problems.push(format!("episode_index {e} at position {k}: episodes must be numbered 0, 1, 2, … in order"));
            break;
        }
    }
    // Episode metadata (every meta/episodes/chunk-*/file-*.parquet, in order) against the data:
    // each row's length and index range, and the data file it points at.
    let meta_files = crate::reader::episode_metadata_files(root);
    if meta_files.is_empty() {
        problems.push(format!("{} is missing", root.join(episodes_file(0, 0)).display()));
    }
    let mut rows = 0usize;
    let mut pointed_at = vec![false; dataset.data_files.len()];
    let video_keys: Vec<&str> = info.features.iter().filter(|(_, f)| f.dtype == "video").map(|(n, _)| n.as_str()).collect();
    if !video_keys.is_empty() && info.video_path.is_none() {
        problems.push(format!("meta/info.json: video features ({}) but no video_path", video_keys.join(", ")));
    }
    let template_ok = match &info.video_path {
        Some(template) if !video_keys.is_empty() => {
            let sample = [("video_key", "key".to_string()), ("chunk_index", "0".into()), ("file_index", "0".into())];
            fill_template(template, &sample)
                .map_err(|problem| problems.push(format!("meta/info.json: video_path {template:?}: {problem}")))
                .is_ok()
        }
        _ => true,
    };
    'files: for meta in &meta_files {
        let df = read_parquet(meta)?;
        let videos = match &info.video_path {
            Some(template) if template_ok => video_columns(&df, meta, &video_keys, template, &mut problems)?,
            _ => Vec::new(),
        };
        let mut video_reported = vec![false; videos.len()];
        let length = int_column(&df, "length", meta)?;
        let from = int_column(&df, "dataset_from_index", meta)?;
        let to = int_column(&df, "dataset_to_index", meta)?;
        let episode_index = int_column(&df, "episode_index", meta).ok();
        let pointers = int_column(&df, "data/chunk_index", meta).ok().zip(int_column(&df, "data/file_index", meta).ok());
        if pointers.is_none() {
            problems.push(format!("{}: the columns data/chunk_index and data/file_index are missing", meta.display()));
        }
        for row in 0..df.height() {
            let k = rows;
            rows += 1;
            let Some((e, len, start, file)) = lengths.get(k) else {
                problems.push(format!("{}: row {row} describes an episode the data files do not hold", meta.display()));
                break 'files;
            };
            if let Some(index) = &episode_index {
                if index[row] != *e {
                    problems.push(format!(
                        "{}: row {row}: episode_index {}, the data's episode at that position is {e}",
                        meta.display(),
                        index[row]
                    ));
                    break 'files;
                }
            }
            if length[row] != *len || from[row] != *start || to[row] != start + len {
                problems.push(format!(
                    "{}: row {row} (length, from, to) = ({}, {}, {}) does not match the data ({len}, {start}, {})",
                    meta.display(),
                    length[row],
                    from[row],
                    to[row],
                    start + len
                ));
                break 'files;
            }
            if let Some((chunk, file_index)) = &pointers {
                if chunk[row] < 0 || file_index[row] < 0 {
                    problems.push(format!(
                        "{}: row {row} (episode {e}): data/chunk_index {} and data/file_index {} must be ≥ 0",
                        meta.display(),
                        chunk[row],
                        file_index[row]
                    ));
                    break 'files;
                }
                let named = root.join(crate::layout::data_file(chunk[row] as u64, file_index[row] as u64));
                if !named.is_file() {
                    problems.push(format!(
                        "{}: row {row} (episode {e}) points at data/chunk_index {} file_index {}, but {} does not exist",
                        meta.display(),
                        chunk[row],
                        file_index[row],
                        named.display()
                    ));
                    break 'files;
                }
                if named != dataset.data_files[*file] {
                    problems.push(format!(
                        "{}: row {row} (episode {e}) points at {}, but its frames are in {}",
                        meta.display(),
                        named.display(),
                        dataset.data_files[*file].display()
                    ));
                    break 'files;
                }
                pointed_at[*file] = true;
            }
            for (video, reported) in videos.iter().zip(video_reported.iter_mut()) {
                if *reported {
                    continue;
                }
                if let Some(problem) = video.check(root, row, *e, *len, info.fps) {
                    // The first problem of each video feature; the data checks go on.
                    problems.push(format!("{}: {problem}", meta.display()));
                    *reported = true;
                }
            }
        }
    }
    if rows < lengths.len() && !meta_files.is_empty() {
        problems.push(format!("meta/episodes: {rows} episodes described, the data files hold {}", lengths.len()));
    }
    if problems.is_empty() {
        for (file, pointed) in dataset.data_files.iter().zip(&pointed_at) {
            if !pointed {
                problems.push(format!("{}: no episode in meta/episodes points at this data file", file.display()));
            }
        }
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

/// One video feature's columns of an episode metadata file: where each episode's frames are in
/// the MP4 files (`videos/KEY/chunk_index`, `file_index`, `from_timestamp`, `to_timestamp`, as
/// lerobot writes them).
struct VideoColumns<'a> {
    key: &'a str,
    template: &'a str,
    chunk: Vec<i64>,
    file: Vec<i64>,
    from: Vec<f64>,
    to: Vec<f64>,
    /// Each video file's duration (s), read once; `None` for a file whose header cannot be read.
    durations: std::cell::RefCell<std::collections::HashMap<std::path::PathBuf, Option<f64>>>,
}

/// Reads every video feature's columns; a missing column is a problem (and that feature is not
/// checked further).
fn video_columns<'a>(
    df: &DataFrame,
    meta: &std::path::Path,
    keys: &[&'a str],
    template: &'a str,
    problems: &mut Vec<String>,
) -> Result<Vec<VideoColumns<'a>>, DatasetError> {
    let mut out = Vec::new();
    for key in keys {
        let name = |field: &str| format!("videos/{key}/{field}");
        let missing: Vec<String> = ["chunk_index", "file_index", "from_timestamp", "to_timestamp"]
            .iter()
            .map(|f| name(f))
            .filter(|n| df.column(n).is_err())
            .collect();
        if !missing.is_empty() {
            problems.push(format!("{}: video feature {key}: the columns {} are missing", meta.display(), missing.join(", ")));
            continue;
        }
        let float = |field: &str| -> Result<Vec<f64>, DatasetError> {
            let column_name = name(field);
            column_values(df.column(&column_name).map_err(|e| format(meta, e.to_string()))?, meta)
        };
        out.push(VideoColumns {
            key,
            template,
            chunk: int_column(df, &name("chunk_index"), meta)?,
            file: int_column(df, &name("file_index"), meta)?,
            from: float("from_timestamp")?,
            to: float("to_timestamp")?,
            durations: Default::default(),
        });
    }
    Ok(out)
}

impl VideoColumns<'_> {
    /// Episode `row`'s video: the file it names exists, and its time span is `length / fps`
    /// (within a frame). The frames inside the MP4 are not decoded.
    fn check(&self, root: &std::path::Path, row: usize, episode: i64, length: i64, fps: u32) -> Option<String> {
        let (chunk, file, from, to) = (self.chunk[row], self.file[row], self.from[row], self.to[row]);
        let key = self.key;
        if chunk < 0 || file < 0 {
            return Some(format!("row {row} (episode {episode}): videos/{key}/chunk_index {chunk} and file_index {file} must be ≥ 0"));
        }
        let values = [("video_key", key.to_string()), ("chunk_index", chunk.to_string()), ("file_index", file.to_string())];
        // The template was checked once against info.json.
        let path = root.join(fill_template(self.template, &values).ok()?);
        if !path.is_file() {
            return Some(format!("row {row} (episode {episode}): video {key} points at {}, which does not exist", path.display()));
        }
        // LeRobot stores the span the encoder measured, which can differ from length / fps by
        // up to a frame.
        let span = length as f64 / fps as f64;
        if !(from >= 0.0 && (to - from - span).abs() <= 1.0 / fps as f64 + 1e-6) {
            return Some(format!(
                "row {row} (episode {episode}): video {key} spans {from} s to {to} s, but the episode's {length} frames at {fps} fps last {span} s"
            ));
        }
        // The file must last to the episode's end (within a frame). A file whose header the
        // `mp4` crate cannot parse (another container layout than it knows) is not judged on
        // its duration; that is logged once per file.
        let duration = *self.durations.borrow_mut().entry(path.clone()).or_insert_with(|| {
            crate::video::mp4_duration_s(&path).map_err(|e| tracing::warn!("{}: its duration is not checked: {e}", path.display())).ok()
        });
        if let Some(duration) = duration {
            if to > duration + 1.0 / fps as f64 + 1e-6 {
                return Some(format!(
                    "row {row} (episode {episode}): video {key} spans {from} s to {to} s, but {} lasts {duration} s",
                    path.display()
                ));
            }
        }
        None
    }
}

/// Fills a Python-format path template as LeRobot's `info.json` writes them
/// (`videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4`): `{name}` and
/// `{name:0Nd}` (zero-padded to N digits) with the given values.
pub(crate) fn fill_template(template: &str, values: &[(&str, String)]) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').ok_or_else(|| format!("an unclosed {{ at byte {}", template.len() - rest.len() + open))? + open;
        let field = &rest[open + 1..close];
        let (name, spec) = field.split_once(':').unwrap_or((field, ""));
        let value = values.iter().find(|(n, _)| *n == name).map(|(_, v)| v).ok_or_else(|| format!("unknown field {{{name}}}"))?;
        let padded = match spec {
            "" => value.clone(),
            spec => {
                let width = spec
                    .strip_prefix('0')
                    .and_then(|s| s.strip_suffix('d'))
                    .and_then(|w| w.parse::<usize>().ok())
                    .ok_or_else(|| format!("format {{{field}}}: expected {{{name}}} or {{{name}:0Nd}}"))?;
                format!("{value:0>width$}")
            }
        };
        out.push_str(&padded);
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{fill_template, VideoColumns};

    #[test]
    fn an_episodes_video_must_exist_and_span_its_frames() {
        let root = tempfile::tempdir().unwrap();
        let template = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4";
        let file = root.path().join("videos/front/chunk-000/file-000.mp4");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, b"").unwrap();
        // Two episodes of 8 frames at 10 fps; the second's span is a frame and a half short.
        let video = VideoColumns {
            key: "front",
            template,
            chunk: vec![0, 0],
            file: vec![0, 1],
            from: vec![0.0, 0.8],
            to: vec![0.8, 1.45],
            durations: Default::default(),
        };
        assert_eq!(video.check(root.path(), 0, 0, 8, 10), None);
        let missing = video.check(root.path(), 1, 1, 8, 10).unwrap();
        assert!(missing.contains("video front points at") && missing.contains("file-001.mp4, which does not exist"), "{missing}");
        let short = VideoColumns { file: vec![0, 0], ..video };
        let problem = short.check(root.path(), 1, 1, 8, 10).unwrap();
        assert!(problem.contains("spans 0.8 s to 1.45 s, but the episode's 8 frames at 10 fps last 0.8 s"), "{problem}");
        // Within a frame (an encoder's measured duration) is fine.
        let measured = VideoColumns { to: vec![0.8, 1.65], ..short };
        assert_eq!(measured.check(root.path(), 1, 1, 8, 10), None);
    }

    #[test]
    fn lerobot_path_templates_fill_like_python_format() {
        let values = [("video_key", "observation.images.front".to_string()), ("chunk_index", "0".into()), ("file_index", "12".into())];
        assert_eq!(
            fill_template("videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4", &values).unwrap(),
            "videos/observation.images.front/chunk-000/file-012.mp4"
        );
        assert!(fill_template("videos/{camera}/x.mp4", &values).unwrap_err().contains("unknown field {camera}"));
        assert!(fill_template("videos/{video_key:>5}/x.mp4", &values).unwrap_err().contains("expected {video_key}"));
        assert!(fill_template("videos/{video_key", &values).unwrap_err().contains("unclosed"));
    }
}
