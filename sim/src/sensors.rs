//! Sensors computed from the state of the scene: the same code serves every kind of world,
//! because it reads only body poses, velocities and collision shapes.

use crate::scenario::config::*;
use crate::scene::{pose_from, ColliderOwner, Scene};
use crate::world::FieldSpec;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use rapier3d::glamx::{Quat, Vec3};
use rapier3d::math::{Pose, Real};
use rapier3d::parry::bounding_volume::BoundingVolume;
use rapier3d::parry::partitioning::{Bvh, BvhBuildStrategy};
use rapier3d::parry::query::Ray;
use rapier3d::prelude::*;
use rayon::prelude::*;

/// What sensors need besides the scene.
pub struct SensorContext<'a> {
    /// Gravity in the world frame, m/s² (`world.gravity`), subtracted from accelerations to give specific force.
    pub gravity: Vec3,
    /// Control period in s, over which accelerometers difference velocities.
    pub control_period: f64,
    /// Velocity of each link body now (body, linear m/s, angular rad/s, world frame), from
    /// [`crate::scene::link_velocities`]; empty when no sensor of the scenario reads velocities.
    pub velocities: &'a [(RigidBodyHandle, Vec3, Vec3)],
    /// The same at the start of the last control step (accelerometers difference the linear
    /// velocities); empty when no sensor reads accelerations.
    pub previous_velocities: &'a [(RigidBodyHandle, Vec3, Vec3)],
    /// Effort applied by each joint's actuator during the last control step.
    pub joint_efforts: &'a [f64],
    /// Factor on every noise standard deviation (the episode's `sensor_noise_scale`).
    pub noise_scale: f64,
}

fn field(name: String, shape: Vec<usize>, unit: &str, element_names: Vec<String>, low: f64, high: f64) -> FieldSpec {
    let len: usize = shape.iter().product();
    FieldSpec { name, shape, unit: unit.into(), element_names, low: vec![low; len], high: vec![high; len] }
}

fn axes(prefix: &str) -> Vec<String> {
    ["x", "y", "z"].iter().map(|a| format!("{prefix}{a}")).collect()
}

fn quaternion_names() -> Vec<String> {
    ["qw", "qx", "qy", "qz"].iter().map(|s| s.to_string()).collect()
}

/// The observation fields a sensor produces, in order.
pub fn sensor_fields(sensor: &SensorConfig, config: &ScenarioConfig) -> Vec<FieldSpec> {
    let n = &sensor.name;
    let inf = f64::INFINITY;
    match &sensor.kind {
        SensorKind::JointState { joints, .. } => {
            let infos: Vec<_> = joints.iter().map(|j| &config.robot.model.joints[*j]).collect();
            let names: Vec<String> = infos.iter().map(|j| j.name.clone()).collect();
            let unit = |angular: &str, linear: &str| {
                if infos.iter().all(|j| j.kind.is_angular()) {
                    angular.to_string()
                } else if infos.iter().all(|j| !j.kind.is_angular()) {
                    linear.to_string()
                } else {
                    format!("{angular} or {linear}")
                }
            };
            let mut position = field(format!("{n}.position"), vec![joints.len()], &unit("rad", "m"), names.clone(), -inf, inf);
            for (k, info) in infos.iter().enumerate() {
                if let Some((lo, hi)) = info.limits {
                    position.low[k] = lo;
                    position.high[k] = hi;
                }
            }
            vec![
                position,
                field(format!("{n}.velocity"), vec![joints.len()], &unit("rad/s", "m/s"), names.clone(), -inf, inf),
                field(format!("{n}.effort"), vec![joints.len()], &unit("N·m", "N"), names, -inf, inf),
            ]
        }
        SensorKind::Imu { .. } => vec![
            field(format!("{n}.linear_acceleration"), vec![3], "m/s²", axes(""), -inf, inf),
            field(format!("{n}.angular_velocity"), vec![3], "rad/s", axes(""), -inf, inf),
            field(format!("{n}.orientation"), vec![4], "quaternion", quaternion_names(), -1.0, 1.0),
        ],
        SensorKind::Odometry { .. } => vec![
            field(format!("{n}.position"), vec![3], "m", axes(""), -inf, inf),
            field(format!("{n}.orientation"), vec![4], "quaternion", quaternion_names(), -1.0, 1.0),
            field(format!("{n}.linear_velocity"), vec![3], "m/s", axes(""), -inf, inf),
            field(format!("{n}.angular_velocity"), vec![3], "rad/s", axes(""), -inf, inf),
        ],
        SensorKind::Contact { links } => vec![
            field(format!("{n}.in_contact"), vec![links.len()], "boolean", links.clone(), 0.0, 1.0),
            field(format!("{n}.force"), vec![links.len()], "N", links.clone(), 0.0, inf),
        ],
        SensorKind::Lidar(l) => {
            vec![field(format!("{n}.ranges"), vec![l.channels as usize, l.rays as usize], "m", vec![], l.range_min, l.range_max)]
        }
        SensorKind::DepthCamera(d) => {
            vec![field(format!("{n}.depth"), vec![d.height as usize, d.width as usize], "m", vec![], d.range_min, d.range_max)]
        }
        SensorKind::Camera(_) => Vec::new(),
        SensorKind::LinkPose { .. } => vec![
            field(format!("{n}.position"), vec![3], "m", axes(""), -inf, inf),
            field(format!("{n}.orientation"), vec![4], "quaternion", quaternion_names(), -1.0, 1.0),
        ],
    }
}

