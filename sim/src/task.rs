//! Tasks: what counts as success and failure, and the reward.

use crate::randomize::EpisodeParameters;
use crate::scenario::config::*;
use crate::scene::{read_articulation, Scene};
use crate::world::EndReason;

/// What a task remembers between steps.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskProgress {
    /// Consecutive steps the success condition has held.
    pub success_streak: u32,
    /// Distance to the goal (m) after the previous step (or at reset), for `goal_progress`; `None` for balance tasks.
    pub previous_distance: Option<f64>,
}

/// What [`evaluate_task`] found for one control step: reward, Gymnasium's `terminated` and
/// `truncated`, success, distance to the goal in m (`None` for balance), and why the episode ended.
pub struct TaskOutcome {
    /// Reward of the step: the sum of weight × value over the task's reward terms.
    pub reward: f64,
    /// The episode ended in failure or, for goal tasks, success (Gymnasium's `terminated`).
    pub terminated: bool,
    /// The horizon was reached without termination (Gymnasium's `truncated`).
    pub truncated: bool,
    /// The task counts as achieved: no failure, and the goal held for `success_hold_steps` (balance: the horizon reached).
    pub success: bool,
    /// Distance from the tracked point to the goal in m (3D for reach, in the plane otherwise); `None` for balance.
    pub goal_distance: Option<f64>,
    /// Why the episode ended, on its last step; `None` while it continues.
    pub end_reason: Option<EndReason>,
}

/// The goal of an episode with these parameters, for tasks that have one (not balancing).
pub fn episode_goal(config: &ScenarioConfig, parameters: Option<&EpisodeParameters>) -> Option<[f64; 3]> {
    (config.task.kind != TaskKind::Balance).then(|| parameters.map(|p| p.goal)).flatten()
}

/// The point the task brings to the goal: the end effector (reach), the object (push) or the
/// robot base (navigate).
pub fn tracked_position(config: &ScenarioConfig, scene: &Scene) -> [f64; 3] {
    let handle = match config.task.kind {
        TaskKind::Reach => config.robot.end_effector.as_ref().and_then(|l| scene.robot.links.get(l).copied()),
        TaskKind::Push => config.task.object.map(|i| scene.objects[i].root()),
        TaskKind::Navigate => Some(scene.robot.root),
        TaskKind::Balance => None,
    };
    handle.map(|h| scene.rapier.bodies[h].position().translation).map(|t| [t.x as f64, t.y as f64, t.z as f64]).unwrap_or([0.0; 3])
}

/// Distance to the goal: in the plane for tasks on the ground, in space for reaching.
pub fn distance(tracked: &[f64; 3], goal: &[f64; 3], kind: TaskKind) -> f64 {
    let dx = tracked[0] - goal[0];
    let dy = tracked[1] - goal[1];
    let dz = if kind == TaskKind::Reach { tracked[2] - goal[2] } else { 0.0 };
    (dx * dx + dy * dy + dz * dz).sqrt()
}

/// Scores the step that brought the episode to control step `step`: failure (a joint out of its
/// bounds, `collision` with an obstacle, beyond `failure_distance`), success (held for
/// `success_hold_steps`; balance: reaching the horizon) and the weighted reward. Updates
/// `progress`; cannot fail. Failure or goal success terminates; the horizon truncates.
pub fn evaluate_task(
    config: &ScenarioConfig,
    scene: &Scene,
    params: &EpisodeParameters,
    progress: &mut TaskProgress,
    action: &[f64],
    collision: bool,
    step: u64,
) -> TaskOutcome {
    let task = &config.task;
    let goal_distance = (task.kind != TaskKind::Balance).then(|| distance(&tracked_position(config, scene), &params.goal, task.kind));
    let mut positions = Vec::new();
    let mut velocities = Vec::new();
    read_articulation(&scene.rapier, &scene.robot, &mut positions, &mut velocities);
    let offset = if scene.robot.floating { 7 } else { 0 };

    let mut failure = None;
    for (joint, lo, hi) in &task.failure_joint_bounds {
        let q = positions[offset + joint];
        if q < *lo || q > *hi {
            let name = &config.robot.model.joints[*joint].name;
            failure = Some(format!("joint {name} left [{lo}, {hi}] (at {q:.4})"));
            break;
        }
    }
    if failure.is_none() && collision && task.failure_on_collision {
        failure = Some("collision with an obstacle".to_string());
    }
    if let (None, Some(limit), Some(d)) = (&failure, task.failure_distance, goal_distance) {
        if d > limit {
            failure = Some(format!("moved {d:.3} m from the goal (limit {limit} m)"));
        }
    }
    let achieved = goal_distance.map(|d| d < task.success_distance).unwrap_or(false);
    progress.success_streak = if achieved { progress.success_streak + 1 } else { 0 };
    let horizon = step >= task.horizon_steps as u64;
    let success = failure.is_none()
        && match task.kind {
            TaskKind::Balance => horizon,
            _ => progress.success_streak >= task.success_hold_steps,
        };

    let mut reward = 0.0;
    for (term, weight) in &task.reward {
        let value = match term {
            RewardTerm::Alive => 1.0,
            RewardTerm::GoalDistance => goal_distance.unwrap_or(0.0),
            RewardTerm::GoalProgress => match (progress.previous_distance, goal_distance) {
                (Some(before), Some(now)) => before - now,
                _ => 0.0,
            },
            RewardTerm::ActionSquared => action.iter().map(|a| a * a).sum(),
            RewardTerm::Success => f64::from(u8::from(success)),
            RewardTerm::Collision => f64::from(u8::from(collision)),
            RewardTerm::Upright => task.failure_joint_bounds.first().map(|(j, _, _)| positions[offset + j].cos()).unwrap_or(1.0),
        };
        reward += weight * value;
    }
    progress.previous_distance = goal_distance;

    let (terminated, truncated, end_reason) = if let Some(reason) = failure {
        (true, false, Some(EndReason::Failure(reason)))
    } else if success && task.kind != TaskKind::Balance {
        (true, false, Some(EndReason::Success))
    } else if horizon {
        (false, true, Some(if success { EndReason::Success } else { EndReason::Horizon }))
    } else {
        (false, false, None)
    };
    TaskOutcome { reward, terminated, truncated, success, goal_distance, end_reason }
}
