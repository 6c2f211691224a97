//! H.264 video in MP4 files: the LeRobot v3.0 video features of camera scenarios and
//! `dreamrig run --video`.
//!
//! Frames are encoded by Cisco's OpenH264 (the `openh264` crate, built from source) as
//! H.264 Constrained Baseline, `yuv420p` (BT.601, limited range, signalled in the stream), and
//! muxed by the `mp4` crate into an MP4 file whose samples are length-prefixed NAL units with
//! the parameter sets in the `avcC` box (ISO/IEC 14496-15). Each episode is encoded on its own
//! ([`VideoEncoder`], one per episode and camera, so episodes encode in parallel) and begins
//! with an IDR frame; [`write_mp4`] concatenates episodes in order, frame `k` of the file at
//! `k / fps` s, which is what LeRobot's `from_timestamp` / `to_timestamp` index into.
//!
//! Encoding is deterministic: the same frames give the same bytes (one encoder thread, no
//! frame skipping, no timing input; the assembly kernels are off, see `.cargo/config.toml`,
//! so the bytes do not depend on whether `nasm` was installed at build time).

use crate::{io, DatasetError};
use openh264::encoder::{Encoder, EncoderConfig, FrameType, IntraFramePeriod, QpRange, RateControlMode, UsageType, VuiConfig};
use openh264::formats::{RgbSliceU8, YUVBuffer};
use openh264::OpenH264API;
use std::path::Path;

/// `video.codec` of the features dreamrig writes (FFmpeg's codec name).
pub const VIDEO_CODEC: &str = "h264";
/// `video.pix_fmt` of the features dreamrig writes.
pub const VIDEO_PIX_FMT: &str = "yuv420p";
/// Frames between keyframes (GOP size). LeRobot encodes with `g=2` so that training, which
/// decodes frames at random timestamps, seeks to a keyframe at most one frame back; dreamrig
/// does the same.
pub const KEYFRAME_INTERVAL: u32 = 2;
/// Quantizer range of the encoder (H.264 QP, 0–51, lower is finer). At most 22 keeps rendered
/// frames above 40 dB PSNR in practice (the round-trip tests require 35 dB).
pub const QP_RANGE: (u8, u8) = (10, 22);

/// One episode of one camera, encoded: H.264 samples ready to be muxed, and the colour
/// histogram of the frames that went in (for the feature's statistics).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EncodedVideo {
    /// Frame width in pixels (even).
    pub width: u32,
    /// Frame height in pixels (even).
    pub height: u32,
    /// The sequence parameter set NAL unit (without start code).
    #[serde(with = "base64_bytes")]
    pub sps: Vec<u8>,
    /// The picture parameter set NAL unit (without start code).
    #[serde(with = "base64_bytes")]
    pub pps: Vec<u8>,
    /// One sample per frame: the frame's NAL units, each prefixed by its 4-byte big-endian length.
    #[serde(with = "base64_samples")]
    pub samples: Vec<Vec<u8>>,
    /// Whether each sample is a keyframe (IDR).
    pub sync: Vec<bool>,
    /// Counts of each 8-bit value per channel over all source pixels: `histogram[c * 256 + v]`,
    /// c = 0, 1, 2 for R, G, B.
    pub histogram: Vec<u64>,
}

impl EncodedVideo {
    /// Number of frames.
    pub fn frames(&self) -> usize {
        self.samples.len()
    }
}

