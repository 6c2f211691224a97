//! Randomization section: per-episode distributions of masses, friction, gains, latency, poses and obstacle fields.

use super::*;

/// A validated per-episode distribution, in the units of the parameter it draws; sampled by
/// [`crate::randomize::sample`].
#[derive(Debug, Clone, PartialEq)]
pub enum Distribution {
    /// `{constant: v}`: always v.
    Constant(f64),
    /// `{uniform: [low, high]}`: uniform in [low, high), low ≤ high.
    Uniform(f64, f64),
    /// `{normal: {mean, std}}`: Gaussian.
    Normal {
        /// Mean, in the parameter's units.
        mean: f64,
        /// Standard deviation, in the parameter's units; ≥ 0.
        std: f64,
    },
    /// `{choice: [a, b, …]}`: one of the values (non-empty), each equally likely.
    Choice(Vec<f64>),
}

/// Validated `randomize` section: joints and objects by index; `None` where a parameter keeps
/// its nominal value.
#[derive(Debug, Clone, Default)]
pub struct RandomizationConfig {
    /// (joint index, offset added to its initial position in rad or m), from `initial_joints`.
    pub initial_joints: Vec<(usize, Distribution)>,
    /// Offsets of x, y, z and yaw.
    pub initial_base: [Option<Distribution>; 4],
    /// Replacement goal x, y, z.
    pub goal: [Option<Distribution>; 3],
    /// (object index, offsets of x, y, yaw).
    pub objects: Vec<(usize, [Option<Distribution>; 3])>,
    /// Random obstacle field (`obstacle_field`).
    pub obstacle_field: Option<ObstacleFieldConfig>,
    /// Factor on every link and object mass (`mass_scale`); ≥ 0.
    pub mass_scale: Option<Distribution>,
    /// Friction coefficient of every surface, replacing the nominal ones (`friction`); ≥ 0.
    pub friction: Option<Distribution>,
    /// Factor on actuator gains, effort limits and delivered torques (`actuator_gain_scale`); ≥ 0.
    pub actuator_gain_scale: Option<Distribution>,
    /// Factor on every sensor noise standard deviation (`sensor_noise_scale`); ≥ 0.
    pub sensor_noise_scale: Option<Distribution>,
    /// Control steps between an action and its application, rounded (`action_latency_steps`); 0 to 1000.
    pub action_latency_steps: Option<Distribution>,
    /// What cameras see (`appearance`).
    pub appearance: AppearanceConfig,
}

/// Validated `randomize.appearance`: each `None` when not randomized.
#[derive(Debug, Clone, Default)]
pub struct AppearanceConfig {
    /// Factor on the light's colours (`light_intensity`); ≥ 0.
    pub light_intensity: Option<Distribution>,
    /// Rotation of the light's direction about the world's z axis, rad (`light_azimuth_deg`).
    pub light_azimuth: Option<Distribution>,
    /// Factor on each colour channel of each segment, drawn per channel (`color_scale`); ≥ 0.
    pub color_scale: Option<Distribution>,
    /// Offset of each camera's mount position per axis, m (`camera_position`).
    pub camera_position: Option<Distribution>,
    /// Offset of each camera's mount roll, pitch and yaw, rad (`camera_rotation_deg`).
    pub camera_rotation: Option<Distribution>,
}

impl AppearanceConfig {
    /// Whether anything is randomized.
    pub fn is_randomized(&self) -> bool {
        self.light_intensity.is_some()
            || self.light_azimuth.is_some()
            || self.color_scale.is_some()
            || self.camera_position.is_some()
            || self.camera_rotation.is_some()
    }
}

/// Validated obstacle field: `count` cylinders in `area` = [x_min, x_max, y_min, y_max] with
/// radius in `radius` = (min, max), of `height`, `clearance` from start and goal; lengths in m.
#[derive(Debug, Clone)]
pub struct ObstacleFieldConfig {
    /// Largest number of cylinders to place (`count`, 0 to 10 000); a crowded area may get fewer.
    pub count: u32,
    /// Area to place them in, [x_min, x_max, y_min, y_max] in m (`area`).
    pub area: [f64; 4],
    /// (min, max) cylinder radius in m (`radius`), 0 < min ≤ max.
    pub radius: (f64, f64),
    /// Cylinder height in m (`height`).
    pub height: f64,
    /// Free distance in m kept around the robot's start and the goal (`clearance`).
    pub clearance: f64,
}

