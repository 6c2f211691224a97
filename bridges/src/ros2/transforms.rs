//! The robot's transform tree as ROS 2 expects it (REP-105): `odom` → the root link for a
//! mobile robot (`world` → the root link for a fixed one), then one transform per URDF joint
//! from its parent link to its child link, and a frame per sensor at its mount. Fixed joints
//! and sensor mounts go to `/tf_static` once; moving joints and the base go to `/tf` every
//! step.

use super::messages::{Header, TfMessage, Time, TransformStamped};
use dreamrig_sim::robot::urdf_rs;
use dreamrig_sim::scenario::config::{PoseConfig, ScenarioConfig, SensorKind};
use dreamrig_sim::LinkPose;

/// A rigid transform: translation and unit quaternion (x, y, z, w).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transform {
    pub translation: [f64; 3],
    pub rotation: [f64; 4],
}

impl Transform {
    pub const IDENTITY: Self = Self { translation: [0.0; 3], rotation: [0.0, 0.0, 0.0, 1.0] };

    /// URDF's fixed-axis roll, pitch, yaw (R = Rz(yaw) Ry(pitch) Rx(roll)).
    pub fn from_xyz_rpy(xyz: [f64; 3], rpy: [f64; 3]) -> Self {
        let (sr, cr) = (rpy[0] / 2.0).sin_cos();
        let (sp, cp) = (rpy[1] / 2.0).sin_cos();
        let (sy, cy) = (rpy[2] / 2.0).sin_cos();
        let rotation = [sr * cp * cy - cr * sp * sy, cr * sp * cy + sr * cp * sy, cr * cp * sy - sr * sp * cy, cr * cp * cy + sr * sp * sy];
        Self { translation: xyz, rotation }
    }

    fn rotate(&self, v: [f64; 3]) -> [f64; 3] {
        let [x, y, z, w] = self.rotation;
        // v + 2w (q × v) + 2 q × (q × v)
        let t = [2.0 * (y * v[2] - z * v[1]), 2.0 * (z * v[0] - x * v[2]), 2.0 * (x * v[1] - y * v[0])];
        [v[0] + w * t[0] + (y * t[2] - z * t[1]), v[1] + w * t[1] + (z * t[0] - x * t[2]), v[2] + w * t[2] + (x * t[1] - y * t[0])]
    }

    /// `self` then `other` (other expressed in self's frame).
    pub fn then(&self, other: &Transform) -> Transform {
        let [ax, ay, az, aw] = self.rotation;
        let [bx, by, bz, bw] = other.rotation;
        let rotation = [
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
            aw * bw - ax * bx - ay * by - az * bz,
        ];
        let moved = self.rotate(other.translation);
        let translation = [self.translation[0] + moved[0], self.translation[1] + moved[1], self.translation[2] + moved[2]];
        Transform { translation, rotation }
    }

    pub fn inverse(&self) -> Transform {
        let [x, y, z, w] = self.rotation;
        let conjugate = Transform { translation: [0.0; 3], rotation: [-x, -y, -z, w] };
        let t = conjugate.rotate(self.translation);
        Transform { translation: [-t[0], -t[1], -t[2]], rotation: conjugate.rotation }
    }

    fn from_pose(pose: &LinkPose) -> Self {
        Self { translation: pose.translation, rotation: pose.rotation_xyzw }
    }
}

/// The optical frame of a camera whose body looks along +x: z forward, x right, y down.
const OPTICAL: Transform = Transform { translation: [0.0; 3], rotation: [-0.5, 0.5, -0.5, 0.5] };

/// The frames of a scenario's robot and sensors.
#[derive(Debug, Clone)]
pub struct TransformTree {
    /// `odom` for a mobile base, `world` for a fixed one.
    pub root_frame: &'static str,
    pub root_link: String,
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
        SensorKind::DepthCamera(_) => Some(format!("{sensor}_optical_frame")),
        _ => None,
    }
}

fn mount(pose: &PoseConfig) -> Transform {
    Transform::from_xyz_rpy(pose.position, pose.rpy)
}

