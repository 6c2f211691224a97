//! URDF robot models: loading, checking and the robots that ship with dreamrig.
//!
//! rapier3d-urdf assumes a well-formed file (it indexes links by name and skips meshes it
//! cannot read), so every property it relies on is checked here first and reported with the
//! element it concerns.

use crate::mesh::{Mesh, PackagePaths};
pub use rapier3d_urdf::urdf_rs;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Robots whose URDF is compiled into dreamrig, usable as `robot: {builtin: NAME}`.
pub const BUILTIN_ROBOTS: &[(&str, &str)] = &[
    ("cartpole", include_str!("../../scenarios/robots/cartpole.urdf")),
    ("reacher2", include_str!("../../scenarios/robots/reacher2.urdf")),
    ("arm7", include_str!("../../scenarios/robots/arm7.urdf")),
    ("diffbot", include_str!("../../scenarios/robots/diffbot.urdf")),
    ("pusher", include_str!("../../scenarios/robots/pusher.urdf")),
];

/// A problem in a URDF file: which element, and what is wrong with it.
#[derive(Debug, Clone, PartialEq)]
pub struct UrdfProblem {
    /// The element concerned, e.g. `joint "elbow"`, `link "base"`, `<robot>`, `<file>` or `line N`.
    pub element: String,
    /// What is wrong with it, with the fix where one is known.
    pub reason: String,
}

impl UrdfProblem {
    fn new(element: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { element: element.into(), reason: reason.into() }
    }
}

/// How a movable joint moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum JointKind {
    /// Rotates about its axis within `<limit lower upper>` (rad).
    Revolute,
    /// Rotates about its axis without position limits.
    Continuous,
    /// Slides along its axis within `<limit lower upper>` (m).
    Prismatic,
}

impl JointKind {
    /// `true` for revolute and continuous joints (positions in rad, efforts in N·m), `false` for
    /// prismatic ones (m, N).
    pub fn is_angular(self) -> bool {
        !matches!(self, JointKind::Prismatic)
    }
}

fn is_zero(value: &f64) -> bool {
    *value == 0.0
}

/// A movable joint as the URDF declares it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct JointInfo {
    /// URDF `<joint name>`.
    pub name: String,
    /// Revolute, continuous or prismatic (URDF `type`).
    pub kind: JointKind,
    /// URDF `<parent link>`.
    pub parent_link: String,
    /// URDF `<child link>`: the link the joint moves.
    pub child_link: String,
    /// Position limits; `None` for continuous joints.
    pub limits: Option<(f64, f64)>,
    /// Effort limit from `<limit effort>`; 0 means none given.
    pub effort_limit: f64,
    /// Velocity limit from `<limit velocity>`, rad/s or m/s; 0 means none given.
    pub velocity_limit: f64,
    /// Viscous damping from `<dynamics damping>` (or `robot.joint_dynamics`), N·m·s/rad or N·s/m; 0 when absent.
    pub damping: f64,
    /// Coulomb friction from `<dynamics friction>` (or `robot.joint_dynamics`), N·m or N; 0 when absent.
    pub friction: f64,
    /// Rotor inertia reflected through the joint's gearing (MuJoCo's `armature`), kg·m² (hinge)
    /// or kg (slider), added to the joint's diagonal of the mass matrix. URDF has no element for
    /// it: 0 unless `robot.joint_dynamics` sets it. Left out of the serialized form when 0, so
    /// that a scenario's fingerprint (which world-model files check) is what it was before
    /// armature existed.
    #[serde(skip_serializing_if = "is_zero")]
    pub armature: f64,
    /// `<mimic>`: this joint follows another instead of being driven.
    pub mimic: Option<MimicInfo>,
}

/// A URDF `<mimic joint multiplier offset>`: the joint's position is held at
/// `multiplier × leader + offset` (rad or m), as a gearing or a linkage does.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct MimicInfo {
    /// Index of the leader among the model's movable joints.
    pub leader: usize,
    /// `multiplier` (default 1).
    pub multiplier: f64,
    /// `offset`, rad or m (default 0).
    pub offset: f64,
}

/// A checked URDF model.
#[derive(Debug, Clone)]
pub struct RobotModel {
    /// Where it came from: a file path, or `builtin:NAME`.
    pub source: PathBuf,
    /// Every `<mesh filename>` of the URDF (visual and collision), as written, → the file it
    /// resolves to through [`PackagePaths::resolve`]; each file exists.
    pub mesh_files: BTreeMap<String, PathBuf>,
    /// The collision meshes, read once, by `<mesh filename>` as written (unscaled).
    pub collision_meshes: BTreeMap<String, Arc<Mesh>>,
    /// The parsed URDF document.
    pub urdf: urdf_rs::Robot,
    /// Name of the root link: the one that is no joint's child.
    pub root_link: String,
    /// Movable joints, in the order of the URDF file.
    pub joints: Vec<JointInfo>,
    /// Every link name, in URDF order (links behind fixed joints included).
    pub links: Vec<String>,
}

impl RobotModel {
    /// A robot shipped with dreamrig ([`BUILTIN_ROBOTS`]): `None` for an unknown name, else the
    /// checked model (source `builtin:NAME`, without meshes) or its [`UrdfProblem`].
    pub fn builtin(name: &str) -> Option<Result<Self, UrdfProblem>> {
        let (_, text) = BUILTIN_ROBOTS.iter().find(|(n, _)| *n == name)?;
        Some(Self::from_str(text, PathBuf::from(format!("builtin:{name}")), &PackagePaths::default()))
    }

