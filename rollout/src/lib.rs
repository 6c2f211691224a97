//! The rollout engine: the one loop that drives policies through worlds.
//!
//! [`roll_out`] steps B episodes of one scenario in lock step — any world kind (a
//! [`WorldBatch`] of physics, learned or hybrid worlds) with any policy (a [`PolicyBatch`]: one
//! controller per episode, or one batched network or remote client for all) — and pushes every
//! step to [`StepObserver`]s. Metrics, dataset frames, MCAP, Rerun, demonstrations and progress
//! are observers; none runs a loop of its own. Interruption (Ctrl-C), the wall-clock budget,
//! faults (policy errors, invalid actions, diverging physics) and panics are handled here, once,
//! for every caller.
//!
//! ```no_run
//! use dreamrig_rollout::{roll_out, Control, Episode, PolicyBatch};
//! use dreamrig_sim::{Scenario, WorldBatch};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let scenario = Scenario::load("scenarios/cartpole-balance.yaml".as_ref())?;
//! let mut worlds = WorldBatch::for_scenario(&scenario.config, 1)?;
//! let (observation, action) = (worlds.observation_spec().unwrap().clone(), worlds.action_spec().unwrap().clone());
//! let policy = dreamrig_policies::zoo::by_name("lqr", &scenario.config, &observation, &action)?;
//! let mut policies = PolicyBatch::Each(vec![policy]);
//! let report = roll_out(&scenario.config, "lqr", &mut worlds, &mut policies, &[Episode { episode: 0, seed: 7 }], &mut [], &Control::default());
//! println!("{} steps", report.outcomes[0].steps);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

use dreamrig_policies::{BatchPolicy, Policy};
use dreamrig_sim::scenario::config::ScenarioConfig;
use dreamrig_sim::{
    EndReason, EpisodeEnd, EpisodeInfo, EpisodeOutcome, EpisodeStart, LinkPose, Observation, ObserverError, SimError, StepObserver,
    StepView, WorldBatch, WorldState,
};
use rayon::prelude::*;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

pub use dreamrig_sim::observer;

/// One episode of a rollout: its index in the caller's run and the seed the world and the
/// policy are reset with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Episode {
    /// The episode's index in the caller's run, passed on to observers as `EpisodeInfo::episode`.
    pub episode: u32,
    /// The seed both the world and the policy are reset with.
    pub seed: u64,
}

/// The policies of a lock-step batch.
pub enum PolicyBatch {
    /// One instance per episode (controllers, wrapped policies); they act in parallel.
    Each(Vec<Box<dyn Policy>>),
    /// One policy that answers for every episode at once (a batched network, a remote server).
    Shared(Box<dyn BatchPolicy>),
}

impl PolicyBatch {
    fn reset(&mut self, seeds: &[u64]) {
        match self {
            PolicyBatch::Each(policies) => policies.iter_mut().zip(seeds).for_each(|(p, s)| p.reset(*s)),
            PolicyBatch::Shared(policy) => policy.reset(seeds),
        }
    }

    /// Actions for the episodes with an observation. A failed (or panicking) batched call fails
    /// all of them; a per-episode policy fails only its own.
    fn act(&mut self, observations: &[Option<&Observation>]) -> Vec<Option<Result<Vec<f64>, String>>> {
        match self {
            PolicyBatch::Each(policies) => {
                let act = |(p, o): (&mut Box<dyn Policy>, &Option<&Observation>)| {
                    o.map(|o| match catch_unwind(AssertUnwindSafe(|| p.act(o))) {
                        Ok(Ok(action)) => Ok(action),
                        Ok(Err(e)) => Err(format!("policy error: {e}")),
                        Err(payload) => Err(format!("panicked: {}", panic_message(payload.as_ref()))),
                    })
                };
                // A batch of one skips rayon's fork and join.
                if policies.len() == 1 {
                    policies.iter_mut().zip(observations).map(act).collect()
                } else {
                    policies.par_iter_mut().zip(observations).map(act).collect()
                }
            }
            PolicyBatch::Shared(policy) => match catch_unwind(AssertUnwindSafe(|| policy.act(observations))) {
                Ok(Ok(actions)) => observations
                    .iter()
                    .zip(actions.into_iter().chain(std::iter::repeat(None)))
                    .map(|(o, a)| {
                        o.map(|_| a.ok_or_else(|| "policy error: the batched policy returned no action for this episode".to_string()))
                    })
                    .collect(),
                Ok(Err(e)) => observations.iter().map(|o| o.map(|_| Err(format!("policy error: {e}")))).collect(),
                Err(payload) => {
                    let message = panic_message(payload.as_ref());
                    observations.iter().map(|o| o.map(|_| Err(format!("panicked: {message}")))).collect()
                }
            },
        }
    }

