//! Building a rapier scene from a scenario and an episode's parameters, and reading and
//! writing its generalized coordinates.

use crate::error::SimError;
use crate::mesh::{self, CollisionMode};
use crate::randomize::EpisodeParameters;
use crate::render::visuals::{BodyVisual, LinkVisuals, VisualAttachment, VisualModel, VisualPart, GROUND, UNIT_CYLINDER};
use crate::robot::{urdf_rs, JointKind, RobotModel};
use crate::scenario::config::*;
use rapier3d::glamx::{EulerRot, Mat3, Quat, Vec3};
use rapier3d::math::{Pose, Real};
use rapier3d::pipeline::PhysicsWorld as RapierWorld;
use rapier3d::prelude::*;
use rapier3d_urdf::{UrdfLoaderOptions, UrdfMultibodyOptions, UrdfRobot};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// A rapier pose (f32) from a position in m and URDF roll-pitch-yaw in rad: fixed axes X, Y, Z,
/// R = Rz(yaw)·Ry(pitch)·Rx(roll), as in URDF's `<origin rpy>`.
pub fn pose_from(position: [f64; 3], rpy: [f64; 3]) -> Pose {
    let rotation = Quat::from_euler(EulerRot::ZYX, rpy[2] as Real, rpy[1] as Real, rpy[0] as Real);
    Pose::from_parts(Vec3::new(position[0] as Real, position[1] as Real, position[2] as Real), rotation)
}

/// A robot model turned into rapier bodies once (meshes are loaded here), cloned per episode.
pub struct ArticulationTemplate {
    /// The checked robot model the template was built from.
    pub model: Arc<RobotModel>,
    /// rapier bodies, colliders and multibody joints converted from the URDF (meshes loaded), cloned into each scene.
    pub urdf: UrdfRobot,
    /// Whether the root link is welded to the world (`robot.base.fixed` for the robot; always for URDF obstacles, never for objects).
    pub fixed_root: bool,
    /// Mass properties by URDF link index: the URDF's `<inertial>`, or computed from the
    /// collision shapes when the scenario asks (`robot.inertia: from_geometry`).
    pub inertias: Vec<LinkInertia>,
}

impl ArticulationTemplate {
    /// Converts `model` into rapier bodies and colliders, welding the root link to the world
    /// when `fixed_root`. Frame-only links are kept as bodies; joint collisions are off.
    /// Collision meshes (read once by the model) become shapes as `collision` says per link;
    /// a moving link left as a dense triangle mesh, or whose hull is flat, gets a warning.
    /// With `inertia_from_geometry`, each link's URDF mass is spread over its collision shapes;
    /// a link without any keeps its URDF inertia (which validation checked).
    pub fn new(model: Arc<RobotModel>, fixed_root: bool, collision: &CollisionConfig, inertia_from_geometry: bool) -> Self {
        let options = UrdfLoaderOptions {
            make_roots_fixed: fixed_root,
            // Keep frame-only links (end effectors, sensor mounts) as bodies: sensors and tasks
            // refer to them by name.
            squeeze_empty_fixed_links: false,
            enable_joint_collisions: false,
            ..Default::default()
        };
        // rapier3d-urdf would read mesh files again (and silently skip those it cannot): give
        // it a unit sphere in each mesh's place, one collider per <collision> as for every
        // primitive, and swap in the shape built from the mesh the model has read.
        let mut document = model.urdf.clone();
        for link in document.links.iter_mut() {
            link.visual.clear();
            for element in link.collision.iter_mut() {
                if matches!(element.geometry, urdf_rs::Geometry::Mesh { .. }) {
                    element.geometry = urdf_rs::Geometry::Sphere { radius: 1.0 };
                }
            }
        }
        let mut urdf = UrdfRobot::from_robot(&document, options, Path::new(""));
        let static_links = model.static_links(!fixed_root);
        // Per URDF link: its collision shapes' mass properties at density 1, in the link frame.
        let mut unit_mass = vec![MassProperties::default(); model.urdf.links.len()];
        for link in urdf.links.iter_mut() {
            let source = &model.urdf.links[link.urdf_link_index];
            debug_assert_eq!(link.colliders.len(), source.collision.len(), "one collider per <collision> of link {}", source.name);
            let moving = !static_links.contains(source.name.as_str());
            for (collider, element) in link.colliders.iter_mut().zip(&source.collision) {
                // Not yet inserted, the collider's pose in its link is `position()`.
                let pose = *collider.collider.position();
                let urdf_rs::Geometry::Mesh { filename, scale } = &element.geometry else {
                    if inertia_from_geometry {
                        unit_mass[link.urdf_link_index] += collider.collider.shape().mass_properties(1.0).transform_by(&pose);
                    }
                    continue;
                };
                let Some(mesh) = model.collision_meshes.get(filename) else { continue };
                let scale = scale.as_ref().map(|s| s.0).unwrap_or([1.0; 3]);
                let mode = collision.mode(&source.name, moving);
                let (shape, warning) = mesh::collision_shape(mesh, scale, mode);
                if inertia_from_geometry {
                    // A mesh's volume is its convex hull's, whatever shape it collides as (the
                    // collision shape itself when it is that hull).
                    let hull = if mode == CollisionMode::ConvexHull && warning.is_none() {
                        Some(shape.clone())
                    } else {
                        mesh::convex_hull(mesh, scale)
                    };
                    if let Some(hull) = hull {
                        unit_mass[link.urdf_link_index] += hull.mass_properties(1.0).transform_by(&pose);
                    }
                }
                if let Some(warning) = warning {
                    tracing::warn!("{}: link \"{}\", mesh \"{filename}\": {warning}", model.source.display(), source.name);
                } else if moving && mode == CollisionMode::Trimesh && mesh.triangles.len() > mesh::DENSE_TRIMESH_TRIANGLES {
                    tracing::warn!(
                        "{}: moving link \"{}\" is simulated as a triangle mesh of {} triangles (\"{filename}\"), which makes contacts slow; \
                         use `robot.link_collision: {{{}: convex_hull}}` or convex_decomposition",
                        model.source.display(),
                        source.name,
                        mesh.triangles.len(),
                        source.name
                    );
                }
                collider.collider.set_shape(shape);
            }
        }
        let mut inertias: Vec<LinkInertia> = (0..model.urdf.links.len()).map(|i| LinkInertia::from_urdf(&model, i)).collect();
        if inertia_from_geometry {
            for (index, unit) in unit_mass.into_iter().enumerate() {
                if let Some(inertia) = LinkInertia::from_geometry(&model, index, unit) {
                    inertias[index] = inertia;
                }
            }
        }
        Self { model, urdf, fixed_root, inertias }
    }
}