mod base64_bytes {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

mod base64_samples {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(samples: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(samples.iter().map(|b| base64::engine::general_purpose::STANDARD.encode(b)))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        let texts = Vec::<String>::deserialize(d)?;
        texts.iter().map(|t| base64::engine::general_purpose::STANDARD.decode(t).map_err(serde::de::Error::custom)).collect()
    }
}

/// Whether frames of `width` × `height` can be encoded: `yuv420p` halves both dimensions for
/// the colour planes, so both must be even; OpenH264 encodes frames of at least 16 × 16 pixels
/// and at most 3840 × 2160 (H.264 Level 5.2).
///
/// Errors: a message naming the size and what is needed.
pub fn check_frame_size(width: u32, height: u32) -> Result<(), String> {
    if width % 2 != 0 || height % 2 != 0 {
        return Err(format!("{width}×{height} cannot be encoded as yuv420p video: width and height must be even"));
    }
    if width < 16 || height < 16 {
        return Err(format!("{width}×{height} is smaller than the H.264 encoder takes: width and height must be at least 16"));
    }
    if width.max(height) > 3840 || width.min(height) > 2160 {
        return Err(format!("{width}×{height} is larger than H.264 allows here (3840×2160)"));
    }
    Ok(())
}

/// Encodes one episode's RGB frames into H.264 samples.
pub struct VideoEncoder {
    encoder: Encoder,
    yuv: YUVBuffer,
    video: EncodedVideo,
}

impl std::fmt::Debug for VideoEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoEncoder").field("width", &self.video.width).field("height", &self.video.height).finish()
    }
}

impl VideoEncoder {
    /// An encoder of `width` × `height` frames at `fps` frames per second.
    ///
    /// Errors: [`DatasetError::Video`] for a size [`check_frame_size`] refuses or an encoder
    /// OpenH264 cannot create.
    pub fn new(width: u32, height: u32, fps: u32) -> Result<Self, DatasetError> {
        check_frame_size(width, height).map_err(DatasetError::Video)?;
        let pixels = width as u64 * height as u64 * fps.max(1) as u64;
        let config = EncoderConfig::new()
            // OpenH264 refuses CameraVideoNonRealTime ("invalid usage type").
            .usage_type(UsageType::CameraVideoRealTime)
            // Quality within QP_RANGE, no bitrate target: the bitrate modes need frame skipping
            // (a dataset must keep every frame), and "off" ignores the QP range.
            .rate_control_mode(RateControlMode::Bufferbased)
            .bitrate(openh264::encoder::BitRate::from_bps(pixels.saturating_mul(2).min(i32::MAX as u64) as u32))
            .max_frame_rate(openh264::encoder::FrameRate::from_hz(fps as f32))
            .qp(QpRange::new(QP_RANGE.0, QP_RANGE.1))
            .skip_frames(false)
            .scene_change_detect(false)
            .background_detection(false)
            .adaptive_quantization(false)
            .intra_frame_period(IntraFramePeriod::from_num_frames(KEYFRAME_INTERVAL))
            .num_threads(1)
            .vui(VuiConfig::bt601());
        let encoder = Encoder::with_api_config(OpenH264API::from_source(), config)
            .map_err(|e| DatasetError::Video(format!("the H.264 encoder could not be created: {e}")))?;
        Ok(Self {
            encoder,
            yuv: YUVBuffer::new(width as usize, height as usize),
            video: EncodedVideo {
                width,
                height,
                sps: Vec::new(),
                pps: Vec::new(),
                samples: Vec::new(),
                sync: Vec::new(),
                histogram: vec![0; 3 * 256],
            },
        })
    }

    /// Encodes one frame: `rgb` is [height, width, 3] u8, row-major.
    ///
    /// Errors: [`DatasetError::Video`] when `rgb` has another length or the encoder fails.
    pub fn push(&mut self, rgb: &[u8]) -> Result<(), DatasetError> {
        let (width, height) = (self.video.width as usize, self.video.height as usize);
        if rgb.len() != width * height * 3 {
            return Err(DatasetError::Video(format!(
                "a frame of {} bytes, expected {width}×{height}×3 = {}",
                rgb.len(),
                width * height * 3
            )));
        }
        for pixel in rgb.chunks_exact(3) {
            for (c, v) in pixel.iter().enumerate() {
                self.video.histogram[c * 256 + *v as usize] += 1;
            }
        }
        self.yuv.read_rgb8(RgbSliceU8::new(rgb, (width, height)));
        let stream = self.encoder.encode(&self.yuv).map_err(|e| DatasetError::Video(format!("H.264 encoding failed: {e}")))?;
        let keyframe = matches!(stream.frame_type(), FrameType::IDR);
        let mut sample = Vec::new();
        for l in 0..stream.num_layers() {
            let Some(layer) = stream.layer(l) else { continue };
            for n in 0..layer.nal_count() {
                let Some(nal) = layer.nal_unit(n) else { continue };
                let payload = strip_start_code(nal);
                match payload.first().map(|b| b & 0x1f) {
                    Some(7) => self.video.sps = payload.to_vec(),
                    Some(8) => self.video.pps = payload.to_vec(),
                    Some(_) => {
                        sample.extend_from_slice(&(payload.len() as u32).to_be_bytes());
                        sample.extend_from_slice(payload);
                    }
                    None => {}
                }
            }
        }
        if sample.is_empty() {
            return Err(DatasetError::Video(format!("the encoder produced no picture for frame {}", self.video.samples.len())));
        }
        self.video.samples.push(sample);
        self.video.sync.push(keyframe);
        Ok(())
    }

