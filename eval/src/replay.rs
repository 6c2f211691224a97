//! Counterfactual replay: continue a logged episode from its state at step T in any world
//! (physics, learned, hybrid) under another policy or the logged actions, through the rollout
//! engine, and compare what happens with what the log recorded.
//!
//! The start state is built as `dreamrig wm eval` builds a window's
//! ([`dreamrig_sim::world_model::fidelity::window_start`]): the logged values, the step count,
//! the delayed and earlier actions from the log. Replaying the logged actions therefore gives,
//! at each horizon, exactly the error `wm eval` averages over its windows.

use crate::EvalError;
use dreamrig_policies::{Policy, PolicyError};
use dreamrig_rollout::{roll_out, Control, Episode, PolicyBatch};
use dreamrig_sim::scenario::config::ScenarioConfig;
use dreamrig_sim::world_model::fidelity::window_start;
use dreamrig_sim::world_model::prepare::PreparedEpisode;
use dreamrig_sim::{
    ActionSpec, EndReason, EpisodeEnd, EpisodeInfo, LinkPose, Observation, ObservationSpec, ObserverError, StepObserver, StepView,
    WorldBatch,
};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// One step of a replay: what the world did and, while the log lasts, what the log recorded.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ReplayStep {
    /// The episode's step the action was taken at (T for the first).
    pub step: usize,
    /// The action applied (the policy's, or the logged one).
    pub action: Vec<f64>,
    /// The logged action at this step (clipped to the action bounds, as a world applies it),
    /// while the log lasts.
    pub logged_action: Option<Vec<f64>>,
    /// The step's reward.
    pub reward: f64,
    /// The world's state after the step (one value per state name).
    pub state: Vec<f64>,
    /// The logged state after the step, while the log lasts.
    pub logged_state: Option<Vec<f64>>,
    /// Distance of `state` from `logged_state`: root mean square over dimensions of the difference
    /// divided by each dimension's spread in the log ([`dreamrig_sim::world_model::fidelity::state_scale`]),
    /// as `wm eval` normalizes.
    pub error: Option<f64>,
    /// The world model's ensemble disagreement at this step (learned and hybrid worlds; as
    /// `info.model_disagreement`).
    pub model_disagreement: Option<f64>,
    /// The robot's links after the step (world frame), when asked for.
    #[serde(skip)]
    pub poses: Vec<LinkPose>,
}

/// What a replay came to.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Replay {
    /// The logged episode's index.
    pub episode_index: u64,
    /// The step the replay started from.
    pub from_step: usize,
    /// The logged state at `from_step`.
    pub start_state: Vec<f64>,
    /// Every step taken, in order.
    pub steps: Vec<ReplayStep>,
    /// Sum of the rewards.
    pub episode_return: f64,
    /// Whether the task ended in success.
    pub success: bool,
    /// Why the replay ended, in `dreamrig eval`'s terms and two of its own: `success`,
    /// `failure`, `horizon` (the task's `horizon_steps`), `log_end` (the logged actions ran
    /// out), `step_limit` (`steps`), `error` or `interrupted`.
    pub end_reason: String,
    /// What `end_reason` leaves out: a failure's or an error's text, or what the horizon cut short.
    pub end_detail: String,
}

impl Replay {
    /// The error `h` steps after the start (1-based), where the log reaches that far.
    pub fn error_at(&self, h: usize) -> Option<f64> {
        self.steps.get(h.checked_sub(1)?).and_then(|s| s.error)
    }
}

/// Who acts in a replay.
pub enum ReplayPolicy {
    /// The log's own actions from the start step on (the replay ends with the log).
    Logged,
    /// Another policy, by name (for reports) and instance.
    Other(String, Box<dyn Policy>),
}

/// The logged actions as a policy.
struct LoggedActions {
    actions: Vec<Vec<f64>>,
    next: usize,
}

impl Policy for LoggedActions {
    fn name(&self) -> &str {
        "logged"
    }