/// A movable joint in the scene.
#[derive(Debug, Clone)]
pub struct JointSlot {
    /// Revolute, continuous or prismatic, as in the URDF.
    pub kind: JointKind,
    /// Link index inside the multibody.
    pub link_id: usize,
    /// Index of its degree of freedom in the multibody's generalized velocity.
    pub dof: usize,
    /// Body of the joint's child link.
    pub child: RigidBodyHandle,
    /// Body of the joint's parent link.
    pub parent: RigidBodyHandle,
}

/// A tree of links joined by multibody joints (the robot, or a URDF object).
#[derive(Debug, Clone)]
pub struct Articulation {
    /// Body of the root link.
    pub root: RigidBodyHandle,
    /// Whether the root is free (6 degrees of freedom: a mobile base or a movable object) instead of welded to the world.
    pub floating: bool,
    /// Per movable joint of the model, in model order.
    pub joints: Vec<JointSlot>,
    /// Body of each link, by URDF link name (frame-only links included).
    pub links: HashMap<String, RigidBodyHandle>,
}

impl Articulation {
    /// The rapier multibody of this articulation in `world`; `None` when the root belongs to none
    /// (a model without movable joints).
    pub fn multibody<'a>(&self, world: &'a RapierWorld) -> Option<&'a Multibody> {
        let link = world.multibody_joints.rigid_body_link(self.root)?;
        world.multibody_joints.get_multibody(link.multibody)
    }

    /// Mutable access to the articulation's multibody; `None` as for [`Articulation::multibody`].
    pub fn multibody_mut<'a>(&self, world: &'a mut RapierWorld) -> Option<&'a mut Multibody> {
        let link = *world.multibody_joints.rigid_body_link(self.root)?;
        world.multibody_joints.get_multibody_mut(link.multibody)
    }

    /// Number of generalized coordinates: 7 for a floating root (position + quaternion), then
    /// one per movable joint.
    pub fn position_len(&self) -> usize {
        (if self.floating { 7 } else { 0 }) + self.joints.len()
    }

    /// Number of generalized velocities: 6 for a floating root (linear then angular, world frame),
    /// then one per movable joint.
    pub fn velocity_len(&self) -> usize {
        (if self.floating { 6 } else { 0 }) + self.joints.len()
    }
}

/// A movable object in the scene.
#[derive(Debug, Clone)]
pub enum ObjectBody {
    /// A single rigid body: a primitive shape, or a URDF with one link.
    Rigid(RigidBodyHandle),
    /// A URDF object whose links form a multibody (joined by fixed joints).
    Articulated(Articulation),
}

impl ObjectBody {
    /// The object's root body: the rigid body itself, or the articulation's root link.
    pub fn root(&self) -> RigidBodyHandle {
        match self {
            ObjectBody::Rigid(h) => *h,
            ObjectBody::Articulated(a) => a.root,
        }
    }
}

/// Which part of the scene a collider belongs to.
#[derive(Debug, Clone, PartialEq)]
pub enum ColliderOwner {
    /// The ground plane.
    Ground,
    /// A static obstacle: index into `world.obstacles`, then, past its end, into the episode's obstacle-field cylinders.
    Obstacle(usize),
    /// A movable object: index into `world.objects` (and [`Scene::objects`]).
    Object(usize),
    /// A link of the robot, by URDF link name (payload colliders included).
    RobotLink(String),
}

/// One episode's rapier world: the robot articulation, the movable objects in scenario order, and
/// which part of the scene each collider belongs to (for contacts and collisions).
pub struct Scene {
    /// The rapier world: bodies, colliders, joints, gravity and integration parameters.
    pub rapier: RapierWorld,
    /// The robot's articulation.
    pub robot: Articulation,
    /// Movable objects, in `world.objects` order.
    pub objects: Vec<ObjectBody>,
    /// Which part of the scene each collider belongs to.
    pub owners: HashMap<ColliderHandle, ColliderOwner>,
    /// The colliders of the static obstacles ([`ColliderOwner::Obstacle`]), for collision
    /// checks that walk only their contact pairs.
    pub obstacle_colliders: Vec<ColliderHandle>,
    /// What cameras draw, attached to the scene's bodies; empty when the scenario has no camera.
    pub visuals: Arc<[VisualAttachment]>,
}

