//! Controllers that solve the shipped tasks, built from the scenario they run in (masses,
//! link lengths and sensor mounts come from the robot model, not from constants).

pub mod cartpole;
pub mod navigation;
pub mod push;
pub mod reach;

use crate::{Policy, PolicyError};
use dreamrig_sim::scenario::config::{ScenarioConfig, TaskKind};

/// Names accepted by `controller:` in policy specs.
pub const CONTROLLERS: &[&str] = &["auto", "lqr", "reach", "navigate", "push"];

/// Builds a controller by name; `auto` picks the one for the scenario's task.
/// Errors: [`PolicyError::Failed`] for a name not in [`CONTROLLERS`], or the controller's own error
/// when the scenario lacks what it needs.
pub fn controller(name: &str, config: &ScenarioConfig) -> Result<Box<dyn Policy>, PolicyError> {
    let name = match name {
        "auto" => match config.task.kind {
            TaskKind::Balance => "lqr",
            TaskKind::Reach => "reach",
            TaskKind::Navigate => "navigate",
            TaskKind::Push => "push",
        },
        other => other,
    };
    Ok(match name {
        "lqr" => Box::new(cartpole::CartPoleLqr::new(config)?),
        "reach" => Box::new(reach::ReachController::new(config)?),
        "navigate" => Box::new(navigation::MapNavigator::new(config)?),
        "push" => Box::new(push::PushController::new(config)?),
        other => {
            return Err(PolicyError::Failed {
                policy: other.into(),
                reason: format!("no such controller; expected one of {}", CONTROLLERS.join(", ")),
            })
        }
    })
}

/// Index of each joint name within a `joint_state` field's element names.
pub(crate) fn joint_slots(policy: &str, spec: &dreamrig_sim::ObservationSpec, joints: &[String]) -> Result<Vec<usize>, PolicyError> {
    crate::require_field(policy, spec, "joint_state.position", None)?;
    crate::require_field(policy, spec, "joint_state.velocity", None)?;
    let names = &spec.field("joint_state.position").expect("checked").element_names;
    joints
        .iter()
        .map(|j| {
            names.iter().position(|n| n == j).ok_or_else(|| PolicyError::SpecMismatch {
                policy: policy.into(),
                needed: format!("joint {j} in joint_state"),
                provided: format!("[{}]", names.join(", ")),
            })
        })
        .collect()
}