    fn len(&self) -> Option<usize> {
        match self {
            PolicyBatch::Each(policies) => Some(policies.len()),
            PolicyBatch::Shared(_) => None,
        }
    }
}

/// What may stop a rollout early.
#[derive(Debug, Default, Clone, Copy)]
pub struct Control<'a> {
    /// Set (by a Ctrl-C handler) to stop: episodes still running end as
    /// [`EpisodeEnd::Interrupted`].
    pub interrupt: Option<&'a AtomicBool>,
    /// Wall-clock budget of the whole batch in seconds: episodes still running when it is spent
    /// end as faults.
    pub timeout_s: Option<f64>,
    /// Where each episode starts: after its reset, world `i` is moved to state `i`
    /// ([`dreamrig_sim::World::set_state`]) and the policy sees the observation there (a
    /// counterfactual replay from a logged state, a branch of an episode). One state per
    /// episode; `None` starts from the reset.
    pub from_states: Option<&'a [WorldState]>,
    /// Episodes still running after this many steps (at least 1) end there, as truncated at
    /// the horizon (with the last step's success). [`roll_out_continuously`] applies this and
    /// `from_states` to each of its episodes.
    pub max_steps: Option<u64>,
}

/// What a rollout came to.
#[derive(Debug)]
pub struct RolloutReport {
    /// One outcome per episode, in the order of the episodes given.
    pub outcomes: Vec<EpisodeOutcome>,
    /// Observers that failed, in the order they failed; each was detached at its failure.
    pub observer_errors: Vec<ObserverError>,
    /// A world or a policy panicked: they may be half-updated, so a caller that caches them
    /// should build new ones.
    pub panicked: bool,
}

impl RolloutReport {
    /// Whether any episode was interrupted.
    pub fn interrupted(&self) -> bool {
        self.outcomes.iter().any(|o| o.end == EpisodeEnd::Interrupted)
    }
}

/// The observers of one rollout, each detached at its first failure (an error or a panic).
struct Observers<'o, 'a> {
    list: &'o mut [&'a mut dyn StepObserver],
    attached: Vec<bool>,
    errors: Vec<ObserverError>,
}

impl Observers<'_, '_> {
    fn each(&mut self, mut call: impl FnMut(&mut dyn StepObserver) -> Result<(), ObserverError>) {
        for (observer, attached) in self.list.iter_mut().zip(self.attached.iter_mut()) {
            if !*attached {
                continue;
            }
            let result = match catch_unwind(AssertUnwindSafe(|| call(&mut **observer))) {
                Ok(result) => result,
                Err(payload) => Err(ObserverError::message("observer", format!("panicked: {}", panic_message(payload.as_ref())))),
            };
            if let Err(e) = result {
                tracing::warn!("{}; this output stops here, the rollout goes on", error_chain(&e));
                *attached = false;
                self.errors.push(e);
            }
        }
    }
}

/// An error and its causes, `: `-separated (what `{:#}` prints for an `anyhow::Error`).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// The text of a world error that ends an episode.
pub fn fault_text(error: &SimError) -> String {
    match error {
        SimError::ActionLength { .. } | SimError::ActionNotFinite { .. } => format!("invalid action: {error}"),
        SimError::Diverged { .. } => format!("physics blew up: {error}"),
        _ => format!("world error: {error}"),
    }
}

/// Runs `f`, turning a panic into `Err("panicked: …")`.
fn caught<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| format!("panicked: {}", panic_message(payload.as_ref())))
}

