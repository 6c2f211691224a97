//! World section: ground, gravity, static and movable bodies.

use super::*;

/// Validated `world` section: gravity in m/s² (world frame, REP-103), the optional ground
/// plane, static obstacles and movable objects (unique names).
#[derive(Debug, Clone, serde::Serialize)]
pub struct WorldConfig {
    /// Gravity [x, y, z] in m/s², world frame (`world.gravity`, default [0, 0, −9.81]).
    pub gravity: [f64; 3],
    /// The ground plane (`world.ground`); `None` when `enabled: false`.
    pub ground: Option<GroundConfig>,
    /// Static bodies (`world.obstacles`), mass 0.
    pub obstacles: Vec<BodyConfig>,
    /// Movable bodies (`world.objects`), in the order of the state vector.
    pub objects: Vec<BodyConfig>,
    /// What cameras see by (`world.lighting`).
    pub lighting: LightingConfig,
}

/// Validated `world.lighting`: one directional light and an ambient term, linear RGB in 0–1.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct LightingConfig {
    /// Direction the light travels, world frame, non-zero (`direction`, default [0.3, 0.2, −1]).
    pub direction: [f64; 3],
    /// Colour of the directional light (`color`, default [0.7, 0.7, 0.7]).
    pub color: [f64; 3],
    /// Colour of the ambient light (`ambient`, default [0.35, 0.35, 0.35]).
    pub ambient: [f64; 3],
    /// Colour where nothing is hit (`background`, default [0.62, 0.72, 0.82]).
    pub background: [f64; 3],
}

impl Default for LightingConfig {
    fn default() -> Self {
        LightingConfig { direction: [0.3, 0.2, -1.0], color: [0.7; 3], ambient: [0.35; 3], background: [0.62, 0.72, 0.82] }
    }
}

/// Default colour of a primitive body (`color`), linear RGB.
pub const DEFAULT_BODY_COLOR: [f64; 3] = [0.6, 0.6, 0.6];
/// Default colour of the ground (`world.ground.color`), linear RGB.
pub const DEFAULT_GROUND_COLOR: [f64; 3] = [0.5, 0.5, 0.5];

impl Checker<'_> {
    /// An [r, g, b] colour with each channel in 0–1.
    fn color(&mut self, key: &str, value: Option<&Vec<f64>>, default: [f64; 3]) -> [f64; 3] {
        let rgb = self.vector(key, value, default);
        for (i, v) in rgb.iter().enumerate() {
            if !(0.0..=1.0).contains(v) {
                self.invalid(&format!("{key}[{i}]"), "a colour channel from 0 to 1", v);
            }
        }
        rgb.map(|v| v.clamp(0.0, 1.0))
    }
}

/// A ground plane at z = `height` (m) with Coulomb friction coefficient `friction`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GroundConfig {
    /// Coulomb friction coefficient, 0 to 100 (`friction`, default 0.8).
    pub friction: f64,
    /// Height of the plane (z) in m (`height`, default 0).
    pub height: f64,
    /// What cameras see, linear RGB in 0–1 (`color`, default [0.5, 0.5, 0.5]).
    pub color: [f64; 3],
}

/// A body's collision shape, lengths in m: box half-extents (half the scenario's `size`), radii,
/// half-lengths (half the scenario's `length`), or a URDF whose links are joined by fixed joints.
#[derive(Debug, Clone, serde::Serialize)]
pub enum ShapeConfig {
    /// A box (`box: {size}`).
    Box {
        /// Half the edge lengths along x, y, z, in m.
        half_extents: [f64; 3],
    },
    /// A sphere (`sphere: {radius}`).
    Sphere {
        /// Radius in m.
        radius: f64,
    },
    /// Axis along z.
    Cylinder {
        /// Radius in m.
        radius: f64,
        /// Half the length of the axis in m.
        half_length: f64,
    },
    /// Axis along z.
    Capsule {
        /// Radius in m.
        radius: f64,
        /// Half the length of the cylindrical part (without the end caps) in m.
        half_length: f64,
    },
    /// A URDF file (`urdf: PATH`) whose links are joined by fixed joints only.
    Urdf {
        /// Serialized as its parsed URDF (every link, joint and geometry).
        #[serde(serialize_with = "serialize_urdf")]
        model: Arc<RobotModel>,
    },
}

fn serialize_urdf<S: serde::Serializer>(model: &Arc<RobotModel>, serializer: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&model.urdf, serializer)
}

/// A validated obstacle or object: name, shape, pose in the world frame (m, rad), mass and
/// Coulomb friction coefficient (default 0.8).
#[derive(Debug, Clone, serde::Serialize)]
pub struct BodyConfig {
    /// Body name (`name`), unique among obstacles and objects.
    pub name: String,
    /// Collision shape: exactly one of `box`, `sphere`, `cylinder`, `capsule`, `urdf`.
    pub shape: ShapeConfig,
    /// Pose in the world frame (`position` in m, `rpy` in rad; defaults zero).
    pub pose: PoseConfig,
    /// kg; 0 for static obstacles.
    pub mass: f64,
    /// Coulomb friction coefficient, 0 to 100 (`friction`, default 0.8).
    pub friction: f64,
    /// What cameras see of a primitive shape, linear RGB in 0–1 (`color`, default [0.6, 0.6, 0.6]).
    pub color: [f64; 3],
}

