//! The `camera` sensor: images rendered from the world state land where the intrinsics say,
//! agree with the ray-cast depth camera, name what they show, are the same bytes whatever the
//! thread count, and bad camera settings are validation errors naming the key.
//!
//! These tests need a Vulkan device: Mesa's lavapipe on a machine without a GPU
//! (`apt install mesa-vulkan-drivers libvulkan1`, as `.ci/run` does).

mod common;

use common::{fixture, scripted_action, shipped, world};
use dreamrig_sim::render::CameraView;
use dreamrig_sim::scene::pose_from;
use dreamrig_sim::{ImageData, ImageSpec, Observation, PhysicsWorld, Scenario, World};
use rapier3d::glamx::Vec3;
use std::path::Path;

fn u8s(observation: &Observation, name: &str) -> Vec<u8> {
    match observation.image(name) {
        Some(ImageData::U8(v)) => v.clone(),
        other => panic!("{name}: expected u8 pixels, got {other:?}"),
    }
}

fn f32s(observation: &Observation, name: &str) -> Vec<f32> {
    match observation.image(name) {
        Some(ImageData::F32(v)) => v.clone(),
        other => panic!("{name}: expected f32 pixels, got {other:?}"),
    }
}

fn ids(observation: &Observation, name: &str) -> Vec<u16> {
    match observation.image(name) {
        Some(ImageData::U16(v)) => v.clone(),
        other => panic!("{name}: expected u16 pixels, got {other:?}"),
    }
}

/// The segment id whose legend entry is `entry`.
fn segment(observation: &Observation, image: &str, entry: &str) -> u16 {
    let spec = &observation.spec.images[observation.spec.image_index(image).unwrap()];
    let index = spec.legend.iter().position(|l| l == entry).unwrap_or_else(|| panic!("{entry} is not in {:?}", spec.legend));
    index as u16 + 1
}

/// The view of a camera image's intrinsics from a mount pose given here (position m, rpy rad).
fn view_of(spec: &ImageSpec, position: [f64; 3], rpy: [f64; 3], far: f64) -> CameraView {
    let [fx, fy, cx, cy] = spec.intrinsics;
    let mount = pose_from(position, rpy);
    CameraView {
        width: spec.width,
        height: spec.height,
        fx,
        fy,
        cx,
        cy,
        near: 0.01,
        far,
        translation: mount.translation,
        rotation: mount.rotation,
    }
}

/// camera-room's `front` camera: the mast's head is 1 m above the origin and the camera is
/// pitched 0.25 rad down.
fn front_view(observation: &Observation) -> CameraView {
    view_of(&observation.spec.images[0], [0.0, 0.0, 1.0], [0.0, 0.25, 0.0], 20.0)
}