    fn check(&self, _observation: &ObservationSpec, action: &ActionSpec) -> Result<(), PolicyError> {
        match self.actions.iter().find(|a| a.len() != action.len()) {
            Some(a) => Err(PolicyError::SpecMismatch {
                policy: "logged".into(),
                needed: format!("{} action values (the log's)", a.len()),
                provided: format!("{} ({})", action.len(), action.names.join(", ")),
            }),
            None => Ok(()),
        }
    }

    fn reset(&mut self, _seed: u64) {
        self.next = 0;
    }

    fn act(&mut self, _observation: &Observation) -> Result<Vec<f64>, PolicyError> {
        let action = self
            .actions
            .get(self.next)
            .cloned()
            .ok_or_else(|| PolicyError::Failed { policy: "logged".into(), reason: "the log has no more actions".into() })?;
        self.next += 1;
        Ok(action)
    }
}

/// Records the replay's steps.
struct Recorder<'a> {
    episode: &'a PreparedEpisode,
    from_step: usize,
    scale: &'a [f64],
    poses: bool,
    steps: Vec<ReplayStep>,
    /// Whether the last step was truncated by the task's horizon.
    truncated: bool,
}

impl StepObserver for Recorder<'_> {
    fn wants_state(&self) -> bool {
        true
    }

    fn wants_poses(&self) -> bool {
        self.poses
    }

    fn step(&mut self, _episode: &EpisodeInfo<'_>, view: &StepView<'_>) -> Result<(), ObserverError> {
        let step = self.from_step + view.step as usize;
        let state = view.next_state.map(|s| s.values.clone()).ok_or_else(|| ObserverError::message("replay", "the world gave no state"))?;
        let log = &self.episode.trajectory;
        let logged_state = log.states.get(step + 1).cloned();
        let error = logged_state.as_ref().map(|logged| {
            let sum: f64 = state.iter().zip(logged).zip(self.scale).map(|((a, b), s)| ((a - b) / s).powi(2)).sum();
            (sum / state.len().max(1) as f64).sqrt()
        });
        self.truncated = view.result.truncated;
        self.steps.push(ReplayStep {
            step,
            action: view.action.to_vec(),
            logged_action: log.actions.get(step).cloned(),
            reward: view.result.reward,
            state,
            logged_state,
            error,
            model_disagreement: view.result.info.model_disagreement,
            poses: view.next_poses.to_vec(),
        });
        Ok(())
    }
}

/// What [`replay`] is asked to do.
pub struct ReplayRequest<'a> {
    /// The scenario of the world (its task scores the replay).
    pub config: &'a Arc<ScenarioConfig>,
    /// The logged episode, prepared (actions clipped, the hold action).
    pub episode: &'a PreparedEpisode,
    /// Spread of each state dimension in the log ([`dreamrig_sim::world_model::fidelity::state_scale`]).
    pub scale: &'a [f64],
    /// The step of the log to start from.
    pub from_step: usize,
    /// Steps to take at most (default: to the scenario's horizon, or to the log's end for the
    /// logged actions).
    pub steps: Option<usize>,
    /// Record the robot's link poses at every step (for a viewer).
    pub poses: bool,
    /// Set by Ctrl-C.
    pub interrupt: Option<&'a AtomicBool>,
}