/// Rolls out `episodes.len()` episodes of `scenario` in lock step: world `i` of `worlds` and
/// policy `i` of `policies` (or the shared policy) play episode `i`. Every step of every episode
/// goes to every observer. Returns when every episode has ended, the budget is spent or
/// `control.interrupt` is set.
///
/// `worlds` must hold exactly `episodes.len()` worlds of `scenario` (and a per-episode
/// `policies` as many policies); a batch of the wrong size ends every episode as a fault.
/// Nothing here panics on a fault of the world, the policy or an observer: a world or policy
/// fault (a panic included) becomes the episode's [`EpisodeEnd::Fault`], and a failing observer
/// is detached and reported in [`RolloutReport::observer_errors`].
pub fn roll_out(
    scenario: &ScenarioConfig,
    policy_name: &str,
    worlds: &mut WorldBatch,
    policies: &mut PolicyBatch,
    episodes: &[Episode],
    observers: &mut [&mut dyn StepObserver],
    control: &Control,
) -> RolloutReport {
    let started = Instant::now();
    let b = episodes.len();
    let attached = vec![true; observers.len()];
    let mut observers = Observers { list: observers, attached, errors: Vec::new() };
    let wants_state = observers.list.iter().any(|o| o.wants_state());
    let wants_poses = observers.list.iter().any(|o| o.wants_poses());
    let action_spec = worlds.action_spec().cloned().unwrap_or_default();
    let dt = worlds.control_period().unwrap_or(scenario.timing.control_period());
    let infos: Vec<EpisodeInfo> = episodes
        .iter()
        .enumerate()
        .map(|(slot, e)| EpisodeInfo {
            slot,
            scenario,
            policy: policy_name,
            episode: e.episode,
            seed: e.seed,
            action_spec: &action_spec,
            dt,
        })
        .collect();
    let mut ended: Vec<Option<EpisodeOutcome>> = vec![None; b];
    let mut steps = vec![0u64; b];
    let mut panicked = false;
    let end = |slot: usize, end: EpisodeEnd, steps: u64, observers: &mut Observers, ended: &mut Vec<Option<EpisodeOutcome>>| {
        let outcome = EpisodeOutcome { steps, end, wall_time_s: started.elapsed().as_secs_f64() };
        observers.each(|o| o.episode_ended(&infos[slot], &outcome));
        ended[slot] = Some(outcome);
    };
    // Ends every episode still running.
    let end_all = |end_one: EpisodeEnd, steps: &[u64], observers: &mut Observers, ended: &mut Vec<Option<EpisodeOutcome>>| {
        for slot in 0..b {
            if ended[slot].is_none() {
                end(slot, end_one.clone(), steps[slot], observers, ended);
            }
        }
    };
    if worlds.is_empty() && b > 0 {
        end_all(EpisodeEnd::Fault("no world to run the episode in".into()), &steps, &mut observers, &mut ended);
        return report(ended, observers.errors, false);
    }
    if worlds.len() != b || policies.len().is_some_and(|n| n != b) {
        let detail = format!(
            "the rollout has {b} episodes but {} worlds and {} policies",
            worlds.len(),
            policies.len().map_or("a shared".to_string(), |n| n.to_string())
        );
        end_all(EpisodeEnd::Fault(detail), &steps, &mut observers, &mut ended);
        return report(ended, observers.errors, false);
    }
    let interrupted = || control.interrupt.is_some_and(|flag| flag.load(Ordering::Relaxed));
    if interrupted() {
        end_all(EpisodeEnd::Interrupted, &steps, &mut observers, &mut ended);
        return report(ended, observers.errors, false);
    }

    let seeds: Vec<u64> = episodes.iter().map(|e| e.seed).collect();
    let resets = match caught(|| worlds.reset(&seeds)).and_then(|resets| caught(|| policies.reset(&seeds)).map(|()| resets)) {
        Ok(resets) => resets,
        Err(detail) => {
            end_all(EpisodeEnd::Fault(detail), &steps, &mut observers, &mut ended);
            return report(ended, observers.errors, true);
        }
    };
    let mut observations: Vec<Option<Observation>> = Vec::with_capacity(b);
    for (slot, reset) in resets.into_iter().enumerate() {
        match reset {
            Ok((observation, _)) => observations.push(Some(observation)),
            Err(e) => {
                observations.push(None);
                end(slot, EpisodeEnd::Fault(format!("reset failed: {e}")), 0, &mut observers, &mut ended);
            }
        }
    }
    if let Some(starts) = control.from_states {
        for (slot, observation) in observations.iter_mut().enumerate() {
            if observation.is_none() {
                continue;
            }
            let started = match starts.get(slot) {
                None => Err((false, format!("the rollout has {b} episodes but {} start states", starts.len()))),
                Some(start) => match caught(|| worlds.set_state(slot, start).and_then(|()| worlds.observe(slot))) {
                    Ok(Ok(o)) => Ok(o),
                    Ok(Err(e)) => Err((false, format!("cannot start from the given state: {e}"))),
                    Err(detail) => Err((true, detail)),
                },
            };
            match started {
                Ok(o) => *observation = Some(o),
                Err((panic, detail)) => {
                    panicked |= panic;
                    *observation = None;
                    end(slot, EpisodeEnd::Fault(detail), 0, &mut observers, &mut ended);
                }
            }
        }
    }
    // The robot's links and the world's state at the moment of each episode's current
    // observation, when observers want them: read after the reset and after every step, once
    // each. A world that cannot give its state has failed.
    let mut poses: Vec<Vec<LinkPose>> = vec![Vec::new(); b];
    let mut states: Vec<Option<WorldState>> = vec![None; b];
    for slot in 0..b {
        let Some(observation) = &observations[slot] else { continue };
        let start = caught(|| {
            let poses = if wants_poses { worlds.link_poses(slot) } else { Vec::new() };
            let state = wants_state.then(|| worlds.state(slot)).transpose();
            let parameters = worlds.parameters(slot);
            (poses, state, parameters, dreamrig_sim::task::episode_goal(scenario, parameters))
        });
        match start {
            Ok((read, Ok(state), parameters, goal)) => {
                poses[slot] = read;
                states[slot] = state;
                let start = EpisodeStart { observation, parameters, goal, poses: &poses[slot], state: states[slot].as_ref() };
                observers.each(|o| o.episode_started(&infos[slot], &start));
            }
            Ok((_, Err(e), _, _)) => {
                end(slot, EpisodeEnd::Fault(format!("world error: cannot read the state: {e}")), 0, &mut observers, &mut ended)
            }
            Err(detail) => {
                panicked = true;
                end(slot, EpisodeEnd::Fault(detail), 0, &mut observers, &mut ended);
            }
        }
    }

    while ended.iter().any(Option::is_none) {
        if interrupted() {
            end_all(EpisodeEnd::Interrupted, &steps, &mut observers, &mut ended);
            break;
        }
        if let Some(limit) = control.timeout_s {
            if started.elapsed().as_secs_f64() > limit {
                end_all(EpisodeEnd::Fault(format!("over the wall-clock budget of {limit} s")), &steps, &mut observers, &mut ended);
                break;
            }
        }
        let running: Vec<bool> = ended.iter().map(Option::is_none).collect();
        let acted = {
            let active: Vec<Option<&Observation>> = observations.iter().zip(&running).map(|(o, r)| o.as_ref().filter(|_| *r)).collect();
            policies.act(&active)
        };
        let mut actions: Vec<Option<Vec<f64>>> = Vec::with_capacity(b);
        for (slot, acted) in acted.into_iter().enumerate() {
            actions.push(match acted {
                Some(Ok(action)) => Some(action),
                Some(Err(detail)) => {
                    panicked |= detail.starts_with("panicked: ");
                    end(slot, EpisodeEnd::Fault(detail), steps[slot], &mut observers, &mut ended);
                    None
                }
                None => None,
            });
        }
        // A Ctrl-C that came while the policies were acting (a policy may wait on commands)
        // stops the rollout before the world moves again.
        if interrupted() {
            end_all(EpisodeEnd::Interrupted, &steps, &mut observers, &mut ended);
            break;
        }
        let results = match caught(|| worlds.step(&actions)) {
            Ok(results) => results,
            Err(detail) => {
                panicked = true;
                for slot in (0..b).filter(|s| actions[*s].is_some()) {
                    end(slot, EpisodeEnd::Fault(detail.clone()), steps[slot], &mut observers, &mut ended);
                }
                continue;
            }
        };
        for (slot, result) in results.into_iter().enumerate() {
            let (Some(result), Some(action)) = (result, actions[slot].as_deref()) else { continue };
            match result {
                Ok(result) => {
                    let next_poses = match wants_poses.then(|| caught(|| worlds.link_poses(slot))).transpose() {
                        Ok(next) => next.unwrap_or_default(),
                        Err(detail) => {
                            panicked = true;
                            end(slot, EpisodeEnd::Fault(detail), steps[slot], &mut observers, &mut ended);
                            continue;
                        }
                    };
                    let next_state = match wants_state.then(|| caught(|| worlds.state(slot))).transpose() {
                        Ok(None) => None,
                        Ok(Some(Ok(state))) => Some(state),
                        Ok(Some(Err(e))) => {
                            let fault = EpisodeEnd::Fault(format!("world error: cannot read the state: {e}"));
                            end(slot, fault, steps[slot], &mut observers, &mut ended);
                            continue;
                        }
                        Err(detail) => {
                            panicked = true;
                            end(slot, EpisodeEnd::Fault(detail), steps[slot], &mut observers, &mut ended);
                            continue;
                        }
                    };
                    let observation = observations[slot].as_ref().expect("a stepped episode has an observation");
                    let view = StepView {
                        step: steps[slot],
                        time_s: steps[slot] as f64 * dt,
                        observation,
                        state: states[slot].as_ref(),
                        poses: &poses[slot],
                        next_poses: &next_poses,
                        next_state: next_state.as_ref(),
                        action,
                        result: &result,
                    };
                    observers.each(|o| o.step(&infos[slot], &view));
                    poses[slot] = next_poses;
                    states[slot] = next_state;
                    steps[slot] += 1;
                    let limit = control.max_steps.is_some_and(|max| steps[slot] >= max);
                    let done = result.terminated || result.truncated || limit;
                    let (success, reason) = (result.info.success, result.info.end_reason.clone());
                    observations[slot] = Some(result.observation);
                    if done {
                        let finished = EpisodeEnd::Finished { success, reason: reason.unwrap_or(EndReason::Horizon) };
                        end(slot, finished, steps[slot], &mut observers, &mut ended);
                    }
                }
                Err(e) => end(slot, EpisodeEnd::Fault(fault_text(&e)), steps[slot], &mut observers, &mut ended),
            }
        }
    }
    report(ended, observers.errors, panicked)
}

