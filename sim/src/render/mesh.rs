//! Triangle meshes for the rasterizer: URDF primitives tessellated here, mesh files as read by
//! [`crate::mesh`].

use std::f32::consts::{PI, TAU};

/// Triangles with per-vertex normals, in the mesh's own frame (m): `indices` holds three
/// vertex indices per triangle, counter-clockwise seen from outside.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MeshData {
    /// Vertex positions, m.
    pub positions: Vec<[f32; 3]>,
    /// Unit normal per vertex.
    pub normals: Vec<[f32; 3]>,
    /// Three vertex indices per triangle.
    pub indices: Vec<u32>,
}

/// Segments around a circle for spheres, cylinders and capsules: 32 keeps the silhouette within
/// 0.5% of the radius.
const SEGMENTS: u32 = 32;

impl MeshData {
    /// Flat-shaded triangles from a vertex list and index triples (a mesh file): every triangle
    /// gets its own three vertices with its face normal, so creases stay sharp and no
    /// smoothing guesses are made. Degenerate triangles are kept (they draw nothing).
    pub fn from_triangles(vertices: &[[f32; 3]], triangles: &[[u32; 3]]) -> MeshData {
        let mut mesh = MeshData::default();
        for triangle in triangles {
            let [a, b, c] = triangle.map(|i| vertices.get(i as usize).copied().unwrap_or([0.0; 3]));
            let normal = normalize(cross(sub(b, a), sub(c, a)));
            let base = mesh.positions.len() as u32;
            mesh.positions.extend([a, b, c]);
            mesh.normals.extend([normal; 3]);
            mesh.indices.extend([base, base + 1, base + 2]);
        }
        mesh
    }

