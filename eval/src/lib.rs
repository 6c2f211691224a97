//! Running policies in worlds: episodes, and what they add up to.

use dreamrig_policies::{Policy, PolicyError};
use dreamrig_sim::{EndReason, SimError, World};
use std::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Sim(#[from] SimError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

/// What one episode gave.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EpisodeRecord {
    pub seed: u64,
    pub steps: u64,
    pub episode_return: f64,
    pub success: bool,
    pub end_reason: String,
    pub wall_time_s: f64,
}

/// Runs one episode from `reset(seed)` until it terminates or is truncated.
pub fn run_episode(world: &mut dyn World, policy: &mut dyn Policy, seed: u64) -> Result<EpisodeRecord, EvalError> {
    let started = Instant::now();
    let (mut observation, _) = world.reset(seed)?;
    policy.reset(seed);
    let mut episode_return = 0.0;
    loop {
        let action = policy.act(&observation)?;
        let result = world.step(&action)?;
        episode_return += result.reward;
        observation = result.observation;
        if result.terminated || result.truncated {
            let end_reason = match &result.info.end_reason {
                Some(EndReason::Success) => "success".to_string(),
                Some(EndReason::Failure(reason)) => format!("failure: {reason}"),
                Some(EndReason::Horizon) | None => "horizon".to_string(),
            };
            return Ok(EpisodeRecord {
                seed,
                steps: result.info.step,
                episode_return,
                success: result.info.success,
                end_reason,
                wall_time_s: started.elapsed().as_secs_f64(),
            });
        }
    }
}
