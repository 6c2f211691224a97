//! Forward kinematics of URDF chains, for controllers that plan in Cartesian space.
//! Also position Jacobians, damped least-squares inverse kinematics and the joint-space inertia
//! diagonal. Lengths in m, angles in rad; joint vectors are indexed like the model's joints.

use crate::PolicyError;
use dreamrig_sim::robot::{JointKind, RobotModel};
use nalgebra::{DMatrix, Isometry3, Translation3, UnitQuaternion, Vector3};

#[derive(Debug, Clone)]
enum Motion {
    Fixed,
    /// Rotation about the axis by the joint's position (model joint index).
    Revolute(usize, Vector3<f64>),
    Prismatic(usize, Vector3<f64>),
}

#[derive(Debug, Clone)]
struct ChainJoint {
    origin: Isometry3<f64>,
    motion: Motion,
}

/// A movable joint's world axis, world origin, and whether it is revolute.
type JointFrame = (Vector3<f64>, Vector3<f64>, bool);

/// The joints from a robot's root link to one of its links.
#[derive(Debug, Clone)]
pub struct KinematicChain {
    base: Isometry3<f64>,
    joints: Vec<ChainJoint>,
    /// Model indices of the movable joints on the chain, root first.
    pub movable: Vec<usize>,
}

/// URDF origin: translation, then fixed-axis roll-pitch-yaw.
fn isometry(xyz: [f64; 3], rpy: [f64; 3]) -> Isometry3<f64> {
    Isometry3::from_parts(Translation3::new(xyz[0], xyz[1], xyz[2]), UnitQuaternion::from_euler_angles(rpy[0], rpy[1], rpy[2]))
}

/// The pose of a base given as position and roll-pitch-yaw.
/// Position in m, angles in rad, URDF convention (fixed-axis roll, then pitch, then yaw).
pub fn base_pose(position: [f64; 3], rpy: [f64; 3]) -> Isometry3<f64> {
    isometry(position, rpy)
}

impl KinematicChain {
    /// The chain from `model.root_link` to the link `tip`, with the root placed at `base`. URDF joints
    /// that are not movable in the model are fixed transforms; prismatic joints translate, all other
    /// movable joints rotate about their axis. Errors: [`PolicyError::Failed`] when `tip` is not
    /// connected to the root.
    pub fn new(model: &RobotModel, base: Isometry3<f64>, tip: &str) -> Result<Self, PolicyError> {
        let mut joints = Vec::new();
        let mut link = tip.to_string();
        while link != model.root_link {
            let joint = model.urdf.joints.iter().find(|j| j.child.link == link).ok_or_else(|| PolicyError::Failed {
                policy: "kinematics".into(),
                reason: format!("link {link} is not connected to the root"),
            })?;
            let axis = Vector3::from(joint.axis.xyz.0).normalize();
            let index = model.joints.iter().position(|j| j.name == joint.name);
            let motion = match (index, index.map(|i| model.joints[i].kind)) {
                (Some(i), Some(JointKind::Prismatic)) => Motion::Prismatic(i, axis),
                (Some(i), Some(_)) => Motion::Revolute(i, axis),
                _ => Motion::Fixed,
            };
            joints.push(ChainJoint { origin: isometry(joint.origin.xyz.0, joint.origin.rpy.0), motion });
            link = joint.parent.link.clone();
        }
        joints.reverse();
        let movable = joints
            .iter()
            .filter_map(|j| match j.motion {
                Motion::Revolute(i, _) | Motion::Prismatic(i, _) => Some(i),
                Motion::Fixed => None,
            })
            .collect();
        Ok(Self { base, joints, movable })
    }

    /// Pose of the tip link for joint positions `q` (indexed like the model's joints).
    pub fn forward(&self, q: &[f64]) -> Isometry3<f64> {
        self.frames(q).0
    }

    /// Tip pose, and for each movable joint of the chain its world axis and origin.
    fn frames(&self, q: &[f64]) -> (Isometry3<f64>, Vec<JointFrame>) {
        let mut pose = self.base;
        let mut axes = Vec::with_capacity(self.movable.len());
        for joint in &self.joints {
            pose *= joint.origin;
            match joint.motion {
                Motion::Fixed => {}
                Motion::Revolute(i, axis) => {
                    axes.push((pose.rotation * axis, pose.translation.vector, true));
                    pose *= UnitQuaternion::from_axis_angle(&nalgebra::Unit::new_normalize(axis), q[i]);
                }
                Motion::Prismatic(i, axis) => {
                    axes.push((pose.rotation * axis, pose.translation.vector, false));
                    pose *= Translation3::from(axis * q[i]);
                }
            }
        }
        (pose, axes)
    }

    /// The 3 × n position Jacobian of the tip, columns in the order of `self.movable`.
    /// Returns the tip position (m, frame of `base`) with it. Revolute columns are axis × (tip − joint
    /// origin) (m/rad), prismatic columns the axis (m/m).
    pub fn position_jacobian(&self, q: &[f64]) -> (Vector3<f64>, DMatrix<f64>) {
        let (tip, axes) = self.frames(q);
        let p = tip.translation.vector;
        let mut jacobian = DMatrix::zeros(3, axes.len());
        for (k, (axis, origin, revolute)) in axes.iter().enumerate() {
            let column = if *revolute { axis.cross(&(p - origin)) } else { *axis };
            jacobian.set_column(k, &column);
        }
        (p, jacobian)
    }