    /// Reads and checks a URDF file, resolving mesh URIs through `packages` and the file's
    /// folder. A `.xacro` file, or a file with xacro left in it, is expanded with the `xacro`
    /// command first ([`crate::xacro`]). Errors: element `<file>` when it cannot be read, is not
    /// UTF-8 or xacro fails, else those of [`RobotModel::from_str`].
    pub fn from_file(path: &Path, packages: &PackagePaths) -> Result<Self, UrdfProblem> {
        let bytes = std::fs::read(path).map_err(|e| UrdfProblem::new("<file>", format!("cannot read {}: {e}", path.display())))?;
        let text = String::from_utf8(bytes)
            .map_err(|e| UrdfProblem::new("<file>", format!("not valid UTF-8 at byte {}", e.utf8_error().valid_up_to())))?;
        let text = crate::xacro::expand_if_needed(path, text, packages)?;
        Self::from_str(&text, path.to_path_buf(), packages)
    }

    /// Parses and checks URDF text, recording `source`; mesh URIs resolve through `packages`
    /// and `source`'s folder, and collision meshes are read. Errors: unexpanded xacro, invalid
    /// URDF XML, and structural problems (undefined or twice-defined links and joints, two
    /// parents, cycles, several roots, floating/planar/spherical joints, bad limits or axes,
    /// negative masses, massless moving links, unresolvable, missing or unreadable meshes).
    pub fn from_str(text: &str, source: PathBuf, packages: &PackagePaths) -> Result<Self, UrdfProblem> {
        if let Some(problem) = crate::xacro::leftover(text) {
            return Err(problem);
        }
        let text = preflight(text)?;
        let urdf = urdf_rs::read_from_string(&text).map_err(|e| UrdfProblem::new("<robot>", format!("not a valid URDF document: {e}")))?;
        check_model(&urdf)?;
        let urdf_dir = source.parent().unwrap_or(Path::new("")).to_path_buf();
        let (mesh_files, collision_meshes) = resolve_meshes(&urdf, &urdf_dir, packages)?;
        let mut joints = urdf
            .joints
            .iter()
            .filter_map(|joint| {
                let kind = match joint.joint_type {
                    urdf_rs::JointType::Revolute => JointKind::Revolute,
                    urdf_rs::JointType::Continuous => JointKind::Continuous,
                    urdf_rs::JointType::Prismatic => JointKind::Prismatic,
                    _ => return None,
                };
                let limits = (kind != JointKind::Continuous).then_some((joint.limit.lower, joint.limit.upper));
                let (damping, friction) = joint.dynamics.as_ref().map(|d| (d.damping, d.friction)).unwrap_or((0.0, 0.0));
                Some(JointInfo {
                    name: joint.name.clone(),
                    kind,
                    parent_link: joint.parent.link.clone(),
                    child_link: joint.child.link.clone(),
                    limits,
                    effort_limit: joint.limit.effort,
                    velocity_limit: joint.limit.velocity,
                    damping,
                    friction,
                    armature: 0.0,
                    mimic: None,
                })
            })
            .collect::<Vec<JointInfo>>();
        let index: HashMap<String, usize> = joints.iter().enumerate().map(|(i, j)| (j.name.clone(), i)).collect();
        for joint in &urdf.joints {
            let Some(mimic) = &joint.mimic else { continue };
            let element = format!("joint \"{}\"", joint.name);
            let Some(&follower) = index.get(&joint.name) else {
                // A fixed joint cannot move, so following another changes nothing (PyBullet ignores it too).
                tracing::warn!("{element}: ignoring <mimic> on a fixed joint");
                continue;
            };
            let Some(&leader) = index.get(&mimic.joint) else {
                return Err(UrdfProblem::new(
                    element,
                    format!("<mimic joint=\"{}\">: expected a movable joint of this robot", mimic.joint),
                ));
            };
            let (multiplier, offset) = (mimic.multiplier.unwrap_or(1.0), mimic.offset.unwrap_or(0.0));
            if !(multiplier.is_finite() && offset.is_finite()) || leader == follower {
                return Err(UrdfProblem::new(
                    element,
                    format!(
                        "<mimic joint=\"{}\" multiplier offset> must name another joint with finite numbers, got {multiplier} and {offset}",
                        mimic.joint
                    ),
                ));
            }
            joints[follower].mimic = Some(MimicInfo { leader, multiplier, offset });
        }
        // A chain of followers must end at a driven joint.
        for start in 0..joints.len() {
            let mut seen = HashSet::new();
            let mut at = start;
            while let Some(m) = joints[at].mimic {
                if !seen.insert(at) {
                    return Err(UrdfProblem::new(format!("joint \"{}\"", joints[start].name), "its <mimic> chain comes back to itself"));
                }
                at = m.leader;
            }
        }
        let children: HashSet<&str> = urdf.joints.iter().map(|j| j.child.link.as_str()).collect();
        let root_link = urdf.links.iter().find(|l| !children.contains(l.name.as_str())).map(|l| l.name.clone()).unwrap_or_default();
        let links = urdf.links.iter().map(|l| l.name.clone()).collect();
        Ok(Self { source, mesh_files, collision_meshes, urdf, root_link, joints, links })
    }