pub(super) fn body_config(c: &mut Checker, key: &str, spec: &BodySpec, movable: bool, file: &Path) -> Option<BodyConfig> {
    let which = c.one_of(
        key,
        "a shape",
        &[
            ("box", spec.box_.is_some()),
            ("sphere", spec.sphere.is_some()),
            ("cylinder", spec.cylinder.is_some()),
            ("capsule", spec.capsule.is_some()),
            ("urdf", spec.urdf.is_some()),
        ],
    )?;
    let shape = match which {
        "box" => {
            let size = c.vector(&format!("{key}.box.size"), Some(&spec.box_.as_ref()?.size), [1.0; 3]);
            for (i, s) in size.iter().enumerate() {
                c.positive(&format!("{key}.box.size[{i}]"), *s, MAX_LENGTH_M);
            }
            ShapeConfig::Box { half_extents: size.map(|s| s / 2.0) }
        }
        "sphere" => ShapeConfig::Sphere { radius: c.positive(&format!("{key}.sphere.radius"), spec.sphere.as_ref()?.radius, MAX_LENGTH_M) },
        "cylinder" | "capsule" => {
            let s = if which == "cylinder" { spec.cylinder.as_ref()? } else { spec.capsule.as_ref()? };
            let radius = c.positive(&format!("{key}.{which}.radius"), s.radius, MAX_LENGTH_M);
            let half_length = c.positive(&format!("{key}.{which}.length"), s.length, MAX_LENGTH_M) / 2.0;
            if which == "cylinder" {
                ShapeConfig::Cylinder { radius, half_length }
            } else {
                ShapeConfig::Capsule { radius, half_length }
            }
        }
        _ => {
            let urdf = spec.urdf.as_ref()?;
            let path = file.parent().unwrap_or(Path::new(".")).join(urdf);
            match RobotModel::from_file(&path, &c.packages) {
                // A movable object is a free body: its links must have a real inertia.
                Ok(model) if model.joints.is_empty() => match model.check_inertia(movable, false) {
                    Ok(()) => ShapeConfig::Urdf { model: Arc::new(model) },
                    Err(problem) => {
                        c.urdf(&format!("{key}.urdf"), &path, problem);
                        return None;
                    }
                },
                Ok(model) => {
                    c.invalid(
                        &format!("{key}.urdf"),
                        "a URDF whose links are joined by fixed joints only (articulated objects are not supported)",
                        format!("{} movable joints", model.joints.len()),
                    );
                    return None;
                }
                Err(problem) => {
                    c.urdf(&format!("{key}.urdf"), &path, problem);
                    return None;
                }
            }
        }
    };
    let pose = c.pose(key, spec.position.as_ref(), spec.rpy.as_ref());
    let mass = match (movable, spec.mass) {
        (true, Some(m)) => c.positive(&format!("{key}.mass"), m, MAX_MASS_KG),
        (true, None) if matches!(shape, ShapeConfig::Urdf { .. }) => 0.0,
        (true, None) => {
            c.invalid(&format!("{key}.mass"), "the mass of a movable object in kg", "nothing");
            1.0
        }
        (false, Some(m)) => {
            c.invalid(&format!("{key}.mass"), "no mass: obstacles are static (put movable bodies under world.objects)", m);
            0.0
        }
        (false, None) => 0.0,
    };
    let friction = c.non_negative(&format!("{key}.friction"), spec.friction.unwrap_or(0.8), 100.0);
    if spec.color.is_some() && matches!(shape, ShapeConfig::Urdf { .. }) {
        c.invalid(&format!("{key}.color"), "no colour for a urdf body (its <material>s colour it)", "a colour");
    }
    let color = c.color(&format!("{key}.color"), spec.color.as_ref(), DEFAULT_BODY_COLOR);
    Some(BodyConfig { name: spec.name.clone(), shape, pose, mass, friction, color })
}

pub(super) fn world_config(c: &mut Checker, spec: &WorldSpec, file: &Path) -> WorldConfig {
    let gravity = c.coordinates("world.gravity", spec.gravity.as_ref(), [0.0, 0.0, -9.81]);
    let ground = match &spec.ground {
        Some(g) if g.enabled => Some(GroundConfig {
            friction: c.non_negative("world.ground.friction", g.friction.unwrap_or(0.8), 100.0),
            height: c.finite("world.ground.height", g.height.unwrap_or(0.0)),
            color: c.color("world.ground.color", g.color.as_ref(), DEFAULT_GROUND_COLOR),
        }),
        _ => None,
    };
    let obstacles: Vec<BodyConfig> =
        spec.obstacles.iter().enumerate().filter_map(|(i, b)| body_config(c, &format!("world.obstacles[{i}]"), b, false, file)).collect();
    let objects: Vec<BodyConfig> =
        spec.objects.iter().enumerate().filter_map(|(i, b)| body_config(c, &format!("world.objects[{i}]"), b, true, file)).collect();
    let mut names = std::collections::HashSet::new();
    for (key, body) in obstacles.iter().map(|b| ("world.obstacles", b)).chain(objects.iter().map(|b| ("world.objects", b))) {
        if !names.insert(body.name.clone()) {
            c.invalid(key, "unique body names", format!("\"{}\" used twice", body.name));
        }
    }
    let lighting = match &spec.lighting {
        None => LightingConfig::default(),
        Some(l) => {
            let d = LightingConfig::default();
            let direction = c.coordinates("world.lighting.direction", l.direction.as_ref(), d.direction);
            if direction.iter().all(|v| *v == 0.0) {
                c.invalid("world.lighting.direction", "a non-zero direction", "[0, 0, 0]");
            }
            LightingConfig {
                direction,
                color: c.color("world.lighting.color", l.color.as_ref(), d.color),
                ambient: c.color("world.lighting.ambient", l.ambient.as_ref(), d.ambient),
                background: c.color("world.lighting.background", l.background.as_ref(), d.background),
            }
        }
    };
    WorldConfig { gravity, ground, obstacles, objects, lighting }
}
