//! The robot's transform tree as ROS 2 expects it (REP-105): `odom` → the root link for a
//! mobile robot (`world` → the root link for a fixed one), then one transform per URDF joint
//! from its parent link to its child link, and a frame per sensor at its mount. Fixed joints
//! and sensor mounts go to `/tf_static` once; moving joints and the base go to `/tf` every
//! step.

use super::messages::{Header, TfMessage, Time, TransformStamped};
use dreamrig_sim::robot::urdf_rs;
use dreamrig_sim::scenario::config::{PoseConfig, ScenarioConfig, SensorKind};
use dreamrig_sim::LinkPose;
use nalgebra::{Isometry3, Quaternion, Translation3, Unit, UnitQuaternion};

/// A rigid transform (nalgebra's `Isometry3`): a rotation, then a translation. Composition is
/// `a * b` (`b` expressed in `a`'s frame), inversion `a.inverse()`.
pub type Transform = Isometry3<f64>;

/// URDF's `<origin xyz rpy>`: fixed-axis roll, pitch, yaw (R = Rz(yaw) Ry(pitch) Rx(roll)), then
/// the translation (m).
pub fn from_xyz_rpy(xyz: [f64; 3], rpy: [f64; 3]) -> Transform {
    Isometry3::from_parts(Translation3::from(xyz), UnitQuaternion::from_euler_angles(rpy[0], rpy[1], rpy[2]))
}

/// A link pose as the world reports it: translation (m) and unit quaternion (x, y, z, w), taken
/// as they are (not renormalized).
pub fn from_parts(translation: [f64; 3], rotation_xyzw: [f64; 4]) -> Transform {
    let [x, y, z, w] = rotation_xyzw;
    Isometry3::from_parts(Translation3::from(translation), Unit::new_unchecked(Quaternion::new(w, x, y, z)))
}

/// The translation of `t` (m).
pub fn translation(t: &Transform) -> [f64; 3] {
    t.translation.vector.into()
}

/// The rotation of `t` as a unit quaternion (x, y, z, w), the order of ROS and Rerun.
pub fn rotation_xyzw(t: &Transform) -> [f64; 4] {
    let q = t.rotation.quaternion();
    [q.i, q.j, q.k, q.w]
}

fn from_pose(pose: &LinkPose) -> Transform {
    from_parts(pose.translation, pose.rotation_xyzw)
}

/// The optical frame of a camera whose body looks along +x: z forward, x right, y down
/// (REP-103's camera optical frame).
fn optical() -> Transform {
    from_parts([0.0; 3], [-0.5, 0.5, -0.5, 0.5])
}

/// The frames of a scenario's robot and sensors.
#[derive(Debug, Clone)]
pub struct TransformTree {
    /// `odom` for a mobile base, `world` for a fixed one.
    pub root_frame: &'static str,
    /// The URDF's root link (`base_link` by convention), child of `root_frame`.
    pub root_link: String,
    /// Whether the base moves (a mobile robot): its transform then goes on `/tf` every step.
    pub floating: bool,
    /// (parent link, child link) of every moving joint.
    moving: Vec<(String, String)>,
    /// Everything that never moves relative to its parent.
    fixed: Vec<(String, String, Transform)>,
}

/// The frame a sensor's messages are stamped with.
pub fn sensor_frame(sensor: &str, kind: &SensorKind) -> Option<String> {
    match kind {
        SensorKind::Lidar(_) => Some(format!("{sensor}_frame")),
        SensorKind::DepthCamera(_) | SensorKind::Camera(_) => Some(format!("{sensor}_optical_frame")),
        _ => None,
    }
}

fn mount(pose: &PoseConfig) -> Transform {
    from_xyz_rpy(pose.position, pose.rpy)
}

impl TransformTree {
    /// The tree of `config`'s robot: its URDF joints, and a frame per lidar, depth camera and
    /// camera at its mount (a camera's optical frame: z forward, x right, y down; a camera
    /// fixed in the world is a child of the root frame).
    pub fn new(config: &ScenarioConfig) -> Self {
        let model = &config.robot.model;
        let floating = !config.robot.fixed_base;
        let mut moving = Vec::new();
        let mut fixed = Vec::new();
        for joint in &model.urdf.joints {
            let (parent, child) = (joint.parent.link.clone(), joint.child.link.clone());
            if matches!(joint.joint_type, urdf_rs::JointType::Fixed) {
                fixed.push((parent, child, from_xyz_rpy(joint.origin.xyz.0, joint.origin.rpy.0)));
            } else {
                moving.push((parent, child));
            }
        }
        let root_frame = if floating { "odom" } else { "world" };
        for sensor in &config.sensors {
            let frame = sensor_frame(&sensor.name, &sensor.kind);
            match (&sensor.kind, frame) {
                (SensorKind::Lidar(l), Some(frame)) => fixed.push((l.link.clone(), frame, mount(&l.mount))),
                (SensorKind::DepthCamera(d), Some(frame)) => fixed.push((d.link.clone(), frame, mount(&d.mount) * optical())),
                // A camera fixed in the world hangs off the root frame (`odom` starts at the world's origin).
                (SensorKind::Camera(c), Some(frame)) => {
                    let parent = c.link.clone().unwrap_or_else(|| root_frame.to_string());
                    fixed.push((parent, frame, mount(&c.mount) * optical()))
                }
                _ => {}
            }
        }
        Self { root_frame, root_link: model.root_link.clone(), floating, moving, fixed }
    }

