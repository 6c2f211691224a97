//! Reaching: inverse kinematics on the robot model, then joint control. Torque-driven arms get
//! a joint PD law; position-driven arms get the IK solution as their target, corrected by an
//! integral of the measured end-effector error (which removes the sag that gravity causes in
//! a PD joint).

use super::joint_slots;
use crate::kinematics::{base_pose, joint_inertia_diagonal, KinematicChain};
use crate::{field, require_field, Policy, PolicyError};
use dreamrig_sim::scenario::config::{ActuatorConfig, JointActuatorKind, ScenarioConfig};
use dreamrig_sim::{ActionSpec, Observation, ObservationSpec};
use nalgebra::Vector3;

const NAME: &str = "reach";

struct Actuated {
    /// Model joint index.
    joint: usize,
    kind: JointActuatorKind,
    effort_limit: f64,
    range: (f64, f64),
}

/// Moves the `robot.end_effector` link to `task.goal` (m, world frame): damped least-squares IK every
/// step, warm-started from the previous solution. Position actuators get the IK solution as their
/// target; torque actuators a velocity-limited PD law scaled by the joint-space inertia diagonal
/// (bandwidth ω = 0.25 / control period). One action per joint actuator, in actuator order.
pub struct ReachController {
    chain: KinematicChain,
    actuated: Vec<Actuated>,
    joint_names: Vec<String>,
    limits: Vec<Option<(f64, f64)>>,
    rest: Vec<f64>,
    slots: Option<Vec<usize>>,
    target: Option<Vec<f64>>,
    offset: Vector3<f64>,
    model: std::sync::Arc<dreamrig_sim::robot::RobotModel>,
    control_period: f64,
}

impl ReachController {
    /// Errors: [`PolicyError::Failed`] when the scenario names no `robot.end_effector`, the end effector
    /// is not connected to the root link, or an actuator is not a position or torque joint actuator.
    pub fn new(config: &ScenarioConfig) -> Result<Self, PolicyError> {
        let model = &config.robot.model;
        let tip = config
            .robot
            .end_effector
            .as_ref()
            .ok_or_else(|| PolicyError::Failed { policy: NAME.into(), reason: "the scenario names no robot.end_effector".into() })?;
        let base = base_pose(config.robot.base.position, config.robot.base.rpy);
        let chain = KinematicChain::new(model, base, tip)?;
        let mut actuated = Vec::new();
        for a in &config.robot.actuators {
            match a {
                ActuatorConfig::Joint { joint, kind, effort_limit, command_range, .. } if *kind != JointActuatorKind::Velocity => {
                    actuated.push(Actuated { joint: *joint, kind: *kind, effort_limit: *effort_limit, range: *command_range })
                }
                _ => {
                    return Err(PolicyError::Failed {
                        policy: NAME.into(),
                        reason: "needs position or torque actuators on the arm's joints".into(),
                    })
                }
            }
        }
        Ok(Self {
            chain,
            actuated,
            joint_names: model.joints.iter().map(|j| j.name.clone()).collect(),
            limits: model.joints.iter().map(|j| j.limits).collect(),
            rest: config.robot.initial_joints.clone(),
            slots: None,
            target: None,
            offset: Vector3::zeros(),
            model: model.clone(),
            control_period: config.timing.control_period(),
        })
    }
}

impl Policy for ReachController {
    fn name(&self) -> &str {
        NAME
    }

    fn check(&self, observation: &ObservationSpec, action: &ActionSpec) -> Result<(), PolicyError> {
        joint_slots(NAME, observation, &self.joint_names)?;
        require_field(NAME, observation, "task.goal", Some(3))?;
        require_field(NAME, observation, "task.tracked_position", Some(3))?;
        if action.len() != self.actuated.len() {
            return Err(PolicyError::SpecMismatch {
                policy: NAME.into(),
                needed: format!("{} actions", self.actuated.len()),
                provided: action.names.join(", "),
            });
        }
        Ok(())
    }

    fn reset(&mut self, _seed: u64) {
        self.target = None;
        self.offset = Vector3::zeros();
    }

    fn act(&mut self, observation: &Observation) -> Result<Vec<f64>, PolicyError> {
        if self.slots.is_none() {
            self.slots = Some(joint_slots(NAME, &observation.spec, &self.joint_names)?);
        }
        let slots = self.slots.as_ref().expect("set above");
        let positions = field(NAME, observation, "joint_state.position")?;
        let velocities = field(NAME, observation, "joint_state.velocity")?;
        let q: Vec<f64> = slots.iter().map(|s| positions[*s]).collect();
        let qd: Vec<f64> = slots.iter().map(|s| velocities[*s]).collect();
        let goal = Vector3::from_iterator(field(NAME, observation, "task.goal")?);
        let tip = Vector3::from_iterator(field(NAME, observation, "task.tracked_position")?);
        let position_controlled = self.actuated.iter().all(|a| a.kind == JointActuatorKind::Position);
        if position_controlled {
            // Integral action on the Cartesian error, bounded so that a goal out of reach
            // cannot wind it up without limit.
            self.offset += 0.25 * (goal - tip);
            self.offset = self.offset.map(|v| v.clamp(-0.15, 0.15));
        }
        let start = self.target.clone().unwrap_or_else(|| q.clone());
        let target = self.chain.solve_position(&(goal + self.offset), &start, &self.rest, &self.limits, 60);
        self.target = Some(target.clone());
        // Torque control: a critically damped joint PD scaled by each joint's inertia, with a
        // bandwidth of a quarter of the control rate so that the sampled loop stays stable.
        let inertia = if position_controlled { vec![] } else { joint_inertia_diagonal(&self.model, &q) };
        let omega = 0.25 / self.control_period;
        Ok(self
            .actuated
            .iter()
            .map(|a| match a.kind {
                JointActuatorKind::Position => target[a.joint].clamp(a.range.0, a.range.1),
                _ => {
                    // Velocity-limited PD: track a speed that decays linearly near the target
                    // and never exceeds what the torque limit can brake from in time.
                    let m = inertia[a.joint].max(1e-9);
                    let error = target[a.joint] - q[a.joint];
                    let braking = (2.0 * 0.5 * a.effort_limit / m * error.abs()).sqrt();
                    let speed = (0.5 * omega * error.abs()).min(braking) * error.signum();
                    (2.0 * m * omega * (speed - qd[a.joint])).clamp(a.range.0, a.range.1).clamp(-a.effort_limit, a.effort_limit)
                }
            })
            .collect())
    }
}