fn gaussian(rng: &mut ChaCha8Rng, std: f64) -> f64 {
    if std > 0.0 {
        let z: f64 = StandardNormal.sample(rng);
        z * std
    } else {
        0.0
    }
}

fn push3(out: &mut Vec<f32>, v: Vec3, noise: f64, rng: &mut ChaCha8Rng) {
    for k in 0..3 {
        out.push((v[k] as f64 + gaussian(rng, noise)) as f32);
    }
}

fn quaternion(q: Quat) -> Vec<f32> {
    vec![q.w, q.x, q.y, q.z]
}

/// World-frame pose of the robot link called `link` (its URDF link frame); the identity when
/// the robot has no such link.
pub fn link_pose(scene: &Scene, link: &str) -> Pose {
    scene.robot.links.get(link).map(|h| *scene.rapier.bodies[*h].position()).unwrap_or(Pose::IDENTITY)
}

/// A body's (linear, angular) velocity in a list from [`crate::scene::link_velocities`]. A
/// linear search: a robot has tens of links, and only IMUs and odometry ask.
fn velocity_of(velocities: &[(RigidBodyHandle, Vec3, Vec3)], handle: RigidBodyHandle) -> Option<(Vec3, Vec3)> {
    velocities.iter().find(|(h, _, _)| *h == handle).map(|(_, v, w)| (*v, *w))
}

/// Whether a sensor reads link velocities (IMUs and odometry): worlds compute them only then.
pub fn reads_velocities(sensor: &SensorConfig) -> bool {
    matches!(sensor.kind, SensorKind::Imu { .. } | SensorKind::Odometry { .. })
}

/// The ray directions of a ray-cast sensor in its own frame ([`lidar_directions`],
/// [`camera_directions`]), computed once per world; empty for every other kind.
pub fn sensor_rays(sensor: &SensorConfig) -> Vec<Vec3> {
    match &sensor.kind {
        SensorKind::Lidar(l) => lidar_directions(l),
        SensorKind::DepthCamera(d) => camera_directions(d),
        _ => Vec::new(),
    }
}