    /// The encoded episode.
    pub fn finish(self) -> EncodedVideo {
        self.video
    }
}

/// A NAL unit without its Annex B start code (`00 00 01` or `00 00 00 01`).
fn strip_start_code(nal: &[u8]) -> &[u8] {
    if nal.starts_with(&[0, 0, 0, 1]) {
        &nal[4..]
    } else if nal.starts_with(&[0, 0, 1]) {
        &nal[3..]
    } else {
        nal
    }
}

/// Frame timing of an MP4 track: frame `k` starts at `k × duration / timescale` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameTiming {
    /// Track time units per second.
    pub timescale: u32,
    /// Length of one frame in those units.
    pub duration: u32,
}

impl FrameTiming {
    /// `fps` whole frames per second, exactly (timescale 1000 × fps): LeRobot's timing.
    pub fn fps(fps: u32) -> Self {
        Self { timescale: 1000 * fps.max(1), duration: 1000 }
    }

    /// One frame every `period_s` seconds, to the microsecond.
    pub fn period(period_s: f64) -> Self {
        Self { timescale: 1_000_000, duration: (period_s * 1e6).round().clamp(1.0, u32::MAX as f64) as u32 }
    }
}

/// Writes `episodes` one after another as one H.264 video track of an MP4 file: frame `k` of
/// the file starts at `k × timing.duration / timing.timescale` s. The file is written in place
/// and synced (callers write into a staging folder or a temporary name and rename; see
/// [`VideoRecorder`]).
///
/// Errors: [`DatasetError::Video`] when there are no frames or the episodes differ in size or
/// parameter sets; [`DatasetError::Io`] when the file cannot be written.
pub fn write_mp4(path: &Path, timing: FrameTiming, episodes: &[&EncodedVideo]) -> Result<(), DatasetError> {
    let Some(first) = episodes.iter().find(|e| e.frames() > 0) else {
        return Err(DatasetError::Video(format!("{}: no frames to write", path.display())));
    };
    for (k, e) in episodes.iter().enumerate().filter(|(_, e)| e.frames() > 0) {
        if (e.width, e.height) != (first.width, first.height) || e.sps != first.sps || e.pps != first.pps {
            return Err(DatasetError::Video(format!(
                "{}: episode {k} is {}×{} with other encoder settings than the file's first ({}×{})",
                path.display(),
                e.width,
                e.height,
                first.width,
                first.height
            )));
        }
        // The avcC box reads profile and level from the SPS's first bytes.
        if e.sps.len() < 4 || e.pps.is_empty() || e.sync.len() != e.samples.len() || e.width > u16::MAX as u32 || e.height > u16::MAX as u32
        {
            return Err(DatasetError::Video(format!(
                "{}: episode {k}'s encoded video is malformed ({} samples, {} keyframe flags, SPS of {} bytes)",
                path.display(),
                e.samples.len(),
                e.sync.len(),
                e.sps.len()
            )));
        }
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    }
    let timescale = timing.timescale;
    let mp4_error = |e: mp4::Error| io(path, e);
    let file = std::fs::File::create(path).map_err(|e| io(path, e))?;
    let mut writer = mp4::Mp4Writer::write_start(
        std::io::BufWriter::new(file),
        &mp4::Mp4Config {
            major_brand: "isom".parse().expect("a four-character code"),
            minor_version: 512,
            compatible_brands: ["isom", "iso2", "avc1", "mp41"].iter().map(|b| b.parse().expect("a four-character code")).collect(),
            timescale,
        },
    )
    .map_err(mp4_error)?;
    writer
        .add_track(&mp4::TrackConfig {
            track_type: mp4::TrackType::Video,
            timescale,
            language: "und".into(),
            media_conf: mp4::MediaConfig::AvcConfig(mp4::AvcConfig {
                width: first.width as u16,
                height: first.height as u16,
                seq_param_set: first.sps.clone(),
                pic_param_set: first.pps.clone(),
            }),
        })
        .map_err(mp4_error)?;
    let mut frame = 0u64;
    for episode in episodes {
        for (sample, sync) in episode.samples.iter().zip(&episode.sync) {
            writer
                .write_sample(
                    1,
                    &mp4::Mp4Sample {
                        start_time: frame * timing.duration as u64,
                        duration: timing.duration,
                        rendering_offset: 0,
                        is_sync: *sync,
                        bytes: bytes::Bytes::copy_from_slice(sample),
                    },
                )
                .map_err(mp4_error)?;
            frame += 1;
        }
    }
    writer.write_end().map_err(mp4_error)?;
    let file = writer.into_writer().into_inner().map_err(|e| io(path, e.error()))?;
    file.sync_all().map_err(|e| io(path, e))
}

