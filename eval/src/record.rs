//! What evaluation writes: one record per episode, one per policy × scenario.

use serde::{Deserialize, Serialize};

/// One episode's outcome. Everything here is a function of the spec and the seed, so runs with
/// any thread count or sharding give identical records (wall time is kept apart, in
/// [`EpisodeTiming`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpisodeRecord {
    pub scenario: String,
    pub policy: String,
    /// Index of the episode within its policy × scenario pair.
    pub episode: u32,
    pub seed: u64,
    pub success: bool,
    pub episode_return: f64,
    /// Control steps taken.
    pub length: u64,
    /// Simulated time at which the task was achieved.
    pub time_to_success_s: Option<f64>,
    /// `success`, `failure`, `horizon` or `error`.
    pub end_reason: String,
    /// What failed, for `failure` and `error`.
    pub end_detail: String,
    /// Control steps during which the robot touched an obstacle.
    pub collisions: u64,
    /// Smallest robot–obstacle distance seen (navigation tasks).
    pub min_clearance_m: Option<f64>,
    /// Distance to the goal at the end (tasks with a goal).
    pub final_goal_error_m: Option<f64>,
    /// Mean squared change of the action between steps.
    pub action_smoothness: f64,
    /// Mean squared action.
    pub effort: f64,
    /// Mean per-step disagreement of the world model's ensemble (world-model dynamics only).
    #[serde(default)]
    pub model_disagreement: Option<f64>,
    /// The disagreement exceeded the model's calibrated threshold: this episode's score is
    /// not to be trusted.
    #[serde(default)]
    pub untrusted: bool,
}

impl EpisodeRecord {
    pub fn key(&self) -> (String, String, u32) {
        (self.scenario.clone(), self.policy.clone(), self.episode)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpisodeTiming {
    pub scenario: String,
    pub policy: String,
    pub episode: u32,
    pub wall_time_s: f64,
}

/// Aggregates of one policy on one scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryRecord {
    pub scenario: String,
    pub policy: String,
    /// 1 = best on this scenario (by success rate, then mean return).
    pub rank: u32,
    pub episodes: u64,
    pub successes: u64,
    pub success_rate: f64,
    /// 95% Wilson score interval of the success rate.
    pub success_ci_low: f64,
    pub success_ci_high: f64,
    pub mean_return: f64,
    /// 95% percentile-bootstrap interval of the mean return.
    pub return_ci_low: f64,
    pub return_ci_high: f64,
    pub median_time_to_success_s: Option<f64>,
    pub mean_length: f64,
    /// Episodes that ended in an error (policy fault, invalid action, physics blow-up,
    /// timeout).
    pub errors: u64,
    pub collisions_per_episode: f64,
    pub min_clearance_m: Option<f64>,
    pub mean_final_goal_error_m: Option<f64>,
    pub mean_action_smoothness: f64,
    pub mean_effort: f64,
    /// Mean of the episodes' world-model disagreement (world-model dynamics only).
    #[serde(default)]
    pub mean_model_disagreement: Option<f64>,
    /// Episodes whose disagreement exceeded the model's trust threshold.
    #[serde(default)]
    pub untrusted_episodes: u64,
}
