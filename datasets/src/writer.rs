//! Writing LeRobot v3.0 datasets: episodes recorded in [`EpisodeBuffer`]s become data files,
//! episode metadata, tasks, stats and `info.json`, all written into a staging folder that
//! replaces the dataset in one rename.

use crate::layout::*;
use crate::reader::{int_column, read_parquet, seed_column};
use crate::stats::feature_stats;
use crate::video::{image_stats, write_mp4, EncodedVideo, FrameTiming};
use crate::{format, io, DatasetError};
use dreamrig_sim::{Observation, WorldState};
use polars::io::parquet::write::KeyValueMetadata;
use polars::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One episode as it was recorded: frame t holds the observation and state before action t,
/// the action, and the reward and done flag that followed it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpisodeBuffer {
    /// The LeRobot task string (see [`crate::task_of`]).
    pub task: String,
    /// The seed the episode was reset with; stored as `dreamrig/seed` (uint64).
    pub seed: u64,
    /// The acting policy's name (`dreamrig/policy`).
    pub policy: String,
    /// Whether the episode reached the task's success; set when it ends.
    pub success: bool,
    /// The episode's randomized parameters (masses, friction, gains, latency, goal, …).
    pub parameters: serde_json::Value,
    /// Number of frames recorded.
    pub frames: usize,
    /// `observation.state`: the layout's `state_fields` concatenated, frames × width, frame-major.
    pub state: Vec<f32>,
    /// One vector per entry of `FrameLayout::array_fields`, frames × that feature's width.
    pub arrays: Vec<Vec<f32>>,
    /// `observation.environment_state`: the world's full state (`WorldState::values`), frames × state width.
    pub environment_state: Vec<f32>,
    /// `action`: frames × action width.
    pub action: Vec<f32>,
    /// `next.reward`: the reward that followed each frame's action.
    pub reward: Vec<f32>,
    /// `next.done`: the episode terminated or was truncated after this frame's action.
    pub done: Vec<bool>,
    /// One encoded video per entry of `FrameLayout::video_fields`, one frame per recorded frame.
    #[serde(default)]
    pub videos: Vec<EncodedVideo>,
}

impl EpisodeBuffer {
    /// An empty buffer for one episode laid out as `layout`, not yet successful.
    pub fn new(layout: &FrameLayout, task: &str, seed: u64, policy: &str, parameters: serde_json::Value) -> Self {
        Self {
            task: task.into(),
            seed,
            policy: policy.into(),
            success: false,
            parameters,
            frames: 0,
            state: Vec::new(),
            arrays: vec![Vec::new(); layout.array_fields.len()],
            environment_state: Vec::new(),
            action: Vec::new(),
            reward: Vec::new(),
            done: Vec::new(),
            videos: Vec::new(),
        }
    }

    /// Records one frame.
    /// A field missing from `observation` adds no values; [`write_dataset`] then fails with a width error.
    pub fn push(&mut self, layout: &FrameLayout, observation: &Observation, state: &WorldState, action: &[f64], reward: f64, done: bool) {
        for name in &layout.state_fields {
            self.state.extend_from_slice(observation.get(name).unwrap_or(&[]));
        }
        for (k, (name, _)) in layout.array_fields.iter().enumerate() {
            self.arrays[k].extend_from_slice(observation.get(name).unwrap_or(&[]));
        }
        self.environment_state.extend(state.values.iter().map(|v| *v as f32));
        self.action.extend(action.iter().map(|v| *v as f32));
        self.reward.push(reward as f32);
        self.done.push(done);
        self.frames += 1;
    }
}

/// How [`write_dataset`] writes.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// `robot_type` of a new dataset's `info.json` (ignored when appending).
    pub robot_type: String,
    /// Frames per second; when appending, it must equal the dataset's.
    pub fps: u32,
    /// Add to an existing dataset instead of refusing to touch it.
    pub append: bool,
    /// Data files roll over when they would exceed this size.
    /// Estimated before compression (4 bytes per feature value plus 64 per frame), so files come out smaller.
    pub data_file_size_mb: u64,
}

fn polars_error(path: &Path, e: PolarsError) -> DatasetError {
    format(path, e.to_string())
}