pub(super) fn randomize_config(c: &mut Checker, spec: &RandomizeSpec, model: &RobotModel, world: &WorldConfig) -> RandomizationConfig {
    let mut initial_joints = Vec::new();
    for (name, d) in &spec.initial_joints {
        let key = format!("randomize.initial_joints.{name}");
        if let (Some(joint), Some(d)) = (joint_index(c, &key, model, name), c.distribution(&key, d)) {
            if let Some(mimic) = model.joints[joint].mimic {
                c.invalid(&key, format!("no distribution: the joint follows \"{}\" by its <mimic>", model.joints[mimic.leader].name), name);
                continue;
            }
            initial_joints.push((joint, d));
        }
    }
    let initial_base = axes(c, "randomize.initial_base", &spec.initial_base, ["x", "y", "z", "yaw"]);
    let goal = axes(c, "randomize.goal", &spec.goal, ["x", "y", "z"]);
    let mut objects = Vec::new();
    for (name, offsets) in &spec.objects {
        let key = format!("randomize.objects.{name}");
        match world.objects.iter().position(|o| &o.name == name) {
            Some(index) => objects.push((index, axes(c, &key, offsets, ["x", "y", "yaw"]))),
            None => {
                let names: Vec<&str> = world.objects.iter().map(|o| o.name.as_str()).collect();
                c.invalid(&key, format!("the name of a movable object ({})", names.join(", ")), name);
            }
        }
    }
    let obstacle_field = spec.obstacle_field.as_ref().map(|f| {
        let key = "randomize.obstacle_field";
        let count = c.count(&format!("{key}.count"), f.count, 0, MAX_OBSTACLES);
        let area = c.vector(&format!("{key}.area"), Some(&f.area), [0.0; 4]);
        if area[0] >= area[1] || area[2] >= area[3] {
            c.invalid(&format!("{key}.area"), "[x_min, x_max, y_min, y_max] with min < max", format!("{area:?}"));
        }
        let [r0, r1] = c.vector(&format!("{key}.radius"), Some(&f.radius), [0.1, 0.1]);
        if !(r0 > 0.0 && r0 <= r1) {
            c.invalid(&format!("{key}.radius"), "[min, max] with 0 < min ≤ max", format!("[{r0}, {r1}]"));
        }
        ObstacleFieldConfig {
            count,
            area,
            radius: (r0, r1),
            height: c.positive(&format!("{key}.height"), f.height, MAX_LENGTH_M),
            clearance: c.non_negative(&format!("{key}.clearance"), f.clearance, MAX_LENGTH_M),
        }
    });
    let scale = |c: &mut Checker, key: &str, d: &Option<DistributionSpec>| {
        let d = d.as_ref().and_then(|d| c.distribution(key, d))?;
        if distribution_min(&d) < 0.0 {
            c.invalid(key, "a distribution of non-negative values", format!("{d:?}"));
        }
        Some(d)
    };
    let mass_scale = scale(c, "randomize.mass_scale", &spec.mass_scale);
    let friction = scale(c, "randomize.friction", &spec.friction);
    let actuator_gain_scale = scale(c, "randomize.actuator_gain_scale", &spec.actuator_gain_scale);
    let sensor_noise_scale = scale(c, "randomize.sensor_noise_scale", &spec.sensor_noise_scale);
    let action_latency_steps = scale(c, "randomize.action_latency_steps", &spec.action_latency_steps);
    if let Some(d) = &action_latency_steps {
        if distribution_max(d) > 1000.0 {
            c.invalid("randomize.action_latency_steps", "at most 1000 control steps of latency", format!("{d:?}"));
        }
    }
    let appearance = match &spec.appearance {
        None => AppearanceConfig::default(),
        Some(a) => {
            let key = "randomize.appearance";
            let degrees = |d: Distribution| match d {
                Distribution::Constant(v) => Distribution::Constant(v.to_radians()),
                Distribution::Uniform(lo, hi) => Distribution::Uniform(lo.to_radians(), hi.to_radians()),
                Distribution::Normal { mean, std } => Distribution::Normal { mean: mean.to_radians(), std: std.to_radians() },
                Distribution::Choice(v) => Distribution::Choice(v.iter().map(|x| x.to_radians()).collect()),
            };
            let offset = |c: &mut Checker, name: &str, d: &Option<DistributionSpec>, max: f64, unit: &str| {
                let k = format!("{key}.{name}");
                let d = d.as_ref().and_then(|d| c.distribution(&k, d))?;
                if distribution_min(&d) < -max || distribution_max(&d) > max {
                    c.invalid(&k, format!("offsets of magnitude at most {max} {unit}"), format!("{d:?}"));
                }
                Some(d)
            };
            AppearanceConfig {
                light_intensity: scale(c, &format!("{key}.light_intensity"), &a.light_intensity),
                light_azimuth: offset(c, "light_azimuth_deg", &a.light_azimuth_deg, 360.0, "degrees").map(degrees),
                color_scale: scale(c, &format!("{key}.color_scale"), &a.color_scale),
                camera_position: offset(c, "camera_position", &a.camera_position, 10.0, "m"),
                camera_rotation: offset(c, "camera_rotation_deg", &a.camera_rotation_deg, 180.0, "degrees").map(degrees),
            }
        }
    };
    RandomizationConfig {
        appearance,
        initial_joints,
        initial_base,
        goal,
        objects,
        obstacle_field,
        mass_scale,
        friction,
        actuator_gain_scale,
        sensor_noise_scale,
        action_latency_steps,
    }
}

/// Smallest value a distribution can produce (normal: three standard deviations below the mean).
pub(super) fn distribution_min(d: &Distribution) -> f64 {
    match d {
        Distribution::Constant(v) => *v,
        Distribution::Uniform(lo, _) => *lo,
        Distribution::Normal { mean, std } => mean - 3.0 * std,
        Distribution::Choice(v) => v.iter().cloned().fold(f64::INFINITY, f64::min),
    }
}

pub(super) fn distribution_max(d: &Distribution) -> f64 {
    match d {
        Distribution::Constant(v) => *v,
        Distribution::Uniform(_, hi) => *hi,
        Distribution::Normal { mean, std } => mean + 3.0 * std,
        Distribution::Choice(v) => v.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
    }
}