    /// An axis-aligned box centred on the origin.
    pub fn cuboid(half_extents: [f32; 3]) -> MeshData {
        let [hx, hy, hz] = half_extents;
        let mut mesh = MeshData::default();
        // Each face: its outward normal and two in-plane axes (u × v = normal).
        let faces: [([f32; 3], [f32; 3], [f32; 3]); 6] = [
            ([1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]),
            ([-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]),
            ([0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]),
            ([0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]),
            ([0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]),
            ([0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]),
        ];
        let h = [hx, hy, hz];
        for (n, u, v) in faces {
            let base = mesh.positions.len() as u32;
            for (su, sv) in [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)] {
                let p = std::array::from_fn(|k| (n[k] + su * u[k] + sv * v[k]) * h[k]);
                mesh.positions.push(p);
                mesh.normals.push(n);
            }
            mesh.indices.extend([base, base + 1, base + 2, base, base + 2, base + 3]);
        }
        mesh
    }

    /// A sphere centred on the origin (latitude-longitude tessellation, smooth normals).
    pub fn sphere(radius: f32) -> MeshData {
        let (rings, segments) = (SEGMENTS / 2, SEGMENTS);
        let mut mesh = MeshData::default();
        for i in 0..=rings {
            let polar = PI * i as f32 / rings as f32;
            for j in 0..=segments {
                let azimuth = TAU * j as f32 / segments as f32;
                let n = [polar.sin() * azimuth.cos(), polar.sin() * azimuth.sin(), polar.cos()];
                mesh.positions.push(n.map(|c| c * radius));
                mesh.normals.push(n);
            }
        }
        let stride = segments + 1;
        for i in 0..rings {
            for j in 0..segments {
                let (a, b) = (i * stride + j, (i + 1) * stride + j);
                mesh.indices.extend([a, b, a + 1, a + 1, b, b + 1]);
            }
        }
        mesh
    }

    /// A cylinder along z centred on the origin, with flat caps (URDF's `<cylinder>`).
    pub fn cylinder(radius: f32, half_length: f32) -> MeshData {
        let mut mesh = MeshData::default();
        for j in 0..=SEGMENTS {
            let a = TAU * j as f32 / SEGMENTS as f32;
            let n = [a.cos(), a.sin(), 0.0];
            for z in [-half_length, half_length] {
                mesh.positions.push([radius * n[0], radius * n[1], z]);
                mesh.normals.push(n);
            }
        }
        for j in 0..SEGMENTS {
            let (a, b) = (2 * j, 2 * j + 2);
            mesh.indices.extend([a, b, a + 1, a + 1, b, b + 1]);
        }
        for (z, n) in [(half_length, 1.0f32), (-half_length, -1.0)] {
            let centre = mesh.positions.len() as u32;
            mesh.positions.push([0.0, 0.0, z]);
            mesh.normals.push([0.0, 0.0, n]);
            for j in 0..=SEGMENTS {
                let a = TAU * j as f32 / SEGMENTS as f32;
                mesh.positions.push([radius * a.cos(), radius * a.sin(), z]);
                mesh.normals.push([0.0, 0.0, n]);
            }
            for j in 0..SEGMENTS {
                let (p, q) = (centre + 1 + j, centre + 2 + j);
                if n > 0.0 {
                    mesh.indices.extend([centre, p, q]);
                } else {
                    mesh.indices.extend([centre, q, p]);
                }
            }
        }
        mesh
    }

    /// A capsule along z: a cylinder of `half_length` capped by hemispheres of `radius`. Built
    /// as a latitude-longitude sphere whose upper rings (the equator included) sit `half_length`
    /// up and whose lower rings (the equator again) sit `half_length` down: the band between the
    /// two equator copies is the wall.
    pub fn capsule(radius: f32, half_length: f32) -> MeshData {
        let (half_rings, segments) = (SEGMENTS / 4, SEGMENTS);
        let mut mesh = MeshData::default();
        // Ring k of 2·half_rings + 2: 0..=half_rings on the upper cap, then half_rings..=2·half_rings on the lower.
        for k in 0..=(2 * half_rings + 1) {
            let (i, shift) = if k <= half_rings { (k, half_length) } else { (k - 1, -half_length) };
            let polar = PI * i as f32 / (2 * half_rings) as f32;
            for j in 0..=segments {
                let azimuth = TAU * j as f32 / segments as f32;
                let n = [polar.sin() * azimuth.cos(), polar.sin() * azimuth.sin(), polar.cos()];
                mesh.positions.push([n[0] * radius, n[1] * radius, n[2] * radius + shift]);
                mesh.normals.push(n);
            }
        }
        let stride = segments + 1;
        for k in 0..(2 * half_rings + 1) {
            for j in 0..segments {
                let (a, b) = (k * stride + j, (k + 1) * stride + j);
                mesh.indices.extend([a, b, a + 1, a + 1, b, b + 1]);
            }
        }
        mesh
    }

    /// A square in the z = 0 plane, normal +z, of half-size `half_extent` (a ground).
    pub fn plane(half_extent: f32) -> MeshData {
        let h = half_extent;
        MeshData {
            positions: vec![[-h, -h, 0.0], [h, -h, 0.0], [h, h, 0.0], [-h, h, 0.0]],
            normals: vec![[0.0, 0.0, 1.0]; 4],
            indices: vec![0, 1, 2, 0, 2, 3],
        }
    }

    /// Checks that every index points at a vertex and that there are as many normals as
    /// positions.
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.normals.len() != self.positions.len() {
            return Err(format!("{} positions but {} normals", self.positions.len(), self.normals.len()));
        }
        if self.indices.len() % 3 != 0 {
            return Err(format!("{} indices, not a multiple of 3", self.indices.len()));
        }
        if let Some(i) = self.indices.iter().find(|i| **i as usize >= self.positions.len()) {
            return Err(format!("index {i} past the {} vertices", self.positions.len()));
        }
        Ok(())
    }
}

fn sub(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn cross(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
}

fn normalize(v: [f32; 3]) -> [f32; 3] {
    let length = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    if length > 0.0 {
        v.map(|c| c / length)
    } else {
        [0.0, 0.0, 1.0]
    }
}