/// Reads one sensor. `rays` are the sensor's [`sensor_rays`]. Noise is drawn after the
/// noiseless values are computed, always in the same order, so readings are a function of the
/// state and the noise RNG alone.
pub fn read_sensor(sensor: &SensorConfig, rays: &[Vec3], scene: &Scene, context: &SensorContext, rng: &mut ChaCha8Rng) -> Vec<Vec<f32>> {
    let s = context.noise_scale;
    match &sensor.kind {
        SensorKind::JointState { joints, position_noise, velocity_noise } => {
            let mut positions = Vec::new();
            let mut velocities = Vec::new();
            crate::scene::read_articulation(&scene.rapier, &scene.robot, &mut positions, &mut velocities);
            let offset_q = if scene.robot.floating { 7 } else { 0 };
            let offset_v = if scene.robot.floating { 6 } else { 0 };
            let p = joints.iter().map(|j| (positions[offset_q + j] + gaussian(rng, position_noise * s)) as f32).collect();
            let v = joints.iter().map(|j| (velocities[offset_v + j] + gaussian(rng, velocity_noise * s)) as f32).collect();
            let e = joints.iter().map(|j| context.joint_efforts[*j] as f32).collect();
            vec![p, v, e]
        }
        SensorKind::Imu { link, acceleration_noise, angular_velocity_noise } => {
            let handle = scene.robot.links[link];
            let body = &scene.rapier.bodies[handle];
            let rotation = body.position().rotation;
            let (velocity, angular_velocity) = velocity_of(context.velocities, handle).unwrap_or_default();
            let previous = velocity_of(context.previous_velocities, handle).map_or(velocity, |(v, _)| v);
            let acceleration = (velocity - previous) / context.control_period as Real;
            // An accelerometer measures specific force: at rest it reads +g upwards.
            let specific_force = rotation.inverse() * (acceleration - context.gravity);
            let angular = rotation.inverse() * angular_velocity;
            let mut a = Vec::with_capacity(3);
            push3(&mut a, specific_force, acceleration_noise * s, rng);
            let mut w = Vec::with_capacity(3);
            push3(&mut w, angular, angular_velocity_noise * s, rng);
            vec![a, w, quaternion(rotation)]
        }
        SensorKind::Odometry { link, position_noise, velocity_noise } => {
            let handle = scene.robot.links[link];
            let pose = scene.rapier.bodies[handle].position();
            let (linear, angular) = velocity_of(context.velocities, handle).unwrap_or_default();
            let mut p = Vec::with_capacity(3);
            push3(&mut p, pose.translation, position_noise * s, rng);
            let mut v = Vec::with_capacity(3);
            push3(&mut v, pose.rotation.inverse() * linear, velocity_noise * s, rng);
            let mut w = Vec::with_capacity(3);
            push3(&mut w, pose.rotation.inverse() * angular, velocity_noise * s, rng);
            vec![p, quaternion(pose.rotation), v, w]
        }
        SensorKind::Contact { links } => {
            let dt = scene.rapier.integration_parameters.dt;
            let mut touching = Vec::with_capacity(links.len());
            let mut forces = Vec::with_capacity(links.len());
            for link in links {
                let mut in_contact = false;
                let mut impulse = 0.0;
                for collider in scene.rapier.bodies[scene.robot.links[link]].colliders() {
                    for pair in scene.rapier.narrow_phase.contact_pairs_with(*collider) {
                        if pair.has_any_active_contact() {
                            in_contact = true;
                            impulse += pair.total_impulse_magnitude();
                        }
                    }
                }
                touching.push(if in_contact { 1.0 } else { 0.0 });
                forces.push(impulse / dt);
            }
            vec![touching, forces]
        }
        SensorKind::Lidar(l) => {
            let mount = link_pose(scene, &l.link) * pose_from(l.mount.position, l.mount.rpy);
            let mut ranges = cast_rays(scene, &mount, rays, l.range_min, l.range_max, false);
            add_range_noise(&mut ranges, l.noise * s, l.range_min, l.range_max, rng);
            vec![ranges]
        }
        SensorKind::DepthCamera(d) => {
            let mount = link_pose(scene, &d.link) * pose_from(d.mount.position, d.mount.rpy);
            let mut depth = cast_rays(scene, &mount, rays, d.range_min, d.range_max, true);
            add_range_noise(&mut depth, d.noise * s, d.range_min, d.range_max, rng);
            vec![depth]
        }
        // Cameras write images, not fields (crate::render::CameraRig).
        SensorKind::Camera(_) => Vec::new(),
        SensorKind::LinkPose { link } => {
            let pose = link_pose(scene, link);
            vec![vec![pose.translation.x, pose.translation.y, pose.translation.z], quaternion(pose.rotation)]
        }
    }
}

