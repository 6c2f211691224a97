//! The rasterizer draws what the intrinsics say: boxes on the pixels their corners project
//! to, metric depth along the optical axis, segment ids per drawable, and the same bytes
//! whatever the thread count.
//!
//! These tests need a Vulkan device: Mesa's lavapipe on a machine without a GPU
//! (`apt install mesa-vulkan-drivers libvulkan1`, as `.ci/run` does).

use dreamrig_sim::render::{CameraView, Drawable, Lighting, MeshData, RenderDevice, RenderError, SceneRenderer};
use rapier3d::glamx::{Quat, Vec3};

fn device() -> std::sync::Arc<RenderDevice> {
    RenderDevice::shared().unwrap_or_else(|e| panic!("{e}"))
}

/// A 160×120 camera at the origin looking along +x, 60° vertical field of view.
fn camera() -> CameraView {
    CameraView::from_vertical_fov(160, 120, 60f64.to_radians(), 0.05, 20.0, Vec3::ZERO, Quat::IDENTITY)
}

fn cube(translation: Vec3, half: f32, segment: u32) -> Drawable {
    Drawable { mesh: 0, translation, rotation: Quat::IDENTITY, scale: Vec3::splat(half), color: [0.8, 0.2, 0.1], segment }
}

#[test]
fn a_box_lands_on_the_pixels_its_corners_project_to() {
    let mut renderer = SceneRenderer::new(device(), &[MeshData::cuboid([1.0, 1.0, 1.0])]).unwrap();
    let cam = camera();
    // A 0.5 m cube 2 m ahead, shifted left and up so that the image is not symmetric.
    let centre = Vec3::new(2.0, 0.3, 0.1);
    let frame = renderer.render(&[cube(centre, 0.25, 7)], &cam, &Lighting::default()).unwrap();
    // The face towards the camera (x = 1.75) is the silhouette: its corners bound the box.
    let corners: Vec<(f64, f64, f64)> = [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)]
        .iter()
        .map(|(sy, sz)| cam.project(centre + Vec3::new(-0.25, 0.25 * sy, 0.25 * sz)).unwrap())
        .collect();
    let (u0, u1) = (corners.iter().map(|c| c.0).fold(f64::MAX, f64::min), corners.iter().map(|c| c.0).fold(f64::MIN, f64::max));
    let (v0, v1) = (corners.iter().map(|c| c.1).fold(f64::MAX, f64::min), corners.iter().map(|c| c.1).fold(f64::MIN, f64::max));
    assert!(u0 > 0.0 && u1 < 159.0 && v0 > 0.0 && v1 < 119.0, "the box must be in view: u {u0}..{u1}, v {v0}..{v1}");
    let mut inside = 0;
    for v in 0..cam.height as usize {
        for u in 0..cam.width as usize {
            let i = v * cam.width as usize + u;
            let (uf, vf) = (u as f64, v as f64);
            let clearly_in = uf > u0 + 0.5 && uf < u1 - 0.5 && vf > v0 + 0.5 && vf < v1 - 0.5;
            let clearly_out = uf < u0 - 0.5 || uf > u1 + 0.5 || vf < v0 - 0.5 || vf > v1 + 0.5;
            if clearly_in {
                inside += 1;
                assert_eq!(frame.segmentation[i], 7, "pixel ({u}, {v}) is inside the box's projection");
                assert!((frame.depth[i] - 1.75).abs() < 1e-4, "pixel ({u}, {v}): depth {} m, expected 1.75 m", frame.depth[i]);
                assert_ne!(&frame.rgb[3 * i..3 * i + 3], &[0, 0, 0]);
            } else if clearly_out {
                assert_eq!(frame.segmentation[i], 0, "pixel ({u}, {v}) is outside the box's projection");
                assert_eq!(frame.depth[i], f32::INFINITY, "pixel ({u}, {v}): nothing is hit, depth is +inf (REP-117)");
            }
        }
    }
    // fy = 60 / tan(30°) ≈ 103.9 px: the face spans 0.5 × 103.9 / 1.75 ≈ 29.7 px a side.
    assert!(inside > 25 * 25, "{inside} pixels inside");
}