/// [`write_mp4`] to a temporary file beside `path`, synced, then renamed over `path` (and the
/// folder synced): an interrupted or failed write leaves `path` as it was, and the temporary
/// file is removed.
///
/// Errors: as [`write_mp4`], and [`DatasetError::Io`] when the rename fails.
pub fn write_mp4_atomic(path: &Path, timing: FrameTiming, episodes: &[&EncodedVideo]) -> Result<(), DatasetError> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "video.mp4".into());
    let temporary = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let written = write_mp4(&temporary, timing, episodes)
        .and_then(|()| std::fs::rename(&temporary, path).map_err(|e| io(path, e)))
        .and_then(|()| dreamrig_sim::atomic::sync_parent(path).map_err(|e| io(path, e)));
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

/// An MP4 file's header, parsed by the `mp4` crate. Any file may be handed in (`dataset
/// validate` reads users' datasets), so a parser panic is caught and reported as an error.
fn read_header(path: &Path) -> Result<mp4::Mp4Reader<std::io::BufReader<std::fs::File>>, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let size = file.metadata().map_err(|e| e.to_string())?.len();
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| mp4::Mp4Reader::read_header(std::io::BufReader::new(file), size)))
        .map_err(|_| "the MP4 header could not be parsed".to_string())?
        .map_err(|e| format!("the MP4 header could not be parsed: {e}"))
}

/// The duration of an MP4 file in seconds, from its movie header (`mvhd`: duration /
/// timescale).
///
/// Errors: a message when the file cannot be opened, its header cannot be parsed, or its
/// timescale is 0.
pub fn mp4_duration_s(path: &Path) -> Result<f64, String> {
    let reader = read_header(path)?;
    let mvhd = &reader.moov.mvhd;
    if mvhd.timescale == 0 {
        return Err("the movie header's timescale is 0".into());
    }
    Ok(mvhd.duration as f64 / mvhd.timescale as f64)
}

/// How many samples (frames) the first video track of an MP4 file holds, with its width and
/// height; `None` when the file cannot be opened or parsed or has no video track.
pub fn mp4_frames(path: &Path) -> Option<(u32, u16, u16)> {
    let reader = read_header(path).ok()?;
    let track = reader.tracks().values().find(|t| matches!(t.track_type(), Ok(mp4::TrackType::Video)))?;
    Some((track.sample_count(), track.width(), track.height()))
}