#[test]
fn an_obstacle_is_drawn_where_the_intrinsics_project_it_in_its_colour_and_segment() {
    let mut world = world(&fixture("camera-room.yaml"));
    let (observation, _) = world.reset(0).unwrap();
    let view = front_view(&observation);
    let (w, h) = (view.width as usize, view.height as usize);
    let rgb = u8s(&observation, "front.rgb");
    let seg = ids(&observation, "front.segmentation");
    assert_eq!((rgb.len(), seg.len()), (w * h * 3, w * h));
    // Centres of the crate's top face, the ball, the post and the mesh block.
    for (point, entry, dominant) in [
        (Vec3::new(3.0, 0.6, 0.5), "obstacle/crate", 0),
        (Vec3::new(2.5, -0.7, 0.8), "obstacle/ball", 1),
        (Vec3::new(4.5, -0.2, 1.0), "obstacle/post", 2),
    ] {
        let (u, v, _) = view.project(point).unwrap();
        assert!(u >= 0.0 && v >= 0.0, "{entry} must be in view: ({u}, {v})");
        let (u, v) = (u.round() as usize, v.round() as usize);
        assert!(u < w && v < h, "{entry} must be in view: ({u}, {v})");
        let pixel = v * w + u;
        assert_eq!(seg[pixel], segment(&observation, "front.segmentation", entry), "segment at {entry}'s centre ({u}, {v})");
        let colour = &rgb[pixel * 3..pixel * 3 + 3];
        let others = (0..3).filter(|c| *c != dominant).map(|c| colour[c]).max().unwrap();
        assert!(colour[dominant] > others, "{entry} at ({u}, {v}) is {colour:?}: its colour's channel {dominant} must dominate");
    }
    // The block is coloured by the <material> its <visual> names at robot level (teal).
    let (u, v, _) = view.project(Vec3::new(3.5, -1.6, 0.3)).unwrap();
    assert!(u >= 0.0 && v >= 0.0 && u < w as f64 && v < h as f64, "the block must be in view: ({u}, {v})");
    let pixel = v.round() as usize * w + u.round() as usize;
    assert_eq!(seg[pixel], segment(&observation, "front.segmentation", "obstacle/block"));
    let colour = &rgb[pixel * 3..pixel * 3 + 3];
    assert!(colour[1] > colour[0] + 30 && colour[2] > colour[0] + 30, "the teal block is {colour:?}");
    // The top rows look above the horizon: sky, nothing hit, +inf depth.
    let depth = f32s(&observation, "front.depth");
    assert!(seg[..w].iter().all(|id| *id == 0) && depth[..w].iter().all(|d| d.is_infinite()));
    // The bottom rows see the ground.
    let ground = segment(&observation, "front.segmentation", "ground");
    assert!(seg[(h - 1) * w..].iter().all(|id| *id == ground));
}

#[test]
fn rendered_depth_agrees_with_the_ray_cast_depth_camera_within_a_pixel() {
    // Both cameras share their mount and intrinsics; the rasterizer samples pixel centres as
    // the rays do. Where the two differ (a silhouette edge through a pixel, tessellated curves)
    // the rendered depth must match a ray of a neighbouring pixel: within a pixel's footprint.
    let mut world = world(&fixture("camera-room.yaml"));
    let (observation, _) = world.reset(0).unwrap();
    let rendered = f32s(&observation, "front.depth");
    let cast = observation.get("depth_camera.depth").unwrap();
    let (w, h) = (48usize, 48usize);
    let mut compared = 0;
    let mut exact = 0;
    for v in 0..h {
        for u in 0..w {
            let r = rendered[v * w + u];
            let c = cast[v * w + u];
            // Far away both report "nothing within range", measured differently (ray length
            // against range_max, axis depth against far): compare within 15 m only.
            if c >= 15.0 || r >= 15.0 {
                assert!(r > 14.0 && c > 14.0 || r.is_infinite(), "pixel ({u}, {v}): rendered {r} m, ray-cast {c} m");
                continue;
            }
            compared += 1;
            let tolerance = |d: f32| 0.005 + 0.01 * d;
            if (r - c).abs() <= tolerance(c) {
                exact += 1;
                continue;
            }
            let neighbour = (v.saturating_sub(1)..=(v + 1).min(h - 1))
                .flat_map(|y| (u.saturating_sub(1)..=(u + 1).min(w - 1)).map(move |x| y * w + x))
                .any(|i| (r - cast[i]).abs() <= tolerance(cast[i]));
            assert!(neighbour, "pixel ({u}, {v}): rendered {r} m, ray-cast {c} m, and no neighbouring ray agrees");
        }
    }
    assert!(compared > 1500, "most of the image must be compared: {compared} pixels");
    assert!(exact as f64 > 0.97 * compared as f64, "{exact} of {compared} pixels agree at their own centre");
}

