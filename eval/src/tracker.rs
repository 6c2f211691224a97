//! Episode metrics as an observer of the rollout engine: return, length, success and when it
//! came, end reason, collisions, clearance, goal error, action smoothness and effort, and the
//! world model's disagreement — one [`EpisodeRecord`] per episode.

use crate::record::EpisodeRecord;
use dreamrig_sim::observer::slot_mut;
use dreamrig_sim::{
    ActionSpec, EndReason, EpisodeEnd, EpisodeInfo, EpisodeOutcome, EpisodeStart, ObserverError, StepObserver, StepResult, StepView,
};

/// A record with nothing measured yet.
pub fn empty_record(scenario: &str, policy: &str, episode: u32, seed: u64) -> EpisodeRecord {
    EpisodeRecord {
        scenario: scenario.into(),
        policy: policy.into(),
        episode,
        seed,
        success: false,
        episode_return: 0.0,
        length: 0,
        time_to_success_s: None,
        end_reason: String::new(),
        end_detail: String::new(),
        collisions: 0,
        min_clearance_m: None,
        final_goal_error_m: None,
        action_smoothness: 0.0,
        effort: 0.0,
        model_disagreement: None,
        untrusted: false,
    }
}

/// Marks a record as ended by a fault (`end_reason` `error`, with the detail).
pub fn failure(record: &mut EpisodeRecord, detail: String) {
    record.success = false;
    record.end_reason = "error".into();
    record.end_detail = detail;
    record.time_to_success_s = None;
}

/// The metrics of every episode of a rollout: an observer that turns steps into
/// [`EpisodeRecord`]s, one per slot of the batch.
pub struct EpisodeMetrics {
    /// The world model's trust threshold, for world-model dynamics.
    threshold: Option<f64>,
    trackers: Vec<Option<Tracker>>,
    records: Vec<Option<EpisodeRecord>>,
}

impl EpisodeMetrics {
    /// Metrics for a rollout; `threshold` is the world model's disagreement threshold above
    /// which an episode is marked untrusted (`None` in physics).
    pub fn new(threshold: Option<f64>) -> Self {
        Self { threshold, trackers: Vec::new(), records: Vec::new() }
    }

    /// The record of the episode in `slot`, once it has ended (`None` before, and for an
    /// interrupted episode).
    pub fn take(&mut self, slot: usize) -> Option<EpisodeRecord> {
        self.records.get_mut(slot).and_then(Option::take)
    }

    fn tracker(&mut self, episode: &EpisodeInfo<'_>) -> &mut Tracker {
        let threshold = self.threshold;
        slot_mut(&mut self.trackers, episode.slot).get_or_insert_with(|| {
            let record = empty_record(&episode.scenario.name, episode.policy, episode.episode, episode.seed);
            Tracker::new(record, episode.dt, episode.action_spec, threshold)
        })
    }
}

impl StepObserver for EpisodeMetrics {
    fn episode_started(&mut self, episode: &EpisodeInfo<'_>, _: &EpisodeStart<'_>) -> Result<(), ObserverError> {
        if let Some(slot) = self.trackers.get_mut(episode.slot) {
            *slot = None;
        }
        self.tracker(episode);
        Ok(())
    }

    fn step(&mut self, episode: &EpisodeInfo<'_>, step: &StepView<'_>) -> Result<(), ObserverError> {
        self.tracker(episode).step(step.action, step.result);
        Ok(())
    }

    fn episode_ended(&mut self, episode: &EpisodeInfo<'_>, outcome: &EpisodeOutcome) -> Result<(), ObserverError> {
        self.tracker(episode);
        let mut tracker = self.trackers[episode.slot].take().expect("made just above");
        *slot_mut(&mut self.records, episode.slot) = match &outcome.end {
            EpisodeEnd::Interrupted => None,
            EpisodeEnd::Fault(detail) => {
                tracker.fail(detail.clone());
                Some(tracker.finish())
            }
            EpisodeEnd::Finished { .. } => Some(tracker.finish()),
        };
        Ok(())
    }
}

/// One episode's metrics, accumulated step by step.
struct Tracker {
    record: EpisodeRecord,
    dt: f64,
    low: Vec<f64>,
    high: Vec<f64>,
    previous: Option<Vec<f64>>,
    smoothness: f64,
    effort: f64,
    steps: u64,
    disagreement_sum: f64,
    disagreement_steps: u64,
    /// The world model's trust threshold, for world-model dynamics.
    threshold: Option<f64>,
}

impl Tracker {
    fn new(record: EpisodeRecord, dt: f64, action: &ActionSpec, threshold: Option<f64>) -> Self {
        Self {
            record,
            dt,
            low: action.low.clone(),
            high: action.high.clone(),
            previous: None,
            smoothness: 0.0,
            effort: 0.0,
            steps: 0,
            disagreement_sum: 0.0,
            disagreement_steps: 0,
            threshold,
        }
    }

    fn fail(&mut self, detail: String) {
        failure(&mut self.record, detail);
    }

    fn step(&mut self, action: &[f64], result: &StepResult) {
        let record = &mut self.record;
        let applied: Vec<f64> = action.iter().enumerate().map(|(i, a)| a.clamp(self.low[i], self.high[i])).collect();
        self.effort += applied.iter().map(|a| a * a).sum::<f64>();
        if let Some(p) = &self.previous {
            self.smoothness += applied.iter().zip(p).map(|(a, b)| (a - b).powi(2)).sum::<f64>();
        }
        self.previous = Some(applied);
        self.steps += 1;
        if let Some(d) = result.info.model_disagreement {
            self.disagreement_sum += d;
            self.disagreement_steps += 1;
        }
        record.episode_return += result.reward;
        record.length = result.info.step;
        record.collisions += u64::from(result.info.collision);
        if let Some(c) = result.info.clearance {
            record.min_clearance_m = Some(record.min_clearance_m.map_or(c, |m| m.min(c)));
        }
        record.final_goal_error_m = result.info.goal_distance;
        if result.info.success && record.time_to_success_s.is_none() {
            record.time_to_success_s = Some(result.info.step as f64 * self.dt);
        }
        if result.terminated || result.truncated {
            record.success = result.info.success;
            match &result.info.end_reason {
                Some(EndReason::Success) => record.end_reason = "success".into(),
                Some(EndReason::Failure(detail)) => {
                    record.end_reason = "failure".into();
                    record.end_detail = detail.clone();
                }
                _ => record.end_reason = "horizon".into(),
            }
            if !record.success {
                record.time_to_success_s = None;
            }
        }
    }

    fn finish(mut self) -> EpisodeRecord {
        let steps = self.steps;
        self.record.effort = if steps > 0 { self.effort / steps as f64 } else { 0.0 };
        self.record.action_smoothness = if steps > 1 { self.smoothness / (steps - 1) as f64 } else { 0.0 };
        if self.disagreement_steps > 0 {
            let mean = self.disagreement_sum / self.disagreement_steps as f64;
            self.record.model_disagreement = Some(mean);
            self.record.untrusted = self.threshold.is_some_and(|t| mean > t);
        }
        self.record
    }
}