fn shape_collider(shape: &ShapeConfig) -> Option<ColliderBuilder> {
    Some(match shape {
        ShapeConfig::Box { half_extents: h } => ColliderBuilder::cuboid(h[0] as Real, h[1] as Real, h[2] as Real),
        ShapeConfig::Sphere { radius } => ColliderBuilder::ball(*radius as Real),
        // rapier's cylinders stand along y; scenario cylinders stand along z like URDF's.
        ShapeConfig::Cylinder { radius, half_length } => ColliderBuilder::cylinder(*half_length as Real, *radius as Real)
            .position(Pose::from_rotation(Quat::from_rotation_x(std::f32::consts::FRAC_PI_2))),
        ShapeConfig::Capsule { radius, half_length } => ColliderBuilder::capsule_z(*half_length as Real, *radius as Real),
        ShapeConfig::Urdf { .. } => return None,
    })
}

/// A link's mass (kg), centre of mass and inertia tensor about it (link frame, m and kg·m²).
#[derive(Debug, Clone, Copy)]
pub struct LinkInertia {
    /// Centre of mass in the link frame, m.
    pub com: Vec3,
    /// Mass, kg.
    pub mass: Real,
    /// Inertia tensor about the centre of mass, in the link frame, kg·m².
    pub inertia: Mat3,
}

impl LinkInertia {
    /// The URDF `<inertial>` of link `link_index` (its `<origin rpy>` is not applied: see the notes in ARCHITECTURE.md).
    fn from_urdf(model: &RobotModel, link_index: usize) -> Self {
        let inertial = &model.urdf.links[link_index].inertial;
        let i = &inertial.inertia;
        let inertia = Mat3::from_cols_array(&[
            i.ixx as Real,
            i.ixy as Real,
            i.ixz as Real,
            i.ixy as Real,
            i.iyy as Real,
            i.iyz as Real,
            i.ixz as Real,
            i.iyz as Real,
            i.izz as Real,
        ]);
        let com = inertial.origin.xyz.0;
        Self { com: Vec3::new(com[0] as Real, com[1] as Real, com[2] as Real), mass: inertial.mass.value as Real, inertia }
    }

    /// The URDF mass of link `link_index` spread uniformly over its collision volume
    /// (`unit`: the mass properties of its collision shapes at density 1, link frame; meshes
    /// as their convex hulls), as PyBullet computes inertia when a file's is not used. `None`
    /// when the link has no mass or no collision volume (its URDF inertia stays).
    fn from_geometry(model: &RobotModel, link_index: usize, unit: MassProperties) -> Option<Self> {
        let mass = model.urdf.links[link_index].inertial.mass.value as Real;
        let volume_mass = unit.mass();
        if mass <= 0.0 || volume_mass.is_nan() || volume_mass <= 0.0 {
            return None;
        }
        let mut properties = unit;
        properties.set_mass(mass, true);
        Some(Self { com: properties.local_com, mass, inertia: properties.reconstruct_inertia_matrix() })
    }

    /// rapier mass properties with the mass and inertia multiplied by `scale`.
    fn scaled(&self, scale: f64) -> MassProperties {
        let s = scale as Real;
        MassProperties::with_inertia_matrix(self.com, self.mass * s, self.inertia * s)
    }
}

/// Inserts an articulation at `pose`, with scaled masses and the given friction.
fn insert_articulation(
    world: &mut RapierWorld,
    template: &ArticulationTemplate,
    pose: Pose,
    mass_scale: f64,
    friction: Option<f64>,
) -> Result<Articulation, SimError> {
    let mut urdf = template.urdf.clone();
    for link in urdf.links.iter_mut() {
        link.body.set_additional_mass_properties(template.inertias[link.urdf_link_index].scaled(mass_scale), false);
        if let Some(f) = friction {
            for collider in link.colliders.iter_mut() {
                collider.collider.set_friction(f as Real);
            }
        }
    }
    urdf.append_transform(&pose);
    let link_names: Vec<String> = urdf.links.iter().map(|l| template.model.urdf.links[l.urdf_link_index].name.clone()).collect();
    let joint_sources: Vec<usize> = urdf.joints.iter().map(|j| j.urdf_joint_index).collect();
    let handles = urdf.insert_using_multibody_joints(
        &mut world.bodies,
        &mut world.colliders,
        &mut world.multibody_joints,
        UrdfMultibodyOptions::DISABLE_SELF_CONTACTS,
    );
    let links: HashMap<String, RigidBodyHandle> = link_names.iter().cloned().zip(handles.links.iter().map(|l| l.body)).collect();
    let root = links[&template.model.root_link];
    // rapier gives every new multibody a free root and settles its type (fixed or free, which
    // renumbers the degrees of freedom) at the first forward kinematics: do it before reading
    // any index.
    if let Some(link) = world.multibody_joints.rigid_body_link(root).copied() {
        if let Some(multibody) = world.multibody_joints.get_multibody_mut(link.multibody) {
            multibody.forward_kinematics(&world.bodies, true);
        }
    }
    let mut joints = Vec::with_capacity(template.model.joints.len());
    for info in &template.model.joints {
        let position = joint_sources
            .iter()
            .position(|&j| template.model.urdf.joints[j].name == info.name)
            .ok_or_else(|| SimError::Build(format!("joint {} was not created", info.name)))?;
        let handle =
            handles.joints[position].joint.ok_or_else(|| SimError::Build(format!("joint {} is not part of the multibody", info.name)))?;
        let (multibody, link_id) =
            world.multibody_joints.get(handle).ok_or_else(|| SimError::Build(format!("joint {} has no multibody", info.name)))?;
        let link = multibody.link(link_id).ok_or_else(|| SimError::Build(format!("joint {} has no link", info.name)))?;
        joints.push(JointSlot {
            kind: info.kind,
            link_id,
            dof: link.assembly_id(),
            child: handles.joints[position].link2,
            parent: handles.joints[position].link1,
        });
    }
    let articulation = Articulation { root, floating: !template.fixed_root, joints, links };
    if let Some(multibody) = articulation.multibody_mut(world) {
        // rapier adds a small default damping to angular joints for stability; dreamrig uses
        // exactly the URDF's <dynamics> so that an undamped pendulum stays undamped.
        multibody.damping_mut().fill(0.0);
        for (slot, info) in articulation.joints.iter().zip(&template.model.joints) {
            multibody.damping_mut()[slot.dof] = info.damping as Real;
            multibody.frictions_mut()[slot.dof] = info.friction as Real;
            multibody.armature_mut()[slot.dof] = info.armature as Real;
        }
    }
    Ok(articulation)
}

