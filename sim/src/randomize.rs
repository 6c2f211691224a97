//! Domain randomization: drawing one episode's parameters from the scenario's distributions.

use crate::scenario::config::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution as _, Normal};

/// RNG streams of an episode seed: parameters and sensor noise never share draws, so adding a
/// sensor does not change the sampled masses.
pub const PARAMETER_STREAM: u64 = 0;
/// Stream of an episode seed that sensor noise draws from (see [`PARAMETER_STREAM`]).
pub const NOISE_STREAM: u64 = 1;
/// Stream of an episode seed that camera appearance (light, colours, mounts) draws from, so
/// randomizing what cameras see changes no physics.
pub const APPEARANCE_STREAM: u64 = 2;

/// What cameras see in one episode, drawn from `randomize.appearance` on [`APPEARANCE_STREAM`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AppearanceParameters {
    /// Factor on the light's colours (≥ 0).
    pub light_intensity: f64,
    /// Rotation of the light's direction about the world's z axis, rad.
    pub light_azimuth: f64,
    /// Factor per colour channel of each segment, `color_scales[id − 1]`; empty when colours
    /// are not randomized.
    pub color_scales: Vec<[f64; 3]>,
    /// Offset of each camera's mount (position m, rpy rad), in sensor order over the cameras.
    pub camera_offsets: Vec<PoseConfig>,
}

/// ChaCha8 RNG for one stream of an episode seed: `ChaCha8Rng::seed_from_u64(seed)` with
/// `set_stream(stream)`, so streams never share draws and a seed always gives the same ones.
pub fn episode_rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// The randomized parameters of one episode; kept with its data so the episode can be
/// explained and replayed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EpisodeParameters {
    /// The episode seed every parameter was drawn from.
    pub seed: u64,
    /// Initial position of each movable joint, rad or m, in URDF order: nominal plus offset, clamped to the joint's limits.
    pub initial_joints: Vec<f64>,
    /// Initial position of the root link in the world frame, [x, y, z] in m.
    pub base_position: [f64; 3],
    /// Initial orientation of the root link, roll, pitch, yaw in rad (only yaw is randomized).
    pub base_rpy: [f64; 3],
    /// The episode's goal [x, y, z] in m, world frame (the nominal goal's coordinates where not randomized).
    pub goal: [f64; 3],
    /// Initial position of each movable object, [x, y, z] in m, in `world.objects` order.
    pub object_positions: Vec<[f64; 3]>,
    /// Initial orientation of each movable object, roll, pitch, yaw in rad (only yaw is randomized), in `world.objects` order.
    pub object_rpy: Vec<[f64; 3]>,
    /// Obstacle field cylinders: (x, y, radius).
    pub field_obstacles: Vec<[f64; 3]>,
    /// Factor on every link and object mass: 1 when not randomized, at least 0.001.
    pub mass_scale: f64,
    /// Friction coefficient of every surface, when randomized.
    pub friction: Option<f64>,
    /// Factor on actuator strength (gains, effort limits, delivered torque): 1 when not randomized, ≥ 0.
    pub actuator_gain_scale: f64,
    /// Factor on every sensor noise standard deviation: 1 when not randomized, ≥ 0.
    pub sensor_noise_scale: f64,
    /// Control steps between an action and its application: 0 when not randomized, at most 1000.
    pub action_latency_steps: u32,
    /// What cameras see, when the scenario has a camera and randomizes its appearance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub appearance: Option<AppearanceParameters>,
}

/// Draws one value, in the units of the parameter: `Constant` as is, `Uniform(lo, hi)` as
/// lo + (hi − lo)·u with u in [0, 1), `Normal` via `rand_distr::Normal` (the mean if `std` were
/// invalid), `Choice` uniformly among its values. Panics on an empty `Choice` (validation rejects it).
pub fn sample(distribution: &Distribution, rng: &mut ChaCha8Rng) -> f64 {
    match distribution {
        Distribution::Constant(v) => *v,
        Distribution::Uniform(lo, hi) => lo + (hi - lo) * rng.random::<f64>(),
        Distribution::Normal { mean, std } => {
            // `std` is validated as finite and non-negative, which Normal::new accepts.
            Normal::new(*mean, *std).map(|n| n.sample(rng)).unwrap_or(*mean)
        }
        Distribution::Choice(values) => values[rng.random_range(0..values.len())],
    }
}

fn sample_or(d: &Option<Distribution>, default: f64, rng: &mut ChaCha8Rng) -> f64 {
    d.as_ref().map(|d| sample(d, rng)).unwrap_or(default)
}

