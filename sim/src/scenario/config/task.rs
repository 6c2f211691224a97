//! Task section: balance, reach, navigate, push; success, failure and reward terms.

use super::*;

/// The task: `Balance` succeeds by surviving the horizon; `Reach` brings the end effector to the
/// goal in 3D; `Navigate` (the robot's root link) and `Push` (an object) reach it in the plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKind {
    /// `balance`: no goal; succeeds by reaching the horizon without failing.
    Balance,
    /// `reach`: brings `robot.end_effector` to the goal, distance measured in 3D.
    Reach,
    /// `navigate`: brings the robot's root link to the goal, distance measured in the plane (x, y).
    Navigate,
    /// `push`: brings `task.object` to the goal, distance measured in the plane (x, y).
    Push,
}

/// A reward term; the step reward is the weighted sum of the scenario's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RewardTerm {
    /// +1 per step while the episode runs.
    Alive,
    /// Distance from the tracked point to the goal (use a negative weight).
    GoalDistance,
    /// Decrease of that distance during the step.
    GoalProgress,
    /// Sum of squared action values (use a negative weight).
    ActionSquared,
    /// 1 on the step the task succeeds.
    Success,
    /// 1 per step in which the robot touches an obstacle (use a negative weight).
    Collision,
    /// Cosine of the first bounded joint's angle (balance tasks).
    Upright,
}

/// Validated `task` section: horizon and hold in control steps, goal in m (world frame), the
/// object and bounded joints by index, distances in m, reward as (term, weight) pairs.
#[derive(Debug, Clone)]
pub struct TaskConfig {
    /// The task kind (`task.kind`).
    pub kind: TaskKind,
    /// Control steps after which the episode is truncated (`horizon_steps`, 1 to 100 000 000).
    pub horizon_steps: u32,
    /// Nominal goal [x, y, z] in m, world frame (`goal`; zeros when not given, as for balance).
    pub goal: [f64; 3],
    /// Index into `world.objects` of the object to push (`object`).
    pub object: Option<usize>,
    /// Distance to the goal in m below which the task counts as achieved (`success_distance`; 0 when not given, as for balance).
    pub success_distance: f64,
    /// Consecutive control steps the goal must stay achieved before the episode succeeds (`success_hold_steps`, default 1).
    pub success_hold_steps: u32,
    /// (joint index, lower, upper).
    pub failure_joint_bounds: Vec<(usize, f64, f64)>,
    /// Touching an obstacle ends the episode in failure (`failure_on_collision`, default false).
    pub failure_on_collision: bool,
    /// Distance from the goal in m beyond which the episode fails (`failure_distance`); `None`: no such limit.
    pub failure_distance: Option<f64>,
    /// Reward terms with their weights (`reward`), in scenario order.
    pub reward: Vec<(RewardTerm, f64)>,
}

pub(super) fn task_config(c: &mut Checker, spec: &TaskSpec, model: &RobotModel, world: &WorldConfig, robot: &RobotConfig) -> TaskConfig {
    let kind = match spec.kind.as_str() {
        "balance" => TaskKind::Balance,
        "reach" => TaskKind::Reach,
        "navigate" => TaskKind::Navigate,
        "push" => TaskKind::Push,
        other => {
            c.invalid("task.kind", "one of balance, reach, navigate, push", other);
            TaskKind::Balance
        }
    };
    let horizon_steps = c.count("task.horizon_steps", spec.horizon_steps, 1, MAX_HORIZON);
    let goal = c.vector("task.goal", spec.goal.as_ref(), [0.0; 3]);
    let needs_goal = kind != TaskKind::Balance;
    if needs_goal && spec.goal.is_none() {
        c.invalid("task.goal", format!("a goal position [x, y, z] for a {} task", spec.kind), "nothing");
    }
    if kind == TaskKind::Reach && robot.end_effector.is_none() {
        c.invalid("robot.end_effector", "the link that must reach the goal (required by reach tasks)", "nothing");
    }
    let object = match (&spec.object, kind) {
        (Some(name), _) => {
            let index = world.objects.iter().position(|o| &o.name == name);
            if index.is_none() {
                let names: Vec<&str> = world.objects.iter().map(|o| o.name.as_str()).collect();
                c.invalid("task.object", format!("the name of a movable object ({})", names.join(", ")), name);
            }
            index
        }
        (None, TaskKind::Push) => {
            c.invalid("task.object", "the object to push (required by push tasks)", "nothing");
            None
        }
        _ => None,
    };
    let success_distance = match spec.success_distance {
        Some(d) => c.positive("task.success_distance", d, MAX_LENGTH_M),
        None if needs_goal => {
            c.invalid("task.success_distance", "the distance to the goal that counts as success, in metres", "nothing");
            1.0
        }
        None => 0.0,
    };
    let success_hold_steps = c.count("task.success_hold_steps", spec.success_hold_steps.unwrap_or(1), 1, MAX_HORIZON);
    let mut failure_joint_bounds = Vec::new();
    for (name, bounds) in &spec.failure_joint_bounds {
        let key = format!("task.failure_joint_bounds.{name}");
        if let Some(joint) = joint_index(c, &key, model, name) {
            let [lo, hi] = c.vector(&key, Some(bounds), [0.0, 0.0]);
            if lo >= hi {
                c.invalid(&key, "[low, high] with low < high", format!("[{lo}, {hi}]"));
            }
            failure_joint_bounds.push((joint, lo, hi));
        }
    }
    let failure_distance = spec.failure_distance.map(|d| c.positive("task.failure_distance", d, MAX_LENGTH_M));
    let mut reward = Vec::new();
    for (i, term) in spec.reward.iter().enumerate() {
        let key = format!("task.reward[{i}]");
        let which = match term.term.as_str() {
            "alive" => RewardTerm::Alive,
            "goal_distance" => RewardTerm::GoalDistance,
            "goal_progress" => RewardTerm::GoalProgress,
            "action_squared" => RewardTerm::ActionSquared,
            "success" => RewardTerm::Success,
            "collision" => RewardTerm::Collision,
            "upright" => RewardTerm::Upright,
            other => {
                c.invalid(
                    &format!("{key}.term"),
                    "one of alive, goal_distance, goal_progress, action_squared, success, collision, upright",
                    other,
                );
                continue;
            }
        };
        if matches!(which, RewardTerm::GoalDistance | RewardTerm::GoalProgress) && !needs_goal {
            c.invalid(&format!("{key}.term"), "a term that a balance task defines (it has no goal)", &term.term);
        }
        reward.push((which, c.finite(&format!("{key}.weight"), term.weight)));
    }
    TaskConfig {
        kind,
        horizon_steps,
        goal,
        object,
        success_distance,
        success_hold_steps,
        failure_joint_bounds,
        failure_on_collision: spec.failure_on_collision.unwrap_or(false),
        failure_distance,
        reward,
    }
}

pub(super) fn axes<const N: usize>(
    c: &mut Checker,
    key: &str,
    spec: &std::collections::BTreeMap<String, DistributionSpec>,
    names: [&str; N],
) -> [Option<Distribution>; N] {
    let mut out: [Option<Distribution>; N] = std::array::from_fn(|_| None);
    for (name, d) in spec {
        let k = format!("{key}.{name}");
        match names.iter().position(|n| n == name) {
            Some(i) => out[i] = c.distribution(&k, d),
            None => c.invalid(&k, format!("one of {}", names.join(", ")), name),
        }
    }
    out
}