/// The rapier bodies of a scenario's URDF models, converted once (meshes read from disk once)
/// and cloned into every episode's scene.
pub struct SceneTemplates {
    /// The robot's template (root welded when `robot.base.fixed`).
    pub robot: ArticulationTemplate,
    /// Per movable object: its template, `None` for a primitive shape.
    pub objects: Vec<Option<ArticulationTemplate>>,
    /// Per static obstacle: its template (root welded), `None` for a primitive shape.
    pub obstacles: Vec<Option<ArticulationTemplate>>,
}

impl SceneTemplates {
    /// Builds the templates of the robot (root welded when `robot.base.fixed`) and of each URDF
    /// object; `None` for objects with a primitive shape.
    pub fn new(config: &ScenarioConfig) -> Self {
        Self {
            robot: ArticulationTemplate::new(
                config.robot.model.clone(),
                config.robot.fixed_base,
                &config.robot.collision,
                config.robot.inertia_from_geometry,
            ),
            objects: Self::of_bodies(&config.world.objects, false),
            obstacles: Self::of_bodies(&config.world.obstacles, true),
        }
    }

    /// A template per body with a URDF shape (root welded when `fixed`), `None` for primitives.
    fn of_bodies(bodies: &[BodyConfig], fixed: bool) -> Vec<Option<ArticulationTemplate>> {
        bodies
            .iter()
            .map(|b| match &b.shape {
                ShapeConfig::Urdf { model } => Some(ArticulationTemplate::new(model.clone(), fixed, &CollisionConfig::default(), false)),
                _ => None,
            })
            .collect()
    }
}

/// rapier's integration parameters for `config`: `dt` = `timing.physics_dt` (s), the solver
/// settings of `timing.solver`, no warm starting (so the next state is a function of the state
/// vector alone), rapier's other defaults.
pub fn integration_parameters(config: &ScenarioConfig) -> IntegrationParameters {
    let solver = &config.timing.solver;
    IntegrationParameters {
        dt: config.timing.physics_dt as Real,
        num_solver_iterations: solver.substeps as usize,
        num_internal_pgs_iterations: solver.iterations as usize,
        num_internal_stabilization_iterations: solver.stabilization_iterations as usize,
        // Warm starting carries contact impulses from one step to the next: solver state that
        // the state vector does not hold. Without it the future is a function of the state.
        warmstart_coefficient: 0.0,
        ..IntegrationParameters::default()
    }
}

/// An episode's scene as built, before any step and with every joint at zero: what
/// [`PristineScene::instantiate`] copies for the episode's start and for every state written
/// into it, instead of rebuilding the scene from the scenario.
pub struct PristineScene {
    gravity: Vec3,
    integration_parameters: IntegrationParameters,
    bodies: RigidBodySet,
    colliders: ColliderSet,
    multibody_joints: MultibodyJointSet,
    impulse_joints: ImpulseJointSet,
    robot: Articulation,
    objects: Vec<ObjectBody>,
    owners: HashMap<ColliderHandle, ColliderOwner>,
    /// The obstacles' colliders, in handle order (see [`Scene::obstacle_colliders`]).
    obstacle_colliders: Vec<ColliderHandle>,
    /// What cameras draw (see [`Scene::visuals`]).
    visuals: Arc<[VisualAttachment]>,
    /// The episode's initial joint positions (rad or m, in model order).
    initial_joints: Vec<f64>,
}

impl PristineScene {
    /// The episode's scene, never stepped: at the episode's initial pose and at rest, or, with
    /// `state` (a full state vector, see [`StateLayout`]), with every body where the state puts
    /// it and moving as it says; `layout` is the world's state layout (where each part of `state` is).
    ///
    /// A copy of sets that were never stepped carries no solver or contact cache, and every body
    /// and collider in it is still marked as new, so the first step treats it exactly as it
    /// treats a freshly built scene: a state written here is reproduced to the bit.
    pub fn instantiate(&self, layout: &StateLayout, state: Option<&[f64]>) -> Scene {
        let mut rapier = RapierWorld::new();
        rapier.gravity = self.gravity;
        rapier.integration_parameters = self.integration_parameters;
        rapier.bodies = self.bodies.clone();
        rapier.colliders = self.colliders.clone();
        rapier.multibody_joints = self.multibody_joints.clone();
        rapier.impulse_joints = self.impulse_joints.clone();
        let mut scene = Scene {
            rapier,
            robot: self.robot.clone(),
            objects: self.objects.clone(),
            owners: self.owners.clone(),
            obstacle_colliders: self.obstacle_colliders.clone(),
            visuals: self.visuals.clone(),
        };
        let robot = &self.robot;
        match state {
            None => {
                let zeros = vec![0.0; robot.velocity_len()];
                write_articulation(&mut scene.rapier, robot, &self.initial_joints, &zeros);
            }
            Some(values) => {
                // Roots first: forward kinematics reads a root's pose from its body.
                if robot.floating {
                    set_root_pose(&mut scene.rapier, robot.root, pose_from_coordinates(values));
                }
                for (index, object) in self.objects.iter().enumerate() {
                    set_root_pose(&mut scene.rapier, object.root(), pose_from_coordinates(&values[layout.object_positions[index]..]));
                }
                let root = if robot.floating { 7 } else { 0 };
                let joints = &values[root..layout.robot_positions];
                let velocities = &values[layout.velocity_start..layout.velocity_start + robot.velocity_len()];
                write_articulation(&mut scene.rapier, robot, joints, velocities);
                for (index, object) in self.objects.iter().enumerate() {
                    let v = layout.velocity_start + layout.object_velocities[index];
                    write_object_velocity(&mut scene.rapier, object, &values[v..v + 6]);
                }
                // rapier moves colliders with their bodies at the next step; sensors read the
                // state before it.
                sync_colliders(&mut scene.rapier);
            }
        }
        scene
    }
}