fn array_column(name: &str, values: Vec<f32>, width: usize, rows: usize, path: &Path) -> Result<Column, DatasetError> {
    if values.len() != width * rows {
        return Err(format(path, format!("feature {name}: {} values for {rows} frames of width {width}", values.len())));
    }
    let flat = Series::new(name.into(), values);
    flat.reshape_array(&[ReshapeDimension::new(rows as i64), ReshapeDimension::new(width as i64)])
        .map(Column::from)
        .map_err(|e| polars_error(path, e))
}

fn width(layout: &FrameLayout, name: &str) -> usize {
    layout.features.iter().find(|(n, _)| n == name).map(|(_, f)| f.shape.iter().product()).unwrap_or(0)
}

/// The data frame of a run of episodes.
fn data_frame(
    layout: &FrameLayout,
    episodes: &[(u64, u64, &EpisodeBuffer)],
    first_index: u64,
    fps: u32,
    path: &Path,
) -> Result<DataFrame, DatasetError> {
    let rows: usize = episodes.iter().map(|(_, _, e)| e.frames).sum();
    let cat = |f: &dyn Fn(&EpisodeBuffer) -> &Vec<f32>| episodes.iter().flat_map(|(_, _, e)| f(e).iter().copied()).collect::<Vec<f32>>();
    let mut columns = vec![array_column("observation.state", cat(&|e| &e.state), width(layout, "observation.state"), rows, path)?];
    for (k, (_, key)) in layout.array_fields.iter().enumerate() {
        columns.push(array_column(
            key,
            episodes.iter().flat_map(|(_, _, e)| e.arrays[k].iter().copied()).collect(),
            width(layout, key),
            rows,
            path,
        )?);
    }
    columns.push(array_column(
        "observation.environment_state",
        cat(&|e| &e.environment_state),
        width(layout, "observation.environment_state"),
        rows,
        path,
    )?);
    columns.push(array_column("action", cat(&|e| &e.action), width(layout, "action"), rows, path)?);
    columns.push(Column::new("next.reward".into(), cat(&|e| &e.reward)));
    columns.push(Column::new("next.done".into(), episodes.iter().flat_map(|(_, _, e)| e.done.iter().copied()).collect::<Vec<bool>>()));
    let frame_index: Vec<i64> = episodes.iter().flat_map(|(_, _, e)| 0..e.frames as i64).collect();
    columns.push(Column::new("timestamp".into(), frame_index.iter().map(|f| *f as f32 / fps as f32).collect::<Vec<f32>>()));
    columns.push(Column::new("frame_index".into(), frame_index));
    columns.push(Column::new(
        "episode_index".into(),
        episodes.iter().flat_map(|(i, _, e)| std::iter::repeat_n(*i as i64, e.frames)).collect::<Vec<i64>>(),
    ));
    columns.push(Column::new("index".into(), (first_index as i64..first_index as i64 + rows as i64).collect::<Vec<i64>>()));
    columns.push(Column::new(
        "task_index".into(),
        episodes.iter().flat_map(|(_, t, e)| std::iter::repeat_n(*t as i64, e.frames)).collect::<Vec<i64>>(),
    ));
    DataFrame::new(rows, columns).map_err(|e| polars_error(path, e))
}

/// The `ARROW:schema` value Arrow readers take the schema from: the IPC-serialized schema,
/// with `metadata` as the schema's own metadata (where pyarrow looks for `pandas`), prefixed
/// and base64-encoded as Arrow's Parquet writer does.
fn arrow_schema_key(df: &DataFrame, metadata: &[(String, String)]) -> String {
    use base64::Engine;
    use polars_arrow::io::ipc::write::{default_ipc_fields, schema_to_bytes};
    let schema = df.schema().to_arrow(CompatLevel::oldest());
    let custom: polars_arrow::datatypes::Metadata = metadata.iter().map(|(k, v)| (k.as_str().into(), v.as_str().into())).collect();
    let bytes = schema_to_bytes(&schema, &default_ipc_fields(schema.iter_values()), (!custom.is_empty()).then_some(&custom));
    let mut prefixed = Vec::with_capacity(bytes.len() + 8);
    prefixed.extend_from_slice(&[255, 255, 255, 255]);
    prefixed.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    prefixed.extend_from_slice(&bytes);
    base64::engine::general_purpose::STANDARD.encode(&prefixed)
}

