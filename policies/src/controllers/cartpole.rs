//! Linear-quadratic regulator for a cart-pole: linearize about upright, discretize at the
//! control period, solve the discrete Riccati equation, apply u = −Kx.

use crate::{field, Policy, PolicyError};
use dreamrig_sim::robot::JointKind;
use dreamrig_sim::scenario::config::{ActuatorConfig, JointActuatorKind, ScenarioConfig};
use dreamrig_sim::{ActionSpec, Observation, ObservationSpec};
use nalgebra::{Matrix4, Vector4};

/// Balances a cart-pole upright. State [x (m), θ (rad), ẋ (m/s), θ̇ (rad/s)] from `joint_state`;
/// action: one cart force (N), u = −Kx clamped to ±`effort_limit`. Weights Q = diag(1, 20, 1, 2),
/// R = 0.05; no memory between steps.
pub struct CartPoleLqr {
    gain: Vector4<f64>,
    joints: [String; 2],
    slots: Option<[usize; 2]>,
    limit: f64,
}

const NAME: &str = "lqr";

fn failed(reason: impl Into<String>) -> PolicyError {
    PolicyError::Failed { policy: NAME.into(), reason: reason.into() }
}

impl CartPoleLqr {
    /// Cart: the first torque-actuated prismatic joint; pole: the angular joint whose parent link is the
    /// cart's child. From the URDF: both masses, the pole's centre-of-mass distance from its link origin
    /// and its inertia about the hinge axis; g from `world.gravity` (z), dt = the control period.
    /// Errors: [`PolicyError::Failed`] when either joint is missing.
    pub fn new(config: &ScenarioConfig) -> Result<Self, PolicyError> {
        let model = &config.robot.model;
        let (slider, limit) = config
            .robot
            .actuators
            .iter()
            .find_map(|a| match a {
                ActuatorConfig::Joint { joint, kind: JointActuatorKind::Torque, effort_limit, .. }
                    if model.joints[*joint].kind == JointKind::Prismatic =>
                {
                    Some((*joint, *effort_limit))
                }
                _ => None,
            })
            .ok_or_else(|| failed("needs a force-controlled prismatic joint (the cart)"))?;
        let hinge = model
            .joints
            .iter()
            .position(|j| j.kind.is_angular() && j.parent_link == model.joints[slider].child_link)
            .ok_or_else(|| failed("needs a hinge on the cart"))?;
        let link = |name: &str| model.urdf.links.iter().find(|l| l.name == name).expect("joint links exist");
        let cart = link(&model.joints[slider].child_link);
        let pole = link(&model.joints[hinge].child_link);
        let hinge_axis = model.urdf.joints.iter().find(|j| j.name == model.joints[hinge].name).expect("hinge").axis.xyz.0;
        let i = &pole.inertial.inertia;
        let tensor = nalgebra::Matrix3::new(i.ixx, i.ixy, i.ixz, i.ixy, i.iyy, i.iyz, i.ixz, i.iyz, i.izz);
        let a = nalgebra::Vector3::from(hinge_axis).normalize();
        let (big_m, m) = (cart.inertial.mass.value, pole.inertial.mass.value);
        let l = nalgebra::Vector3::from(pole.inertial.origin.xyz.0).norm();
        let inertia = (a.transpose() * tensor * a)[0];
        let g = -config.world.gravity[2];
        let dt = config.timing.control_period();
        let gain = lqr_gain(big_m, m, l, inertia, g, dt);
        Ok(Self { gain, joints: [model.joints[slider].name.clone(), model.joints[hinge].name.clone()], slots: None, limit })
    }
}

/// Gain of the discrete LQR for the cart-pole linearized upright, state [x, θ, ẋ, θ̇].
fn lqr_gain(big_m: f64, m: f64, l: f64, inertia: f64, g: f64, dt: f64) -> Vector4<f64> {
    let j = inertia + m * l * l;
    let d = (big_m + m) * j - (m * l).powi(2);
    let mut a = Matrix4::zeros();
    a[(0, 2)] = 1.0;
    a[(1, 3)] = 1.0;
    a[(2, 1)] = -(m * l) * (m * g * l) / d;
    a[(3, 1)] = (big_m + m) * m * g * l / d;
    let b = Vector4::new(0.0, 0.0, j / d, -m * l / d);
    // Zero-order-hold discretization by the power series of exp(A·dt).
    let mut ad = Matrix4::identity();
    let mut integral = Matrix4::identity() * dt;
    let mut term = Matrix4::identity();
    for k in 1..20 {
        term = term * a * dt / k as f64;
        ad += term;
        integral += term * dt / (k + 1) as f64;
    }
    let bd = integral * b;
    let q = Matrix4::from_diagonal(&Vector4::new(1.0, 20.0, 1.0, 2.0));
    let r = 0.05;
    let mut p = q;
    for _ in 0..10_000 {
        let denominator = r + (bd.transpose() * p * bd)[0];
        let k = (bd.transpose() * p * ad) / denominator;
        let next = q + ad.transpose() * p * (ad - bd * k);
        let converged = (next - p).abs().max() < 1e-10;
        p = next;
        if converged {
            break;
        }
    }
    let k = (bd.transpose() * p * ad) / (r + (bd.transpose() * p * bd)[0]);
    Vector4::new(k[0], k[1], k[2], k[3])
}

impl Policy for CartPoleLqr {
    fn name(&self) -> &str {
        NAME
    }

    fn check(&self, observation: &ObservationSpec, action: &ActionSpec) -> Result<(), PolicyError> {
        super::joint_slots(NAME, observation, &self.joints)?;
        if action.len() != 1 {
            return Err(PolicyError::SpecMismatch {
                policy: NAME.into(),
                needed: "one action (the cart force)".into(),
                provided: action.names.join(", "),
            });
        }
        Ok(())
    }

    fn reset(&mut self, _seed: u64) {}

    fn act(&mut self, observation: &Observation) -> Result<Vec<f64>, PolicyError> {
        let [s, h] = match self.slots {
            Some(slots) => slots,
            None => {
                let slots: [usize; 2] = super::joint_slots(NAME, &observation.spec, &self.joints)?.try_into().expect("two joints");
                *self.slots.insert(slots)
            }
        };
        let q = field(NAME, observation, "joint_state.position")?;
        let v = field(NAME, observation, "joint_state.velocity")?;
        let x = Vector4::new(q[s], q[h], v[s], v[h]);
        let force = -(self.gain.transpose() * x)[0];
        Ok(vec![force.clamp(-self.limit, self.limit)])
    }
}