#[test]
fn segmentation_names_the_robot_links_and_objects_it_shows() {
    // The shipped overhead camera, asked for segmentation too.
    let dir = tempfile::tempdir().unwrap();
    let yaml = std::fs::read_to_string(shipped("pusher-camera")).unwrap();
    let urdf = common::repo().join("scenarios/robots/pusher.urdf");
    let yaml = yaml.replace("robots/pusher.urdf", urdf.to_str().unwrap()).replace("outputs: [rgb]", "outputs: [rgb, segmentation]");
    let path = dir.path().join("pusher-camera.yaml");
    std::fs::write(&path, yaml).unwrap();
    let mut world = world(&path);
    let (observation, _) = world.reset(3).unwrap();
    // The overhead camera of pusher-camera.yaml: 1.1 m above (0.4, 0), looking down.
    let spec = observation.spec.images[0].clone();
    assert_eq!(spec.name, "top.rgb");
    let view = view_of(&spec, [0.4, 0.0, 1.1], [0.0, std::f64::consts::FRAC_PI_2, 0.0], 100.0);
    let seg = ids(&observation, "top.segmentation");
    let scene = world.scene().unwrap();
    let tool = dreamrig_sim::sensors::link_pose(scene, "tool").translation + Vec3::new(0.0, 0.0, 0.065);
    let body = scene.objects[0].root();
    let box_top = scene.rapier.bodies[body].position().translation + Vec3::new(0.0, 0.0, 0.04);
    for (point, entry) in [(tool, "robot/tool"), (box_top, "object/box")] {
        let (u, v, _) = view.project(point).unwrap();
        assert!(u >= 0.0 && v >= 0.0 && u < spec.width as f64 && v < spec.height as f64, "{entry} must be in view: ({u}, {v})");
        let pixel = v.round() as usize * spec.width as usize + u.round() as usize;
        assert_eq!(seg[pixel], segment(&observation, "top.segmentation", entry), "{entry} at ({u:.1}, {v:.1})");
    }
    assert_eq!(seg[0], segment(&observation, "top.segmentation", "ground"));
}

/// Renders a few steps of `scenario` and returns every image's bytes.
fn images_of(path: &Path, seed: u64, steps: u64) -> Vec<Vec<u8>> {
    let mut world = world(path);
    let (first, _) = world.reset(seed).unwrap();
    let mut out: Vec<Vec<u8>> = first.images.iter().map(|i| i.as_bytes().to_vec()).collect();
    for step in 0..steps {
        let action = scripted_action(&world, step);
        let result = world.step(&action).unwrap();
        out.extend(result.observation.images.iter().map(|i| i.as_bytes().to_vec()));
    }
    out
}

/// Worlds rendering at once on 1 and 2 rayon workers (lavapipe's own rasterizer threads are
/// the process's, `LP_NUM_THREADS`) give the same bytes.
#[test]
fn the_same_states_render_the_same_bytes_on_one_and_two_worker_threads() {
    let path = shipped("pusher-camera");
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            use rayon::prelude::*;
            (0..4u64).into_par_iter().map(|seed| images_of(&path, seed, 5)).collect::<Vec<_>>()
        })
    };
    let one = run(1);
    let two = run(2);
    assert_eq!(one.len(), 4);
    for (seed, (a, b)) in one.iter().zip(&two).enumerate() {
        assert!(a == b, "seed {seed}: images differ between 1 and 2 threads");
    }
    assert_ne!(one[0], one[1], "different seeds place the box differently");
}