/// Puts every attached collider where its body now is (what rapier does at the start of a
/// step): `collider = body × position relative to the body`.
fn sync_colliders(world: &mut RapierWorld) {
    for (_, body) in world.bodies.iter() {
        for handle in body.colliders() {
            if let Some(collider) = world.colliders.get_mut(*handle) {
                if let Some(relative) = collider.position_wrt_parent().copied() {
                    collider.set_position(*body.position() * relative);
                }
            }
        }
    }
}

/// Puts a root body at `pose`, as if it had been inserted there.
fn set_root_pose(world: &mut RapierWorld, root: RigidBodyHandle, pose: Pose) {
    if let Some(body) = world.bodies.get_mut(root) {
        body.set_position(pose, true);
    }
}

/// Builds the pristine scene of an episode: every body inserted at the episode's initial pose
/// with the episode's masses and friction, every joint at zero, nothing stepped.
pub fn build_pristine(config: &ScenarioConfig, templates: &SceneTemplates, params: &EpisodeParameters) -> Result<PristineScene, SimError> {
    let mut rapier = RapierWorld::new();
    let g = config.world.gravity;
    rapier.gravity = Vec3::new(g[0] as Real, g[1] as Real, g[2] as Real);
    rapier.integration_parameters = integration_parameters(config);
    let mut owners = HashMap::new();
    let friction = |nominal: f64| params.friction.unwrap_or(nominal) as Real;

    let mut ground_body = None;
    if let Some(ground) = &config.world.ground {
        let body = rapier.bodies.insert(RigidBodyBuilder::fixed().translation(Vec3::new(0.0, 0.0, ground.height as Real)));
        let collider = ColliderBuilder::halfspace(rapier3d::na::Unit::new_unchecked(Vec3::Z)).friction(friction(ground.friction));
        let handle = rapier.colliders.insert_with_parent(collider, body, &mut rapier.bodies);
        owners.insert(handle, ColliderOwner::Ground);
        ground_body = Some(body);
    }
    let mut obstacles: Vec<(BodyConfig, Pose)> =
        config.world.obstacles.iter().map(|o| (o.clone(), pose_from(o.pose.position, o.pose.rpy))).collect();
    if let Some(field) = &config.randomize.obstacle_field {
        for (i, [x, y, radius]) in params.field_obstacles.iter().enumerate() {
            let body = BodyConfig {
                name: format!("field_obstacle_{i}"),
                shape: ShapeConfig::Cylinder { radius: *radius, half_length: field.height / 2.0 },
                pose: PoseConfig { position: [*x, *y, field.height / 2.0], rpy: [0.0; 3] },
                mass: 0.0,
                friction: 0.8,
                color: DEFAULT_BODY_COLOR,
            };
            let pose = pose_from(body.pose.position, body.pose.rpy);
            obstacles.push((body, pose));
        }
    }
    let mut visuals = Visuals::new(config.visuals.as_deref());
    if let (Some(model), Some(ground)) = (config.visuals.as_deref(), ground_body) {
        if let Some(color) = model.ground_color {
            let part = VisualPart { local: Pose::IDENTITY, mesh: GROUND, scale: rapier3d::glamx::Vec3::ONE, color };
            visuals.push(ground, part, model.ground_segment());
        }
    }
    for (index, (obstacle, pose)) in obstacles.iter().enumerate() {
        let body = rapier.bodies.insert(RigidBodyBuilder::fixed().pose(*pose));
        let segment = visuals.model.map(|m| m.obstacle_segment(index));
        if let Some(builder) = shape_collider(&obstacle.shape) {
            let handle = rapier.colliders.insert_with_parent(builder.friction(friction(obstacle.friction)), body, &mut rapier.bodies);
            owners.insert(handle, ColliderOwner::Obstacle(index));
            if let (Some(model), Some(segment)) = (visuals.model, segment) {
                match model.obstacles.get(index) {
                    Some(BodyVisual::Primitive(part)) => visuals.push(body, *part, segment),
                    _ => {
                        // An obstacle-field cylinder: the unit cylinder scaled to its size.
                        if let ShapeConfig::Cylinder { radius, half_length } = obstacle.shape {
                            let scale = rapier3d::glamx::Vec3::new(radius as Real, radius as Real, half_length as Real);
                            let part = VisualPart { local: Pose::IDENTITY, mesh: UNIT_CYLINDER, scale, color: model.field_color };
                            visuals.push(body, part, segment);
                        }
                    }
                }
            }
        } else if let Some(Some(template)) = templates.obstacles.get(index) {
            let articulation = insert_articulation(&mut rapier, template, *pose, 1.0, params.friction.or(Some(obstacle.friction)))?;
            for handle in articulation.links.values() {
                for collider in rapier.bodies[*handle].colliders() {
                    owners.insert(*collider, ColliderOwner::Obstacle(index));
                }
            }
            if let (Some(BodyVisual::Urdf(links)), Some(segment)) = (visuals.model.and_then(|m| m.obstacles.get(index)), segment) {
                visuals.push_links(&articulation, links, |_| Some(segment));
            }
        }
    }
    let mut objects = Vec::new();
    for (index, object) in config.world.objects.iter().enumerate() {
        let pose = pose_from(params.object_positions[index], params.object_rpy[index]);
        if let Some(builder) = shape_collider(&object.shape) {
            let body = rapier.bodies.insert(RigidBodyBuilder::dynamic().pose(pose).can_sleep(false));
            let handle = rapier.colliders.insert_with_parent(
                builder.mass((object.mass * params.mass_scale) as Real).friction(friction(object.friction)),
                body,
                &mut rapier.bodies,
            );
            owners.insert(handle, ColliderOwner::Object(index));
            if let Some(model) = visuals.model {
                if let Some(BodyVisual::Primitive(part)) = model.objects.get(index) {
                    visuals.push(body, *part, model.object_segment(index));
                }
            }
            objects.push(ObjectBody::Rigid(body));
        } else {
            let template =
                templates.objects[index].as_ref().ok_or_else(|| SimError::Build(format!("object {} has no URDF template", object.name)))?;
            let articulation =
                insert_articulation(&mut rapier, template, pose, params.mass_scale, params.friction.or(Some(object.friction)))?;
            for handle in articulation.links.values() {
                for collider in rapier.bodies[*handle].colliders() {
                    owners.insert(*collider, ColliderOwner::Object(index));
                }
            }
            if let Some(model) = visuals.model {
                if let Some(BodyVisual::Urdf(links)) = model.objects.get(index) {
                    visuals.push_links(&articulation, links, |_| Some(model.object_segment(index)));
                }
            }
            // A single-link URDF has no joints and so no multibody: it is a plain rigid body.
            if articulation.multibody(&rapier).is_some() {
                objects.push(ObjectBody::Articulated(articulation));
            } else {
                objects.push(ObjectBody::Rigid(articulation.root));
            }
        }
    }
    let robot_pose = pose_from(params.base_position, params.base_rpy);
    let robot = insert_articulation(&mut rapier, &templates.robot, robot_pose, params.mass_scale, params.friction)?;
    if let Some(model) = visuals.model {
        visuals.push_links(&robot, &model.robot, |link| model.link_segment(link));
    }
    for (link, friction) in &config.robot.link_friction {
        let colliders: Vec<ColliderHandle> = robot.links.get(link).map(|h| rapier.bodies[*h].colliders().to_vec()).unwrap_or_default();
        for handle in colliders {
            if let Some(collider) = rapier.colliders.get_mut(handle) {
                collider.set_friction(*friction as Real);
            }
        }
    }
    for payload in &config.robot.payload {
        let Some(body) = robot.links.get(&payload.link) else { continue };
        let [x, y, z] = payload.position.map(|v| v as Real);
        // A small massive ball that collides with nothing: it changes the link's mass and
        // inertia, never its contacts.
        let collider = ColliderBuilder::ball(0.005)
            .translation(Vec3::new(x, y, z))
            .mass(payload.mass as Real)
            .collision_groups(InteractionGroups::none())
            .solver_groups(InteractionGroups::none())
            .build();
        rapier.colliders.insert_with_parent(collider, *body, &mut rapier.bodies);
    }
    for (name, handle) in &robot.links {
        for collider in rapier.bodies[*handle].colliders() {
            owners.insert(*collider, ColliderOwner::RobotLink(name.clone()));
        }
    }
    for handle in robot.links.values() {
        if let Some(body) = rapier.bodies.get_mut(*handle) {
            // Sleeping would make a body's future depend on how long it has been still, which
            // the state vector does not record.
            body.activation_mut().normalized_linear_threshold = -1.0;
            body.activation_mut().angular_threshold = -1.0;
        }
    }
    let mut obstacle_colliders: Vec<ColliderHandle> =
        owners.iter().filter(|(_, owner)| matches!(owner, ColliderOwner::Obstacle(_))).map(|(handle, _)| *handle).collect();
    obstacle_colliders.sort_by_key(|h| h.into_raw_parts());
    Ok(PristineScene {
        gravity: rapier.gravity,
        integration_parameters: rapier.integration_parameters,
        bodies: rapier.bodies,
        colliders: rapier.colliders,
        multibody_joints: rapier.multibody_joints,
        impulse_joints: rapier.impulse_joints,
        robot,
        objects,
        owners,
        obstacle_colliders,
        visuals: visuals.attachments.into(),
        initial_joints: params.initial_joints.clone(),
    })
}

