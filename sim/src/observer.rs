//! What a rollout shows the code that consumes it: the [`StepObserver`] trait and the values it
//! is called with. The rollout engine (crate `dreamrig-rollout`) is the one loop that drives
//! policies through worlds; metrics, dataset frames, MCAP, Rerun and progress are observers it
//! pushes every step to, the way ripgrep's searcher pushes matches to a `Sink`.
//!
//! The trait lives here, in the core crate, so that format crates (`datasets`, `bridges`)
//! implement it while depending on `sim` alone.

use crate::scenario::config::ScenarioConfig;
use crate::world::{ActionSpec, EndReason, LinkPose, Observation, StepResult, WorldState};
use crate::EpisodeParameters;

/// An episode as observers see it, from its start to its end.
#[derive(Debug, Clone, Copy)]
pub struct EpisodeInfo<'a> {
    /// The episode's place in the rollout's batch, 0..B: observers that keep per-episode state
    /// index it with this.
    pub slot: usize,
    /// The validated scenario the episode runs in.
    pub scenario: &'a ScenarioConfig,
    /// The policy's name as the caller gave it (an eval spec's policy name, a controller name).
    pub policy: &'a str,
    /// The episode's index in its run (eval grid index within the scenario × policy pair,
    /// dataset episode number, …).
    pub episode: u32,
    /// The seed the world and the policy were reset with.
    pub seed: u64,
    /// Names, units and bounds of the actions the policy returns.
    pub action_spec: &'a ActionSpec,
    /// Control period in seconds.
    pub dt: f64,
}

/// How an episode started: what the world looked like after `reset`.
#[derive(Debug, Clone, Copy)]
pub struct EpisodeStart<'a> {
    /// The first observation.
    pub observation: &'a Observation,
    /// The episode's randomized parameters, where the world has them.
    pub parameters: Option<&'a EpisodeParameters>,
    /// The episode's goal in the world frame (m), for tasks with one.
    pub goal: Option<[f64; 3]>,
    /// The robot's links after reset ([`crate::World::link_poses`]); empty unless an observer
    /// asked for poses ([`StepObserver::wants_poses`]).
    pub poses: &'a [LinkPose],
    /// The world's full state after reset; `None` unless an observer asked for it
    /// ([`StepObserver::wants_state`]).
    pub state: Option<&'a WorldState>,
}

/// One control step: what the policy saw, what it did and what the world answered.
#[derive(Debug, Clone, Copy)]
pub struct StepView<'a> {
    /// Control steps taken before this one in the episode (0 for the first).
    pub step: u64,
    /// Simulated time of `observation`, in seconds since reset (`step × dt`).
    pub time_s: f64,
    /// The observation the policy acted on.
    pub observation: &'a Observation,
    /// The world's full state when `observation` was taken; `None` unless an observer asked for
    /// it ([`StepObserver::wants_state`]) and the world could give it.
    pub state: Option<&'a WorldState>,
    /// The robot's links when `observation` was taken; empty unless an observer asked for them.
    pub poses: &'a [LinkPose],
    /// The robot's links after the step, when `result.observation` was taken; empty unless an
    /// observer asked for poses. (What a live publisher sends as the world's new state.)
    pub next_poses: &'a [LinkPose],
    /// The world's full state after the step, when `result.observation` was taken; `None` unless
    /// an observer asked for the state. It is the next step's `state`.
    pub next_state: Option<&'a WorldState>,
    /// The action the policy returned (before the world clamps it to its bounds).
    pub action: &'a [f64],
    /// The step's result (next observation, reward, Gymnasium's terminated/truncated, info).
    pub result: &'a StepResult,
}

/// How an episode ended.
#[derive(Debug, Clone, PartialEq)]
pub enum EpisodeEnd {
    /// The world ended it: terminated (success or failure) or truncated at the horizon.
    Finished {
        /// Whether the task was achieved (the last step's `info.success`).
        success: bool,
        /// Why the world ended it (`Horizon` when the world gave no reason).
        reason: EndReason,
    },
    /// A fault ended it: the policy failed or panicked, the action was invalid, the physics
    /// diverged, the reset failed, or the wall-clock budget ran out. The text says which.
    Fault(String),
    /// The rollout was interrupted (Ctrl-C) before the episode ended; its data is incomplete.
    Interrupted,
}

/// What an episode came to, for observers and the rollout's caller.
#[derive(Debug, Clone, PartialEq)]
pub struct EpisodeOutcome {
    /// Control steps taken.
    pub steps: u64,
    /// How the episode ended.
    pub end: EpisodeEnd,
    /// Wall-clock seconds from the rollout's start to this episode's end (never part of a
    /// result that must be reproducible).
    pub wall_time_s: f64,
}