#[test]
fn depth_is_measured_along_the_optical_axis() {
    // A wall facing the camera: every pixel that sees it reads the same depth, even at the
    // image's corners where the ray is longer.
    let mut renderer = SceneRenderer::new(device(), &[MeshData::cuboid([1.0, 1.0, 1.0])]).unwrap();
    let wall = Drawable {
        mesh: 0,
        translation: Vec3::new(3.0, 0.0, 0.0),
        rotation: Quat::IDENTITY,
        scale: Vec3::new(0.1, 10.0, 10.0),
        color: [0.5; 3],
        segment: 1,
    };
    let frame = renderer.render(&[wall], &camera(), &Lighting::default()).unwrap();
    assert!(frame.segmentation.iter().all(|s| *s == 1));
    for d in &frame.depth {
        assert!((d - 2.9).abs() < 1e-4, "{d}");
    }
}

#[test]
fn the_nearer_drawable_hides_the_farther_and_keeps_its_segment_id() {
    let mut renderer = SceneRenderer::new(device(), &[MeshData::cuboid([1.0, 1.0, 1.0]), MeshData::sphere(1.0)]).unwrap();
    let cam = camera();
    let far = cube(Vec3::new(4.0, 0.0, 0.0), 0.5, 1);
    let near = Drawable {
        mesh: 1,
        translation: Vec3::new(2.0, 0.0, 0.0),
        rotation: Quat::IDENTITY,
        scale: Vec3::splat(0.2),
        color: [0.1, 0.8, 0.1],
        segment: 2,
    };
    // Either order gives the same image: the depth test decides, not the drawing order.
    let a = renderer.render(&[far, near], &cam, &Lighting::default()).unwrap();
    let b = renderer.render(&[near, far], &cam, &Lighting::default()).unwrap();
    assert_eq!(a.segmentation, b.segmentation);
    assert_eq!(a.depth, b.depth);
    let centre = (cam.height as usize / 2) * cam.width as usize + cam.width as usize / 2;
    assert_eq!(a.segmentation[centre], 2);
    assert!((a.depth[centre] - 1.8).abs() < 2e-3, "{}", a.depth[centre]);
    assert!(a.segmentation.contains(&1), "the far cube shows around the sphere");
}

#[test]
fn the_same_scene_gives_the_same_bytes_on_one_and_two_threads() {
    let meshes = [MeshData::cuboid([1.0, 1.0, 1.0]), MeshData::cylinder(1.0, 1.0), MeshData::capsule(0.5, 1.0)];
    let scene: Vec<Drawable> = (0..12)
        .map(|k| Drawable {
            mesh: k % 3,
            translation: Vec3::new(2.0 + 0.3 * k as f32, -1.0 + 0.2 * k as f32, -0.5 + 0.1 * k as f32),
            rotation: Quat::from_rotation_z(0.4 * k as f32) * Quat::from_rotation_x(0.3 * k as f32),
            scale: Vec3::splat(0.2),
            color: [0.1 * k as f32 % 1.0, 0.5, 0.9 - 0.05 * k as f32],
            segment: k as u32 + 1,
        })
        .collect();
    let render = || SceneRenderer::new(device(), &meshes).unwrap().render(&scene, &camera(), &Lighting::default()).unwrap();
    let serial = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(|| (0..2).map(|_| render()).collect::<Vec<_>>());
    let parallel = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap().install(|| {
        use rayon::prelude::*;
        (0..4).into_par_iter().map(|_| render()).collect::<Vec<_>>()
    });
    for frame in serial.iter().chain(&parallel) {
        assert_eq!(frame.rgb, serial[0].rgb);
        assert_eq!(
            frame.depth.iter().map(|d| d.to_bits()).collect::<Vec<_>>(),
            serial[0].depth.iter().map(|d| d.to_bits()).collect::<Vec<_>>()
        );
        assert_eq!(frame.segmentation, serial[0].segmentation);
    }
    assert!(serial[0].segmentation.iter().filter(|s| **s > 0).count() > 500, "the scene is in view");
}

#[test]
fn an_impossible_camera_is_an_error_not_a_black_image() {
    let mut renderer = SceneRenderer::new(device(), &[MeshData::cuboid([1.0, 1.0, 1.0])]).unwrap();
    let mut cam = camera();
    cam.width = 0;
    let error = renderer.render(&[], &cam, &Lighting::default()).unwrap_err();
    assert!(matches!(error, RenderError::Invalid(_)) && error.to_string().contains("0×120"), "{error}");
    let mut cam = camera();
    cam.far = cam.near;
    assert!(matches!(renderer.render(&[], &cam, &Lighting::default()), Err(RenderError::Invalid(_))));
    let error = renderer.render(&[cube(Vec3::X, 0.1, 0)], &camera(), &Lighting::default()).unwrap_err();
    assert!(error.to_string().contains("segment id 0"), "{error}");
}