/// What [`roll_out_continuously`] came to.
#[derive(Debug)]
pub struct ContinuousReport {
    /// Episodes that ended (finished by the world, then reset with the next seed).
    pub finished: u64,
    /// How the last episode ended: [`EpisodeEnd::Interrupted`] when `control` stopped the
    /// session, a fault otherwise.
    pub last: EpisodeOutcome,
    /// Observers that failed; the first failure stops the session.
    pub observer_errors: Vec<ObserverError>,
}

/// Rolls out one episode after another in one world — seeds `first_seed`, `first_seed + 1`, …,
/// episode indices from 0 — until `control.interrupt` is set, an episode ends in a fault or an
/// observer fails. It is how a live session (`dreamrig serve`) runs: the same engine, steps and
/// observers as every other rollout, with no end of its own. `worlds` and `policies` hold one
/// episode's world and policy.
pub fn roll_out_continuously(
    scenario: &ScenarioConfig,
    policy_name: &str,
    worlds: &mut WorldBatch,
    policies: &mut PolicyBatch,
    first_seed: u64,
    observers: &mut [&mut dyn StepObserver],
    control: &Control,
) -> ContinuousReport {
    let mut finished = 0u64;
    loop {
        let episode = Episode { episode: u32::try_from(finished).unwrap_or(u32::MAX), seed: first_seed.wrapping_add(finished) };
        let mut report = roll_out(scenario, policy_name, worlds, policies, &[episode], observers, control);
        let last = report.outcomes.pop().expect("one outcome per episode");
        if !matches!(last.end, EpisodeEnd::Finished { .. }) || !report.observer_errors.is_empty() {
            return ContinuousReport { finished, last, observer_errors: report.observer_errors };
        }
        finished += 1;
    }
}