/// Writes a Parquet file whose Arrow schema uses the classic types (`large_string`,
/// `large_list`) rather than polars' newest (`string_view`), which pandas cannot convert
/// inside lists and older readers do not know. `extra` becomes the Arrow schema's metadata.
pub(crate) fn write_parquet(path: &Path, df: &mut DataFrame, extra: Vec<(String, String)>) -> Result<(), DatasetError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    }
    let metadata = vec![("ARROW:schema".to_string(), arrow_schema_key(df, &extra))];
    let mut file = std::fs::File::create(path).map_err(|e| io(path, e))?;
    ParquetWriter::new(&mut file)
        .with_key_value_metadata(Some(KeyValueMetadata::from_static(metadata)))
        .finish(df)
        .map_err(|e| polars_error(path, e))?;
    // Synced before the staging folder is renamed into place, so the swap publishes whole files.
    file.sync_all().map_err(|e| io(path, e))
}

/// `meta/tasks.parquet` as pandas writes it: the task strings are the frame's index, which
/// pandas finds through the `pandas` schema metadata.
pub(crate) fn write_tasks(path: &Path, tasks: &[String]) -> Result<(), DatasetError> {
    let mut df = DataFrame::new(
        tasks.len(),
        vec![Column::new("task_index".into(), (0..tasks.len() as i64).collect::<Vec<i64>>()), Column::new("task".into(), tasks.to_vec())],
    )
    .map_err(|e| polars_error(path, e))?;
    let pandas = serde_json::json!({
        "index_columns": ["task"],
        "column_indexes": [{"name": null, "field_name": null, "pandas_type": "unicode", "numpy_type": "object", "metadata": {"encoding": "UTF-8"}}],
        "columns": [
            {"name": "task_index", "field_name": "task_index", "pandas_type": "int64", "numpy_type": "int64", "metadata": null},
            {"name": "task", "field_name": "task", "pandas_type": "unicode", "numpy_type": "object", "metadata": null}
        ],
        "creator": {"library": "dreamrig", "version": env!("CARGO_PKG_VERSION")},
        "pandas_version": "2.2.0"
    });
    write_parquet(path, &mut df, vec![("pandas".into(), pandas.to_string())])
}

/// Episode metadata rows, carried over from an existing dataset or made for new episodes.
#[derive(Debug, Clone)]
pub(crate) struct EpisodeRow {
    pub(crate) index: i64,
    task: String,
    length: i64,
    chunk: i64,
    file: i64,
    from: i64,
    to: i64,
    pub(crate) seed: u64,
    pub(crate) policy: String,
    pub(crate) success: bool,
    parameters: String,
    /// Per video feature (in `info.json` order): chunk, file, from_timestamp, to_timestamp.
    videos: Vec<(i64, i64, f64, f64)>,
}

fn episodes_frame(rows: &[EpisodeRow], video_keys: &[String], path: &Path) -> Result<DataFrame, DatasetError> {
    let n = rows.len();
    let tasks: Vec<Series> = rows.iter().map(|r| Series::new("".into(), vec![r.task.clone()])).collect();
    let mut columns = vec![
        Column::new("episode_index".into(), rows.iter().map(|r| r.index).collect::<Vec<_>>()),
        Column::new("tasks".into(), tasks),
        Column::new("length".into(), rows.iter().map(|r| r.length).collect::<Vec<_>>()),
        Column::new("data/chunk_index".into(), rows.iter().map(|r| r.chunk).collect::<Vec<_>>()),
        Column::new("data/file_index".into(), rows.iter().map(|r| r.file).collect::<Vec<_>>()),
        Column::new("dataset_from_index".into(), rows.iter().map(|r| r.from).collect::<Vec<_>>()),
        Column::new("dataset_to_index".into(), rows.iter().map(|r| r.to).collect::<Vec<_>>()),
        Column::new("meta/episodes/chunk_index".into(), vec![0i64; n]),
        Column::new("meta/episodes/file_index".into(), vec![0i64; n]),
        Column::new("dreamrig/seed".into(), rows.iter().map(|r| r.seed).collect::<Vec<_>>()),
        Column::new("dreamrig/policy".into(), rows.iter().map(|r| r.policy.as_str()).collect::<Vec<_>>()),
        Column::new("dreamrig/success".into(), rows.iter().map(|r| r.success).collect::<Vec<_>>()),
        Column::new("dreamrig/parameters".into(), rows.iter().map(|r| r.parameters.as_str()).collect::<Vec<_>>()),
    ];
    for (k, key) in video_keys.iter().enumerate() {
        let at = |r: &EpisodeRow| r.videos.get(k).copied().unwrap_or((0, 0, 0.0, 0.0));
        columns.push(Column::new(format!("videos/{key}/chunk_index").into(), rows.iter().map(|r| at(r).0).collect::<Vec<_>>()));
        columns.push(Column::new(format!("videos/{key}/file_index").into(), rows.iter().map(|r| at(r).1).collect::<Vec<_>>()));
        columns.push(Column::new(format!("videos/{key}/from_timestamp").into(), rows.iter().map(|r| at(r).2).collect::<Vec<_>>()));
        columns.push(Column::new(format!("videos/{key}/to_timestamp").into(), rows.iter().map(|r| at(r).3).collect::<Vec<_>>()));
    }
    DataFrame::new(n, columns).map_err(|e| polars_error(path, e))
}