/// An observer that records one camera image of every episode of a rollout into one MP4
/// file, episodes one after another in the order they end (`dreamrig run --video`; run the
/// episodes one after another for a file in episode order). Frame t of an episode is the image
/// the policy saw before action t. [`VideoRecorder::finish`] writes the file atomically.
#[derive(Debug)]
pub struct VideoRecorder {
    image: String,
    width: u32,
    height: u32,
    period_s: f64,
    path: std::path::PathBuf,
    encoders: Vec<Option<VideoEncoder>>,
    episodes: Vec<EncodedVideo>,
}

impl VideoRecorder {
    /// A recorder of the 8-bit RGB image `image` ([`dreamrig_sim::ImageSpec`] of the
    /// world's observation spec), one frame per control step of `period_s` seconds, into `path`.
    ///
    /// Errors: [`DatasetError::Video`] when the image is not RGB or its size cannot be encoded.
    pub fn new(image: &dreamrig_sim::ImageSpec, period_s: f64, path: &Path) -> Result<Self, DatasetError> {
        if image.dtype != dreamrig_sim::PixelType::U8 || image.channels != 3 {
            return Err(DatasetError::Video(format!("{} is not an 8-bit RGB image (encoding {})", image.name, image.encoding)));
        }
        check_frame_size(image.width, image.height).map_err(|e| DatasetError::Video(format!("{}: {e}", image.name)))?;
        Ok(Self {
            image: image.name.clone(),
            width: image.width,
            height: image.height,
            period_s,
            path: path.to_path_buf(),
            encoders: Vec::new(),
            episodes: Vec::new(),
        })
    }

    /// Episodes recorded so far (those with at least one frame).
    pub fn episodes(&self) -> usize {
        self.episodes.len()
    }

    /// Writes the recorded episodes to the file (a temporary file beside it, synced, then
    /// renamed over it) and returns the number of frames written.
    ///
    /// Errors: [`DatasetError::Video`] when no frame was recorded; [`DatasetError::Io`] when the
    /// file cannot be written (the temporary file is removed; an existing file stays as it was).
    pub fn finish(self) -> Result<usize, DatasetError> {
        let episodes: Vec<&EncodedVideo> = self.episodes.iter().collect();
        write_mp4_atomic(&self.path, FrameTiming::period(self.period_s), &episodes)?;
        Ok(self.episodes.iter().map(EncodedVideo::frames).sum())
    }
}

impl dreamrig_sim::StepObserver for VideoRecorder {
    fn episode_started(
        &mut self,
        episode: &dreamrig_sim::EpisodeInfo<'_>,
        _start: &dreamrig_sim::EpisodeStart<'_>,
    ) -> Result<(), dreamrig_sim::ObserverError> {
        let encoder = VideoEncoder::new(self.width, self.height, (1.0 / self.period_s).round().max(1.0) as u32)
            .map_err(|e| dreamrig_sim::ObserverError::new("video", e))?;
        *dreamrig_sim::observer::slot_mut(&mut self.encoders, episode.slot) = Some(encoder);
        Ok(())
    }

    fn step(
        &mut self,
        episode: &dreamrig_sim::EpisodeInfo<'_>,
        step: &dreamrig_sim::StepView<'_>,
    ) -> Result<(), dreamrig_sim::ObserverError> {
        let Some(encoder) = dreamrig_sim::observer::slot_mut(&mut self.encoders, episode.slot) else { return Ok(()) };
        let Some(dreamrig_sim::ImageData::U8(rgb)) = step.observation.image(&self.image) else {
            return Err(dreamrig_sim::ObserverError::message("video", format!("step {} has no image {}", step.step, self.image)));
        };
        encoder.push(rgb).map_err(|e| dreamrig_sim::ObserverError::message("video", format!("{}: {e}", self.image)))
    }

    fn episode_ended(
        &mut self,
        episode: &dreamrig_sim::EpisodeInfo<'_>,
        _outcome: &dreamrig_sim::EpisodeOutcome,
    ) -> Result<(), dreamrig_sim::ObserverError> {
        if let Some(encoder) = dreamrig_sim::observer::slot_mut(&mut self.encoders, episode.slot).take() {
            let video = encoder.finish();
            if video.frames() > 0 {
                self.episodes.push(video);
            }
        }
        Ok(())
    }
}