    /// Checks the inertia of every link that moves: a link with mass must have a positive-definite
    /// inertia tensor whose principal moments satisfy the triangle inequality (each at most the
    /// sum of the other two, within 1e-6 of their sum), as MuJoCo requires of a body; an all-zero
    /// tensor on a moving link with mass would let rapier spin it without bound. A point mass (an
    /// all-zero tensor) welded by a fixed joint to a link with mass is accepted: it only adds mass. A link moves when
    /// a non-fixed joint lies between it and the root, or when the root itself is free
    /// (`floating_root`: a mobile base, a world object); links welded to a fixed root are static.
    ///
    /// # Errors
    /// The first offending link, with its tensor and principal moments (kg·m²).
    ///
    /// With `from_geometry` (`robot.inertia: from_geometry`), links whose collision shapes
    /// enclose a volume ([`RobotModel::has_collision_volume`]) are not checked: their inertia
    /// is computed from the shapes.
    pub fn check_inertia(&self, floating_root: bool, from_geometry: bool) -> Result<(), UrdfProblem> {
        let static_group = self.static_links(floating_root);
        let masses: HashMap<&str, f64> = self.urdf.links.iter().map(|l| (l.name.as_str(), l.inertial.mass.value)).collect();
        for link in &self.urdf.links {
            let mass = link.inertial.mass.value;
            if mass <= 0.0 || static_group.contains(link.name.as_str()) || (from_geometry && self.has_collision_volume(link)) {
                continue;
            }
            let i = &link.inertial.inertia;
            // A point mass (zero tensor) welded to a body with mass adds only its mass to that
            // body, which is physical; the body it is welded to is checked on its own.
            let point_mass = [i.ixx, i.ixy, i.ixz, i.iyy, i.iyz, i.izz].iter().all(|v| *v == 0.0);
            let welded_to_mass = self.urdf.joints.iter().any(|j| {
                j.child.link == link.name
                    && j.joint_type == urdf_rs::JointType::Fixed
                    && masses.get(j.parent.link.as_str()).is_some_and(|m| *m > 0.0)
            });
            if point_mass && welded_to_mass {
                continue;
            }
            let tensor = nalgebra::Matrix3::new(i.ixx, i.ixy, i.ixz, i.ixy, i.iyy, i.iyz, i.ixz, i.iyz, i.izz);
            let mut moments: Vec<f64> = tensor.symmetric_eigenvalues().iter().copied().collect();
            moments.sort_by(f64::total_cmp);
            let sum: f64 = moments.iter().sum();
            let positive = moments[0] > 0.0;
            let triangle = moments[2] <= moments[0] + moments[1] + 1e-6 * sum;
            if !(positive && triangle) {
                let why = if positive {
                    "breaks the triangle inequality (the largest principal moment exceeds the sum of the other two)"
                } else {
                    "is not positive-definite"
                };
                return Err(UrdfProblem::new(
                    format!("link \"{}\"", link.name),
                    format!(
                        "<inertia> {why}: ixx {} ixy {} ixz {} iyy {} iyz {} izz {} (principal moments {:.3e}, {:.3e}, {:.3e} kg·m²) \
                         on a moving link of {mass} kg; give the link its real inertia, or compute it from the collision geometry with `robot.inertia: from_geometry`",
                        i.ixx, i.ixy, i.ixz, i.iyy, i.iyz, i.izz, moments[0], moments[1], moments[2]
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The lowest height (world z, m) any collision shape reaches with the root link at `base`
    /// and the movable joints at `joints` (rad or m, in model order): forward kinematics over
    /// the URDF tree, then the exact lowest point of each box, sphere, cylinder and capsule and
    /// the lowest mesh vertex (scaled). `None` for a robot without collision shapes.
    pub fn lowest_collision_z(&self, base: nalgebra::Isometry3<f64>, joints: &[f64]) -> Option<f64> {
        use nalgebra::{Isometry3, Point3, Translation3, Unit, UnitQuaternion, Vector3};
        let origin = |pose: &urdf_rs::Pose| {
            let [x, y, z] = pose.xyz.0;
            let [roll, pitch, yaw] = pose.rpy.0;
            Isometry3::from_parts(Translation3::new(x, y, z), UnitQuaternion::from_euler_angles(roll, pitch, yaw))
        };
        let mut poses: HashMap<&str, Isometry3<f64>> = HashMap::from([(self.root_link.as_str(), base)]);
        let position: HashMap<&str, f64> = self.joints.iter().zip(joints).map(|(j, q)| (j.name.as_str(), *q)).collect();
        // Parents before children: repeat until every reachable link is placed.
        let mut placed = true;
        while placed {
            placed = false;
            for joint in &self.urdf.joints {
                if poses.contains_key(joint.child.link.as_str()) {
                    continue;
                }
                let Some(parent) = poses.get(joint.parent.link.as_str()).copied() else { continue };
                let q = position.get(joint.name.as_str()).copied().unwrap_or(0.0);
                let axis = Unit::new_normalize(Vector3::from(joint.axis.xyz.0));
                let motion = match joint.joint_type {
                    urdf_rs::JointType::Revolute | urdf_rs::JointType::Continuous => {
                        Isometry3::from_parts(Translation3::identity(), UnitQuaternion::from_axis_angle(&axis, q))
                    }
                    urdf_rs::JointType::Prismatic => {
                        Isometry3::from_parts(Translation3::from(axis.into_inner() * q), UnitQuaternion::identity())
                    }
                    _ => Isometry3::identity(),
                };
                poses.insert(joint.child.link.as_str(), parent * origin(&joint.origin) * motion);
                placed = true;
            }
        }
        let mut lowest: Option<f64> = None;
        let mut lower = |z: f64| lowest = Some(lowest.map_or(z, |l: f64| l.min(z)));
        for link in &self.urdf.links {
            let Some(link_pose) = poses.get(link.name.as_str()) else { continue };
            for collision in &link.collision {
                let pose = link_pose * origin(&collision.origin);
                let centre = pose.translation.vector;
                // z of the shape's local axis, for round shapes' rims.
                let axis_z = (pose.rotation * Vector3::z()).z;
                let rim = (1.0 - axis_z * axis_z).max(0.0).sqrt();
                match &collision.geometry {
                    urdf_rs::Geometry::Box { size } => {
                        let [x, y, z] = size.0.map(|v| v / 2.0);
                        for corner in [[-x, -y, -z], [x, -y, -z], [-x, y, -z], [x, y, -z], [-x, -y, z], [x, -y, z], [-x, y, z], [x, y, z]] {
                            lower((pose * Point3::from(corner)).z);
                        }
                    }
                    urdf_rs::Geometry::Sphere { radius } => lower(centre.z - radius),
                    urdf_rs::Geometry::Cylinder { radius, length } => lower(centre.z - (length / 2.0) * axis_z.abs() - radius * rim),
                    urdf_rs::Geometry::Capsule { radius, length } => lower(centre.z - (length / 2.0) * axis_z.abs() - radius),
                    urdf_rs::Geometry::Mesh { filename, scale } => {
                        let Some(mesh) = self.collision_meshes.get(filename) else { continue };
                        let [sx, sy, sz] = scale.as_ref().map(|s| s.0).unwrap_or([1.0; 3]);
                        for v in &mesh.vertices {
                            lower((pose * Point3::new(v[0] as f64 * sx, v[1] as f64 * sy, v[2] as f64 * sz)).z);
                        }
                    }
                }
            }
        }
        lowest
    }

    /// Whether some `<collision>` of `link` encloses a volume: a primitive, or a mesh whose
    /// scaled convex hull is not flat (what `robot.inertia: from_geometry` spreads the mass over).
    pub fn has_collision_volume(&self, link: &urdf_rs::Link) -> bool {
        link.collision.iter().any(|c| match &c.geometry {
            urdf_rs::Geometry::Mesh { filename, scale } => self
                .collision_meshes
                .get(filename)
                .is_some_and(|mesh| crate::mesh::convex_hull(mesh, scale.as_ref().map(|s| s.0).unwrap_or([1.0; 3])).is_some()),
            _ => true,
        })
    }

    /// Sets each `<mimic>` follower in `positions` (one per movable joint, model order) to
    /// `multiplier × leader + offset`; a chain of followers settles in one pass per joint.
    pub fn follow_mimics(&self, positions: &mut [f64]) {
        if self.joints.iter().all(|j| j.mimic.is_none()) {
            return;
        }
        for _ in 0..self.joints.len() {
            for (i, joint) in self.joints.iter().enumerate() {
                if let Some(m) = joint.mimic {
                    positions[i] = m.multiplier * positions[m.leader] + m.offset;
                }
            }
        }
    }

    /// The links that never move: the root and the links welded to it by fixed joints only,
    /// when the root is welded to the world (`floating_root` false); none otherwise.
    pub fn static_links(&self, floating_root: bool) -> HashSet<&str> {
        let mut static_group: HashSet<&str> = HashSet::new();
        if !floating_root {
            static_group.insert(self.root_link.as_str());
            let mut grew = true;
            while grew {
                grew = false;
                for joint in &self.urdf.joints {
                    if joint.joint_type == urdf_rs::JointType::Fixed
                        && static_group.contains(joint.parent.link.as_str())
                        && static_group.insert(joint.child.link.as_str())
                    {
                        grew = true;
                    }
                }
            }
        }
        static_group
    }

    /// The movable joint called `name`; `None` for fixed or unknown joints.
    pub fn joint(&self, name: &str) -> Option<&JointInfo> {
        self.joints.iter().find(|j| j.name == name)
    }

    /// Whether the URDF defines a link called `name` (links behind fixed joints included).
    pub fn has_link(&self, name: &str) -> bool {
        self.links.iter().any(|l| l == name)
    }

    /// `<inertial><mass>` of link `name` in kg; 0 for an unknown link or one without an inertial.
    pub fn link_mass(&self, name: &str) -> f64 {
        self.urdf.links.iter().find(|l| l.name == name).map(|l| l.inertial.mass.value).unwrap_or(0.0)
    }
}

/// Attributes that hold numbers, by element: each whitespace-separated token must parse as one.
const NUMERIC_ATTRIBUTES: &[(&str, &[&str])] = &[
    ("origin", &["xyz", "rpy"]),
    ("axis", &["xyz"]),
    ("mass", &["value"]),
    ("inertia", &["ixx", "ixy", "ixz", "iyy", "iyz", "izz"]),
    ("limit", &["lower", "upper", "effort", "velocity"]),
    ("dynamics", &["damping", "friction"]),
    ("box", &["size"]),
    ("sphere", &["radius"]),
    ("cylinder", &["radius", "length"]),
    ("capsule", &["radius", "length"]),
    ("mesh", &["scale"]),
    ("mimic", &["multiplier", "offset"]),
    ("color", &["rgba"]),
];

/// Attributes that hold a fixed number of numbers: (element, attribute, count).
const VECTOR_ATTRIBUTES: &[(&str, &str, usize)] =
    &[("origin", "xyz", 3), ("origin", "rpy", 3), ("axis", "xyz", 3), ("box", "size", 3), ("mesh", "scale", 3), ("color", "rgba", 4)];

/// Attributes the URDF specification requires (urdf-rs refuses their absence without a line).
const REQUIRED_ATTRIBUTES: &[(&str, &[&str])] = &[("mesh", &["filename"]), ("limit", &["effort", "velocity"]), ("mimic", &["joint"])];

/// Children an element may have at most once: (element, children).
const SINGLE_CHILDREN: &[(&str, &[&str])] = &[
    ("joint", &["origin", "parent", "child", "axis", "limit", "dynamics", "mimic", "calibration", "safety_controller"]),
    ("inertial", &["origin", "mass", "inertia"]),
    ("link", &["inertial"]),
];

/// `text` with each `<?xml … ?>` declaration replaced by as many spaces (positions kept).
fn blank_xml_declaration(text: &str) -> String {
    let mut out = text.to_string();
    let mut from = 0;
    while let Some(start) = out[from..].find("<?xml").map(|i| i + from) {
        let Some(end) = out[start..].find("?>").map(|i| start + i + 2) else { break };
        out.replace_range(start..end, &" ".repeat(end - start));
        from = end;
    }
    out
}

/// Checks the URDF's XML before urdf-rs reads it (urdf-rs reports neither lines nor elements),
/// and returns the text urdf-rs should read:
/// - XML that does not parse is reported at its line and column;
/// - a number attribute that is not a number (`lower="-1.57."`) is reported with its link or
///   joint, attribute, value and line;
/// - a revolute or prismatic joint without `<limit>` is refused, as the URDF specification
///   requires one (urdfdom refuses it too);
/// - a vector with the wrong count of numbers, a missing required attribute, a child given
///   twice where one is allowed, and a `<geometry>` without exactly one URDF shape are refused
///   with their element and line;
/// - a `<material>` misplaced inside `<geometry>` (accepted by urdfdom and PyBullet, and only
///   ever about colours) and a `<texture>` without a filename are dropped with a warning naming
///   the link and line.
fn preflight(text: &str) -> Result<std::borrow::Cow<'_, str>, UrdfProblem> {
    // roxmltree is stricter than urdf-rs's parser (a blank line before `<?xml`, content after the
    // root): what it cannot read goes to urdf-rs unchanged, which reports what it refuses.
    let options = roxmltree::ParsingOptions { allow_dtd: true, ..Default::default() };
    // An XML declaration after comments (as some files have, and urdf-rs accepts) is blanked
    // out, keeping every position, so that the rest is still checked.
    let blanked;
    let parsed = match roxmltree::Document::parse_with_options(text, options) {
        Ok(document) => Ok(document),
        Err(_) => {
            blanked = blank_xml_declaration(text);
            roxmltree::Document::parse_with_options(&blanked, options)
        }
    };
    let Ok(document) = parsed else {
        return Ok(std::borrow::Cow::Borrowed(text));
    };
    let body_start = document.root_element().range().start;
    let line = |node: &roxmltree::Node| document.text_pos_at(node.range().start).row;
    // `link "base"` or `joint "j1"`: the nearest named link or joint around `node`.
    let owner = |node: &roxmltree::Node| {
        node.ancestors()
            .find(|a| matches!(a.tag_name().name(), "link" | "joint"))
            .map(|a| format!("{} \"{}\"", a.tag_name().name(), a.attribute("name").unwrap_or("?")))
            .unwrap_or_else(|| "<robot>".into())
    };
    let mut misplaced = Vec::new();
    // What urdf-rs reads: the robot's own <link>, <joint> and <material> elements (not <gazebo>,
    // <transmission> or other extensions, which may reuse the names).
    let read =
        document.root_element().children().filter(|c| c.is_element() && matches!(c.tag_name().name(), "link" | "joint" | "material"));
    for node in read.flat_map(|top| top.descendants()).filter(roxmltree::Node::is_element) {
        let tag = node.tag_name().name();
        if let Some((_, attributes)) = NUMERIC_ATTRIBUTES.iter().find(|(element, _)| *element == tag) {
            for attribute in *attributes {
                let Some(value) = node.attribute(*attribute) else { continue };
                if value.split_whitespace().any(|token| token.parse::<f64>().is_err()) {
                    return Err(UrdfProblem::new(
                        format!("{} <{tag} {attribute}>", owner(&node)),
                        format!("expected a number, got \"{value}\" (line {})", line(&node)),
                    ));
                }
            }
        }
        for (_, attribute, count) in VECTOR_ATTRIBUTES.iter().filter(|(element, _, _)| *element == tag) {
            if let Some(value) = node.attribute(*attribute) {
                let found = value.split_whitespace().count();
                if found != *count {
                    return Err(UrdfProblem::new(
                        format!("{} <{tag} {attribute}>", owner(&node)),
                        format!("expected {count} numbers, got {found}: \"{value}\" (line {})", line(&node)),
                    ));
                }
            }
        }
        if let Some((_, required)) = REQUIRED_ATTRIBUTES.iter().find(|(element, _)| *element == tag) {
            if let Some(missing) = required.iter().find(|a| node.attribute(**a).is_none()) {
                return Err(UrdfProblem::new(
                    owner(&node),
                    format!("<{tag}> needs a `{missing}` attribute (URDF specification; line {})", line(&node)),
                ));
            }
        }
        if let Some((_, single)) = SINGLE_CHILDREN.iter().find(|(element, _)| *element == tag) {
            let mut seen: HashMap<&str, u32> = HashMap::new();
            for child in node.children().filter(|c| c.is_element()) {
                let name = child.tag_name().name();
                if !single.contains(&name) {
                    continue;
                }
                if let Some(first) = seen.insert(name, line(&child)) {
                    return Err(UrdfProblem::new(
                        owner(&node),
                        format!("<{name}> given twice in <{tag}> (lines {first} and {}); it may appear once", line(&child)),
                    ));
                }
            }
        }
        if tag == "geometry" {
            let shapes: Vec<_> = node.children().filter(|c| c.is_element() && c.tag_name().name() != "material").collect();
            match shapes.as_slice() {
                [one] if matches!(one.tag_name().name(), "box" | "cylinder" | "sphere" | "mesh" | "capsule") => {}
                [one] => {
                    return Err(UrdfProblem::new(
                        owner(&node),
                        format!(
                            "<geometry> <{}> is not a URDF shape (line {}); expected <box>, <cylinder>, <sphere> or <mesh>",
                            one.tag_name().name(),
                            line(one)
                        ),
                    ))
                }
                _ => {
                    return Err(UrdfProblem::new(
                        owner(&node),
                        format!("<geometry> must hold exactly one shape, found {} (line {})", shapes.len(), line(&node)),
                    ))
                }
            }
        }
        if tag == "joint"
            && node.parent_element() == Some(document.root_element())
            && matches!(node.attribute("type"), Some("revolute" | "prismatic"))
            && !node.children().any(|c| c.is_element() && c.tag_name().name() == "limit")
        {
            return Err(UrdfProblem::new(
                owner(&node),
                format!(
                    "a {} joint needs <limit lower upper effort velocity> (URDF specification; line {})",
                    node.attribute("type").unwrap_or_default(),
                    line(&node)
                ),
            ));
        }
        // A <texture> without its required `filename` (iCub's) only ever was about looks: dropped.
        if tag == "texture" && node.attribute("filename").is_none() && node.range().start >= body_start {
            tracing::warn!("{}: ignoring a <texture> without a filename (line {})", owner(&node), line(&node));
            misplaced.push(node.range());
            continue;
        }
        // (Elements made by a DTD entity have their range in the DTD: left alone.)
        if tag == "material" && node.parent_element().is_some_and(|p| p.tag_name().name() == "geometry") && node.range().start >= body_start
        {
            tracing::warn!("{}: ignoring a <material> inside <geometry> (line {}); it belongs in <visual>", owner(&node), line(&node));
            misplaced.push(node.range());
        }
    }
    if misplaced.is_empty() {
        return Ok(std::borrow::Cow::Borrowed(text));
    }
    let mut kept = String::with_capacity(text.len());
    let mut at = 0;
    for range in misplaced {
        // A range inside one already removed (a material nested in a material) is gone with it.
        if range.start < at {
            continue;
        }
        kept.push_str(&text[at..range.start]);
        at = range.end;
    }
    kept.push_str(&text[at..]);
    Ok(std::borrow::Cow::Owned(kept))
}

/// Whether every value of a pose is finite.
fn finite_pose(pose: &urdf_rs::Pose) -> bool {
    pose.xyz.0.iter().chain(pose.rpy.0.iter()).all(|v| v.is_finite())
}

fn check_model(urdf: &urdf_rs::Robot) -> Result<(), UrdfProblem> {
    if urdf.links.is_empty() {
        return Err(UrdfProblem::new("<robot>", "no <link> elements"));
    }
    let mut link_names = HashSet::new();
    for link in &urdf.links {
        if !link_names.insert(link.name.as_str()) {
            return Err(UrdfProblem::new(format!("link \"{}\"", link.name), "defined twice"));
        }
        let element = format!("link \"{}\"", link.name);
        let inertial = &link.inertial;
        if !inertial.mass.value.is_finite() || inertial.mass.value < 0.0 {
            return Err(UrdfProblem::new(element, format!("<mass value> must be a finite number ≥ 0, got {}", inertial.mass.value)));
        }
        if !finite_pose(&inertial.origin) {
            return Err(UrdfProblem::new(
                element,
                format!("<inertial><origin> must be finite, got xyz {:?} rpy {:?}", inertial.origin.xyz.0, inertial.origin.rpy.0),
            ));
        }
        let i = &inertial.inertia;
        if [i.ixx, i.ixy, i.ixz, i.iyy, i.iyz, i.izz].iter().any(|v| !v.is_finite()) {
            return Err(UrdfProblem::new(
                element,
                format!(
                    "<inertia> must be finite, got ixx {} ixy {} ixz {} iyy {} iyz {} izz {}",
                    i.ixx, i.ixy, i.ixz, i.iyy, i.iyz, i.izz
                ),
            ));
        }
        let origins = link.visual.iter().map(|v| ("visual", &v.origin)).chain(link.collision.iter().map(|c| ("collision", &c.origin)));
        for (what, origin) in origins {
            if !finite_pose(origin) {
                return Err(UrdfProblem::new(
                    element,
                    format!("<{what}><origin> must be finite, got xyz {:?} rpy {:?}", origin.xyz.0, origin.rpy.0),
                ));
            }
        }
        for geometry in link.collision.iter().map(|c| &c.geometry) {
            check_geometry(&element, geometry)?;
        }
    }
    let mut joint_names = HashSet::new();
    let mut parent_of: HashMap<&str, &str> = HashMap::new();
    for joint in &urdf.joints {
        let element = format!("joint \"{}\"", joint.name);
        if !joint_names.insert(joint.name.as_str()) {
            return Err(UrdfProblem::new(element, "defined twice"));
        }
        for (role, link) in [("parent", &joint.parent.link), ("child", &joint.child.link)] {
            if !link_names.contains(link.as_str()) {
                return Err(UrdfProblem::new(element, format!("{role} link \"{link}\" is not defined by any <link>")));
            }
        }
        if !finite_pose(&joint.origin) {
            return Err(UrdfProblem::new(
                element,
                format!("<origin> must be finite, got xyz {:?} rpy {:?}", joint.origin.xyz.0, joint.origin.rpy.0),
            ));
        }
        if parent_of.insert(joint.child.link.as_str(), joint.parent.link.as_str()).is_some() {
            return Err(UrdfProblem::new(element, format!("link \"{}\" is the child of more than one joint", joint.child.link)));
        }
        match joint.joint_type {
            urdf_rs::JointType::Floating | urdf_rs::JointType::Planar | urdf_rs::JointType::Spherical => {
                return Err(UrdfProblem::new(
                    element,
                    format!("joint type {:?} is not supported (use revolute, continuous, prismatic or fixed; a mobile base is `base: {{fixed: false}}` in the scenario)", joint.joint_type).to_lowercase(),
                ))
            }
            urdf_rs::JointType::Revolute | urdf_rs::JointType::Prismatic => {
                let limit = &joint.limit;
                if !(limit.lower.is_finite() && limit.upper.is_finite()) || limit.lower > limit.upper {
                    return Err(UrdfProblem::new(element, format!("<limit lower upper> must be finite with lower ≤ upper, got [{}, {}]", limit.lower, limit.upper)));
                }
                if !(limit.effort.is_finite() && limit.effort >= 0.0 && limit.velocity.is_finite() && limit.velocity >= 0.0) {
                    return Err(UrdfProblem::new(
                        element,
                        format!("<limit effort velocity> must be finite and ≥ 0, got {} and {}", limit.effort, limit.velocity),
                    ));
                }
            }
            _ => {}
        }
        let axis = joint.axis.xyz.0;
        if joint.joint_type != urdf_rs::JointType::Fixed
            && (axis.iter().any(|a| !a.is_finite()) || axis.iter().map(|a| a * a).sum::<f64>() < 1e-12)
        {
            return Err(UrdfProblem::new(element, format!("<axis xyz> must be a non-zero finite vector, got {axis:?}")));
        }
        if let Some(dynamics) = &joint.dynamics {
            if !(dynamics.damping.is_finite() && dynamics.damping >= 0.0 && dynamics.friction.is_finite() && dynamics.friction >= 0.0) {
                return Err(UrdfProblem::new(element, "<dynamics damping friction> must be finite and ≥ 0"));
            }
        }
    }
    let roots: Vec<&str> = urdf.links.iter().map(|l| l.name.as_str()).filter(|name| !parent_of.contains_key(name)).collect();
    if roots.len() != 1 {
        return Err(UrdfProblem::new(
            "<robot>",
            if roots.is_empty() {
                "the joints form a cycle: no root link".to_string()
            } else {
                format!("the links form {} separate trees (roots: {}); a robot must be one tree", roots.len(), roots.join(", "))
            },
        ));
    }
    // A joint must move some mass: its child link's, or that of the links the child carries (a
    // massless link between two joints, as URDFs write a ball joint, is physical; MuJoCo accepts it too).
    let subtree_mass = |start: &str| -> f64 {
        let mut total = 0.0;
        let mut stack = vec![start];
        let mut seen = HashSet::new();
        while let Some(link) = stack.pop() {
            if !seen.insert(link) {
                continue;
            }
            total += urdf.links.iter().find(|l| l.name == link).map_or(0.0, |l| l.inertial.mass.value);
            stack.extend(urdf.joints.iter().filter(|j| j.parent.link == link).map(|j| j.child.link.as_str()));
        }
        total
    };
    for joint in urdf.joints.iter().filter(|j| j.joint_type != urdf_rs::JointType::Fixed) {
        if subtree_mass(&joint.child.link) <= 0.0 {
            return Err(UrdfProblem::new(
                format!("link \"{}\"", joint.child.link),
                format!(
                    "moved by joint \"{}\" but neither it nor the links it carries have mass; give it an <inertial> with a positive <mass>",
                    joint.name
                ),
            ));
        }
    }
    // With one root and one parent per link, a cycle would leave some link unreachable.
    for start in link_names.iter() {
        let mut seen = HashSet::new();
        let mut current = *start;
        while let Some(parent) = parent_of.get(current) {
            if !seen.insert(current) {
                return Err(UrdfProblem::new(format!("link \"{start}\""), "is part of a cycle of joints"));
            }
            current = parent;
        }
    }
    Ok(())
}

fn check_geometry(element: &str, geometry: &urdf_rs::Geometry) -> Result<(), UrdfProblem> {
    let positive = |what: &str, v: f64| {
        if v.is_finite() && v > 0.0 {
            Ok(())
        } else {
            Err(UrdfProblem::new(element, format!("collision {what} must be a positive number, got {v}")))
        }
    };
    match geometry {
        urdf_rs::Geometry::Box { size } => size.0.iter().try_for_each(|s| positive("box size", *s)),
        urdf_rs::Geometry::Sphere { radius } => positive("sphere radius", *radius),
        urdf_rs::Geometry::Cylinder { radius, length } | urdf_rs::Geometry::Capsule { radius, length } => {
            positive("radius", *radius)?;
            positive("length", *length)
        }
        urdf_rs::Geometry::Mesh { .. } => Ok(()),
    }
}

/// Resolves every `<mesh filename>` (visual and collision) through [`PackagePaths::resolve`],
/// checks that each file exists and its `<mesh scale>` is positive, and reads each collision
/// mesh once. Errors name the link, the URI as written and the file looked for.
#[allow(clippy::type_complexity)]
fn resolve_meshes(
    urdf: &urdf_rs::Robot,
    urdf_dir: &Path,
    packages: &PackagePaths,
) -> Result<(BTreeMap<String, PathBuf>, BTreeMap<String, Arc<Mesh>>), UrdfProblem> {
    let mut files = BTreeMap::new();
    let mut collision = BTreeMap::new();
    for link in &urdf.links {
        let element = format!("link \"{}\"", link.name);
        let geometries =
            link.visual.iter().map(|v| ("visual", &v.geometry)).chain(link.collision.iter().map(|c| ("collision", &c.geometry)));
        for (what, geometry) in geometries {
            let urdf_rs::Geometry::Mesh { filename, scale } = geometry else { continue };
            if let Some(scale) = scale {
                if scale.0.iter().any(|v| !(v.is_finite() && *v != 0.0)) {
                    return Err(UrdfProblem::new(
                        element,
                        format!(
                            "<{what}> mesh \"{filename}\": <mesh scale> must be finite and non-zero (negative mirrors), got {:?}",
                            scale.0
                        ),
                    ));
                }
            }
            if !files.contains_key(filename) {
                let found = packages.resolve(filename, urdf_dir).and_then(|path| {
                    if path.is_file() {
                        Ok(path)
                    } else {
                        Err(format!("\"{filename}\": {} {}", path.display(), if path.is_dir() { "is a folder" } else { "does not exist" }))
                    }
                });
                match found {
                    Ok(path) => {
                        files.insert(filename.clone(), path);
                    }
                    // A visual mesh changes no physics: PyBullet and Gazebo draw nothing for it and go on.
                    Err(e) if what == "visual" => {
                        tracing::warn!("{element}: <visual> mesh {e}; it will not be drawn");
                        continue;
                    }
                    Err(e) => return Err(UrdfProblem::new(element, format!("<collision> mesh {e}"))),
                }
            }
            if what == "collision" && !collision.contains_key(filename) {
                let mesh = crate::mesh::load(&files[filename]).map_err(|e| {
                    UrdfProblem::new(&element, format!("<collision> mesh \"{filename}\" ({}): {e}", files[filename].display()))
                })?;
                collision.insert(filename.clone(), Arc::new(mesh));
            }
        }
    }
    Ok((files, collision))
}

/// Names of the shipped robots, for error messages.
pub fn builtin_names() -> String {
    BUILTIN_ROBOTS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

/// Joint names mapped to their index in [`RobotModel::joints`].
pub fn joint_index(model: &RobotModel) -> BTreeMap<String, usize> {
    model.joints.iter().enumerate().map(|(i, j)| (j.name.clone(), i)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arm(inertia: &str, fixed_mass: &str) -> RobotModel {
        let text = format!(
            r#"<robot name="arm">
  <link name="base"><inertial><mass value="{fixed_mass}"/><inertia ixx="0" ixy="0" ixz="0" iyy="0" iyz="0" izz="0"/></inertial></link>
  <link name="arm"><inertial><mass value="1"/><inertia {inertia}/></inertial></link>
  <joint name="j" type="revolute"><parent link="base"/><child link="arm"/><axis xyz="0 0 1"/>
    <limit lower="-1" upper="1" effort="1" velocity="1"/></joint>
</robot>"#
        );
        RobotModel::from_str(&text, PathBuf::from("arm.urdf"), &PackagePaths::default()).unwrap_or_else(|p| panic!("{p:?}"))
    }

    #[test]
    fn a_moving_link_needs_a_physical_inertia_and_a_welded_one_does_not() {
        let good = r#"ixx="0.01" ixy="0" ixz="0" iyy="0.01" iyz="0" izz="0.01""#;
        // Zero inertia and mass on the welded base are fine; the free-floating base is not.
        assert!(arm(good, "2").check_inertia(false, false).is_ok());
        let floating = arm(good, "2").check_inertia(true, false).unwrap_err();
        assert!(floating.element == "link \"base\"" && floating.reason.contains("not positive-definite"), "{floating:?}");
        // Principal moments 0.01, 0.01, 0.05: 0.05 > 0.01 + 0.01.
        let thin = arm(r#"ixx="0.01" ixy="0" ixz="0" iyy="0.01" iyz="0" izz="0.05""#, "0").check_inertia(false, false).unwrap_err();
        assert!(thin.element == "link \"arm\"" && thin.reason.contains("triangle inequality"), "{thin:?}");
        // Off-diagonal terms that make the tensor indefinite.
        let indefinite =
            arm(r#"ixx="0.01" ixy="0.02" ixz="0" iyy="0.01" iyz="0" izz="0.01""#, "0").check_inertia(false, false).unwrap_err();
        assert!(indefinite.reason.contains("not positive-definite"), "{indefinite:?}");
    }

    #[test]
    fn xml_that_only_urdf_rs_reads_and_entity_materials_are_left_to_it() {
        let plain = "<link name=\"a\"><inertial><mass value=\"1\"/><inertia ixx=\"1\" ixy=\"0\" ixz=\"0\" iyy=\"1\" iyz=\"0\" izz=\"1\"/></inertial></link>";
        // A blank line before the declaration: roxmltree refuses it, urdf-rs reads it.
        let text = format!("\n<?xml version=\"1.0\"?>\n<robot name=\"r\">{plain}</robot>");
        assert!(RobotModel::from_str(&text, PathBuf::from("r.urdf"), &PackagePaths::default()).is_ok());
        // A <material> made by an entity used twice must not be cut out of the DTD (no panic).
        let text = format!(
            "<!DOCTYPE robot [<!ENTITY g \"<material name='g'/>\">]>\n<robot name=\"r\">{}</robot>",
            plain.replace("</inertial>", "</inertial><visual><geometry><box size=\"1 1 1\"/>&g;</geometry></visual>")
        );
        let _ = RobotModel::from_str(&text, PathBuf::from("r.urdf"), &PackagePaths::default());
        // A joint-like element inside an extension is not the robot's joint.
        let text = format!("<robot name=\"r\">{plain}<gazebo><joint name=\"x\" type=\"revolute\"/></gazebo></robot>");
        assert!(RobotModel::from_str(&text, PathBuf::from("r.urdf"), &PackagePaths::default()).is_ok());
    }

    #[test]
    fn a_point_mass_welded_to_a_moving_link_is_physical() {
        let text = r#"<robot name="arm">
  <link name="base"><inertial><mass value="1"/><inertia ixx="0.01" ixy="0" ixz="0" iyy="0.01" iyz="0" izz="0.01"/></inertial></link>
  <link name="arm"><inertial><mass value="1"/><inertia ixx="0.01" ixy="0" ixz="0" iyy="0.01" iyz="0" izz="0.01"/></inertial></link>
  <link name="payload"><inertial><mass value="0.2"/><inertia ixx="0" ixy="0" ixz="0" iyy="0" iyz="0" izz="0"/></inertial></link>
  <joint name="j" type="continuous"><parent link="base"/><child link="arm"/><axis xyz="0 0 1"/></joint>
  <joint name="w" type="fixed"><parent link="arm"/><child link="payload"/></joint>
</robot>"#;
        let model = RobotModel::from_str(text, PathBuf::from("arm.urdf"), &PackagePaths::default()).unwrap();
        assert!(model.check_inertia(true, false).is_ok());
    }

    #[test]
    fn a_number_attribute_that_is_not_a_number_is_named_with_its_line() {
        let text = "<robot name=\"r\">\n<link name=\"a\"><inertial><mass value=\"1.0.\"/></inertial></link>\n</robot>";
        let problem = RobotModel::from_str(text, PathBuf::from("r.urdf"), &PackagePaths::default()).unwrap_err();
        assert_eq!(problem.element, "link \"a\" <mass value>");
        assert_eq!(problem.reason, "expected a number, got \"1.0.\" (line 2)");
    }
}