/// A scenario file written into a temporary folder next to a copy of the mast URDF.
fn scenario_file(dir: &tempfile::TempDir, yaml: &str) -> std::path::PathBuf {
    std::fs::copy(fixture("mast.urdf"), dir.path().join("mast.urdf")).unwrap();
    let path = dir.path().join("scenario.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

const ROOM: &str = "version: 1
robot: {urdf: mast.urdf}
world:
  obstacles:
    - {name: crate, box: {size: [0.6, 0.8, 0.5]}, position: [3.0, 0.6, 0.25], color: [0.8, 0.3, 0.1]}
task: {kind: balance, horizon_steps: 100}
timing: {physics_dt: 0.002, control_period: 0.02}
";

#[test]
fn appearance_randomization_changes_what_cameras_see_and_no_physics() {
    let dir = tempfile::tempdir().unwrap();
    // Other randomization and a noisy sensor: draws on the parameter and noise streams that
    // appearance must not disturb.
    let camera = "sensors:\n  - imu: {link: head, acceleration_noise: 0.5}\n  - camera: {link: head, rpy: [0, 0.3, 0], width: 32, height: 24, vertical_fov_deg: 60}\n";
    let room = ROOM
        .replace("task:", "  objects:\n    - {name: can, cylinder: {radius: 0.1, length: 0.3}, position: [1.5, 0, 0.15], mass: 1}\ntask:");
    let plain_yaml =
        format!("{room}{camera}randomize:\n  friction: {{uniform: [0.3, 0.9]}}\n  objects: {{can: {{x: {{uniform: [-0.2, 0.2]}}}}}}\n");
    let plain = scenario_file(&dir, &plain_yaml);
    let plain_images = images_of(&plain, 5, 2);
    let randomized_yaml = format!(
        "{plain_yaml}  appearance: {{light_intensity: {{uniform: [0.5, 1.5]}}, light_azimuth_deg: {{uniform: [-90, 90]}}, \
         color_scale: {{uniform: [0.7, 1.3]}}, camera_position: {{normal: {{mean: 0, std: 0.02}}}}, camera_rotation_deg: {{uniform: [-2, 2]}}}}\n"
    );
    let randomized_dir = tempfile::tempdir().unwrap();
    let randomized = scenario_file(&randomized_dir, &randomized_yaml);
    let a = images_of(&randomized, 5, 2);
    assert_eq!(a, images_of(&randomized, 5, 2), "the same seed draws the same appearance");
    assert_ne!(a, plain_images, "the appearance is randomized");
    assert_ne!(a, images_of(&randomized, 6, 2), "another seed draws another appearance");
    // Drawn on their own stream: the parameters, states and noisy readings of every seed are unchanged.
    let run = |path: &Path| {
        let mut w: PhysicsWorld = world(path);
        let (first, _) = w.reset(5).unwrap();
        let mut parameters = w.parameters().unwrap().clone();
        parameters.appearance = None;
        let steps: Vec<_> = (0..3)
            .map(|_| {
                let result = w.step(&[]).unwrap();
                (w.state().unwrap().values, result.observation.fields)
            })
            .collect();
        (parameters, first.fields, steps)
    };
    let (a, b) = (run(&plain), run(&randomized));
    assert!(a.0.friction.is_some() && a.0.object_positions[0][0] != 1.5, "friction and the can are randomized");
    assert_eq!(a, b);
}

#[test]
fn a_camera_holds_its_image_between_updates() {
    let dir = tempfile::tempdir().unwrap();
    // 25 Hz against a 50 Hz control rate: a new image every second step.
    let yaml =
        format!("{ROOM}sensors:\n  - camera: {{link: head, width: 16, height: 12, vertical_fov_deg: 60, rgb_noise: 20, rate_hz: 25}}\n");
    let path = scenario_file(&dir, &yaml);
    let images = images_of(&path, 1, 4);
    // Noise drawn per step makes every fresh image differ; held ones repeat.
    assert_eq!(images.len(), 5);
    assert_ne!(images[0], images[2]);
    assert_eq!(images[0], images[1], "step 1 holds step 0's image");
    assert_eq!(images[2], images[3], "step 3 holds step 2's image");
}

fn load_errors(yaml: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario_file(&dir, yaml);
    match Scenario::load(&path) {
        Ok(_) => panic!("the scenario must be refused:\n{yaml}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_camera_settings_are_errors_naming_the_key_and_value() {
    for (camera, key, value) in [
        ("{link: nose, width: 8, height: 8, vertical_fov_deg: 60}", "sensors[0].camera.link", "nose"),
        ("{link: head, width: 0, height: 8, vertical_fov_deg: 60}", "sensors[0].camera.width", "0"),
        ("{link: head, width: 8, height: 100000, vertical_fov_deg: 60}", "sensors[0].camera.height", "100000"),
        ("{link: head, width: 8, height: 8, vertical_fov_deg: 180}", "sensors[0].camera.vertical_fov_deg", "180"),
        ("{link: head, width: 8, height: 8, vertical_fov_deg: 0}", "sensors[0].camera.vertical_fov_deg", "0"),
        ("{link: head, width: 8, height: 8}", "sensors[0].camera", "neither"),
        (
            "{link: head, width: 8, height: 8, vertical_fov_deg: 60, intrinsics: {fx: 8, fy: 8, cx: 4, cy: 4}}",
            "sensors[0].camera.intrinsics",
            "both",
        ),
        ("{link: head, width: 8, height: 8, intrinsics: {fx: -1, fy: 8, cx: 4, cy: 4}}", "sensors[0].camera.intrinsics.fx", "-1"),
        ("{link: head, width: 8, height: 8, vertical_fov_deg: 60, outputs: [rgb, normals]}", "sensors[0].camera.outputs[1]", "normals"),
        ("{link: head, width: 8, height: 8, vertical_fov_deg: 60, near: 2, far: 1}", "sensors[0].camera.near", "2"),
    ] {
        let errors = load_errors(&format!("{ROOM}sensors:\n  - camera: {camera}\n"));
        assert!(errors.contains(key) && errors.contains(value), "camera {camera}: expected {key} and {value} in\n{errors}");
    }
    let errors = load_errors(&ROOM.replace("color: [0.8, 0.3, 0.1]", "color: [1.5, 0.3, 0.1]"));
    assert!(errors.contains("world.obstacles[0].color[0]") && errors.contains("1.5"), "{errors}");
}

#[test]
fn a_visual_the_camera_cannot_draw_is_an_error_naming_the_link_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let urdf = r#"<?xml version="1.0"?>
<robot name="ghost">
  <material name="skin"><texture filename="skin.png"/></material>
  <link name="shell">
    <inertial><mass value="1"/><inertia ixx="0.01" ixy="0" ixz="0" iyy="0.01" iyz="0" izz="0.01"/></inertial>
    <visual><geometry><box size="0.2 0.2 0.2"/></geometry><material name="skin"/></visual>
    <collision><geometry><box size="0.2 0.2 0.2"/></geometry></collision>
  </link>
  <link name="horn">
    <inertial><mass value="1"/><inertia ixx="0.01" ixy="0" ixz="0" iyy="0.01" iyz="0" izz="0.01"/></inertial>
    <visual><geometry><mesh filename="horn.stl"/></geometry></visual>
  </link>
  <link name="fin">
    <inertial><mass value="1"/><inertia ixx="0.01" ixy="0" ixz="0" iyy="0.01" iyz="0" izz="0.01"/></inertial>
    <visual><geometry><box size="0 0.1 0.1"/></geometry></visual>
  </link>
  <joint name="glue" type="fixed"><parent link="shell"/><child link="horn"/></joint>
  <joint name="weld" type="fixed"><parent link="shell"/><child link="fin"/></joint>
</robot>"#;
    std::fs::write(dir.path().join("ghost.urdf"), urdf).unwrap();
    let world = ROOM.replace("task:", "  objects:\n    - {name: ghost, urdf: ghost.urdf, position: [2, 0, 0.1]}\ntask:");
    let yaml = format!("{world}sensors:\n  - camera: {{link: head, width: 8, height: 8, vertical_fov_deg: 60}}\n");
    let path = scenario_file(&dir, &yaml);
    let errors = match Scenario::load(&path) {
        Ok(_) => panic!("a camera cannot draw a missing mesh or texture"),
        Err(e) => e.to_string(),
    };
    assert!(errors.contains("world.objects[0].urdf"), "{errors}");
    assert!(errors.contains("link \"horn\"") && errors.contains("horn.stl"), "{errors}");
    assert!(errors.contains("link \"shell\"") && errors.contains("skin.png"), "{errors}");
    assert!(errors.contains("link \"fin\"") && errors.contains("positive"), "{errors}");
    // Without a camera the missing visual mesh draws nothing and changes no physics: accepted.
    std::fs::write(&path, &world).unwrap();
    Scenario::load(&path).unwrap_or_else(|e| panic!("without a camera the scenario loads: {e}"));
}

#[test]
fn two_sensors_of_one_name_are_an_error() {
    let errors = load_errors(&format!(
        "{ROOM}sensors:\n  - camera: {{link: head, width: 8, height: 8, vertical_fov_deg: 60}}\n  - camera: {{link: head, width: 4, height: 4, vertical_fov_deg: 60}}\n"
    ));
    assert!(errors.contains("sensors[1].camera.name") && errors.contains("sensors[0]"), "{errors}");
}