fn report(ended: Vec<Option<EpisodeOutcome>>, observer_errors: Vec<ObserverError>, panicked: bool) -> RolloutReport {
    RolloutReport {
        outcomes: ended.into_iter().map(|o| o.expect("every episode ends before the rollout returns")).collect(),
        observer_errors,
        panicked,
    }
}

/// The message of a caught panic.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// A progress bar as an observer: one tick per episode that ends (interrupted ones excluded).
pub struct Progress(pub indicatif::ProgressBar);

impl StepObserver for Progress {
    fn step(&mut self, _: &EpisodeInfo<'_>, _: &StepView<'_>) -> Result<(), ObserverError> {
        Ok(())
    }

    fn episode_ended(&mut self, _: &EpisodeInfo<'_>, outcome: &EpisodeOutcome) -> Result<(), ObserverError> {
        if outcome.end != EpisodeEnd::Interrupted {
            self.0.inc(1);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dreamrig_policies::PolicyError;
    use dreamrig_sim::{ActionSpec, ObservationSpec, Scenario};
    use std::sync::Arc;

    fn cartpole() -> Arc<ScenarioConfig> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/cartpole-balance.yaml");
        Scenario::load(&path).unwrap_or_else(|e| panic!("{e}")).config
    }

    fn policies(config: &ScenarioConfig, worlds: &WorldBatch, name: &str) -> PolicyBatch {
        let (o, a) = (worlds.observation_spec().unwrap().clone(), worlds.action_spec().unwrap().clone());
        PolicyBatch::Each((0..worlds.len()).map(|_| dreamrig_policies::zoo::by_name(name, config, &o, &a).unwrap()).collect())
    }

    fn episodes(n: u32) -> Vec<Episode> {
        (0..n).map(|k| Episode { episode: k, seed: 100 + k as u64 }).collect()
    }

    /// Records the calls it gets, per slot.
    #[derive(Default)]
    struct Log {
        started: Vec<usize>,
        steps: Vec<(usize, u64, f64)>,
        ended: Vec<(usize, EpisodeOutcome)>,
        fail_at_step: Option<u64>,
    }

    impl StepObserver for Log {
        fn episode_started(&mut self, episode: &EpisodeInfo<'_>, _: &EpisodeStart<'_>) -> Result<(), ObserverError> {
            self.started.push(episode.slot);
            Ok(())
        }
        fn step(&mut self, episode: &EpisodeInfo<'_>, step: &StepView<'_>) -> Result<(), ObserverError> {
            if self.fail_at_step == Some(step.step) {
                return Err(ObserverError::message("log", "disk full"));
            }
            self.steps.push((episode.slot, step.step, step.result.reward));
            Ok(())
        }
        fn episode_ended(&mut self, episode: &EpisodeInfo<'_>, outcome: &EpisodeOutcome) -> Result<(), ObserverError> {
            self.ended.push((episode.slot, outcome.clone()));
            Ok(())
        }
    }

    #[test]
    fn observers_see_every_step_of_every_episode_in_order() {
        let config = cartpole();
        let mut worlds = WorldBatch::for_scenario(&config, 3).unwrap();
        let mut policies = policies(&config, &worlds, "random");
        let mut log = Log::default();
        let report = roll_out(&config, "random", &mut worlds, &mut policies, &episodes(3), &mut [&mut log], &Control::default());
        assert_eq!(log.started, vec![0, 1, 2]);
        assert_eq!(log.ended.len(), 3);
        for slot in 0..3 {
            let outcome = &report.outcomes[slot];
            assert!(matches!(outcome.end, EpisodeEnd::Finished { .. }), "{outcome:?}");
            let steps: Vec<u64> = log.steps.iter().filter(|s| s.0 == slot).map(|s| s.1).collect();
            assert_eq!(steps, (0..outcome.steps).collect::<Vec<_>>(), "slot {slot}: steps arrive once each, in order");
            assert!(outcome.steps > 0);
        }
        assert!(report.observer_errors.is_empty() && !report.panicked);
    }

    #[test]
    fn an_episode_is_the_same_alone_and_in_a_batch() {
        let config = cartpole();
        let run = |n: u32| {
            let mut worlds = WorldBatch::for_scenario(&config, n as usize).unwrap();
            let mut policies = policies(&config, &worlds, "random");
            let mut log = Log::default();
            roll_out(&config, "random", &mut worlds, &mut policies, &episodes(n), &mut [&mut log], &Control::default());
            log.steps.into_iter().filter(|s| s.0 == 0).map(|s| s.2).collect::<Vec<f64>>()
        };
        assert_eq!(run(1), run(4));
    }

    #[test]
    fn an_interrupt_ends_every_running_episode_as_interrupted() {
        let config = cartpole();
        let mut worlds = WorldBatch::for_scenario(&config, 2).unwrap();
        let mut policies = policies(&config, &worlds, "zero");
        let mut log = Log::default();
        let stop = AtomicBool::new(true);
        let control = Control { interrupt: Some(&stop), timeout_s: None, ..Control::default() };
        let report = roll_out(&config, "zero", &mut worlds, &mut policies, &episodes(2), &mut [&mut log], &control);
        assert!(report.interrupted());
        assert!(report.outcomes.iter().all(|o| o.end == EpisodeEnd::Interrupted && o.steps == 0));
        assert_eq!(log.ended.len(), 2, "observers hear of interrupted episodes too");
    }

    #[test]
    fn episodes_start_from_the_given_states_and_end_at_the_step_limit() {
        let config = cartpole();
        let mut worlds = WorldBatch::for_scenario(&config, 2).unwrap();
        worlds.reset(&[100, 101]);
        // Episode 0 starts with the pole well off upright; episode 1 with a wrong-sized state.
        let mut tilted = worlds.state(0).unwrap();
        tilted.values[1] = 0.1;
        tilted.step = 40;
        let mut short = worlds.state(1).unwrap();
        short.values.pop();
        let mut policies = policies(&config, &worlds, "zero");
        let mut log = Log::default();
        let starts = [tilted, short];
        let control = Control { from_states: Some(&starts), max_steps: Some(3), ..Control::default() };
        let report = roll_out(&config, "zero", &mut worlds, &mut policies, &episodes(2), &mut [&mut log], &control);
        assert_eq!(report.outcomes[0].steps, 3);
        assert!(
            matches!(report.outcomes[0].end, EpisodeEnd::Finished { success: false, reason: EndReason::Horizon }),
            "{:?}",
            report.outcomes[0]
        );
        assert!((worlds.state(0).unwrap().values[1] - 0.1).abs() < 0.05, "the pole went on from where the state put it");
        assert_eq!(worlds.state(0).unwrap().step, 43, "the step count continues from the state's");
        assert!(
            matches!(&report.outcomes[1].end, EpisodeEnd::Fault(d) if d.starts_with("cannot start from the given state")),
            "{:?}",
            report.outcomes[1]
        );
        assert_eq!(log.started, vec![0], "an episode that cannot start is not started");
    }

    #[test]
    fn a_spent_wall_clock_budget_ends_the_episodes_as_faults() {
        let config = cartpole();
        let mut worlds = WorldBatch::for_scenario(&config, 1).unwrap();
        let mut policies = policies(&config, &worlds, "zero");
        let control = Control { interrupt: None, timeout_s: Some(-1.0), ..Control::default() };
        let report = roll_out(&config, "zero", &mut worlds, &mut policies, &episodes(1), &mut [], &control);
        assert_eq!(report.outcomes[0].end, EpisodeEnd::Fault("over the wall-clock budget of -1 s".into()));
    }

    /// A policy that sets the stop flag while it acts at step `at` (as a Ctrl-C during a
    /// lock-step wait for a command does).
    struct StopsWhileActing<'a> {
        at: u64,
        calls: u64,
        stop: &'a AtomicBool,
    }

