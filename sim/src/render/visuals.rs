//! What cameras draw of a scenario: the robot's and URDF bodies' `<visual>` elements with their
//! `<material>` colours, primitive bodies in their scenario colours, and the ground; plus the
//! segment id of every part and the legend that names them.
//!
//! Built once per scenario, when it has a camera ([`VisualModel::build`]); each episode's scene
//! attaches the parts to its rapier bodies ([`VisualAttachment`]), and a frame is those bodies'
//! poses times the parts' local poses.

use super::MeshData;
use crate::mesh;
use crate::robot::{urdf_rs, RobotModel};
use crate::scenario::config::{BodyConfig, RandomizationConfig, ShapeConfig, WorldConfig};
use rapier3d::glamx::{EulerRot, Quat, Vec3};
use rapier3d::math::Pose;
use rapier3d::prelude::RigidBodyHandle;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The colour of a `<visual>` that neither its `<material>` nor its mesh file colours: the
/// light grey RViz and Gazebo draw such links in.
pub const DEFAULT_VISUAL_COLOR: [f32; 3] = [0.7, 0.7, 0.7];

/// Half-size of the drawn ground square, m: the longest `far` a camera may have (10 km).
const GROUND_HALF_EXTENT: f32 = 10_000.0;

/// One drawn piece: a mesh of [`VisualModel::meshes`] at a pose in its body's frame, scaled
/// along its own axes, in one colour (linear RGB, 0–1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VisualPart {
    /// Pose in the body (link) frame.
    pub local: Pose,
    /// Index into [`VisualModel::meshes`].
    pub mesh: usize,
    /// Scale along the mesh's axes (a `<mesh scale>`, or a unit primitive's size).
    pub scale: Vec3,
    /// Colour, linear RGB in 0–1.
    pub color: [f32; 3],
}

/// The drawn parts of a body made of URDF links: per link name, its `<visual>` parts.
pub type LinkVisuals = BTreeMap<String, Vec<VisualPart>>;

/// The parts of a scenario body (a `world.objects` or `world.obstacles` entry).
#[derive(Debug, Clone, PartialEq)]
pub enum BodyVisual {
    /// A primitive shape: one part in the body frame.
    Primitive(VisualPart),
    /// A URDF body: its links' `<visual>` parts.
    Urdf(LinkVisuals),
}

/// Everything a camera can see of a scenario, with segment ids: robot links get 1… in URDF
/// link order, then objects, obstacles, the obstacle field's cylinders and the ground, one id
/// each; `legend[id − 1]` names each.
#[derive(Debug, Clone, PartialEq)]
pub struct VisualModel {
    /// Every mesh drawn: the unit primitives first ([`UNIT_BOX`] … [`GROUND`]), then capsules
    /// and mesh-file parts.
    pub meshes: Vec<MeshData>,
    /// The robot's `<visual>` parts per link.
    pub robot: LinkVisuals,
    /// Per `world.objects` entry.
    pub objects: Vec<BodyVisual>,
    /// Per `world.obstacles` entry.
    pub obstacles: Vec<BodyVisual>,
    /// Colour of the obstacle field's cylinders (the default body colour).
    pub field_color: [f32; 3],
    /// The ground's colour, when there is a ground.
    pub ground_color: Option<[f32; 3]>,
    /// `legend[id − 1]` names segment id `id`: `robot/LINK`, `object/NAME`, `obstacle/NAME`,
    /// `obstacle/field_obstacle_I`, `ground`.
    pub legend: Vec<String>,
    /// Segment id of the first robot link, object, obstacle and field cylinder, and of the ground.
    robot_base: u32,
    object_base: u32,
    obstacle_base: u32,
    field_base: u32,
    ground_segment: u32,
    /// Robot link name → its index in URDF order.
    link_index: BTreeMap<String, u32>,
}

/// Index of the unit cube (half-extents 1) in [`VisualModel::meshes`].
pub const UNIT_BOX: usize = 0;
/// Index of the unit sphere (radius 1).
pub const UNIT_SPHERE: usize = 1;
/// Index of the unit cylinder (radius 1, half-length 1, along z).
pub const UNIT_CYLINDER: usize = 2;
/// Index of the ground square (z = 0, normal +z).
pub const GROUND: usize = 3;

/// Why a visual cannot be drawn: the scenario key whose file holds it, the file, the element and
/// the reason (reported as a URDF error at that key).
#[derive(Debug, Clone, PartialEq)]
pub struct VisualProblem {
    /// Scenario key of the URDF, e.g. `robot.urdf` or `world.objects[0].urdf`.
    pub key: String,
    /// The URDF file.
    pub source: PathBuf,
    /// The element, e.g. `link "wrist"`.
    pub element: String,
    /// What is wrong.
    pub reason: String,
}