/// Starts `worlds` (one world of `request.config`) from the logged state at `request.from_step`
/// and rolls it out under `policy` with the rollout engine.
///
/// # Errors
/// [`EvalError::Usage`] when the start step is past the log's last frame (with an action, for
/// the logged actions) or the task's horizon, `steps` is 0, or the batch does not hold one
/// world; [`EvalError::Sim`] when the world cannot be reset or read.
pub fn replay(request: &ReplayRequest<'_>, worlds: &mut WorldBatch, policy: ReplayPolicy) -> Result<Replay, EvalError> {
    let log = &request.episode.trajectory;
    let t = request.from_step;
    let logged = matches!(policy, ReplayPolicy::Logged);
    // The logged actions can be replayed from any frame that has one; another policy can start
    // from any logged state.
    let starts = if logged { log.actions.len().min(log.states.len()) } else { log.states.len() };
    if t >= starts {
        return Err(EvalError::Usage(format!(
            "--from-step {t}: episode {} has {} frames{}, so a replay{} starts at step {} at most",
            log.episode_index,
            log.states.len(),
            if logged { format!(" and {} logged actions", log.actions.len()) } else { String::new() },
            if logged { " of its actions" } else { "" },
            starts.saturating_sub(1)
        )));
    }
    let horizon = request.config.task.horizon_steps as usize;
    if t >= horizon {
        return Err(EvalError::Usage(format!(
            "--from-step {t}: scenario {}'s task ends at step {horizon} (task.horizon_steps); replay from an earlier step, \
             or with a scenario whose horizon covers the log",
            request.config.name
        )));
    }
    if worlds.len() != 1 {
        return Err(EvalError::Usage(format!("a replay runs in one world, not {}", worlds.len())));
    }
    if request.steps == Some(0) {
        return Err(EvalError::Usage("--steps: expected at least 1".into()));
    }
    // The world's own state after the reset, with the log's values, step, delayed and earlier actions.
    worlds.reset(&[log.seed]).remove(0)?;
    let latency = worlds.parameters(0).map_or(0, |p| p.action_latency_steps as usize);
    let after_reset = worlds.state(0)?;
    let history = after_reset.action_history.len();
    let start = window_start(after_reset, request.episode, t, latency, history);
    let (name, policy, logged_steps) = match policy {
        ReplayPolicy::Logged => {
            let actions = request.episode.trajectory.actions[t..].to_vec();
            let n = actions.len();
            ("logged".to_string(), Box::new(LoggedActions { actions, next: 0 }) as Box<dyn Policy>, Some(n))
        }
        ReplayPolicy::Other(name, policy) => (name, policy, None),
    };
    let max_steps = match (request.steps, logged_steps) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let mut recorder = Recorder {
        episode: request.episode,
        from_step: t,
        scale: request.scale,
        poses: request.poses,
        steps: Vec::new(),
        truncated: false,
    };
    let starts = [start];
    let control =
        Control { interrupt: request.interrupt, from_states: Some(&starts), max_steps: max_steps.map(|n| n as u64), ..Control::default() };
    let mut policies = PolicyBatch::Each(vec![policy]);
    let report = roll_out(
        request.config,
        &name,
        worlds,
        &mut policies,
        &[Episode { episode: log.episode_index as u32, seed: log.seed }],
        &mut [&mut recorder as &mut dyn StepObserver],
        &control,
    );
    if let Some(e) = report.observer_errors.into_iter().next() {
        return Err(EvalError::Rollout(e.to_string()));
    }
    let outcome = report.outcomes.into_iter().next().ok_or_else(|| EvalError::Rollout("the replay ran no episode".into()))?;
    let steps = recorder.steps.len();
    let (success, end_reason, end_detail) = match &outcome.end {
        EpisodeEnd::Finished { success, reason } => match reason {
            EndReason::Success => (*success, "success".to_string(), String::new()),
            EndReason::Failure(detail) => (*success, "failure".to_string(), detail.clone()),
            EndReason::Horizon if recorder.truncated => {
                let detail = if logged && t + steps < log.actions.len() {
                    format!("task.horizon_steps {horizon} came before the log's end ({} logged actions)", log.actions.len())
                } else {
                    String::new()
                };
                (*success, "horizon".to_string(), detail)
            }
            EndReason::Horizon if logged && Some(steps) == logged_steps => (*success, "log_end".to_string(), String::new()),
            EndReason::Horizon => (*success, "step_limit".to_string(), String::new()),
        },
        EpisodeEnd::Fault(detail) => (false, "error".to_string(), detail.clone()),
        EpisodeEnd::Interrupted => (false, "interrupted".to_string(), String::new()),
    };
    Ok(Replay {
        episode_index: log.episode_index,
        from_step: t,
        start_state: log.states[t].clone(),
        episode_return: recorder.steps.iter().map(|s| s.reward).sum(),
        steps: recorder.steps,
        success,
        end_reason,
        end_detail,
    })
}
