//! Robots as public robot descriptions write them (issue "Robots from the wild"): ROS mesh
//! URIs, xacro, STL variants, mesh scales, collision shapes from meshes, inertia from geometry.
//! Each test stands for a kind of file found in example-robot-data or pybullet_data; the cases
//! are in ../shared/cases.

mod common;

use common::{fixture, repo};
use dreamrig_sim::scene::ColliderOwner;
use dreamrig_sim::{PhysicsWorld, Scenario, World};
use rapier3d::prelude::ShapeType;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh folder for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dreamrig-robots-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn dreamrig(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dreamrig")).args(args).current_dir(dir).output().expect("dreamrig runs")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

const BOX_INERTIA: &str =
    r#"<inertial><mass value="1"/><inertia ixx="0.0067" ixy="0" ixz="0" iyy="0.0067" iyz="0" izz="0.0067"/></inertial>"#;

/// A free body whose only collision shape is `geometry`, dropped from 0.5 m with a tip joint
/// (so that it is a multibody like a robot's links).
fn drop_urdf(geometry: &str) -> String {
    format!(
        r#"<?xml version="1.0"?>
<robot name="drop">
  <link name="body">{BOX_INERTIA}<collision><geometry>{geometry}</geometry></collision></link>
  <link name="tip"><inertial><mass value="0.01"/><inertia ixx="1e-5" ixy="0" ixz="0" iyy="1e-5" iyz="0" izz="1e-5"/></inertial></link>
  <joint name="j1" type="revolute"><parent link="body"/><child link="tip"/><origin xyz="0 0 0.1"/><axis xyz="0 0 1"/><limit lower="-1" upper="1" effort="1" velocity="1"/></joint>
</robot>
"#
    )
}

fn drop_scenario(urdf: &str, extra_robot: &str) -> String {
    format!(
        "version: 1\nname: drop\nrobot:\n  urdf: {urdf}\n  base: {{fixed: false, position: [0, 0, 0.5]}}\n{extra_robot}\
         sensors:\n  - link_pose: {{link: body}}\ntask: {{kind: balance, horizon_steps: 100}}\n\
         timing: {{physics_dt: 0.002, control_period: 0.02}}\n"
    )
}

/// Drops the body for 2 s and returns its resting height (m).
fn resting_height(scenario: &Path) -> f64 {
    let loaded = Scenario::load(scenario).unwrap_or_else(|e| panic!("{e}"));
    let mut world = PhysicsWorld::new(loaded.config);
    world.reset(0).unwrap();
    let z = world.state_spec().names.iter().position(|n| n == "robot.base.z").unwrap();
    for _ in 0..100 {
        world.step(&[]).unwrap();
    }
    world.state().unwrap().values[z]
}

#[test]
fn a_file_uri_mesh_collides_like_a_plain_path_and_rests_on_the_ground() {
    // ../shared/cases/mesh-file-uri: the collider used to be dropped and the body fell through.
    let dir = scratch("file-uri");
    std::fs::copy(fixture("wild/cube.stl"), dir.join("cube.stl")).unwrap();
    let absolute = dir.join("cube.stl");
    for (name, uri) in
        [("relative", "file://cube.stl".to_string()), ("absolute", format!("file://{}", absolute.display())), ("plain", "cube.stl".into())]
    {
        std::fs::write(dir.join(format!("{name}.urdf")), drop_urdf(&format!(r#"<mesh filename="{uri}" scale="0.2 0.2 0.2"/>"#))).unwrap();
        std::fs::write(dir.join(format!("{name}.yaml")), drop_scenario(&format!("{name}.urdf"), "")).unwrap();
        let z = resting_height(&dir.join(format!("{name}.yaml")));
        assert!((z - 0.1).abs() < 0.01, "{name} ({uri}): the 0.2 m cube rests at z = {z}, expected 0.1");
    }
}

#[test]
fn a_package_uri_resolves_through_the_packages_map_ros_package_path_and_the_urdf_folders() {
    // ../shared/cases/package-uri: package:// used to be refused outright.
    let dir = scratch("package-uri");
    let package = dir.join("src").join("my_robot_description");
    for sub in ["urdf", "meshes"] {
        std::fs::create_dir_all(package.join(sub)).unwrap();
    }
    let from = fixture("wild/my_robot_description");
    std::fs::copy(from.join("urdf/robot.urdf"), package.join("urdf/robot.urdf")).unwrap();
    std::fs::copy(from.join("meshes/cube.stl"), package.join("meshes/cube.stl")).unwrap();
    let scenario = |urdf: &str, extra: &str| {
        format!(
            "version: 1\n{extra}robot:\n  urdf: {urdf}\n  actuators: [{{kind: position, joint: j1, kp: 100, kd: 10, effort_limit: 50}}]\n\
             sensors:\n  - joint_state: {{}}\ntask: {{kind: balance, horizon_steps: 5}}\ntiming: {{physics_dt: 0.002, control_period: 0.02}}\n"
        )
    };
    // 1. The URDF inside its package: found as the ancestor folder of that name.
    std::fs::write(dir.join("in-package.yaml"), scenario("src/my_robot_description/urdf/robot.urdf", "")).unwrap();
    let out = dreamrig(&["run", "in-package.yaml", "--policy", "zero"], &dir);
    assert!(out.status.success(), "{}", text(&out));
    // 2. A copy of the URDF elsewhere: unresolvable, with every place looked at named ...
    std::fs::create_dir_all(dir.join("elsewhere")).unwrap();
    std::fs::copy(package.join("urdf/robot.urdf"), dir.join("elsewhere/robot.urdf")).unwrap();
    std::fs::write(dir.join("elsewhere.yaml"), scenario("elsewhere/robot.urdf", "")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dreamrig"))
        .args(["validate", "elsewhere.yaml"])
        .current_dir(&dir)
        .env_remove("ROS_PACKAGE_PATH")
        .env_remove("AMENT_PREFIX_PATH")
        .output()
        .unwrap();
    let message = text(&out);
    assert_eq!(out.status.code(), Some(2), "{message}");
    for needle in ["package \"my_robot_description\" not found", "packages", "ROS_PACKAGE_PATH", "AMENT_PREFIX_PATH", "elsewhere"] {
        assert!(message.contains(needle), "expected {needle:?} in {message}");
    }
    // ... found through ROS_PACKAGE_PATH (searched below its entries, as rospack does) ...
    let out = Command::new(env!("CARGO_BIN_EXE_dreamrig"))
        .args(["validate", "elsewhere.yaml"])
        .current_dir(&dir)
        .env("ROS_PACKAGE_PATH", dir.join("src"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    // ... through AMENT_PREFIX_PATH's share/NAME ...
    let prefix = dir.join("install");
    std::fs::create_dir_all(prefix.join("share")).unwrap();
    std::os::unix::fs::symlink(&package, prefix.join("share/my_robot_description")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dreamrig"))
        .args(["validate", "elsewhere.yaml"])
        .current_dir(&dir)
        .env_remove("ROS_PACKAGE_PATH")
        .env("AMENT_PREFIX_PATH", &prefix)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    // ... and through the scenario's own map, relative to the scenario.
    std::fs::write(
        dir.join("mapped.yaml"),
        scenario("elsewhere/robot.urdf", "packages: {my_robot_description: src/my_robot_description}\n"),
    )
    .unwrap();
    let out = dreamrig(&["validate", "mapped.yaml"], &dir);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn a_binary_stl_whose_header_starts_with_solid_is_read_as_binary() {
    // ../shared/cases/stl-binary-solid-header: Solo-12's, Bolt's and TIAGo Pro's feet.
    let dir = scratch("stl-solid");
    std::fs::copy(fixture("wild/cone.stl"), dir.join("cone.stl")).unwrap();
    assert!(std::fs::read(dir.join("cone.stl")).unwrap().starts_with(b"solid"));
    let mesh = dreamrig_sim::mesh::load(&dir.join("cone.stl")).unwrap();
    assert_eq!(mesh.triangles.len(), 10);
    std::fs::write(dir.join("cone.urdf"), drop_urdf(r#"<mesh filename="cone.stl"/>"#)).unwrap();
    std::fs::write(dir.join("cone.yaml"), drop_scenario("cone.urdf", "")).unwrap();
    let out = dreamrig(&["run", "cone.yaml", "--policy", "zero"], &dir);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn text_in_xml_comments_is_not_xacro() {
    // ../shared/cases/xacro-text-in-comment: PR2, Talos, TIAGo and the xArm were refused.
    let dir = scratch("xacro-comment");
    std::fs::copy(fixture("urdf/xacro-in-comment.urdf"), dir.join("robot.urdf")).unwrap();
    std::fs::write(
        dir.join("s.yaml"),
        "version: 1\nrobot:\n  urdf: robot.urdf\n  actuators: [{kind: position, joint: j1, kp: 100, kd: 10, effort_limit: 50}]\n\
         task: {kind: balance, horizon_steps: 5}\ntiming: {physics_dt: 0.002, control_period: 0.02}\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dreamrig")).args(["validate", "s.yaml"]).current_dir(&dir).env("PATH", "").output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn a_xacro_file_is_expanded_by_the_real_xacro_command() {
    // `xacro` comes from the interop environment (scripts/python-env.sh installs ROS's xacro).
    let python = PathBuf::from(common::python());
    let bin = python.parent().unwrap();
    let path =
        std::env::join_paths([bin.to_path_buf()].into_iter().chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())))
            .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dreamrig"))
        .args(["run", "tests/fixtures/xacro/arm.yaml", "--policy", "random"])
        .current_dir(repo())
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("1 episodes"), "{}", text(&out));
}

/// Writes a UV sphere of radius 0.1 m with `n` × `n` quads (about 2n² triangles) as OBJ.
fn sphere_obj(path: &Path, n: usize) {
    let mut out = String::new();
    for i in 0..=n {
        let theta = std::f64::consts::PI * i as f64 / n as f64;
        for j in 0..n {
            let phi = 2.0 * std::f64::consts::PI * j as f64 / n as f64;
            out += &format!("v {:.6} {:.6} {:.6}\n", 0.1 * theta.sin() * phi.cos(), 0.1 * theta.sin() * phi.sin(), 0.1 * theta.cos());
        }
    }
    let index = |i: usize, j: usize| i * n + (j % n) + 1;
    for i in 0..n {
        for j in 0..n {
            let (a, b, c, d) = (index(i, j), index(i, j + 1), index(i + 1, j), index(i + 1, j + 1));
            if i != 0 {
                out += &format!("f {a} {c} {b}\n");
            }
            if i != n - 1 {
                out += &format!("f {b} {c} {d}\n");
            }
        }
    }
    std::fs::write(path, out).unwrap();
}

/// The shape types of `link`'s colliders after a reset.
fn link_shapes(world: &mut PhysicsWorld, link: &str) -> Vec<ShapeType> {
    world.reset(0).unwrap();
    let scene = world.scene().unwrap();
    scene
        .rapier
        .colliders
        .iter()
        .filter(|(handle, _)| scene.owners.get(handle) == Some(&ColliderOwner::RobotLink(link.to_string())))
        .map(|(_, c)| c.shape().shape_type())
        .collect()
}

#[test]
fn a_mesh_on_a_moving_link_is_its_convex_hull_unless_the_scenario_asks_otherwise() {
    // ../shared/cases/perf-dense-mesh-ground: a 19,800-triangle ball on the ground ran at 14 steps/s.
    let dir = scratch("collision-modes");
    sphere_obj(&dir.join("ball.obj"), 100);
    std::fs::write(dir.join("ball.urdf"), drop_urdf(r#"<mesh filename="ball.obj"/>"#)).unwrap();
    for (extra, expected) in [
        ("", ShapeType::ConvexPolyhedron),
        ("  collision: trimesh\n", ShapeType::TriMesh),
        ("  link_collision: {body: convex_decomposition}\n", ShapeType::Compound),
    ] {
        std::fs::write(dir.join("s.yaml"), drop_scenario("ball.urdf", extra)).unwrap();
        let loaded = Scenario::load(&dir.join("s.yaml")).unwrap_or_else(|e| panic!("{e}"));
        let mut world = PhysicsWorld::new(loaded.config);
        assert_eq!(link_shapes(&mut world, "body"), vec![expected], "robot settings {extra:?}");
    }
    // The hull rests where the ball would.
    std::fs::write(dir.join("s.yaml"), drop_scenario("ball.urdf", "")).unwrap();
    let z = resting_height(&dir.join("s.yaml"));
    assert!((z - 0.1).abs() < 0.005, "the ball's hull rests at {z}, expected 0.1");
    // A bad mode is named.
    std::fs::write(dir.join("bad.yaml"), drop_scenario("ball.urdf", "  collision: hull\n")).unwrap();
    let out = dreamrig(&["validate", "bad.yaml"], &dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("robot.collision: expected one of convex_hull, convex_decomposition, trimesh, got hull"), "{}", text(&out));
}

#[test]
fn a_dense_triangle_mesh_on_a_moving_link_is_named_in_a_warning() {
    let dir = scratch("dense-warning");
    sphere_obj(&dir.join("ball.obj"), 60);
    std::fs::write(dir.join("ball.urdf"), drop_urdf(r#"<mesh filename="ball.obj"/>"#)).unwrap();
    std::fs::write(dir.join("s.yaml"), drop_scenario("ball.urdf", "  collision: trimesh\n")).unwrap();
    let out = dreamrig(&["run", "s.yaml", "--policy", "zero"], &dir);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("moving link \"body\" is simulated as a triangle mesh of 7080 triangles"), "{}", text(&out));
}

#[test]
fn a_mesh_scale_scales_the_collision_shape_a_negative_one_mirrors_and_zero_is_refused() {
    let dir = scratch("mesh-scale");
    std::fs::copy(fixture("wild/cube.stl"), dir.join("cube.stl")).unwrap();
    // cube.stl is 1 m; scaled to 0.2 × 0.2 × 0.4 it rests at half its height, mirrored or not.
    for (name, scale, expected) in [("tall", "0.2 0.2 0.4", 0.2), ("mirrored", "-0.2 0.2 0.4", 0.2)] {
        std::fs::write(dir.join(format!("{name}.urdf")), drop_urdf(&format!(r#"<mesh filename="cube.stl" scale="{scale}"/>"#))).unwrap();
        std::fs::write(dir.join(format!("{name}.yaml")), drop_scenario(&format!("{name}.urdf"), "  collision: trimesh\n")).unwrap();
        let z = resting_height(&dir.join(format!("{name}.yaml")));
        assert!((z - expected).abs() < 0.01, "{name}: rests at {z}, expected {expected}");
    }
    std::fs::write(dir.join("flat.urdf"), drop_urdf(r#"<mesh filename="cube.stl" scale="0.2 0 0.2"/>"#)).unwrap();
    std::fs::write(dir.join("flat.yaml"), drop_scenario("flat.urdf", "")).unwrap();
    let out = dreamrig(&["validate", "flat.yaml"], &dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("link \"body\": <collision> mesh \"cube.stl\": <mesh scale> must be finite and non-zero"),
        "{}",
        text(&out)
    );
}

#[test]
fn inertia_from_geometry_makes_a_link_with_a_zero_tensor_simulable() {
    // ../shared/cases/inertia-zero-accepted (laikago): refused by default, with the way out named.
    let dir = scratch("inertia-geometry");
    let urdf = drop_urdf(r#"<box size="0.2 0.2 0.2"/>"#)
        .replace(BOX_INERTIA, r#"<inertial><mass value="1"/><inertia ixx="0" ixy="0" ixz="0" iyy="0" iyz="0" izz="0"/></inertial>"#);
    std::fs::write(dir.join("zero.urdf"), urdf).unwrap();
    std::fs::write(dir.join("refused.yaml"), drop_scenario("zero.urdf", "")).unwrap();
    let out = dreamrig(&["validate", "refused.yaml"], &dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("robot.inertia: from_geometry"), "{}", text(&out));
    std::fs::write(dir.join("geometry.yaml"), drop_scenario("zero.urdf", "  inertia: from_geometry\n")).unwrap();
    let loaded = Scenario::load(&dir.join("geometry.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let mut world = PhysicsWorld::new(loaded.config);
    world.reset(0).unwrap();
    world.step(&[]).unwrap();
    let scene = world.scene().unwrap();
    let body = scene.robot.links["body"];
    // A uniform 1 kg cube of side 0.2 m: I = m·a²/6 = 0.00667 kg·m² about each axis.
    let inertia = scene.rapier.bodies[body].mass_properties().local_mprops.principal_inertia();
    for moment in [inertia.x, inertia.y, inertia.z] {
        assert!((moment - 0.2 * 0.2 / 6.0).abs() < 1e-4, "principal moments {inertia:?}");
    }
    let z = resting_height(&dir.join("geometry.yaml"));
    assert!((z - 0.1).abs() < 0.01, "rests at {z}");
}

#[test]
fn a_free_base_the_scenario_does_not_place_starts_on_the_ground() {
    let dir = scratch("free-base-start");
    // A 0.2 × 0.2 × 0.6 m box (its centre of mass at its centre) hangs 0.3 m below the root
    // link's origin; `base.rpy` lays it on its side.
    let urdf = r#"<?xml version="1.0"?>
<robot name="hanging">
  <link name="body">
    <inertial><origin xyz="0 0 -0.3"/><mass value="1"/><inertia ixx="0.033" ixy="0" ixz="0" iyy="0.033" iyz="0" izz="0.0067"/></inertial>
    <collision><origin xyz="0 0 -0.3"/><geometry><box size="0.2 0.2 0.6"/></geometry></collision>
  </link>
</robot>
"#;
    std::fs::write(dir.join("body.urdf"), urdf).unwrap();
    for (rpy, expected) in [("[0, 0, 0]", 0.6), ("[1.5707963, 0, 0]", 0.1)] {
        let yaml = drop_scenario("body.urdf", "")
            .replace("base: {fixed: false, position: [0, 0, 0.5]}", &format!("base: {{fixed: false, rpy: {rpy}}}"));
        std::fs::write(dir.join("s.yaml"), yaml).unwrap();
        let loaded = Scenario::load(&dir.join("s.yaml")).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            (loaded.config.robot.base.position[2] - expected).abs() < 1e-6,
            "rpy {rpy}: base at {:?}",
            loaded.config.robot.base.position
        );
        // It then stays there instead of dropping or being pushed out of the ground.
        let z = resting_height(&dir.join("s.yaml"));
        assert!((z - expected).abs() < 0.01, "rpy {rpy}: rests at {z}, expected {expected}");
    }
}

#[test]
fn inertia_from_geometry_puts_the_mass_where_the_collision_shapes_are() {
    // A 1 kg cylinder (r 0.05 m, 0.4 m long along z) whose <collision><origin> is 0.3 m up the
    // link: the centre of mass goes there, with the textbook moments about it.
    let dir = scratch("inertia-offset");
    let urdf = r#"<?xml version="1.0"?>
<robot name="rod">
  <link name="body">
    <inertial><mass value="1"/><inertia ixx="0" ixy="0" ixz="0" iyy="0" iyz="0" izz="0"/></inertial>
    <collision><origin xyz="0 0 0.3"/><geometry><cylinder radius="0.05" length="0.4"/></geometry></collision>
  </link>
</robot>
"#;
    std::fs::write(dir.join("rod.urdf"), urdf).unwrap();
    let yaml = drop_scenario("rod.urdf", "  inertia: from_geometry\n").replace("sensors:\n  - link_pose: {link: body}\n", "");
    std::fs::write(dir.join("s.yaml"), yaml.replace("task:", "world: {ground: {enabled: false}, gravity: [0, 0, 0]}\ntask:")).unwrap();
    let loaded = Scenario::load(&dir.join("s.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let mut world = PhysicsWorld::new(loaded.config);
    world.reset(0).unwrap();
    world.step(&[]).unwrap();
    let scene = world.scene().unwrap();
    let properties = scene.rapier.bodies[scene.robot.links["body"]].mass_properties().local_mprops;
    assert!(
        (properties.local_com.z - 0.3).abs() < 1e-5 && properties.local_com.x.abs() < 1e-6,
        "centre of mass {:?}",
        properties.local_com
    );
    let mut moments = [properties.principal_inertia().x, properties.principal_inertia().y, properties.principal_inertia().z];
    moments.sort_by(f32::total_cmp);
    let (axial, transverse) = (0.05f32 * 0.05 / 2.0, (3.0 * 0.05f32 * 0.05 + 0.4 * 0.4) / 12.0);
    assert!((moments[0] - axial).abs() < 1e-5, "moments {moments:?}, axial {axial}");
    assert!(
        (moments[1] - transverse).abs() < 1e-4 && (moments[2] - transverse).abs() < 1e-4,
        "moments {moments:?}, transverse {transverse}"
    );
}