fn pose(xyz: [f64; 3], rpy: [f64; 3]) -> Pose {
    let rotation = Quat::from_euler(EulerRot::ZYX, rpy[2] as f32, rpy[1] as f32, rpy[0] as f32);
    Pose::from_parts(Vec3::new(xyz[0] as f32, xyz[1] as f32, xyz[2] as f32), rotation)
}

fn rgb(v: [f64; 3]) -> [f32; 3] {
    v.map(|c| c as f32)
}

/// The meshes made of a file's parts: (index in the meshes, the part's own colour).
type FileMeshes = Vec<(usize, Option<[f32; 3]>)>;

struct Builder<'a> {
    packages: &'a mesh::PackagePaths,
    meshes: Vec<MeshData>,
    capsules: BTreeMap<(u32, u32), usize>,
    files: BTreeMap<PathBuf, FileMeshes>,
    problems: Vec<VisualProblem>,
}

impl Builder<'_> {
    fn capsule(&mut self, radius: f32, half_length: f32) -> usize {
        let key = (radius.to_bits(), half_length.to_bits());
        if let Some(i) = self.capsules.get(&key) {
            return *i;
        }
        self.meshes.push(MeshData::capsule(radius, half_length));
        self.capsules.insert(key, self.meshes.len() - 1);
        self.meshes.len() - 1
    }

    /// A primitive scenario shape as one part at the body origin.
    fn shape(&mut self, shape: &ShapeConfig, color: [f32; 3]) -> Option<VisualPart> {
        let (mesh, scale) = match shape {
            ShapeConfig::Box { half_extents: h } => (UNIT_BOX, Vec3::new(h[0] as f32, h[1] as f32, h[2] as f32)),
            ShapeConfig::Sphere { radius } => (UNIT_SPHERE, Vec3::splat(*radius as f32)),
            ShapeConfig::Cylinder { radius, half_length } => {
                (UNIT_CYLINDER, Vec3::new(*radius as f32, *radius as f32, *half_length as f32))
            }
            ShapeConfig::Capsule { radius, half_length } => (self.capsule(*radius as f32, *half_length as f32), Vec3::ONE),
            ShapeConfig::Urdf { .. } => return None,
        };
        Some(VisualPart { local: Pose::IDENTITY, mesh, scale, color })
    }

    /// The `<visual>` parts of every link of a URDF model.
    fn urdf(&mut self, model: &RobotModel, key: &str) -> LinkVisuals {
        let mut links = LinkVisuals::new();
        for link in &model.urdf.links {
            let mut parts = Vec::new();
            for visual in &link.visual {
                let local = pose(visual.origin.xyz.0, visual.origin.rpy.0);
                let color = self.material_color(model, key, &link.name, &visual.material);
                let element = format!("link \"{}\"", link.name);
                let sizes: Vec<f64> = match &visual.geometry {
                    urdf_rs::Geometry::Box { size } => size.0.to_vec(),
                    urdf_rs::Geometry::Sphere { radius } => vec![*radius],
                    urdf_rs::Geometry::Cylinder { radius, length } => vec![*radius, *length],
                    urdf_rs::Geometry::Capsule { radius, length } => vec![*radius, length + radius],
                    urdf_rs::Geometry::Mesh { .. } => Vec::new(),
                };
                if sizes.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
                    self.problems.push(VisualProblem {
                        key: key.to_string(),
                        source: model.source.clone(),
                        element,
                        reason: format!("<visual> geometry sizes must be positive and finite, got {sizes:?}"),
                    });
                    continue;
                }
                match &visual.geometry {
                    urdf_rs::Geometry::Box { size } => parts.push(VisualPart {
                        local,
                        mesh: UNIT_BOX,
                        scale: Vec3::new(size.0[0] as f32, size.0[1] as f32, size.0[2] as f32) / 2.0,
                        color: color.unwrap_or(DEFAULT_VISUAL_COLOR),
                    }),
                    urdf_rs::Geometry::Sphere { radius } => parts.push(VisualPart {
                        local,
                        mesh: UNIT_SPHERE,
                        scale: Vec3::splat(*radius as f32),
                        color: color.unwrap_or(DEFAULT_VISUAL_COLOR),
                    }),
                    urdf_rs::Geometry::Cylinder { radius, length } => parts.push(VisualPart {
                        local,
                        mesh: UNIT_CYLINDER,
                        scale: Vec3::new(*radius as f32, *radius as f32, *length as f32 / 2.0),
                        color: color.unwrap_or(DEFAULT_VISUAL_COLOR),
                    }),
                    urdf_rs::Geometry::Capsule { radius, length } => {
                        let mesh = self.capsule(*radius as f32, *length as f32 / 2.0);
                        parts.push(VisualPart { local, mesh, scale: Vec3::ONE, color: color.unwrap_or(DEFAULT_VISUAL_COLOR) })
                    }
                    urdf_rs::Geometry::Mesh { filename, scale } => {
                        let Some(file) = model.mesh_files.get(filename) else {
                            self.problems.push(VisualProblem {
                                key: key.to_string(),
                                source: model.source.clone(),
                                element,
                                reason: format!("<visual> mesh \"{filename}\" cannot be found, and a camera draws it"),
                            });
                            continue;
                        };
                        let scale = scale.as_ref().map_or(Vec3::ONE, |s| Vec3::new(s.0[0] as f32, s.0[1] as f32, s.0[2] as f32));
                        for (mesh, own) in self.file(file, model, key, &element, filename) {
                            // A URDF <material> colour overrides the mesh file's own, as in RViz.
                            let color = color.or(own).unwrap_or(DEFAULT_VISUAL_COLOR);
                            parts.push(VisualPart { local, mesh, scale, color });
                        }
                    }
                }
            }
            if !parts.is_empty() {
                links.insert(link.name.clone(), parts);
            }
        }
        links
    }

    /// The meshes of a file (read once per file) with each part's own diffuse colour.
    fn file(&mut self, file: &PathBuf, model: &RobotModel, key: &str, element: &str, filename: &str) -> FileMeshes {
        if let Some(parts) = self.files.get(file) {
            return parts.clone();
        }
        let parts = match mesh::load_parts(file) {
            Ok(parts) => parts,
            Err(e) => {
                self.problems.push(VisualProblem {
                    key: key.to_string(),
                    source: model.source.clone(),
                    element: element.to_string(),
                    reason: format!("<visual> mesh \"{filename}\" ({}): {e}", file.display()),
                });
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for part in parts {
            // mesh-loader gives a material's texture only when the file exists, as a path
            // beside the mesh: it is not drawn (the diffuse colour is).
            if let Some(texture) = &part.texture {
                tracing::warn!(
                    "{element} of {}: mesh {} has a texture ({}); cameras draw its material's diffuse colour instead",
                    model.source.display(),
                    file.display(),
                    texture.display()
                );
            }
            self.meshes.push(MeshData::from_triangles(&part.mesh.vertices, &part.mesh.triangles));
            out.push((self.meshes.len() - 1, part.color.map(|c| [c[0], c[1], c[2]])));
        }
        self.files.insert(file.clone(), out.clone());
        out
    }

    /// A `<visual>`'s colour: its `<material>`'s `<color>`, or that of the robot-level
    /// `<material>` of the same name. A `<texture>` file must exist; it is not drawn (its
    /// material's colour is).
    fn material_color(&mut self, model: &RobotModel, key: &str, link: &str, material: &Option<urdf_rs::Material>) -> Option<[f32; 3]> {
        let material = material.as_ref()?;
        let named = model.urdf.materials.iter().find(|m| !material.name.is_empty() && m.name == material.name);
        let texture = material.texture.as_ref().or(named.and_then(|m| m.texture.as_ref()));
        if let Some(texture) = texture.filter(|t| !t.filename.is_empty()) {
            let dir = model.source.parent().map(PathBuf::from).unwrap_or_default();
            let found = self.packages.resolve(&texture.filename, &dir).ok().filter(|p| p.is_file());
            match found {
                None => self.problems.push(VisualProblem {
                    key: key.to_string(),
                    source: model.source.clone(),
                    element: format!("link \"{link}\""),
                    reason: format!("<material> texture \"{}\" does not exist", texture.filename),
                }),
                Some(path) => tracing::warn!(
                    "link \"{link}\" of {}: <material> texture {} is not drawn; cameras use its colour",
                    model.source.display(),
                    path.display()
                ),
            }
        }
        let color = material.color.as_ref().or(named.and_then(|m| m.color.as_ref()))?;
        let [r, g, b, _] = color.rgba.0;
        Some([r, g, b].map(|v| v.clamp(0.0, 1.0) as f32))
    }

    fn bodies(&mut self, bodies: &[BodyConfig], kind: &str) -> Vec<BodyVisual> {
        bodies
            .iter()
            .enumerate()
            .map(|(i, body)| match &body.shape {
                ShapeConfig::Urdf { model } => BodyVisual::Urdf(self.urdf(model, &format!("world.{kind}[{i}].urdf"))),
                shape => BodyVisual::Primitive(self.shape(shape, rgb(body.color)).expect("a primitive shape")),
            })
            .collect()
    }
}

impl VisualModel {
    /// Builds what cameras see of a validated scenario's robot (`model`), world and obstacle
    /// field, reading every visual mesh file once.
    ///
    /// # Errors
    /// Every visual that cannot be drawn: a primitive with a size that is not positive and
    /// finite, a mesh file that was not found or does not load, a `<material>` texture file that
    /// does not exist (resolved through `packages` as mesh files are); more than 65 535 segments.
    pub fn build(
        model: &RobotModel,
        world: &WorldConfig,
        randomize: &RandomizationConfig,
        packages: &mesh::PackagePaths,
    ) -> Result<VisualModel, Vec<VisualProblem>> {
        let mut b = Builder {
            packages,
            meshes: vec![
                MeshData::cuboid([1.0; 3]),
                MeshData::sphere(1.0),
                MeshData::cylinder(1.0, 1.0),
                MeshData::plane(GROUND_HALF_EXTENT),
            ],
            capsules: BTreeMap::new(),
            files: BTreeMap::new(),
            problems: Vec::new(),
        };
        let robot = b.urdf(model, "robot.urdf");
        let objects = b.bodies(&world.objects, "objects");
        let obstacles = b.bodies(&world.obstacles, "obstacles");
        if !b.problems.is_empty() {
            return Err(b.problems);
        }
        let mut legend: Vec<String> = model.urdf.links.iter().map(|l| format!("robot/{}", l.name)).collect();
        let link_index = model.urdf.links.iter().enumerate().map(|(i, l)| (l.name.clone(), i as u32)).collect();
        let object_base = legend.len() as u32 + 1;
        legend.extend(world.objects.iter().map(|o| format!("object/{}", o.name)));
        let obstacle_base = legend.len() as u32 + 1;
        legend.extend(world.obstacles.iter().map(|o| format!("obstacle/{}", o.name)));
        let field_base = legend.len() as u32 + 1;
        let field_count = randomize.obstacle_field.as_ref().map_or(0, |f| f.count);
        legend.extend((0..field_count).map(|i| format!("obstacle/field_obstacle_{i}")));
        let ground_segment = legend.len() as u32 + 1;
        if world.ground.is_some() {
            legend.push("ground".to_string());
        }
        if legend.len() > u16::MAX as usize {
            return Err(vec![VisualProblem {
                key: "sensors".to_string(),
                source: model.source.clone(),
                element: "<robot>".to_string(),
                reason: format!(
                    "a camera's segment ids are 16-bit: at most {} links, objects and obstacles, and the scene has {}",
                    u16::MAX,
                    legend.len()
                ),
            }]);
        }
        Ok(VisualModel {
            meshes: b.meshes,
            robot,
            objects,
            obstacles,
            field_color: rgb(crate::scenario::config::DEFAULT_BODY_COLOR),
            ground_color: world.ground.as_ref().map(|g| rgb(g.color)),
            legend,
            robot_base: 1,
            object_base,
            obstacle_base,
            field_base,
            ground_segment,
            link_index,
        })
    }

    /// Segment id of the robot link called `link`; `None` for an unknown link.
    pub fn link_segment(&self, link: &str) -> Option<u32> {
        self.link_index.get(link).map(|i| self.robot_base + i)
    }

    /// Segment id of `world.objects[index]`.
    pub fn object_segment(&self, index: usize) -> u32 {
        self.object_base + index as u32
    }

    /// Segment id of `world.obstacles[index]`, or, past their end, of the obstacle field's
    /// cylinder `index − obstacles`.
    pub fn obstacle_segment(&self, index: usize) -> u32 {
        if index < self.obstacles.len() {
            self.obstacle_base + index as u32
        } else {
            self.field_base + (index - self.obstacles.len()) as u32
        }
    }

    /// Segment id of the ground.
    pub fn ground_segment(&self) -> u32 {
        self.ground_segment
    }
}

/// A visual part attached to a body of an episode's scene, with its segment id: what a frame
/// draws at `body pose × part.local`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VisualAttachment {
    /// The rapier body the part moves with.
    pub body: RigidBodyHandle,
    /// The part, in the body's frame.
    pub part: VisualPart,
    /// Segment id (≥ 1).
    pub segment: u32,
}