/// Unit ray directions in the sensor frame (x forward, z up), channel by channel.
pub fn lidar_directions(l: &LidarConfig) -> Vec<Vec3> {
    let full_circle = (l.fov - std::f64::consts::TAU).abs() < 1e-9;
    let horizontal_step = if full_circle {
        l.fov / l.rays as f64
    } else if l.rays > 1 {
        l.fov / (l.rays - 1) as f64
    } else {
        0.0
    };
    let start = if full_circle { -std::f64::consts::PI } else { -l.fov / 2.0 };
    let mut out = Vec::with_capacity((l.rays * l.channels) as usize);
    for c in 0..l.channels {
        let elevation = if l.channels > 1 { -l.vertical_fov / 2.0 + c as f64 * l.vertical_fov / (l.channels - 1) as f64 } else { 0.0 };
        for i in 0..l.rays {
            let azimuth = if l.rays == 1 && !full_circle { 0.0 } else { start + i as f64 * horizontal_step };
            out.push(Vec3::new(
                (elevation.cos() * azimuth.cos()) as Real,
                (elevation.cos() * azimuth.sin()) as Real,
                elevation.sin() as Real,
            ));
        }
    }
    out
}

/// Pinhole rays, row by row from the top-left pixel; the optical axis is the sensor's x axis,
/// image right is -y and image down is -z.
pub fn camera_directions(d: &DepthCameraConfig) -> Vec<Vec3> {
    let focal = (d.width as f64 / 2.0) / (d.fov / 2.0).tan();
    let mut out = Vec::with_capacity((d.width * d.height) as usize);
    for v in 0..d.height {
        for u in 0..d.width {
            let right = (u as f64 + 0.5 - d.width as f64 / 2.0) / focal;
            let down = (v as f64 + 0.5 - d.height as f64 / 2.0) / focal;
            out.push(Vec3::new(1.0, -right as Real, -down as Real));
        }
    }
    out
}

/// Distance to the first surface along each ray, or `range_max` when nothing is hit within
/// range. With `along_axis`, the distance is measured along the sensor's x axis (depth images)
/// and the directions need not be unit length.
///
/// Every collider but the robot's own is a target (a sensor mounted on the robot would see its
/// own links first). Bounded targets go into a bounding-volume hierarchy (parry's `Bvh`) built
/// from their current AABBs for this reading, so a ray visits only the shapes along it; planes
/// (unbounded) are tested directly. Each target's first hit counts when it is at least
/// `range_min` away; the nearest of those is the reading, the same minimum as testing every
/// target in turn.
///
/// The BVH is built here rather than taken from rapier's broad phase: that one is refreshed at
/// the start of each physics step, so it is empty in a scene that was never stepped (the first
/// observation of an episode, a state just written) and lags a moving object by one step.
/// How much each target's AABB is grown in the ray BVH (m), so that the shape's own ray test
/// alone decides every hit, as when each target is tested in turn: a ray grazing a box's edge
/// must not be lost to the round-off of the AABB's slab test, and parry's ray cast on a
/// cylinder (GJK, with a tolerance) reports grazing hits up to about 2 mm outside the shape.
const AABB_MARGIN: Real = 0.01;