    impl Policy for StopsWhileActing<'static> {
        fn name(&self) -> &str {
            "stops"
        }
        fn check(&self, _: &ObservationSpec, _: &ActionSpec) -> Result<(), PolicyError> {
            Ok(())
        }
        fn reset(&mut self, _: u64) {}
        fn act(&mut self, _: &Observation) -> Result<Vec<f64>, PolicyError> {
            if self.calls == self.at {
                self.stop.store(true, Ordering::Relaxed);
            }
            self.calls += 1;
            Ok(vec![0.0])
        }
    }

    #[test]
    fn an_interrupt_while_the_policy_acts_stops_before_the_world_steps() {
        let config = cartpole();
        let stop: &'static AtomicBool = Box::leak(Box::new(AtomicBool::new(false)));
        let mut worlds = WorldBatch::for_scenario(&config, 1).unwrap();
        let mut policies = PolicyBatch::Each(vec![Box::new(StopsWhileActing { at: 3, calls: 0, stop })]);
        let mut log = Log::default();
        let control = Control { interrupt: Some(stop), timeout_s: None, ..Control::default() };
        let report = roll_out(&config, "stops", &mut worlds, &mut policies, &episodes(1), &mut [&mut log], &control);
        assert_eq!(report.outcomes[0].end, EpisodeEnd::Interrupted);
        assert_eq!(report.outcomes[0].steps, 3, "the fourth action was never applied");
        assert_eq!(log.steps.len(), 3);
    }

    /// Checks that each step's poses are the previous step's next poses.
    #[derive(Default)]
    struct PoseChain {
        last: Vec<LinkPose>,
        steps: u64,
    }

    impl StepObserver for PoseChain {
        fn wants_poses(&self) -> bool {
            true
        }
        fn episode_started(&mut self, _: &EpisodeInfo<'_>, start: &EpisodeStart<'_>) -> Result<(), ObserverError> {
            self.last = start.poses.to_vec();
            Ok(())
        }
        fn step(&mut self, _: &EpisodeInfo<'_>, step: &StepView<'_>) -> Result<(), ObserverError> {
            assert_eq!(step.poses, self.last.as_slice(), "step {}", step.step);
            assert!(!step.next_poses.is_empty());
            self.last = step.next_poses.to_vec();
            self.steps += 1;
            Ok(())
        }
    }

    #[test]
    fn next_poses_are_the_poses_the_next_step_starts_from() {
        let config = cartpole();
        let mut chain = PoseChain::default();
        let mut worlds = WorldBatch::for_scenario(&config, 1).unwrap();
        let mut policies = policies(&config, &worlds, "random");
        roll_out(&config, "random", &mut worlds, &mut policies, &episodes(1), &mut [&mut chain], &Control::default());
        assert!(chain.steps > 10);
    }

    #[test]
    fn a_continuous_rollout_resets_with_the_next_seed_until_stopped() {
        let config = cartpole();
        let mut worlds = WorldBatch::for_scenario(&config, 1).unwrap();
        let mut policies = policies(&config, &worlds, "random");
        /// Stops the session when the third episode starts.
        struct Seeds<'a>(Vec<(u32, u64)>, &'a AtomicBool);
        impl StepObserver for Seeds<'_> {
            fn episode_started(&mut self, episode: &EpisodeInfo<'_>, _: &EpisodeStart<'_>) -> Result<(), ObserverError> {
                self.0.push((episode.episode, episode.seed));
                if self.0.len() == 3 {
                    self.1.store(true, Ordering::Relaxed);
                }
                Ok(())
            }
            fn step(&mut self, _: &EpisodeInfo<'_>, _: &StepView<'_>) -> Result<(), ObserverError> {
                Ok(())
            }
        }
        let stop = AtomicBool::new(false);
        let mut seeds = Seeds(Vec::new(), &stop);
        let control = Control { interrupt: Some(&stop), timeout_s: None, ..Control::default() };
        let report = roll_out_continuously(&config, "random", &mut worlds, &mut policies, 40, &mut [&mut seeds], &control);
        assert_eq!(seeds.0, vec![(0, 40), (1, 41), (2, 42)]);
        assert_eq!(report.finished, 2);
        assert_eq!(report.last.end, EpisodeEnd::Interrupted);
    }

    struct PanicsAtStep(u64, u64);

    impl Policy for PanicsAtStep {
        fn name(&self) -> &str {
            "panics"
        }
        fn check(&self, _: &ObservationSpec, _: &ActionSpec) -> Result<(), PolicyError> {
            Ok(())
        }
        fn reset(&mut self, _: u64) {
            self.1 = 0;
        }
        fn act(&mut self, _: &Observation) -> Result<Vec<f64>, PolicyError> {
            self.1 += 1;
            if self.1 > self.0 {
                panic!("the policy fell over");
            }
            Ok(vec![0.0])
        }
    }

    #[test]
    fn a_panicking_policy_fails_only_its_own_episode() {
        let config = cartpole();
        let mut worlds = WorldBatch::for_scenario(&config, 2).unwrap();
        let mut policies = policies(&config, &worlds, "zero");
        if let PolicyBatch::Each(list) = &mut policies {
            list[1] = Box::new(PanicsAtStep(5, 0));
        }
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let report = roll_out(&config, "mixed", &mut worlds, &mut policies, &episodes(2), &mut [], &Control::default());
        std::panic::set_hook(hook);
        assert!(matches!(report.outcomes[0].end, EpisodeEnd::Finished { .. }), "{:?}", report.outcomes[0]);
        assert_eq!(report.outcomes[1].end, EpisodeEnd::Fault("panicked: the policy fell over".into()));
        assert_eq!(report.outcomes[1].steps, 5);
        assert!(report.panicked);
    }

    #[test]
    fn a_failing_observer_is_detached_and_reported_while_the_episodes_run_on() {
        let config = cartpole();
        let mut worlds = WorldBatch::for_scenario(&config, 1).unwrap();
        let mut policies = policies(&config, &worlds, "random");
        let mut failing = Log { fail_at_step: Some(3), ..Log::default() };
        let mut healthy = Log::default();
        let report =
            roll_out(&config, "random", &mut worlds, &mut policies, &episodes(1), &mut [&mut failing, &mut healthy], &Control::default());
        assert_eq!(report.observer_errors.len(), 1);
        assert_eq!(report.observer_errors[0].to_string(), "log: disk full");
        assert_eq!(failing.steps.len(), 3, "no calls after the failure");
        assert!(failing.ended.is_empty());
        assert_eq!(healthy.steps.len() as u64, report.outcomes[0].steps);
    }

    #[test]
    fn a_batch_of_the_wrong_size_is_a_fault_not_a_panic() {
        let config = cartpole();
        let mut worlds = WorldBatch::for_scenario(&config, 1).unwrap();
        let mut policies = policies(&config, &worlds, "zero");
        let report = roll_out(&config, "zero", &mut worlds, &mut policies, &episodes(2), &mut [], &Control::default());
        assert!(report.outcomes.iter().all(|o| matches!(&o.end, EpisodeEnd::Fault(d) if d.contains("2 episodes but 1 worlds"))));
    }
}