impl TransformTree {
    pub fn new(config: &ScenarioConfig) -> Self {
        let model = &config.robot.model;
        let floating = !config.robot.fixed_base;
        let mut moving = Vec::new();
        let mut fixed = Vec::new();
        for joint in &model.urdf.joints {
            let (parent, child) = (joint.parent.link.clone(), joint.child.link.clone());
            if matches!(joint.joint_type, urdf_rs::JointType::Fixed) {
                fixed.push((parent, child, Transform::from_xyz_rpy(joint.origin.xyz.0, joint.origin.rpy.0)));
            } else {
                moving.push((parent, child));
            }
        }
        for sensor in &config.sensors {
            let frame = sensor_frame(&sensor.name, &sensor.kind);
            match (&sensor.kind, frame) {
                (SensorKind::Lidar(l), Some(frame)) => fixed.push((l.link.clone(), frame, mount(&l.mount))),
                (SensorKind::DepthCamera(d), Some(frame)) => fixed.push((d.link.clone(), frame, mount(&d.mount).then(&OPTICAL))),
                _ => {}
            }
        }
        Self { root_frame: if floating { "odom" } else { "world" }, root_link: model.root_link.clone(), floating, moving, fixed }
    }

    /// `/tf_static`: fixed joints, sensor mounts, and `world` → root for a fixed base.
    pub fn static_transforms(&self, poses: &[LinkPose], stamp: Time) -> TfMessage {
        let mut transforms: Vec<TransformStamped> = self.fixed.iter().map(|(parent, child, t)| stamped(parent, child, t, stamp)).collect();
        if !self.floating {
            if let Some(root) = poses.iter().find(|p| p.link == self.root_link) {
                transforms.insert(0, stamped(self.root_frame, &self.root_link, &Transform::from_pose(root), stamp));
            }
        }
        TfMessage { transforms }
    }

    /// `/tf`: the base in `odom` (mobile robots; `base` overrides the simulated pose, as
    /// odometry does), then every moving joint.
    pub fn dynamic_transforms(&self, poses: &[LinkPose], base: Option<Transform>, stamp: Time) -> TfMessage {
        let find = |link: &str| poses.iter().find(|p| p.link == link).map(Transform::from_pose);
        let mut transforms = Vec::with_capacity(self.moving.len() + 1);
        if self.floating {
            if let Some(root) = base.or_else(|| find(&self.root_link)) {
                transforms.push(stamped(self.root_frame, &self.root_link, &root, stamp));
            }
        }
        for (parent, child) in &self.moving {
            if let (Some(p), Some(c)) = (find(parent), find(child)) {
                transforms.push(stamped(parent, child, &p.inverse().then(&c), stamp));
            }
        }
        TfMessage { transforms }
    }
}

fn stamped(parent: &str, child: &str, t: &Transform, stamp: Time) -> TransformStamped {
    TransformStamped {
        header: Header { stamp, frame_id: parent.to_string() },
        child_frame_id: child.to_string(),
        translation: t.translation,
        rotation: t.rotation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f64], b: &[f64]) -> bool {
        a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12)
    }

    #[test]
    fn a_transform_composed_with_its_inverse_is_the_identity() {
        let t = Transform::from_xyz_rpy([1.0, -2.0, 0.5], [0.3, -0.7, 2.1]);
        let i = t.then(&t.inverse());
        assert!(close(&i.translation, &[0.0; 3]));
        assert!(close(&i.rotation[..3], &[0.0; 3]) && (i.rotation[3].abs() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn yaw_turns_x_into_y() {
        let t = Transform::from_xyz_rpy([0.0; 3], [0.0, 0.0, std::f64::consts::FRAC_PI_2]);
        assert!(close(&t.rotate([1.0, 0.0, 0.0]), &[0.0, 1.0, 0.0]));
        // URDF applies roll first, then pitch, then yaw, all about fixed axes.
        let t = Transform::from_xyz_rpy([0.0; 3], [std::f64::consts::FRAC_PI_2, 0.0, std::f64::consts::FRAC_PI_2]);
        assert!(close(&t.rotate([0.0, 1.0, 0.0]), &[0.0, 0.0, 1.0]));
    }

    #[test]
    fn the_optical_frame_looks_along_the_body_x_axis() {
        assert!(close(&OPTICAL.rotate([0.0, 0.0, 1.0]), &[1.0, 0.0, 0.0]), "optical z is forward");
        assert!(close(&OPTICAL.rotate([1.0, 0.0, 0.0]), &[0.0, -1.0, 0.0]), "optical x is right");
        assert!(close(&OPTICAL.rotate([0.0, 1.0, 0.0]), &[0.0, 0.0, -1.0]), "optical y is down");
    }
}
