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
}

/// A ground plane at z = `height` (m) with Coulomb friction coefficient `friction`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GroundConfig {
    /// Coulomb friction coefficient, 0 to 100 (`friction`, default 0.8).
    pub friction: f64,
    /// Height of the plane (z) in m (`height`, default 0).
    pub height: f64,
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
    Some(BodyConfig { name: spec.name.clone(), shape, pose, mass, friction })
}

pub(super) fn world_config(c: &mut Checker, spec: &WorldSpec, file: &Path) -> WorldConfig {
    let gravity = c.coordinates("world.gravity", spec.gravity.as_ref(), [0.0, 0.0, -9.81]);
    let ground = match &spec.ground {
        Some(g) if g.enabled => Some(GroundConfig {
            friction: c.non_negative("world.ground.friction", g.friction.unwrap_or(0.8), 100.0),
            height: c.finite("world.ground.height", g.height.unwrap_or(0.0)),
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
    WorldConfig { gravity, ground, obstacles, objects }
}