    /// Damped least-squares inverse kinematics for the tip position, starting from `q` and
    /// pulled towards `rest` in the null space. Returns joint positions (model order).
    /// `q`, `rest` and `limits` are indexed like the model's joints. Each iteration moves a joint by at
    /// most 0.3 (rad or m) and clamps it to its limits; it stops after `iterations`, when the error is
    /// below 1 µm, or when JJᵀ + λ²I cannot be inverted. Null-space pull only for chains of > 3 joints.
    pub fn solve_position(
        &self,
        target: &Vector3<f64>,
        q: &[f64],
        rest: &[f64],
        limits: &[Option<(f64, f64)>],
        iterations: usize,
    ) -> Vec<f64> {
        let mut q = q.to_vec();
        let redundant = self.movable.len() > 3;
        for _ in 0..iterations {
            let (p, j) = self.position_jacobian(&q);
            let error = target - p;
            if error.norm() < 1e-6 {
                break;
            }
            // Damping only matters near singularities and far from the target; close to the
            // target it would leave a bias.
            let damping = 0.02 * (error.norm() / 0.05).min(1.0);
            let jjt = &j * j.transpose() + DMatrix::identity(3, 3) * damping * damping;
            let Some(inverse) = jjt.try_inverse() else { break };
            let pseudo = j.transpose() * inverse;
            let step = &pseudo * nalgebra::DVector::from_column_slice(error.as_slice());
            let n = self.movable.len();
            let null = DMatrix::identity(n, n) - &pseudo * &j;
            let pull = nalgebra::DVector::from_iterator(n, self.movable.iter().map(|i| 0.1 * (rest[*i] - q[*i])));
            let dq = if redundant { step + null * pull } else { step };
            for (k, i) in self.movable.iter().enumerate() {
                let mut value = q[*i] + dq[k].clamp(-0.3, 0.3);
                if let Some((lo, hi)) = limits[*i] {
                    value = value.clamp(lo, hi);
                }
                q[*i] = value;
            }
        }
        q
    }
}

/// Diagonal of the joint-space inertia matrix at `q` (model joint order): the inertia each
/// joint moves when the others are held still. Controllers use it to pick gains that suit the
/// control period.
/// Length = `model.joints.len()`; kg·m² for angular joints, kg for prismatic ones. Link inertia
/// tensors are taken in the link frame (the inertial origin's rotation is ignored).
pub fn joint_inertia_diagonal(model: &RobotModel, q: &[f64]) -> Vec<f64> {
    // World (root-frame) pose of every link, parents first.
    let mut poses: std::collections::HashMap<&str, Isometry3<f64>> = std::collections::HashMap::new();
    poses.insert(model.root_link.as_str(), Isometry3::identity());
    // (joint index in model.joints, world axis, world origin) per movable joint.
    let mut axes: Vec<(usize, Vector3<f64>, Vector3<f64>, bool)> = Vec::new();
    let mut parent_of: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
    let mut joint_of_child: std::collections::HashMap<&str, Option<usize>> = std::collections::HashMap::new();
    let mut pending: Vec<&dreamrig_sim::robot::urdf_rs::Joint> = model.urdf.joints.iter().collect();
    while !pending.is_empty() {
        let before = pending.len();
        pending.retain(|joint| {
            let Some(parent) = poses.get(joint.parent.link.as_str()).copied() else { return true };
            let mut pose = parent * isometry(joint.origin.xyz.0, joint.origin.rpy.0);
            let index = model.joints.iter().position(|j| j.name == joint.name);
            let axis = Vector3::from(joint.axis.xyz.0);
            if let Some(i) = index {
                let axis = axis.normalize();
                let prismatic = model.joints[i].kind == JointKind::Prismatic;
                axes.push((i, pose.rotation * axis, pose.translation.vector, prismatic));
                if prismatic {
                    pose *= Translation3::from(axis * q[i]);
                } else {
                    pose *= UnitQuaternion::from_axis_angle(&nalgebra::Unit::new_normalize(axis), q[i]);
                }
            }
            poses.insert(joint.child.link.as_str(), pose);
            parent_of.insert(joint.child.link.as_str(), joint.parent.link.as_str());
            joint_of_child.insert(joint.child.link.as_str(), index);
            false
        });
        if pending.len() == before {
            break;
        }
    }
    let mut diagonal = vec![0.0; model.joints.len()];
    for link in &model.urdf.links {
        let Some(pose) = poses.get(link.name.as_str()) else { continue };
        let inertial = &link.inertial;
        let m = inertial.mass.value;
        if m <= 0.0 {
            continue;
        }
        let com = pose * nalgebra::Point3::from(Vector3::from(inertial.origin.xyz.0));
        let i = &inertial.inertia;
        let local = nalgebra::Matrix3::new(i.ixx, i.ixy, i.ixz, i.ixy, i.iyy, i.iyz, i.ixz, i.iyz, i.izz);
        let rotation = pose.rotation.to_rotation_matrix();
        let world_inertia = rotation.matrix() * local * rotation.matrix().transpose();
        // Every movable joint between this link and the root moves it.
        let mut current = link.name.as_str();
        while let Some(parent) = parent_of.get(current) {
            if let Some(Some(j)) = joint_of_child.get(current) {
                if let Some((_, axis, origin, prismatic)) = axes.iter().find(|(k, ..)| k == j) {
                    diagonal[*j] += if *prismatic {
                        m
                    } else {
                        m * axis.cross(&(com.coords - origin)).norm_squared() + (axis.transpose() * world_inertia * axis)[0]
                    };
                }
            }
            current = parent;
        }
    }
    diagonal
}