pub(crate) fn read_episode_rows(path: &Path, video_keys: &[String]) -> Result<Vec<EpisodeRow>, DatasetError> {
    let df = read_parquet(path)?;
    let fail = |e: PolarsError| polars_error(path, e);
    let int = |name: &str| int_column(&df, name, path);
    let text = |name: &str| -> Result<Vec<String>, DatasetError> {
        Ok(df.column(name).map_err(fail)?.str().map_err(fail)?.iter().map(|s| s.unwrap_or("").to_string()).collect())
    };
    let tasks: Vec<String> = df
        .column("tasks")
        .map_err(fail)?
        .list()
        .map_err(fail)?
        .series_iter()
        .map(|s| s.and_then(|s| s.str().ok().and_then(|c| c.get(0).map(str::to_string))).unwrap_or_default())
        .collect();
    let (index, length, chunk, file, from, to) = (
        int("episode_index")?,
        int("length")?,
        int("data/chunk_index")?,
        int("data/file_index")?,
        int("dataset_from_index")?,
        int("dataset_to_index")?,
    );
    let seed = seed_column(&df, "dreamrig/seed", path)?;
    let policy = text("dreamrig/policy")?;
    let parameters = text("dreamrig/parameters")?;
    let success: Vec<bool> =
        df.column("dreamrig/success").map_err(fail)?.bool().map_err(fail)?.iter().map(|v| v.unwrap_or(false)).collect();
    let mut videos = vec![Vec::new(); df.height()];
    for key in video_keys {
        let float = |field: &str| column_values(df.column(&format!("videos/{key}/{field}")).map_err(fail)?, path);
        let (chunk, file) = (int(&format!("videos/{key}/chunk_index"))?, int(&format!("videos/{key}/file_index"))?);
        let (from, to) = (float("from_timestamp")?, float("to_timestamp")?);
        for (i, v) in videos.iter_mut().enumerate() {
            v.push((chunk[i], file[i], from[i], to[i]));
        }
    }
    Ok((0..df.height())
        .map(|i| EpisodeRow {
            index: index[i],
            task: tasks[i].clone(),
            length: length[i],
            chunk: chunk[i],
            file: file[i],
            from: from[i],
            to: to[i],
            seed: seed[i],
            policy: policy[i].clone(),
            success: success[i],
            parameters: parameters[i].clone(),
            videos: std::mem::take(&mut videos[i]),
        })
        .collect())
}

/// Hard-links (or copies) `file` to `target`, creating its folder.
fn carry_over(file: &Path, target: &Path) -> Result<(), DatasetError> {
    std::fs::create_dir_all(target.parent().expect("dataset files are in folders")).map_err(|e| io(target, e))?;
    std::fs::hard_link(file, target).or_else(|_| std::fs::copy(file, target).map(|_| ())).map_err(|e| io(target, e))
}

