//! The LeRobot v3.0 layout: `info.json`, features, paths, and how a dreamrig world's
//! observations map onto features.

use dreamrig_sim::{ActionSpec, ObservationSpec, StateSpec};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `codebase_version` of the datasets dreamrig writes; the reader accepts any `v3.x`.
pub const CODEBASE_VERSION: &str = "v3.0";
/// `data_path` template in `info.json` (Python format syntax, LeRobot's `DEFAULT_DATA_PATH`).
pub const DATA_PATH: &str = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet";
/// Files per chunk folder before the chunk index rolls over (LeRobot's `DEFAULT_CHUNK_SIZE`).
pub const CHUNKS_SIZE: u64 = 1000;
/// Size at which a data file rolls over when `info.json` omits it, in MB (LeRobot's default).
pub const DATA_FILES_SIZE_IN_MB: u64 = 100;

/// One feature of `info.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureInfo {
    /// Element type: `float32`, `int64`, `bool` in dreamrig's datasets; others write `string`, `image`, `video`, ….
    pub dtype: String,
    /// Shape of one frame's value; dreamrig writes vectors, `[n]`.
    pub shape: Vec<usize>,
    /// A list of element names, `null`, or (in some published datasets) a map of name lists.
    #[serde(default)]
    pub names: serde_json::Value,
    /// Video features only: how the MP4 files are encoded (`video.height`, `video.width`,
    /// `video.codec`, `video.pix_fmt`, `video.fps`, `video.channels`, `video.is_depth_map`,
    /// `has_audio`), as lerobot's `get_video_info` writes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<serde_json::Value>,
}

/// `meta/info.json`.
/// LeRobot v3.0's `DatasetInfo`; see `../shared/specs/interop.md` §4 for the fields and their defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetInfo {
    /// Layout version, `v3.0` (see [`CODEBASE_VERSION`]).
    pub codebase_version: String,
    /// Free text; dreamrig writes [`WriteOptions::robot_type`](crate::WriteOptions::robot_type).
    #[serde(default)]
    pub robot_type: Option<String>,
    /// Episodes in the dataset.
    pub total_episodes: u64,
    /// Frames (rows) over all data files.
    pub total_frames: u64,
    /// Distinct task strings (rows of `meta/tasks.parquet`).
    #[serde(default)]
    pub total_tasks: u64,
    /// Files per chunk folder (1000 when `info.json` omits it).
    #[serde(default = "default_chunks_size")]
    pub chunks_size: u64,
    /// Size at which data files roll over, in MB (100 when omitted).
    #[serde(default = "default_data_size")]
    pub data_files_size_in_mb: u64,
    /// Size at which video files roll over, in MB (200 when omitted; dreamrig writes no videos).
    #[serde(default = "default_video_size")]
    pub video_files_size_in_mb: u64,
    /// Frames per second: `timestamp` = `frame_index` / `fps` (s).
    pub fps: u32,
    /// Split name → episode range `start:end`, end exclusive; dreamrig writes `train: 0:<total_episodes>`.
    #[serde(default)]
    pub splits: BTreeMap<String, String>,
    /// Template of data file paths (`DATA_PATH` when omitted).
    #[serde(default = "default_data_path")]
    pub data_path: String,
    /// Template of video file paths; `None` for a dataset without videos.
    #[serde(default)]
    pub video_path: Option<String>,
    /// Feature order is kept as written (serde_json's map keeps insertion order when the
    /// `preserve_order` feature is off only for BTreeMap; a Vec of pairs keeps it exactly).
    #[serde(with = "ordered_features")]
    pub features: Vec<(String, FeatureInfo)>,
}

fn default_chunks_size() -> u64 {
    CHUNKS_SIZE
}
fn default_data_size() -> u64 {
    DATA_FILES_SIZE_IN_MB
}
fn default_video_size() -> u64 {
    200
}
fn default_data_path() -> String {
    DATA_PATH.into()
}

mod ordered_features {
    use super::FeatureInfo;
    use serde::de::{MapAccess, Visitor};
    use serde::ser::SerializeMap;
    use serde::{Deserializer, Serializer};

    /// Writes the features as a JSON map, in order.
    pub fn serialize<S: Serializer>(features: &[(String, FeatureInfo)], s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(features.len()))?;
        for (k, v) in features {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }

    /// Reads a JSON map of features in the order of the text.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, FeatureInfo)>, D::Error> {
        struct Ordered;
        impl<'de> Visitor<'de> for Ordered {
            type Value = Vec<(String, FeatureInfo)>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of features")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry()? {
                    out.push((k, v));
                }
                Ok(out)
            }
        }
        d.deserialize_map(Ordered)
    }
}

impl DatasetInfo {
    /// The feature called `name`, if the dataset has one.
    pub fn feature(&self, name: &str) -> Option<&FeatureInfo> {
        self.features.iter().find(|(n, _)| n == name).map(|(_, f)| f)
    }
}

/// Where each observation field of a world goes among the dataset's features.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameLayout {
    /// Fields concatenated into `observation.state`, in order.
    pub state_fields: Vec<String>,
    /// Fields stored as features of their own (lidar ranges, depth images), flattened.
    /// Each pair: (observation field name, feature key `observation.<field>`).
    pub array_fields: Vec<(String, String)>,
    /// Camera RGB images stored as LeRobot video features (MP4 files, not data-file columns).
    pub video_fields: Vec<VideoField>,
    /// Every feature of `info.json`, in the order of the data files' columns (video features,
    /// which have no column, after the observation arrays).
    pub features: Vec<(String, FeatureInfo)>,
}