/// Collects a scene's [`VisualAttachment`]s while it is built.
struct Visuals<'a> {
    model: Option<&'a VisualModel>,
    attachments: Vec<VisualAttachment>,
}

impl<'a> Visuals<'a> {
    fn new(model: Option<&'a VisualModel>) -> Self {
        Visuals { model, attachments: Vec::new() }
    }

    fn push(&mut self, body: RigidBodyHandle, part: VisualPart, segment: u32) {
        self.attachments.push(VisualAttachment { body, part, segment });
    }

    /// Every link's parts, on the link's body, with the segment `segment(link)` gives
    /// (links in name order, so the draw order is fixed).
    fn push_links(&mut self, articulation: &Articulation, links: &LinkVisuals, segment: impl Fn(&str) -> Option<u32>) {
        for (link, parts) in links {
            let (Some(body), Some(segment)) = (articulation.links.get(link), segment(link)) else { continue };
            for part in parts {
                self.push(*body, *part, segment);
            }
        }
    }
}

pub(crate) fn joint_coordinate(joint: &MultibodyJoint) -> Real {
    let locked = joint.data.locked_axes.bits();
    let coords = joint.coords();
    (0..6).find(|i| locked & (1 << i) == 0).map(|i| coords[i]).unwrap_or(0.0)
}

