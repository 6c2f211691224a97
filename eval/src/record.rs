//! What evaluation writes: one record per episode, one per policy × scenario.

use serde::{Deserialize, Serialize};

/// One episode's outcome. Everything here is a function of the spec and the seed, so runs with
/// any thread count or sharding give identical records (wall time is kept apart, in
/// [`EpisodeTiming`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpisodeRecord {
    /// Scenario name.
    pub scenario: String,
    /// Policy name, as the spec gives it.
    pub policy: String,
    /// Index of the episode within its policy × scenario pair.
    pub episode: u32,
    /// Seed the episode was reset with (in an evaluation, [`episode_seed`](crate::episode_seed)).
    pub seed: u64,
    /// Whether the task's success condition held when the episode ended (always false after a fault).
    pub success: bool,
    /// Sum of the per-step rewards (written as the `return` column).
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
    /// (scenario, policy, episode): the episode's identity across runs, used to resume and merge.
    pub fn key(&self) -> (String, String, u32) {
        (self.scenario.clone(), self.policy.clone(), self.episode)
    }
}

/// Wall time of one episode: a row of `timings.csv`. Kept out of [`EpisodeRecord`] because it
/// differs from run to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpisodeTiming {
    /// Scenario name.
    pub scenario: String,
    /// Policy name.
    pub policy: String,
    /// Index of the episode within its policy × scenario pair.
    pub episode: u32,
    /// Wall-clock time the episode took, in seconds.
    pub wall_time_s: f64,
}

/// Aggregates of one policy on one scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryRecord {
    /// Scenario name.
    pub scenario: String,
    /// Policy name.
    pub policy: String,
    /// 1 = best on this scenario (by success rate, then mean return).
    pub rank: u32,
    /// Episodes summarized.
    pub episodes: u64,
    /// Episodes that ended in success.
    pub successes: u64,
    /// `successes / episodes`, from 0 to 1.
    pub success_rate: f64,
    /// 95% Wilson score interval of the success rate.
    pub success_ci_low: f64,
    /// Upper bound of the success rate's 95% Wilson score interval.
    pub success_ci_high: f64,
    /// Mean episode return.
    pub mean_return: f64,
    /// 95% percentile-bootstrap interval of the mean return.
    pub return_ci_low: f64,
    /// Upper bound of the mean return's 95% percentile-bootstrap interval.
    pub return_ci_high: f64,
    /// Median simulated time to success over the successful episodes, in seconds; `None` if none succeeded.
    pub median_time_to_success_s: Option<f64>,
    /// Mean episode length in control steps.
    pub mean_length: f64,
    /// Episodes that ended in an error (policy fault, invalid action, physics blow-up,
    /// timeout).
    pub errors: u64,
    /// Mean number of control steps per episode in contact with an obstacle.
    pub collisions_per_episode: f64,
    /// Smallest robot–obstacle distance of any episode, in metres (`None` without clearance data).
    pub min_clearance_m: Option<f64>,
    /// Mean final distance to the goal in metres, over the episodes that report one.
    pub mean_final_goal_error_m: Option<f64>,
    /// Mean of the episodes' `action_smoothness`.
    pub mean_action_smoothness: f64,
    /// Mean of the episodes' `effort`.
    pub mean_effort: f64,
    /// Mean of the episodes' world-model disagreement (world-model dynamics only).
    #[serde(default)]
    pub mean_model_disagreement: Option<f64>,
    /// Episodes whose disagreement exceeded the model's trust threshold.
    #[serde(default)]
    pub untrusted_episodes: u64,
}