impl EpisodeOutcome {
    /// The episode reached success.
    pub fn success(&self) -> bool {
        matches!(self.end, EpisodeEnd::Finished { success: true, .. })
    }
}

/// A failure inside an observer. The engine detaches the observer that returned it (the
/// rollout itself goes on: observing never changes results) and reports it to the caller,
/// who decides whether it is fatal (`dreamrig run --record-mcap`) or a warning (`eval`).
///
/// It displays as `OBSERVER: MESSAGE`, or as `OBSERVER failed` when it wraps a cause, which then
/// follows in the error chain ([`std::error::Error::source`]).
#[derive(Debug)]
pub struct ObserverError {
    /// Which observer failed (`MCAP recording`, `dataset`, …).
    pub observer: String,
    /// What went wrong, when no cause says it.
    pub message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ObserverError {
    /// An error of `observer` caused by `source`.
    pub fn new(observer: &str, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self { observer: observer.into(), message: String::new(), source: Some(Box::new(source)) }
    }

    /// An error of `observer` described by `message` alone.
    pub fn message(observer: &str, message: impl Into<String>) -> Self {
        Self { observer: observer.into(), message: message.into(), source: None }
    }
}

impl std::fmt::Display for ObserverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            Some(_) => write!(f, "{} failed", self.observer),
            None => write!(f, "{}: {}", self.observer, self.message),
        }
    }
}

impl std::error::Error for ObserverError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// The entry for `slot` in an observer's per-episode state, the vector grown with `None` as
/// needed: what observers that keep something per episode of a batch index with
/// [`EpisodeInfo::slot`].
pub fn slot_mut<T>(entries: &mut Vec<Option<T>>, slot: usize) -> &mut Option<T> {
    if entries.len() <= slot {
        entries.resize_with(slot + 1, || None);
    }
    &mut entries[slot]
}

/// Sees every step of every episode of a rollout. All methods but `step` default to doing
/// nothing. Calls for one episode come in order — `episode_started`, `step`…,
/// `episode_ended` — and `episode_ended` comes for every episode of the rollout, faulted and
/// interrupted ones included. An episode that never started (its reset failed or panicked, the
/// batch was malformed, or the rollout was interrupted before the reset) gets `episode_ended`
/// alone. Calls for different episodes of a batch interleave by slot. No call comes after an
/// observer returned an error or panicked: it is detached.
pub trait StepObserver {
    /// Whether [`StepView::state`] should be filled (it costs a state read per step).
    fn wants_state(&self) -> bool {
        false
    }

    /// Whether link poses should be filled (they cost forward kinematics per step).
    fn wants_poses(&self) -> bool {
        false
    }

    /// Called once when an episode starts, after the world's reset. An error detaches the observer.
    fn episode_started(&mut self, _episode: &EpisodeInfo<'_>, _start: &EpisodeStart<'_>) -> Result<(), ObserverError> {
        Ok(())
    }

    /// Called for every control step of a started episode, in order. An error detaches the observer.
    fn step(&mut self, episode: &EpisodeInfo<'_>, step: &StepView<'_>) -> Result<(), ObserverError>;

    /// Called once for every episode of the rollout when it ends, started or not. An error detaches the observer.
    fn episode_ended(&mut self, _episode: &EpisodeInfo<'_>, _outcome: &EpisodeOutcome) -> Result<(), ObserverError> {
        Ok(())
    }
}

/// Several observers seen as one: each call goes to every observer in order; state and poses
/// are filled when any of them wants them. The first error ends the call and detaches all of
/// them (as one observer's error detaches it).
pub struct Observers<'a>(pub Vec<&'a mut dyn StepObserver>);

impl StepObserver for Observers<'_> {
    fn wants_state(&self) -> bool {
        self.0.iter().any(|o| o.wants_state())
    }

    fn wants_poses(&self) -> bool {
        self.0.iter().any(|o| o.wants_poses())
    }

    fn episode_started(&mut self, episode: &EpisodeInfo<'_>, start: &EpisodeStart<'_>) -> Result<(), ObserverError> {
        self.0.iter_mut().try_for_each(|o| o.episode_started(episode, start))
    }

    fn step(&mut self, episode: &EpisodeInfo<'_>, step: &StepView<'_>) -> Result<(), ObserverError> {
        self.0.iter_mut().try_for_each(|o| o.step(episode, step))
    }

    fn episode_ended(&mut self, episode: &EpisodeInfo<'_>, outcome: &EpisodeOutcome) -> Result<(), ObserverError> {
        self.0.iter_mut().try_for_each(|o| o.episode_ended(episode, outcome))
    }
}