/// A camera image recorded as a video feature.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoField {
    /// The observation image, `CAMERA.rgb`.
    pub image: String,
    /// The feature key, `observation.images.CAMERA` (LeRobot's name for camera features).
    pub key: String,
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
}

fn vector(dtype: &str, n: usize, names: Option<Vec<String>>) -> FeatureInfo {
    FeatureInfo {
        dtype: dtype.into(),
        shape: vec![n],
        names: names.map(|n| serde_json::json!(n)).unwrap_or(serde_json::Value::Null),
        info: None,
    }
}

/// The `info.json` entry of a video feature of `width` × `height` RGB frames at `fps`.
fn video(width: u32, height: u32, fps: u32) -> FeatureInfo {
    FeatureInfo {
        dtype: "video".into(),
        shape: vec![height as usize, width as usize, 3],
        names: serde_json::json!(["height", "width", "channels"]),
        info: Some(serde_json::json!({
            "video.height": height,
            "video.width": width,
            "video.codec": crate::video::VIDEO_CODEC,
            "video.pix_fmt": crate::video::VIDEO_PIX_FMT,
            "video.is_depth_map": false,
            "video.fps": fps,
            "video.channels": 3,
            "has_audio": false,
        })),
    }
}

impl FrameLayout {
    /// Features for a world recorded at `fps` frames per second: `observation.state`
    /// (proprioception and task fields), `observation.<sensor>.<field>` for lidar and depth,
    /// `observation.images.<camera>` for each camera's RGB image (a video feature; a camera's
    /// depth and segmentation outputs are not recorded: LeRobot has no lossless video feature
    /// for them), `observation.environment_state` (the full simulator state, named), `action`,
    /// `next.reward`, `next.done`, and the LeRobot defaults.
    pub fn new(observation: &ObservationSpec, action: &ActionSpec, state: &StateSpec, fps: u32) -> Self {
        let mut state_fields = Vec::new();
        let mut state_names = Vec::new();
        let mut array_fields = Vec::new();
        let mut features = Vec::new();
        for field in &observation.fields {
            let is_array = field.shape.len() == 2 || field.name.ends_with(".ranges") || field.name.ends_with(".depth");
            if is_array {
                let key = format!("observation.{}", field.name);
                features.push((key.clone(), vector("float32", field.len(), None)));
                array_fields.push((field.name.clone(), key));
            } else {
                state_fields.push(field.name.clone());
                for k in 0..field.len() {
                    let element = field.element_names.get(k).cloned().unwrap_or_else(|| k.to_string());
                    state_names.push(format!("{}.{element}", field.name));
                }
            }
        }
        let mut video_fields = Vec::new();
        for image in observation.images.iter().filter(|i| i.name.ends_with(".rgb")) {
            let key = format!("observation.images.{}", image.camera);
            features.push((key.clone(), video(image.width, image.height, fps)));
            video_fields.push(VideoField { image: image.name.clone(), key, width: image.width, height: image.height });
        }
        let mut all = vec![("observation.state".to_string(), vector("float32", state_names.len(), Some(state_names)))];
        all.extend(features);
        all.push(("observation.environment_state".into(), vector("float32", state.names.len(), Some(state.names.clone()))));
        all.push(("action".into(), vector("float32", action.len(), Some(action.names.clone()))));
        all.push(("next.reward".into(), vector("float32", 1, None)));
        all.push(("next.done".into(), vector("bool", 1, None)));
        all.push(("timestamp".into(), vector("float32", 1, None)));
        all.push(("frame_index".into(), vector("int64", 1, None)));
        all.push(("episode_index".into(), vector("int64", 1, None)));
        all.push(("index".into(), vector("int64", 1, None)));
        all.push(("task_index".into(), vector("int64", 1, None)));
        Self { state_fields, array_fields, video_fields, features: all }
    }
}

/// The data file path of a chunk and file index.
pub fn data_file(chunk: u64, file: u64) -> String {
    format!("data/chunk-{chunk:03}/file-{file:03}.parquet")
}

/// The video file path of a feature, chunk and file index (`videos/KEY/chunk-XXX/file-XXX.mp4`,
/// LeRobot's `DEFAULT_VIDEO_PATH`).
pub fn video_file(key: &str, chunk: u64, file: u64) -> String {
    format!("videos/{key}/chunk-{chunk:03}/file-{file:03}.mp4")
}

/// The episode metadata file path of a chunk and file index (`meta/episodes/chunk-XXX/file-XXX.parquet`).
pub fn episodes_file(chunk: u64, file: u64) -> String {
    format!("meta/episodes/chunk-{chunk:03}/file-{file:03}.parquet")
}

/// The next (chunk, file) pair: files roll over inside a chunk until `chunks_size`.
pub fn next_file(chunk: u64, file: u64) -> (u64, u64) {
    if file + 1 >= CHUNKS_SIZE {
        (chunk + 1, 0)
    } else {
        (chunk, file + 1)
    }
}