fn cast_rays(scene: &Scene, mount: &Pose, directions: &[Vec3], range_min: f64, range_max: f64, along_axis: bool) -> Vec<f32> {
    let mut bounded: Vec<&Collider> = Vec::new();
    let mut unbounded: Vec<&Collider> = Vec::new();
    for (handle, collider) in scene.rapier.colliders.iter() {
        if matches!(scene.owners.get(&handle), Some(ColliderOwner::RobotLink(_))) {
            continue;
        }
        if collider.shape().as_halfspace().is_some() {
            unbounded.push(collider);
        } else {
            bounded.push(collider);
        }
    }
    let bvh = Bvh::from_iter(BvhBuildStrategy::Binned, bounded.iter().map(|c| c.compute_aabb().loosened(AABB_MARGIN)).enumerate());
    let (range_min, range_max) = (range_min as Real, range_max as Real);
    let first_hit = |collider: &Collider, ray: &Ray, max: Real| -> Option<Real> {
        collider.shape().cast_ray(collider.position(), ray, max, true).filter(|t| *t >= range_min && *t < max)
    };
    let origin = mount.translation;
    directions
        .par_iter()
        .with_min_len(64)
        .map(|local| {
            let length = local.length();
            let unit_local = *local / length;
            let direction = mount.rotation * unit_local;
            let ray = Ray::new(origin, direction);
            let mut nearest = range_max;
            for collider in &unbounded {
                if let Some(t) = first_hit(collider, &ray, nearest) {
                    nearest = t;
                }
            }
            if let Some((_, t)) = bvh.cast_ray(&ray, nearest, |leaf, best| first_hit(bounded[leaf as usize], &ray, best)) {
                nearest = nearest.min(t);
            }
            if nearest >= range_max {
                range_max
            } else if along_axis {
                nearest * unit_local.x
            } else {
                nearest
            }
        })
        .collect()
}

fn add_range_noise(values: &mut [f32], std: f64, range_min: f64, range_max: f64, rng: &mut ChaCha8Rng) {
    if std <= 0.0 {
        return;
    }
    for v in values.iter_mut() {
        let noisy = *v as f64 + gaussian(rng, std);
        *v = noisy.clamp(range_min, range_max) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PhysicsWorld, Scenario, World};
    use std::path::Path;

    /// Every non-robot collider tested in turn: what [`cast_rays`] must equal.
    fn cast_rays_one_by_one(scene: &Scene, mount: &Pose, directions: &[Vec3], range_min: f64, range_max: f64) -> Vec<f32> {
        directions
            .iter()
            .map(|local| {
                let ray = Ray::new(mount.translation, mount.rotation * (*local / local.length()));
                let mut nearest = range_max as Real;
                for (handle, collider) in scene.rapier.colliders.iter() {
                    if matches!(scene.owners.get(&handle), Some(ColliderOwner::RobotLink(_))) {
                        continue;
                    }
                    if let Some(t) = collider.shape().cast_ray(collider.position(), &ray, nearest, true) {
                        if t >= range_min as Real && t < nearest {
                            nearest = t;
                        }
                    }
                }
                nearest
            })
            .collect()
    }

    #[test]
    fn rays_through_the_bvh_read_what_testing_every_collider_reads() {
        // The navigation scene: ground, walls and an obstacle field of 8 cylinders; a dense
        // full-circle fan from the base at three heights, for several episodes' layouts.
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/diffdrive-nav.yaml");
        let scenario = Scenario::load(&path).unwrap();
        let mut world = PhysicsWorld::new(scenario.config.clone());
        let fan: Vec<Vec3> = (0..720)
            .flat_map(|i| {
                let a = i as f32 * std::f32::consts::TAU / 720.0;
                [-0.3f32, 0.0, 0.2].map(|z| Vec3::new(a.cos(), a.sin(), z))
            })
            .collect();
        let mut hits = 0;
        for seed in 0..4 {
            world.reset(seed).unwrap();
            for _ in 0..20 {
                world.step(&[0.3, 0.4]).unwrap();
            }
            let scene = world.scene().unwrap();
            let mount = *scene.rapier.bodies[scene.robot.root].position() * Pose::from_translation(Vec3::new(0.0, 0.0, 0.1));
            let fast = cast_rays(scene, &mount, &fan, 0.05, 6.0, false);
            let slow = cast_rays_one_by_one(scene, &mount, &fan, 0.05, 6.0);
            for (i, (f, s)) in fast.iter().zip(&slow).enumerate() {
                assert_eq!(
                    f.to_bits(),
                    s.to_bits(),
                    "seed {seed}, ray {i} ({:?}): {f} m through the BVH, {s} m testing every collider",
                    fan[i]
                );
            }
            hits += fast.iter().filter(|r| **r < 6.0).count();
        }
        assert!(hits > 1000, "the fan must see the obstacles and the ground: {hits} hits");
    }
}