/// Appends the generalized coordinates and velocities of an articulation.
pub fn read_articulation(world: &RapierWorld, articulation: &Articulation, positions: &mut Vec<f64>, velocities: &mut Vec<f64>) {
    let Some(multibody) = articulation.multibody(world) else {
        // A model without movable joints is one rigid body (rapier makes no multibody of it):
        // a free one has the state of a rigid object.
        if articulation.floating {
            read_object(world, &ObjectBody::Rigid(articulation.root), positions, velocities);
        }
        return;
    };
    let v = multibody.generalized_velocity();
    if articulation.floating {
        let p = world.bodies[articulation.root].position();
        positions.extend(
            [p.translation.x, p.translation.y, p.translation.z, p.rotation.w, p.rotation.x, p.rotation.y, p.rotation.z].map(f64::from),
        );
        velocities.extend((0..6).map(|i| v[i] as f64));
    }
    for slot in &articulation.joints {
        let link = multibody.link(slot.link_id).expect("joint link exists");
        positions.push(joint_coordinate(link.joint()) as f64);
        velocities.push(v[slot.dof] as f64);
    }
}

/// Writes joint coordinates and generalized velocities (root first, when floating) into an
/// articulation that was just built with every joint at zero, then updates the link poses.
pub fn write_articulation(world: &mut RapierWorld, articulation: &Articulation, joint_positions: &[f64], qdot: &[f64]) {
    if articulation.multibody(world).is_none() {
        // One rigid body (no movable joints): a free one takes its twist as a rigid object does.
        if articulation.floating && qdot.len() >= 6 {
            write_object_velocity(world, &ObjectBody::Rigid(articulation.root), &qdot[..6]);
        }
        return;
    }
    let RapierWorld { bodies, multibody_joints, .. } = world;
    let Some(link) = multibody_joints.rigid_body_link(articulation.root).copied() else { return };
    let Some(multibody) = multibody_joints.get_multibody_mut(link.multibody) else { return };
    for (slot, q) in articulation.joints.iter().zip(joint_positions) {
        if let Some(link) = multibody.link_mut(slot.link_id) {
            link.joint.apply_displacement(&[*q as Real]);
        }
    }
    {
        let root_dofs = if articulation.floating { 6 } else { 0 };
        let mut v = multibody.generalized_velocity_mut();
        for (i, value) in qdot.iter().enumerate() {
            let dof = if i < root_dofs { i } else { articulation.joints[i - root_dofs].dof };
            v[dof] = *value as Real;
        }
    }
    multibody.forward_kinematics(bodies, true);
    multibody.update_rigid_bodies(bodies, true);
    set_link_velocities(world, articulation);
}

/// Velocity of every link of an articulation (linear velocity of its centre of mass, angular
/// velocity, both in the world frame), from the generalized velocities and the link poses.
///
/// This mirrors rapier's own propagation from the root to the leaves, but is computed from the
/// current state: rapier refreshes a link body's velocity only at the start of each substep,
/// so after a step the bodies hold the velocities of one substep earlier.
pub fn link_velocities(world: &RapierWorld, articulation: &Articulation) -> Vec<(RigidBodyHandle, Vec3, Vec3)> {
    let mut out = Vec::new();
    link_velocities_into(world, articulation, &mut out);
    out
}

/// [`link_velocities`] written into `out` (cleared first), so that a caller stepping every
/// control period reuses one buffer: one entry per multibody link, in rapier's link order.
pub fn link_velocities_into(world: &RapierWorld, articulation: &Articulation, out: &mut Vec<(RigidBodyHandle, Vec3, Vec3)>) {
    out.clear();
    let Some(multibody) = articulation.multibody(world) else {
        // One rigid body (no movable joints): its own velocity.
        let body = &world.bodies[articulation.root];
        out.push((articulation.root, body.linvel(), body.angvel()));
        return;
    };
    let v = multibody.generalized_velocity();
    let v = v.as_slice();
    out.reserve(multibody.num_links());
    for link in multibody.links() {
        let handle = link.rigid_body_handle();
        let joint = link.joint();
        let local = joint.jacobian_mul_coordinates(&v[link.assembly_id().min(v.len())..]);
        match link.parent_id() {
            None => out.push((handle, local.linvel, local.angvel)),
            Some(parent_id) => {
                let parent_link = multibody.link(parent_id).expect("parent link");
                let (_, parent_linvel, parent_angvel) = out[parent_id];
                let joint_velocity = local.transformed(&(parent_link.local_to_world().rotation * joint.data.local_frame1.rotation));
                let body = &world.bodies[handle];
                let parent_body = &world.bodies[parent_link.rigid_body_handle()];
                let shift = body.mass_properties().world_com - parent_body.mass_properties().world_com;
                let pose = link.local_to_world();
                let shift23 = pose.transform_point(body.mass_properties().local_mprops.local_com)
                    - pose.transform_point(joint.data.local_frame2.translation);
                let mut linvel = parent_linvel + joint_velocity.linvel;
                let angvel = parent_angvel + joint_velocity.angvel;
                linvel += parent_angvel.cross(shift);
                linvel += joint_velocity.angvel.cross(shift23);
                out.push((handle, linvel, angvel));
            }
        }
    }
}