    /// `/tf_static`: fixed joints, sensor mounts, and `world` → root for a fixed base.
    pub fn static_transforms(&self, poses: &[LinkPose], stamp: Time) -> TfMessage {
        let mut transforms: Vec<TransformStamped> = self.fixed.iter().map(|(parent, child, t)| stamped(parent, child, t, stamp)).collect();
        if !self.floating {
            if let Some(root) = poses.iter().find(|p| p.link == self.root_link) {
                transforms.insert(0, stamped(self.root_frame, &self.root_link, &from_pose(root), stamp));
            }
        }
        TfMessage { transforms }
    }

    /// `/tf`: the base in `odom` (mobile robots; `base` overrides the simulated pose, as
    /// odometry does), then every moving joint.
    pub fn dynamic_transforms(&self, poses: &[LinkPose], base: Option<Transform>, stamp: Time) -> TfMessage {
        let find = |link: &str| poses.iter().find(|p| p.link == link).map(from_pose);
        let mut transforms = Vec::with_capacity(self.moving.len() + 1);
        if self.floating {
            if let Some(root) = base.or_else(|| find(&self.root_link)) {
                transforms.push(stamped(self.root_frame, &self.root_link, &root, stamp));
            }
        }
        for (parent, child) in &self.moving {
            if let (Some(p), Some(c)) = (find(parent), find(child)) {
                transforms.push(stamped(parent, child, &(p.inverse() * c), stamp));
            }
        }
        TfMessage { transforms }
    }
}

fn stamped(parent: &str, child: &str, t: &Transform, stamp: Time) -> TransformStamped {
    TransformStamped {
        header: Header { stamp, frame_id: parent.to_string() },
        child_frame_id: child.to_string(),
        translation: translation(t),
        rotation: rotation_xyzw(t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::{Point3, Vector3};

    fn close(a: &[f64], b: &[f64]) -> bool {
        a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12)
    }

    fn rotate(t: &Transform, v: [f64; 3]) -> [f64; 3] {
        (t.rotation * Vector3::from(v)).into()
    }

    #[test]
    fn a_transform_composed_with_its_inverse_is_the_identity() {
        let t = from_xyz_rpy([1.0, -2.0, 0.5], [0.3, -0.7, 2.1]);
        let i = t * t.inverse();
        assert!(close(&translation(&i), &[0.0; 3]));
        let q = rotation_xyzw(&i);
        assert!(close(&q[..3], &[0.0; 3]) && (q[3].abs() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn yaw_turns_x_into_y() {
        let t = from_xyz_rpy([0.0; 3], [0.0, 0.0, std::f64::consts::FRAC_PI_2]);
        assert!(close(&rotate(&t, [1.0, 0.0, 0.0]), &[0.0, 1.0, 0.0]));
        // URDF applies roll first, then pitch, then yaw, all about fixed axes.
        let t = from_xyz_rpy([0.0; 3], [std::f64::consts::FRAC_PI_2, 0.0, std::f64::consts::FRAC_PI_2]);
        assert!(close(&rotate(&t, [0.0, 1.0, 0.0]), &[0.0, 0.0, 1.0]));
    }

    #[test]
    fn a_point_moves_by_the_rotation_then_the_translation() {
        let t = from_xyz_rpy([1.0, 2.0, 3.0], [0.0, 0.0, std::f64::consts::FRAC_PI_2]);
        let p: [f64; 3] = (t * Point3::new(1.0, 0.0, 0.0)).coords.into();
        assert!(close(&p, &[1.0, 3.0, 3.0]));
    }

    #[test]
    fn the_optical_frame_looks_along_the_body_x_axis() {
        let optical = optical();
        assert!(close(&rotate(&optical, [0.0, 0.0, 1.0]), &[1.0, 0.0, 0.0]), "optical z is forward");
        assert!(close(&rotate(&optical, [1.0, 0.0, 0.0]), &[0.0, -1.0, 0.0]), "optical x is right");
        assert!(close(&rotate(&optical, [0.0, 1.0, 0.0]), &[0.0, 0.0, -1.0]), "optical y is down");
    }
}
