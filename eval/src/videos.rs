//! Videos of evaluation episodes for the report: [`EpisodeVideos`] is the observer that encodes
//! the first camera's RGB image of the first few episodes of each policy × scenario pair into
//! `OUT/videos/<scenario>/<policy>/episode-<k>.mp4`; [`report_videos`] finds them again for
//! `report.html`, which shows a success and a failure per pair.

use crate::record::EpisodeRecord;
use dreamrig_datasets::video::{write_mp4_atomic, FrameTiming, VideoEncoder};
use dreamrig_sim::observer::slot_mut;
use dreamrig_sim::{EpisodeEnd, EpisodeInfo, EpisodeOutcome, EpisodeStart, ImageSpec, ObserverError, StepObserver, StepView};
use std::path::{Path, PathBuf};

/// The file of episode `episode`'s video, relative to the run folder:
/// `videos/<scenario>/<policy>/episode-<k>.mp4` with each name made a safe path segment
/// ([`path_segment`]), so that no name can leave the folder or collide with another.
pub fn video_path(scenario: &str, policy: &str, episode: u32) -> PathBuf {
    Path::new("videos").join(path_segment(scenario)).join(path_segment(policy)).join(format!("episode-{episode}.mp4"))
}

/// `name` as one file name that is also a URL path segment: ASCII letters, digits, `-` and `.`
/// are kept; every other byte (`_` included, so the mapping is one to one) becomes `_` and two
/// hex digits; a name of dots only, or an empty one, gets a leading `_` so it is never `.` or `..`.
pub fn path_segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'.' {
            out.push(byte as char);
        } else {
            out.push_str(&format!("_{byte:02X}"));
        }
    }
    if out.chars().all(|c| c == '.') {
        out.insert(0, '_');
    }
    out
}

/// Records the episodes numbered below `first` of one policy × scenario pair (one job's
/// episodes), each into its own MP4 in the run folder, written atomically when the episode
/// ends (interrupted episodes leave none).
pub struct EpisodeVideos {
    out: PathBuf,
    image: String,
    width: u32,
    height: u32,
    period_s: f64,
    first: u32,
    open: Vec<Option<(u32, VideoEncoder)>>,
}

impl EpisodeVideos {
    /// A recorder into the run folder `out` of `image` (an 8-bit RGB image of the world's
    /// observation) at one frame per control step of `period_s` s, for episodes below `first`;
    /// `None` when the image cannot be a video (not RGB, or a size H.264 does not take).
    pub fn new(out: &Path, image: &ImageSpec, period_s: f64, first: u32) -> Option<Self> {
        let rgb = image.dtype == dreamrig_sim::PixelType::U8 && image.channels == 3;
        (rgb && first > 0 && dreamrig_datasets::video::check_frame_size(image.width, image.height).is_ok()).then(|| Self {
            out: out.to_path_buf(),
            image: image.name.clone(),
            width: image.width,
            height: image.height,
            period_s,
            first,
            open: Vec::new(),
        })
    }
}

impl StepObserver for EpisodeVideos {
    fn episode_started(&mut self, episode: &EpisodeInfo<'_>, _start: &EpisodeStart<'_>) -> Result<(), ObserverError> {
        let encoder = if episode.episode < self.first {
            let fps = (1.0 / self.period_s).round().max(1.0) as u32;
            Some((episode.episode, VideoEncoder::new(self.width, self.height, fps).map_err(|e| ObserverError::new("report video", e))?))
        } else {
            None
        };
        *slot_mut(&mut self.open, episode.slot) = encoder;
        Ok(())
    }

    fn step(&mut self, episode: &EpisodeInfo<'_>, step: &StepView<'_>) -> Result<(), ObserverError> {
        let Some((_, encoder)) = slot_mut(&mut self.open, episode.slot) else { return Ok(()) };
        let Some(dreamrig_sim::ImageData::U8(rgb)) = step.observation.image(&self.image) else {
            return Err(ObserverError::message("report video", format!("step {} has no image {}", step.step, self.image)));
        };
        encoder.push(rgb).map_err(|e| ObserverError::message("report video", format!("{}: {e}", self.image)))
    }

    fn episode_ended(&mut self, episode: &EpisodeInfo<'_>, outcome: &EpisodeOutcome) -> Result<(), ObserverError> {
        let Some((k, encoder)) = slot_mut(&mut self.open, episode.slot).take() else { return Ok(()) };
        let video = encoder.finish();
        if matches!(outcome.end, EpisodeEnd::Interrupted) || video.frames() == 0 {
            return Ok(());
        }
        let path = self.out.join(video_path(&episode.scenario.name, episode.policy, k));
        let written = write_mp4_atomic(&path, FrameTiming::period(self.period_s), &[&video]);
        written.map_err(|e| ObserverError::new("report video", e))
    }
}

/// One episode video of a run, for the report.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportVideo {
    /// Scenario name.
    pub scenario: String,
    /// Policy name.
    pub policy: String,
    /// Episode index within the pair.
    pub episode: u32,
    /// Whether the episode succeeded.
    pub success: bool,
    /// The file, relative to the run folder (where `report.html` is).
    pub path: PathBuf,
}

/// The videos `report.html` shows: for each policy × scenario pair, the first successful and the
/// first failed episode (lowest index) whose video exists in `out`.
pub fn report_videos(out: &Path, records: &[EpisodeRecord]) -> Vec<ReportVideo> {
    let mut chosen: Vec<ReportVideo> = Vec::new();
    let mut sorted: Vec<&EpisodeRecord> = records.iter().collect();
    sorted.sort_by(|a, b| (&a.scenario, &a.policy, a.episode).cmp(&(&b.scenario, &b.policy, b.episode)));
    for r in sorted {
        let taken = chosen.iter().any(|v| v.scenario == r.scenario && v.policy == r.policy && v.success == r.success);
        let path = video_path(&r.scenario, &r.policy, r.episode);
        if !taken && out.join(&path).is_file() {
            chosen.push(ReportVideo {
                scenario: r.scenario.clone(),
                policy: r.policy.clone(),
                episode: r.episode,
                success: r.success,
                path,
            });
        }
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_safe_distinct_path_segments() {
        assert_eq!(path_segment("pusher-camera"), "pusher-camera");
        assert_eq!(path_segment("../x"), ".._2Fx");
        assert_eq!(path_segment(".."), "_..");
        assert_eq!(path_segment(""), "_");
        assert_eq!(path_segment("a b\"c"), "a_20b_22c");
        assert_ne!(path_segment("a_2F"), path_segment("a/"), "the escape character is escaped too");
        let path = video_path("/etc", "../../p", 3);
        assert!(path.starts_with("videos") && path.components().count() == 4, "{path:?}");
        assert!(path.components().all(|c| matches!(c, std::path::Component::Normal(_))), "{path:?}");
    }
}