fn set_link_velocities(world: &mut RapierWorld, articulation: &Articulation) {
    for (handle, linvel, angvel) in link_velocities(world, articulation) {
        if let Some(body) = world.bodies.get_mut(handle) {
            body.set_linvel(linvel, false);
            body.set_angvel(angvel, false);
        }
    }
}

/// Appends an object's coordinates (position + quaternion) and velocities (linear + angular).
pub fn read_object(world: &RapierWorld, object: &ObjectBody, positions: &mut Vec<f64>, velocities: &mut Vec<f64>) {
    match object {
        ObjectBody::Rigid(handle) => {
            let body = &world.bodies[*handle];
            let p = body.position();
            positions.extend(
                [p.translation.x, p.translation.y, p.translation.z, p.rotation.w, p.rotation.x, p.rotation.y, p.rotation.z].map(f64::from),
            );
            let (v, w) = (body.linvel(), body.angvel());
            velocities.extend([v.x, v.y, v.z, w.x, w.y, w.z].map(f64::from));
        }
        ObjectBody::Articulated(articulation) => read_articulation(world, articulation, positions, velocities),
    }
}

fn write_object_velocity(world: &mut RapierWorld, object: &ObjectBody, qdot: &[f64]) {
    match object {
        ObjectBody::Rigid(handle) => {
            let body = world.bodies.get_mut(*handle).expect("object body");
            body.set_linvel(Vec3::new(qdot[0] as Real, qdot[1] as Real, qdot[2] as Real), false);
            body.set_angvel(Vec3::new(qdot[3] as Real, qdot[4] as Real, qdot[5] as Real), false);
        }
        ObjectBody::Articulated(articulation) => write_articulation(world, articulation, &[], qdot),
    }
}

fn pose_from_coordinates(q: &[f64]) -> Pose {
    let translation = Vec3::new(q[0] as Real, q[1] as Real, q[2] as Real);
    let rotation = Quat::from_xyzw(q[4] as Real, q[5] as Real, q[6] as Real, q[3] as Real);
    Pose::from_parts(translation, rotation)
}

/// Where each part of the scene sits in the flat state vector: robot coordinates, object
/// coordinates, then robot velocities, object velocities. Every object is a free body (7
/// coordinates: position and w-x-y-z quaternion; 6 velocities: linear and angular).
#[derive(Debug, Clone)]
pub struct StateLayout {
    /// Number of robot coordinates (7 for a floating base, plus one per movable joint); the objects' coordinates start here.
    pub robot_positions: usize,
    /// Index of each object's first coordinate (7 each: x, y, z, qw, qx, qy, qz), in `world.objects` order.
    pub object_positions: Vec<usize>,
    /// Index of the first velocity: the number of coordinates.
    pub velocity_start: usize,
    /// Offset of each object's first velocity (6 each: vx, vy, vz, wx, wy, wz) from `velocity_start`.
    pub object_velocities: Vec<usize>,
    /// Total number of state values: coordinates plus velocities.
    pub len: usize,
    /// Name of each state value, in state order (what [`crate::world::StateSpec`] holds).
    pub names: Vec<String>,
}

impl StateLayout {
    /// Lays out the state of `config`: `robot.base.{x,y,z,qw,qx,qy,qz}` (floating base only),
    /// `robot.joint.NAME.position`, `object.NAME.{x,…,qz}`, then the velocities in the same order
    /// (`robot.base.{vx,vy,vz,wx,wy,wz}`, `robot.joint.NAME.velocity`, `object.NAME.{vx,…,wz}`).
    pub fn new(config: &ScenarioConfig) -> Self {
        let floating = !config.robot.fixed_base;
        let joints = &config.robot.model.joints;
        let mut positions = Vec::new();
        let mut velocities = Vec::new();
        let pose_names = ["x", "y", "z", "qw", "qx", "qy", "qz"];
        let twist_names = ["vx", "vy", "vz", "wx", "wy", "wz"];
        if floating {
            positions.extend(pose_names.iter().map(|n| format!("robot.base.{n}")));
            velocities.extend(twist_names.iter().map(|n| format!("robot.base.{n}")));
        }
        for joint in joints {
            positions.push(format!("robot.joint.{}.position", joint.name));
            velocities.push(format!("robot.joint.{}.velocity", joint.name));
        }
        let robot_positions = positions.len();
        let mut object_positions = Vec::new();
        let mut object_velocities = Vec::new();
        for object in &config.world.objects {
            object_positions.push(positions.len());
            object_velocities.push(velocities.len());
            positions.extend(pose_names.iter().map(|n| format!("object.{}.{n}", object.name)));
            velocities.extend(twist_names.iter().map(|n| format!("object.{}.{n}", object.name)));
        }
        let velocity_start = positions.len();
        let mut names = positions;
        names.extend(velocities);
        Self { robot_positions, object_positions, velocity_start, object_velocities, len: names.len(), names }
    }
}

/// Lengths of an object's coordinates and velocities.
pub fn object_lengths(object: &ObjectBody) -> (usize, usize) {
    match object {
        ObjectBody::Rigid(_) => (7, 6),
        ObjectBody::Articulated(a) => (a.position_len(), a.velocity_len()),
    }
}