/// Per-channel statistics of 8-bit colour values scaled to [0, 1], from an
/// [`EncodedVideo::histogram`] (or the sum of several): LeRobot's image statistics, shape
/// (3, 1, 1) per statistic (`compute_stats.py`: min, max, mean, std, count, q01…q99).
/// Quantiles are exact: the value below which that fraction of pixels lies.
pub fn image_stats(histogram: &[u64], frames: u64) -> serde_json::Value {
    let channel = |c: usize| &histogram[c * 256..(c + 1) * 256];
    let per_channel = |f: &dyn Fn(&[u64]) -> f64| serde_json::json!((0..3).map(|c| vec![vec![f(channel(c))]]).collect::<Vec<_>>());
    let total = |h: &[u64]| h.iter().sum::<u64>().max(1) as f64;
    let mean = |h: &[u64]| h.iter().enumerate().map(|(v, n)| v as f64 * *n as f64).sum::<f64>() / total(h) / 255.0;
    let quantile = |q: f64| {
        move |h: &[u64]| {
            let target = q * total(h);
            let mut seen = 0.0;
            for (v, n) in h.iter().enumerate() {
                seen += *n as f64;
                if seen >= target && *n > 0 {
                    return v as f64 / 255.0;
                }
            }
            1.0
        }
    };
    let min = |h: &[u64]| h.iter().position(|n| *n > 0).unwrap_or(0) as f64 / 255.0;
    let max = |h: &[u64]| h.iter().rposition(|n| *n > 0).unwrap_or(0) as f64 / 255.0;
    let std = |h: &[u64]| {
        let m = mean(h) * 255.0;
        (h.iter().enumerate().map(|(v, n)| (v as f64 - m).powi(2) * *n as f64).sum::<f64>() / total(h)).sqrt() / 255.0
    };
    serde_json::json!({
        "min": per_channel(&min),
        "max": per_channel(&max),
        "mean": per_channel(&mean),
        "std": per_channel(&std),
        "count": [frames],
        "q01": per_channel(&quantile(0.01)),
        "q10": per_channel(&quantile(0.10)),
        "q50": per_channel(&quantile(0.50)),
        "q90": per_channel(&quantile(0.90)),
        "q99": per_channel(&quantile(0.99)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use openh264::decoder::Decoder;

    /// A moving gradient with a coloured square: smooth areas and sharp colour edges.
    fn frame(width: usize, height: usize, t: usize) -> Vec<u8> {
        let mut rgb = vec![0u8; width * height * 3];
        for y in 0..height {
            for x in 0..width {
                let i = (y * width + x) * 3;
                let inside = (x + 40 - t * 2) % width < 16 && (y + 8) % height < 24;
                let [r, g, b] = if inside { [30, 90, 200] } else { [(x * 3 + t) as u8, (y * 3) as u8, 120] };
                rgb[i..i + 3].copy_from_slice(&[r, g, b]);
            }
        }
        rgb
    }

    fn psnr(a: &[u8], b: &[u8]) -> f64 {
        let mse = a.iter().zip(b).map(|(x, y)| (*x as f64 - *y as f64).powi(2)).sum::<f64>() / a.len() as f64;
        10.0 * (255.0f64.powi(2) / mse.max(1e-12)).log10()
    }

    /// Decodes the samples back (length prefixes turned into start codes, parameter sets first).
    fn decode(video: &EncodedVideo) -> Vec<Vec<u8>> {
        let mut decoder = Decoder::new().unwrap();
        let (w, h) = (video.width as usize, video.height as usize);
        let mut frames = Vec::new();
        for sample in &video.samples {
            let mut annex_b = Vec::new();
            for nal in [&video.sps, &video.pps] {
                annex_b.extend_from_slice(&[0, 0, 0, 1]);
                annex_b.extend_from_slice(nal);
            }
            let mut rest = sample.as_slice();
            while rest.len() >= 4 {
                let n = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
                annex_b.extend_from_slice(&[0, 0, 0, 1]);
                annex_b.extend_from_slice(&rest[4..4 + n]);
                rest = &rest[4 + n..];
            }
            if let Some(image) = decoder.decode(&annex_b).unwrap() {
                let mut rgb = vec![0; w * h * 3];
                image.write_rgb8(&mut rgb);
                frames.push(rgb);
            }
        }
        frames.extend(decoder.flush_remaining().unwrap().into_iter().map(|image| {
            let mut rgb = vec![0; w * h * 3];
            image.write_rgb8(&mut rgb);
            rgb
        }));
        frames
    }

    #[test]
    fn encoded_frames_decode_back_above_35_db_with_a_keyframe_every_other_frame() {
        let (w, h) = (64, 48);
        let mut encoder = VideoEncoder::new(w as u32, h as u32, 30).unwrap();
        let source: Vec<Vec<u8>> = (0..10).map(|t| frame(w, h, t)).collect();
        for f in &source {
            encoder.push(f).unwrap();
        }
        let video = encoder.finish();
        assert_eq!(video.frames(), 10);
        assert!(video.sync[0], "an episode starts with a keyframe");
        assert_eq!(video.sync.iter().filter(|s| **s).count(), 5, "{:?}", video.sync);
        assert_eq!(video.sps[0] & 0x1f, 7);
        assert_eq!(video.pps[0] & 0x1f, 8);
        assert_eq!(video.histogram.iter().sum::<u64>(), (10 * w * h * 3) as u64);
        let decoded = decode(&video);
        assert_eq!(decoded.len(), 10);
        for (k, (a, b)) in source.iter().zip(&decoded).enumerate() {
            let db = psnr(a, b);
            assert!(db >= 35.0, "frame {k}: {db:.1} dB");
        }
    }

    #[test]
    fn the_same_frames_encode_to_the_same_bytes() {
        let encode = || {
            let mut encoder = VideoEncoder::new(32, 32, 10).unwrap();
            for t in 0..4 {
                encoder.push(&frame(32, 32, t)).unwrap();
            }
            encoder.finish()
        };
        assert_eq!(encode(), encode());
    }

    #[test]
    fn odd_sizes_and_wrong_frame_lengths_are_errors_not_panics() {
        let error = VideoEncoder::new(63, 48, 30).unwrap_err().to_string();
        assert!(error.contains("63×48") && error.contains("even"), "{error}");
        let error = VideoEncoder::new(8, 8, 30).unwrap_err().to_string();
        assert!(error.contains("8×8") && error.contains("at least 16"), "{error}");
        let error = VideoEncoder::new(0, 16, 30).unwrap_err().to_string();
        assert!(error.contains("0×16"), "{error}");
        let mut encoder = VideoEncoder::new(16, 16, 30).unwrap();
        let error = encoder.push(&[0; 10]).unwrap_err().to_string();
        assert!(error.contains("10 bytes") && error.contains("16×16×3"), "{error}");
    }

    #[test]
    fn image_stats_are_per_channel_in_unit_range_with_exact_quantiles() {
        let mut histogram = vec![0u64; 768];
        histogram[0] = 50; // R: half 0, half 255
        histogram[255] = 50;
        histogram[256 + 51] = 100; // G: all 0.2
        histogram[512 + 255] = 100; // B: all 1
        let stats = image_stats(&histogram, 4);
        assert_eq!(stats["min"], serde_json::json!([[[0.0]], [[0.2]], [[1.0]]]));
        assert_eq!(stats["max"], serde_json::json!([[[1.0]], [[0.2]], [[1.0]]]));
        assert_eq!(stats["mean"][0][0][0], 0.5);
        assert_eq!(stats["std"][0][0][0], 0.5);
        assert_eq!(stats["q10"][0][0][0], 0.0);
        assert_eq!(stats["q90"][0][0][0], 1.0);
        assert_eq!(stats["count"], serde_json::json!([4]));
    }
}
