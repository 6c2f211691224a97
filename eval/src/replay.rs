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
    /// The logged action at this step, while the log lasts.
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
    /// The world model's ensemble disagreement at this step (learned and hybrid worlds).
    pub disagreement: Option<f64>,
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
    /// How the replay ended: `success`, `horizon`, a failure reason, `fault: …` or `interrupted`.
    pub end: String,
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
        self.steps.push(ReplayStep {
            step,
            action: view.action.to_vec(),
            logged_action: (step < log.transitions()).then(|| log.actions[step].clone()),
            reward: view.result.reward,
            state,
            logged_state,
            error,
            disagreement: view.result.info.model_disagreement,
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
/// [`EvalError::Usage`] when the start step is past the log's last transition or the batch does
/// not hold one world; [`EvalError::Sim`] when the world cannot be reset or read.
pub fn replay(request: &ReplayRequest<'_>, worlds: &mut WorldBatch, policy: ReplayPolicy) -> Result<Replay, EvalError> {
    let log = &request.episode.trajectory;
    let t = request.from_step;
    if t >= log.transitions() {
        return Err(EvalError::Usage(format!(
            "--from-step {t}: episode {} has {} logged steps (0…{})",
            log.episode_index,
            log.transitions(),
            log.transitions().saturating_sub(1)
        )));
    }
    if worlds.len() != 1 {
        return Err(EvalError::Usage(format!("a replay runs in one world, not {}", worlds.len())));
    }
    // The world's own state after the reset, with the log's values, step, delayed and earlier actions.
    worlds.reset(&[log.seed]).remove(0)?;
    let latency = worlds.parameters(0).map_or(0, |p| p.action_latency_steps as usize);
    let after_reset = worlds.state(0)?;
    let history = after_reset.action_history.len();
    let start = window_start(after_reset, request.episode, t, latency, history);
    let (name, policy, logged_steps) = match policy {
        ReplayPolicy::Logged => {
            let actions = request.episode.trajectory.actions[t..log.transitions()].to_vec();
            let n = actions.len();
            ("logged".to_string(), Box::new(LoggedActions { actions, next: 0 }) as Box<dyn Policy>, Some(n))
        }
        ReplayPolicy::Other(name, policy) => (name, policy, None),
    };
    let max_steps = match (request.steps, logged_steps) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let mut recorder = Recorder { episode: request.episode, from_step: t, scale: request.scale, poses: request.poses, steps: Vec::new() };
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
    let (success, end) = match &outcome.end {
        EpisodeEnd::Finished { success, reason } => (
            *success,
            match reason {
                EndReason::Success => "success".to_string(),
                EndReason::Failure(detail) => format!("failure: {detail}"),
                EndReason::Horizon => "horizon".to_string(),
            },
        ),
        EpisodeEnd::Fault(detail) => (false, format!("fault: {detail}")),
        EpisodeEnd::Interrupted => (false, "interrupted".to_string()),
    };
    Ok(Replay {
        episode_index: log.episode_index,
        from_step: t,
        start_state: log.states[t].clone(),
        episode_return: recorder.steps.iter().map(|s| s.reward).sum(),
        steps: recorder.steps,
        success,
        end,
    })
}