/// Draws an episode's parameters. The order of draws is fixed, which is what makes a seed
/// reproduce an episode.
pub fn sample_parameters(config: &ScenarioConfig, seed: u64) -> EpisodeParameters {
    let mut rng = episode_rng(seed, PARAMETER_STREAM);
    let r = &config.randomize;
    let mut initial_joints = config.robot.initial_joints.clone();
    for (joint, d) in &r.initial_joints {
        initial_joints[*joint] += sample(d, &mut rng);
    }
    let clamp = |values: &mut Vec<f64>| {
        for (value, joint) in values.iter_mut().zip(&config.robot.model.joints) {
            if let Some((lo, hi)) = joint.limits {
                *value = value.clamp(lo, hi);
            }
        }
    };
    clamp(&mut initial_joints);
    // A <mimic> follower starts where its leader's (clamped) drawn position puts it.
    config.robot.model.follow_mimics(&mut initial_joints);
    clamp(&mut initial_joints);
    let base = config.robot.base;
    let base_position = [
        base.position[0] + sample_or(&r.initial_base[0], 0.0, &mut rng),
        base.position[1] + sample_or(&r.initial_base[1], 0.0, &mut rng),
        base.position[2] + sample_or(&r.initial_base[2], 0.0, &mut rng),
    ];
    let base_rpy = [base.rpy[0], base.rpy[1], base.rpy[2] + sample_or(&r.initial_base[3], 0.0, &mut rng)];
    let nominal = config.task.goal;
    let goal = [
        sample_or(&r.goal[0], nominal[0], &mut rng),
        sample_or(&r.goal[1], nominal[1], &mut rng),
        sample_or(&r.goal[2], nominal[2], &mut rng),
    ];
    let mut object_positions: Vec<[f64; 3]> = config.world.objects.iter().map(|o| o.pose.position).collect();
    let mut object_rpy: Vec<[f64; 3]> = config.world.objects.iter().map(|o| o.pose.rpy).collect();
    for (object, offsets) in &r.objects {
        object_positions[*object][0] += sample_or(&offsets[0], 0.0, &mut rng);
        object_positions[*object][1] += sample_or(&offsets[1], 0.0, &mut rng);
        object_rpy[*object][2] += sample_or(&offsets[2], 0.0, &mut rng);
    }
    let field_obstacles = r.obstacle_field.as_ref().map(|f| obstacle_field(f, &base_position, &goal, &mut rng)).unwrap_or_default();
    let mass_scale = sample_or(&r.mass_scale, 1.0, &mut rng).max(1e-3);
    let friction = r.friction.as_ref().map(|d| sample(d, &mut rng).max(0.0));
    let actuator_gain_scale = sample_or(&r.actuator_gain_scale, 1.0, &mut rng).max(0.0);
    let sensor_noise_scale = sample_or(&r.sensor_noise_scale, 1.0, &mut rng).max(0.0);
    let action_latency_steps = sample_or(&r.action_latency_steps, 0.0, &mut rng).round().clamp(0.0, 1000.0) as u32;
    EpisodeParameters {
        seed,
        initial_joints,
        base_position,
        base_rpy,
        goal,
        object_positions,
        object_rpy,
        field_obstacles,
        mass_scale,
        friction,
        actuator_gain_scale,
        sensor_noise_scale,
        action_latency_steps,
        appearance: sample_appearance(config, seed),
    }
}

/// Draws the episode's appearance on its own stream: light intensity, light azimuth, then per
/// segment three colour factors, then per camera three position and three rpy offsets.
fn sample_appearance(config: &ScenarioConfig, seed: u64) -> Option<AppearanceParameters> {
    let a = &config.randomize.appearance;
    let visuals = config.visuals.as_ref()?;
    if !a.is_randomized() {
        return None;
    }
    let mut rng = episode_rng(seed, APPEARANCE_STREAM);
    let light_intensity = sample_or(&a.light_intensity, 1.0, &mut rng).max(0.0);
    let light_azimuth = sample_or(&a.light_azimuth, 0.0, &mut rng);
    let color_scales = match &a.color_scale {
        Some(d) => visuals.legend.iter().map(|_| [0; 3].map(|_| sample(d, &mut rng).max(0.0))).collect(),
        None => Vec::new(),
    };
    let cameras = config.sensors.iter().filter(|s| matches!(s.kind, SensorKind::Camera(_))).count();
    let camera_offsets = (0..cameras)
        .map(|_| PoseConfig {
            position: [0; 3].map(|_| sample_or(&a.camera_position, 0.0, &mut rng)),
            rpy: [0; 3].map(|_| sample_or(&a.camera_rotation, 0.0, &mut rng)),
        })
        .collect();
    Some(AppearanceParameters { light_intensity, light_azimuth, color_scales, camera_offsets })
}

/// Places cylinders by rejection sampling, keeping `clearance` free around the start and the
/// goal. A crowded area may get fewer cylinders than asked; the attempt budget is fixed, so
/// the result is still a function of the seed.
fn obstacle_field(field: &ObstacleFieldConfig, start: &[f64; 3], goal: &[f64; 3], rng: &mut ChaCha8Rng) -> Vec<[f64; 3]> {
    let mut placed: Vec<[f64; 3]> = Vec::new();
    let attempts = field.count as usize * 50;
    for _ in 0..attempts {
        if placed.len() == field.count as usize {
            break;
        }
        let radius = field.radius.0 + (field.radius.1 - field.radius.0) * rng.random::<f64>();
        let x = field.area[0] + (field.area[1] - field.area[0]) * rng.random::<f64>();
        let y = field.area[2] + (field.area[3] - field.area[2]) * rng.random::<f64>();
        let clear_of = |p: &[f64; 3], extra: f64| ((x - p[0]).powi(2) + (y - p[1]).powi(2)).sqrt() > radius + extra;
        let apart = placed.iter().all(|o| ((x - o[0]).powi(2) + (y - o[1]).powi(2)).sqrt() > radius + o[2] + 0.1);
        if clear_of(start, field.clearance) && clear_of(goal, field.clearance) && apart {
            placed.push([x, y, radius]);
        }
    }
    placed
}
