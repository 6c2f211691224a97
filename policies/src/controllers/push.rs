//! Scripted pushing: get behind the object on the line from the goal through the object,
//! going around it if needed, then push along that line, steering back onto it as the object
//! turns and drifts.

use crate::{field, require_field, Policy, PolicyError};
use dreamrig_sim::scenario::config::{ActuatorConfig, JointActuatorKind, ScenarioConfig, SensorKind, ShapeConfig};
use dreamrig_sim::{ActionSpec, Observation, ObservationSpec};

const NAME: &str = "push";

/// Pushes the task's object (`task.tracked_position`) to `task.goal` in the x-y plane with two
/// velocity-controlled slides; the tool position is the first `link_pose` sensor's. Action: x and y
/// velocity (m/s), in the slides' actuator order, speed capped at the smallest command bound.
pub struct PushController {
    tool_field: String,
    /// Distance from the object's centre to the tool's centre when they touch, plus a margin.
    standoff: f64,
    /// Half-width of the object, for going around it.
    object_radius: f64,
    max_speed: f64,
    /// Action index of the x and y velocity commands.
    axes: [usize; 2],
}

fn failed(reason: impl Into<String>) -> PolicyError {
    PolicyError::Failed { policy: NAME.into(), reason: reason.into() }
}

impl PushController {
    /// Object radius from its shape (box: half-diagonal in x-y; URDF object: 0.1 m); tool radius from the
    /// tool link's first collision shape (sphere or cylinder, else 0.03 m). Errors: [`PolicyError::Failed`]
    /// when the task has no object, no `link_pose` sensor exists, an actuator is not a velocity joint
    /// actuator along x or y, or an axis has no slide.
    pub fn new(config: &ScenarioConfig) -> Result<Self, PolicyError> {
        let object = config.task.object.ok_or_else(|| failed("needs a push task with an object"))?;
        let object_radius = match &config.world.objects[object].shape {
            ShapeConfig::Box { half_extents } => (half_extents[0].powi(2) + half_extents[1].powi(2)).sqrt(),
            ShapeConfig::Sphere { radius } | ShapeConfig::Cylinder { radius, .. } | ShapeConfig::Capsule { radius, .. } => *radius,
            ShapeConfig::Urdf { .. } => 0.1,
        };
        let tool = config
            .sensors
            .iter()
            .find_map(|s| match &s.kind {
                SensorKind::LinkPose { link } => Some((s.name.clone(), link.clone())),
                _ => None,
            })
            .ok_or_else(|| failed("needs a link_pose sensor on the pushing tool"))?;
        let model = &config.robot.model;
        let tool_radius = model
            .urdf
            .links
            .iter()
            .find(|l| l.name == tool.1)
            .and_then(|l| l.collision.first())
            .map(|c| match &c.geometry {
                dreamrig_sim::robot::urdf_rs::Geometry::Cylinder { radius, .. }
                | dreamrig_sim::robot::urdf_rs::Geometry::Sphere { radius } => *radius,
                _ => 0.03,
            })
            .unwrap_or(0.03);
        // Velocity actuators on two prismatic joints whose axes are x and y.
        let mut axes = [usize::MAX; 2];
        let mut max_speed = f64::INFINITY;
        for (index, actuator) in config.robot.actuators.iter().enumerate() {
            let ActuatorConfig::Joint { joint, kind: JointActuatorKind::Velocity, command_range, .. } = actuator else {
                return Err(failed("needs velocity actuators on the x and y slides"));
            };
            let axis = model.urdf.joints.iter().find(|j| j.name == model.joints[*joint].name).map(|j| j.axis.xyz.0).unwrap_or([0.0; 3]);
            let which = if axis[0].abs() > 0.9 {
                0
            } else if axis[1].abs() > 0.9 {
                1
            } else {
                return Err(failed("slides must move along x and y"));
            };
            axes[which] = index;
            max_speed = max_speed.min(command_range.1.min(-command_range.0));
        }
        if axes.contains(&usize::MAX) {
            return Err(failed("needs one slide along x and one along y"));
        }
        let half_side = object_radius / std::f64::consts::SQRT_2;
        Ok(Self {
            tool_field: format!("{}.position", tool.0),
            standoff: half_side + tool_radius + 0.01,
            object_radius: object_radius + tool_radius,
            max_speed,
            axes,
        })
    }
}

impl Policy for PushController {
    fn name(&self) -> &str {
        NAME
    }

    fn check(&self, observation: &ObservationSpec, action: &ActionSpec) -> Result<(), PolicyError> {
        require_field(NAME, observation, &self.tool_field, Some(3))?;
        require_field(NAME, observation, "task.goal", Some(3))?;
        require_field(NAME, observation, "task.tracked_position", Some(3))?;
        if action.len() != 2 {
            return Err(PolicyError::SpecMismatch {
                policy: NAME.into(),
                needed: "2 actions (x and y velocity)".into(),
                provided: action.names.join(", "),
            });
        }
        Ok(())
    }

    fn reset(&mut self, _seed: u64) {}

    fn act(&mut self, observation: &Observation) -> Result<Vec<f64>, PolicyError> {
        let tool = field(NAME, observation, &self.tool_field)?;
        let object = field(NAME, observation, "task.tracked_position")?;
        let goal = field(NAME, observation, "task.goal")?;
        let (gx, gy) = (goal[0] - object[0], goal[1] - object[1]);
        let distance = (gx * gx + gy * gy).sqrt().max(1e-9);
        let (ux, uy) = (gx / distance, gy / distance);
        // Tool relative to the object, along the push direction and across it.
        let (rx, ry) = (tool[0] - object[0], tool[1] - object[1]);
        let along = rx * ux + ry * uy;
        let across = -rx * uy + ry * ux;
        let behind = along < -0.6 * self.standoff && across.abs() < 0.35 * self.standoff;
        let velocity = if distance < 0.01 {
            (0.0, 0.0)
        } else if behind {
            // Push: forward along the line, and steer the contact point back onto it.
            let push_speed = (0.6 * self.max_speed).min(2.0 * distance + 0.03);
            let steer = -3.0 * across;
            (push_speed * ux - steer * uy, push_speed * uy + steer * ux)
        } else {
            // Reposition behind the object; go around it when it is in the way.
            let (bx, by) = (object[0] - ux * (self.standoff + 0.03), object[1] - uy * (self.standoff + 0.03));
            let (wx, wy) = if along > -self.standoff && across.abs() < self.object_radius + 0.03 {
                let side = if across >= 0.0 { 1.0 } else { -1.0 };
                let clearance = self.object_radius + 0.06;
                (object[0] - ux * 0.5 * clearance - uy * side * clearance, object[1] - uy * 0.5 * clearance + ux * side * clearance)
            } else {
                (bx, by)
            };
            (4.0 * (wx - tool[0]), 4.0 * (wy - tool[1]))
        };
        let speed = (velocity.0.powi(2) + velocity.1.powi(2)).sqrt();
        let scale = if speed > self.max_speed { self.max_speed / speed } else { 1.0 };
        let mut action = vec![0.0; 2];
        action[self.axes[0]] = velocity.0 * scale;
        action[self.axes[1]] = velocity.1 * scale;
        Ok(action)
    }
}