/// Every file under `dir` (none when it does not exist), sorted.
fn files_under(dir: &Path) -> Result<Vec<PathBuf>, DatasetError> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(entries) => entries,
            // A dataset without videos has no folder for them.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && d == dir => continue,
            Err(e) => return Err(io(&d, e)),
        };
        for entry in entries {
            let path = entry.map_err(|e| io(&d, e))?.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Every numeric feature's rows, read back from the data files, for stats.
pub(crate) fn compute_stats(info: &DatasetInfo, files: &[PathBuf]) -> Result<serde_json::Value, DatasetError> {
    let mut per_feature: BTreeMap<String, (usize, Vec<f64>)> = BTreeMap::new();
    for path in files {
        let df = read_parquet(path)?;
        for (name, feature) in &info.features {
            // Strings have no statistics; images and videos are not in the data files.
            if matches!(feature.dtype.as_str(), "string" | "video" | "image") {
                continue;
            }
            let column = df.column(name).map_err(|e| polars_error(path, e))?;
            let width: usize = feature.shape.iter().product();
            let values: Vec<f64> = column_values(column, path)?;
            let entry = per_feature.entry(name.clone()).or_insert((width, Vec::new()));
            entry.1.extend(values);
        }
    }
    let mut out = serde_json::Map::new();
    for (name, _) in &info.features {
        let Some((width, values)) = per_feature.get(name) else { continue };
        // A feature of width 0 (the action of a world without actuators) has empty rows.
        let rows: Vec<&[f64]> = if *width == 0 { vec![&[]; info.total_frames as usize] } else { values.chunks(*width).collect() };
        out.insert(name.clone(), serde_json::to_value(feature_stats(&rows, *width)).expect("stats serialize"));
    }
    Ok(serde_json::Value::Object(out))
}

/// A column's values as f64, row-major (arrays flattened).
pub(crate) fn column_values(column: &Column, path: &Path) -> Result<Vec<f64>, DatasetError> {
    let series = column.as_materialized_series();
    let leaf = match series.dtype() {
        DataType::Array(_, _) => series.array().map_err(|e| polars_error(path, e))?.get_inner(),
        _ => series.clone(),
    };
    let cast = leaf.cast(&DataType::Float64).map_err(|e| polars_error(path, e))?;
    Ok(cast.f64().map_err(|e| polars_error(path, e))?.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
}

/// Writes `episodes` as a new dataset at `root`, or appends them to the one there. Everything
/// is written into a staging folder beside `root`, which then replaces it: an interrupted
/// write leaves `root` as it was (or absent).
/// Returns the written `info.json`. Errors: [`DatasetError::Mismatch`] when `root` holds a dataset and
/// `options.append` is off, when the episodes' features or fps differ from the dataset's, or when
/// `root` exists but is not a dataset; [`DatasetError::Format`] or [`DatasetError::Io`] when a file
/// cannot be read or written (also for a buffer whose widths do not fit `layout`).
pub fn write_dataset(
    root: &Path,
    layout: &FrameLayout,
    episodes: &[EpisodeBuffer],
    options: &WriteOptions,
) -> Result<DatasetInfo, DatasetError> {
    let parent = root.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "dataset".into());
    let staging = parent.join(format!(".{name}.staging-{}", std::process::id()));
    let result = write_staged(root, &staging, layout, episodes, options);
    if result.is_err() {
        // Nothing half-written stays behind.
        let _ = std::fs::remove_dir_all(&staging);
    }
    result
}

fn write_staged(
    root: &Path,
    staging: &Path,
    layout: &FrameLayout,
    episodes: &[EpisodeBuffer],
    options: &WriteOptions,
) -> Result<DatasetInfo, DatasetError> {
    let staging = staging.to_path_buf();
    let parent = root.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
    let name = root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "dataset".into());
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(staging.join("meta")).map_err(|e| io(&staging, e))?;

    let existing = root.join("meta/info.json").exists();
    let video_keys: Vec<String> = layout.video_fields.iter().map(|v| v.key.clone()).collect();
    for (n, episode) in episodes.iter().enumerate() {
        let sizes_differ = layout.video_fields.iter().zip(&episode.videos).any(|(f, v)| (f.width, f.height) != (v.width, v.height));
        if episode.frames > 0
            && (episode.videos.len() != video_keys.len() || episode.videos.iter().any(|v| v.frames() != episode.frames) || sizes_differ)
        {
            return Err(DatasetError::Mismatch(format!(
                "episode {n} ({} frames) has {} videos of {:?} frames and sizes {:?}; the layout has {} video features ({})",
                episode.frames,
                episode.videos.len(),
                episode.videos.iter().map(EncodedVideo::frames).collect::<Vec<_>>(),
                episode.videos.iter().map(|v| (v.width, v.height)).collect::<Vec<_>>(),
                video_keys.len(),
                video_keys.join(", ")
            )));
        }
    }
    let (mut info, mut rows, mut tasks, mut data_files) = if existing {
        if !options.append {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(DatasetError::Mismatch(format!(
                "{} already holds a dataset; pass --append to add episodes to it, or choose another folder",
                root.display()
            )));
        }
        let dataset = crate::LeRobotDataset::open(root)?;
        let old = &dataset.info;
        if old.features != layout.features || old.fps != options.fps {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(DatasetError::Mismatch(format!(
                "{}: the new episodes have different features or fps than the dataset (a different scenario?)",
                root.display()
            )));
        }
        // Carry the existing data and video files over (hard links where possible: no copy).
        let mut files = Vec::new();
        for file in &dataset.data_files {
            let target = staging.join(file.strip_prefix(root).unwrap_or(file));
            carry_over(file, &target)?;
            files.push(target);
        }
        for file in files_under(&root.join("videos"))? {
            carry_over(&file, &staging.join(file.strip_prefix(root).unwrap_or(&file)))?;
        }
        let rows = read_episode_rows(&root.join(episodes_file(0, 0)), &video_keys)?;
        (old.clone(), rows, dataset.tasks.clone(), files)
    } else {
        let info = DatasetInfo {
            codebase_version: CODEBASE_VERSION.into(),
            robot_type: Some(options.robot_type.clone()),
            total_episodes: 0,
            total_frames: 0,
            total_tasks: 0,
            chunks_size: CHUNKS_SIZE,
            data_files_size_in_mb: options.data_file_size_mb,
            video_files_size_in_mb: 200,
            fps: options.fps,
            splits: BTreeMap::new(),
            data_path: DATA_PATH.into(),
            video_path: (!video_keys.is_empty()).then(|| crate::VIDEO_PATH.to_string()),
            features: layout.features.clone(),
        };
        (info, Vec::new(), Vec::new(), Vec::new())
    };

    // New episodes go into new data files after the last one, rolling over by size.
    let (mut chunk, mut file) = rows.last().map(|r| next_file(r.chunk as u64, r.file as u64)).unwrap_or((0, 0));
    let mut next_index = info.total_frames;
    let mut next_episode = info.total_episodes;
    // Video features are not in the data files: their files roll over by their encoded size.
    let bytes_per_frame: usize =
        4 * layout.features.iter().filter(|(_, f)| f.dtype != "video").map(|(_, f)| f.shape.iter().product::<usize>()).sum::<usize>() + 64;
    let video_limit = info.video_files_size_in_mb as usize * 1024 * 1024;
    let video_bytes = |e: &EpisodeBuffer| e.videos.iter().map(|v| v.samples.iter().map(Vec::len).sum::<usize>()).max().unwrap_or(0);
    let mut pending_video_bytes = 0;
    let limit = (options.data_file_size_mb as usize * 1024 * 1024 / bytes_per_frame.max(1)).max(1);
    let mut pending: Vec<(u64, u64, &EpisodeBuffer)> = Vec::new();
    let mut pending_frames = 0;
    let flush = |pending: &mut Vec<(u64, u64, &EpisodeBuffer)>,
                 chunk: u64,
                 file: u64,
                 first_index: u64,
                 data_files: &mut Vec<PathBuf>|
     -> Result<(), DatasetError> {
        if pending.is_empty() {
            return Ok(());
        }
        let path = staging.join(data_file(chunk, file));
        let mut df = data_frame(layout, pending, first_index, options.fps, &path)?;
        write_parquet(&path, &mut df, Vec::new())?;
        data_files.push(path);
        // Each video feature's file has the same chunk and file index as the data file.
        for (k, key) in video_keys.iter().enumerate() {
            // Episodes without frames have no video (and span no time in the file).
            let videos: Vec<&EncodedVideo> = pending.iter().filter_map(|(_, _, e)| e.videos.get(k)).filter(|v| v.frames() > 0).collect();
            if videos.is_empty() {
                continue;
            }
            write_mp4(&staging.join(video_file(key, chunk, file)), FrameTiming::fps(options.fps), &videos)?;
        }
        pending.clear();
        Ok(())
    };
    let mut file_first_index = next_index;
    for episode in episodes {
        if pending_frames > 0 && (pending_frames + episode.frames > limit || pending_video_bytes + video_bytes(episode) > video_limit) {
            flush(&mut pending, chunk, file, file_first_index, &mut data_files)?;
            (chunk, file) = next_file(chunk, file);
            pending_frames = 0;
            pending_video_bytes = 0;
            file_first_index = next_index;
        }
        let task_index = match tasks.iter().position(|t| t == &episode.task) {
            Some(i) => i,
            None => {
                tasks.push(episode.task.clone());
                tasks.len() - 1
            }
        } as u64;
        rows.push(EpisodeRow {
            index: next_episode as i64,
            task: episode.task.clone(),
            length: episode.frames as i64,
            chunk: chunk as i64,
            file: file as i64,
            from: next_index as i64,
            to: (next_index + episode.frames as u64) as i64,
            seed: episode.seed,
            policy: episode.policy.clone(),
            success: episode.success,
            parameters: episode.parameters.to_string(),
            videos: video_keys
                .iter()
                .map(|_| {
                    let from = pending_frames as f64 / options.fps as f64;
                    (chunk as i64, file as i64, from, from + episode.frames as f64 / options.fps as f64)
                })
                .collect(),
        });
        pending.push((next_episode, task_index, episode));
        pending_frames += episode.frames;
        pending_video_bytes += video_bytes(episode);
        next_index += episode.frames as u64;
        next_episode += 1;
    }
    flush(&mut pending, chunk, file, file_first_index, &mut data_files)?;

    let episodes_path = staging.join(episodes_file(0, 0));
    let mut episodes_df = episodes_frame(&rows, &video_keys, &episodes_path)?;
    write_parquet(&episodes_path, &mut episodes_df, Vec::new())?;
    write_tasks(&staging.join("meta/tasks.parquet"), &tasks)?;
    info.total_episodes = next_episode;
    info.total_frames = next_index;
    info.total_tasks = tasks.len() as u64;
    info.splits = BTreeMap::from([("train".to_string(), format!("0:{next_episode}"))]);
    let mut stats = compute_stats(&info, &data_files)?;
    // Video features: per-channel statistics of the new frames' histograms, pooled with the
    // dataset's when appending (its frames are not decoded again).
    let old_stats: serde_json::Value = if existing && !video_keys.is_empty() {
        let path = root.join("meta/stats.json");
        let bytes = std::fs::read(&path).map_err(|e| io(&path, e))?;
        serde_json::from_slice(&bytes).map_err(|e| format(&path, format!("not valid JSON: {e}")))?
    } else {
        serde_json::Value::Null
    };
    for (k, key) in video_keys.iter().enumerate() {
        let mut histogram = vec![0u64; 3 * 256];
        let mut frames = 0u64;
        for episode in episodes.iter().filter(|e| e.frames > 0) {
            histogram.iter_mut().zip(&episode.videos[k].histogram).for_each(|(a, b)| *a += b);
            frames += episode.frames as u64;
        }
        let new = image_stats(&histogram, frames);
        let merged = match (existing, old_stats.get(key)) {
            (true, Some(old)) if frames > 0 => crate::stats::pool_stats(old, &new),
            (true, Some(old)) => old.clone(),
            (true, None) => {
                // Without them the dataset's frames would be left out of the statistics.
                return Err(format(
                    &root.join("meta/stats.json"),
                    format!("no statistics of the video feature {key} to add the new frames to"),
                ));
            }
            (false, _) => new,
        };
        stats[key] = merged;
    }
    let write_json = |path: PathBuf, value: String| dreamrig_sim::atomic::write_atomic(&path, value.as_bytes()).map_err(|e| io(&path, e));
    write_json(staging.join("meta/stats.json"), serde_json::to_string_pretty(&stats).expect("stats serialize"))?;
    write_json(staging.join("meta/info.json"), serde_json::to_string_pretty(&info).expect("info serializes"))?;

    // Swap the staging folder in.
    if existing {
        let old = parent.join(format!(".{name}.old-{}", std::process::id()));
        std::fs::rename(root, &old).map_err(|e| io(root, e))?;
        std::fs::rename(&staging, root).map_err(|e| io(root, e))?;
        dreamrig_sim::atomic::sync_parent(root).map_err(|e| io(root, e))?;
        let _ = std::fs::remove_dir_all(&old);
    } else {
        if root.exists() {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(DatasetError::Mismatch(format!("{} exists and is not a dataset; choose another folder", root.display())));
        }
        std::fs::rename(&staging, root).map_err(|e| io(root, e))?;
        dreamrig_sim::atomic::sync_parent(root).map_err(|e| io(root, e))?;
    }
    Ok(info)
}
