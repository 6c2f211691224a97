//! Mesh files that URDFs refer to: resolving their URIs the way ROS tools do, reading STL, OBJ
//! and COLLADA through `mesh-loader`, and turning a mesh into a rapier collision shape.
//!
//! [`PackagePaths::resolve`] is the one place a `<mesh filename>` becomes a file: validation,
//! the physics loader and the Rerun bridge all go through it (via [`crate::robot::RobotModel`]).

use rapier3d::math::Vector;
use rapier3d::prelude::{SharedShape, TriMeshFlags};
use rapier3d_meshloader::mesh_loader;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where `package://NAME/…` URIs are looked up, in this order:
/// 1. the scenario's `packages: {NAME: DIR}` map ([`PackagePaths::explicit`]);
/// 2. `ROS_PACKAGE_PATH` (each entry a package, or a folder searched for one, as `rospack` does);
/// 3. `AMENT_PREFIX_PATH` (`PREFIX/share/NAME`, as `ament_index` does);
/// 4. the nearest ancestor folder of the URDF (its own folder first) that is named `NAME`, holds
///    a `package.xml` whose `<name>` is `NAME` (a ROS package checked out anywhere), or holds a
///    folder `NAME` (PyBullet's reading, which pybullet_data's robots rely on).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PackagePaths {
    /// The scenario's `packages` map: package name → its folder (absolute, or relative to the
    /// current directory once the scenario's folder is joined).
    pub explicit: BTreeMap<String, PathBuf>,
    /// Entries of `ROS_PACKAGE_PATH`, in order.
    pub ros_package_path: Vec<PathBuf>,
    /// Entries of `AMENT_PREFIX_PATH`, in order.
    pub ament_prefix_path: Vec<PathBuf>,
}

/// Deepest folder level below a `ROS_PACKAGE_PATH` entry that is searched for a package.
const CRAWL_DEPTH: usize = 5;

impl PackagePaths {
    /// `explicit` plus the `ROS_PACKAGE_PATH` and `AMENT_PREFIX_PATH` of this process
    /// (`:`-separated; empty entries are skipped).
    pub fn from_env(explicit: BTreeMap<String, PathBuf>) -> Self {
        let split = |name: &str| -> Vec<PathBuf> {
            std::env::var_os(name).map(|v| std::env::split_paths(&v).filter(|p| !p.as_os_str().is_empty()).collect()).unwrap_or_default()
        };
        Self { explicit, ros_package_path: split("ROS_PACKAGE_PATH"), ament_prefix_path: split("AMENT_PREFIX_PATH") }
    }

    /// The file a URDF `<mesh filename>` names, for a URDF in folder `urdf_dir`:
    /// `package://NAME/REST` through the package search above; `file:///ABS` as the absolute
    /// path; `file://REL` and a plain relative path relative to `urdf_dir`; an absolute path as
    /// it is. The file's existence is not checked here.
    ///
    /// # Errors
    /// A message naming the package and every place looked, when a package cannot be found,
    /// or saying what is wrong with the URI.
    pub fn resolve(&self, uri: &str, urdf_dir: &Path) -> Result<PathBuf, String> {
        if let Some(rest) = uri.strip_prefix("package://") {
            // `package:///NAME/…` appears in real files (three slashes); ROS tools read it as `package://NAME/…`.
            let rest = rest.trim_start_matches('/');
            let (name, relative) = rest.split_once('/').unwrap_or((rest, ""));
            if name.is_empty() {
                return Err(format!("\"{uri}\" names no package (expected package://NAME/PATH)"));
            }
            return self.find_package(name, urdf_dir).map(|dir| dir.join(relative));
        }
        if let Some(rest) = uri.strip_prefix("file://") {
            // file:///abs/path keeps its leading slash; file://relative/path is relative to the URDF.
            return Ok(urdf_dir.join(rest));
        }
        if let Some((scheme, _)) = uri.split_once("://") {
            return Err(format!("\"{uri}\": unsupported URI scheme {scheme}:// (expected package://, file:// or a path)"));
        }
        Ok(urdf_dir.join(uri))
    }

    /// The folder of package `name`, searched in the documented order.
    fn find_package(&self, name: &str, urdf_dir: &Path) -> Result<PathBuf, String> {
        let mut looked = Vec::new();
        if let Some(dir) = self.explicit.get(name) {
            if dir.is_dir() {
                return Ok(dir.clone());
            }
            looked.push(format!("packages.{name} in the scenario ({}, not a folder)", dir.display()));
        } else {
            looked.push("the scenario's `packages` map (no entry)".to_string());
        }
        if self.ros_package_path.is_empty() {
            looked.push("ROS_PACKAGE_PATH (not set)".to_string());
        }
        for entry in &self.ros_package_path {
            if let Some(found) = crawl(entry, name, CRAWL_DEPTH) {
                return Ok(found);
            }
            looked.push(format!("ROS_PACKAGE_PATH entry {}", entry.display()));
        }
        if self.ament_prefix_path.is_empty() {
            looked.push("AMENT_PREFIX_PATH (not set)".to_string());
        }
        for prefix in &self.ament_prefix_path {
            let dir = prefix.join("share").join(name);
            if dir.is_dir() {
                return Ok(dir);
            }
            looked.push(dir.display().to_string());
        }
        // Walk up from the absolute folder: `..` and `` have no names to match.
        let absolute = std::path::absolute(urdf_dir).unwrap_or_else(|_| urdf_dir.to_path_buf());
        let mut ancestor = Some(absolute.as_path());
        while let Some(dir) = ancestor {
            if let Some(found) = package_at_or_beside(dir, name) {
                return Ok(found);
            }
            ancestor = dir.parent();
        }
        looked.push(format!(
            "{} and the folders above it (none is named {name}, holds a folder {name} or has a package.xml naming it)",
            absolute.display()
        ));
        Err(format!(
            "package \"{name}\" not found; looked in: {}. Give its folder in the scenario as `packages: {{{name}: PATH}}`",
            looked.join("; ")
        ))
    }
}

/// The package `name` at or beside `dir`: `dir` itself ([`is_package`]), or a folder `dir/name`
/// (PyBullet's reading of `package://`, relative to the URDF's folder, as in pybullet_data).
fn package_at_or_beside(dir: &Path, name: &str) -> Option<PathBuf> {
    if is_package(dir, name) {
        return Some(dir.to_path_buf());
    }
    let beside = dir.join(name);
    beside.is_dir().then_some(beside)
}

/// Whether `dir` is package `name`: named so, or holding a `package.xml` whose `<name>` is `name`.
fn is_package(dir: &Path, name: &str) -> bool {
    if dir.file_name().is_some_and(|n| n == name) && dir.is_dir() {
        return true;
    }
    package_xml_name(dir).is_some_and(|n| n == name)
}

/// The `<name>` of `dir/package.xml`, when there is one that parses.
pub(crate) fn package_xml_name(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("package.xml")).ok()?;
    let document = roxmltree::Document::parse(&text).ok()?;
    let name = document.root_element().children().find(|n| n.has_tag_name("name"))?;
    Some(name.text()?.trim().to_string())
}

/// `rospack`'s search of one `ROS_PACKAGE_PATH` entry: the entry itself, then its subfolders in
/// name order (not below a package, nor into hidden folders), down to `depth` levels.
fn crawl(dir: &Path, name: &str, depth: usize) -> Option<PathBuf> {
    if is_package(dir, name) {
        return Some(dir.to_path_buf());
    }
    if depth == 0 || dir.join("package.xml").is_file() {
        return None;
    }
    let mut children: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()) && !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .collect();
    children.sort();
    children.iter().find_map(|child| crawl(child, name, depth - 1))
}

/// A triangle mesh as read from a file, every sub-mesh merged: vertices in the file's units
/// (URDF meshes are in metres) and triangles as vertex indices.
#[derive(Debug, Clone, PartialEq)]
pub struct Mesh {
    /// Vertex positions `[x, y, z]`, finite.
    pub vertices: Vec<[f32; 3]>,
    /// Triangles, as indices into `vertices` (all in range); at least one.
    pub triangles: Vec<[u32; 3]>,
}

/// The file extensions [`load`] reads.
pub const FORMATS: &[&str] = &["stl", "obj", "dae"];

/// Reads an STL (ASCII or binary), OBJ or COLLADA file with `mesh-loader`, merging its
/// sub-meshes. A binary STL whose 80-byte header begins with `solid` (as many CAD exporters
/// write) is read as binary when the file's size is exactly `84 + 50 × triangles`, the binary
/// layout's; mesh-loader 0.1.13 would try it as ASCII and fail.
///
/// # Errors
/// A message when the file cannot be read, is not one of [`FORMATS`], does not parse, holds no
/// triangle, or has a non-finite vertex or an out-of-range index.
pub fn load(path: &Path) -> Result<Mesh, String> {
    let parts = load_parts(path)?;
    let mut mesh = Mesh { vertices: Vec::new(), triangles: Vec::new() };
    for part in parts {
        let base = u32::try_from(mesh.vertices.len()).map_err(|_| "has more than 2³² vertices".to_string())?;
        mesh.triangles.extend(part.mesh.triangles.iter().map(|t| t.map(|i| i + base)));
        mesh.vertices.extend(part.mesh.vertices);
    }
    Ok(mesh)
}

/// One sub-mesh of a file, with the diffuse colour and texture its material gives it (COLLADA
/// and OBJ files carry materials; STL files do not).
#[derive(Debug, Clone, PartialEq)]
pub struct MeshPart {
    /// The sub-mesh's triangles (at least one).
    pub mesh: Mesh,
    /// Diffuse colour, RGBA in 0–1, when the material has one.
    pub color: Option<[f32; 4]>,
    /// Diffuse texture file, when the material names one.
    pub texture: Option<PathBuf>,
}

/// Reads a mesh file as [`load`] does, keeping its sub-meshes apart with their materials (what a
/// camera draws); parts without triangles are dropped.
///
/// # Errors
/// As [`load`].
pub fn load_parts(path: &Path) -> Result<Vec<MeshPart>, String> {
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    if !FORMATS.contains(&extension.as_str()) {
        return Err(format!("unsupported format .{extension}; expected .stl, .obj or .dae"));
    }
    let scene = if extension == "stl" {
        let mut bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if is_binary_stl(&bytes) {
            // The header is free text that binary readers ignore: blank it so that it is not
            // taken for the start of an ASCII file.
            bytes[..80].fill(b' ');
            bytes[0] = 0;
        }
        mesh_loader::stl::from_slice(&bytes)
    } else {
        mesh_loader::Loader::default().load(path)
    }
    .map_err(|e| format!("cannot be loaded: {e}"))?;
    let mut parts = Vec::new();
    for (index, part) in scene.meshes.into_iter().enumerate() {
        let count = part.vertices.len() as u64;
        for face in &part.faces {
            if let Some(bad) = face.iter().find(|&&i| u64::from(i) >= count) {
                return Err(format!("a face refers to vertex {bad} of a part with {count} vertices"));
            }
        }
        if let Some(v) = part.vertices.iter().find(|v| v.iter().any(|c| !c.is_finite())) {
            return Err(format!("has a non-finite vertex {v:?}"));
        }
        if part.faces.is_empty() {
            continue;
        }
        // mesh-loader gives one material per mesh, in mesh order.
        let material = scene.materials.get(index);
        parts.push(MeshPart {
            mesh: Mesh { vertices: part.vertices, triangles: part.faces },
            color: material.and_then(|m| m.color.diffuse).filter(|c| c.iter().all(|v| v.is_finite())),
            texture: material.and_then(|m| m.texture.diffuse.clone()),
        });
    }
    if parts.is_empty() {
        return Err("contains no triangles".to_string());
    }
    Ok(parts)
}

/// Whether `bytes` have the binary STL layout: an 80-byte header, a little-endian `u32`
/// triangle count, then 50 bytes per triangle, and nothing else.
fn is_binary_stl(bytes: &[u8]) -> bool {
    bytes.len() >= 84 && {
        let count = u32::from_le_bytes([bytes[80], bytes[81], bytes[82], bytes[83]]) as u64;
        84 + 50 * count == bytes.len() as u64
    }
}

/// How a collision mesh becomes a rapier shape (`robot.collision`, `robot.link_collision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CollisionMode {
    /// The convex hull of the mesh's vertices, as MuJoCo and PyBullet use for moving bodies.
    ConvexHull,
    /// A union of convex parts from parry's V-HACD decomposition, for concave moving parts.
    ConvexDecomposition,
    /// The triangles themselves: exact but costly in contact; the default for static links.
    Trimesh,
}

impl CollisionMode {
    /// The scenario name of the mode.
    pub fn name(self) -> &'static str {
        match self {
            CollisionMode::ConvexHull => "convex_hull",
            CollisionMode::ConvexDecomposition => "convex_decomposition",
            CollisionMode::Trimesh => "trimesh",
        }
    }

    /// The mode named `name` (`convex_hull`, `convex_decomposition` or `trimesh`).
    pub fn from_name(name: &str) -> Option<Self> {
        [CollisionMode::ConvexHull, CollisionMode::ConvexDecomposition, CollisionMode::Trimesh].into_iter().find(|m| m.name() == name)
    }
}

/// A moving link simulated as a triangle mesh with more triangles than this gets a warning.
pub const DENSE_TRIMESH_TRIANGLES: usize = 2000;

/// `mesh` scaled per axis by `scale` (URDF `<mesh scale>`, non-zero) as a rapier shape in the
/// mesh's own frame. A negative factor mirrors the mesh (robots such as Talos and TIAGo draw
/// their right arm as the mirrored left one), so the triangles' winding is reversed to keep
/// their normals outward. A hull of a flat mesh does not exist: it is simulated as a triangle
/// mesh, and the returned warning says so.
pub fn collision_shape(mesh: &Mesh, scale: [f64; 3], mode: CollisionMode) -> (SharedShape, Option<String>) {
    let mirrored = scale.iter().filter(|s| **s < 0.0).count() % 2 == 1;
    let vertices = scaled_vertices(mesh, scale);
    let triangles: std::borrow::Cow<[[u32; 3]]> = if mirrored {
        mesh.triangles.iter().map(|[a, b, c]| [*a, *c, *b]).collect::<Vec<_>>().into()
    } else {
        mesh.triangles.as_slice().into()
    };
    match mode {
        CollisionMode::ConvexHull => match SharedShape::convex_hull(&vertices) {
            Some(shape) => (shape, None),
            None => (trimesh(vertices, &triangles), Some("its convex hull is flat; simulated as a triangle mesh".to_string())),
        },
        CollisionMode::ConvexDecomposition => {
            // parry's decomposition of a mesh that has no volume has no parts, and parry asserts on that.
            let decomposed = if SharedShape::convex_hull(&vertices).is_some() {
                std::panic::catch_unwind(|| SharedShape::convex_decomposition(&vertices, &triangles)).ok()
            } else {
                None
            };
            match decomposed {
                Some(shape) => (shape, None),
                None => {
                    (trimesh(vertices, &triangles), Some("it has no convex parts (a flat mesh); simulated as a triangle mesh".to_string()))
                }
            }
        }
        CollisionMode::Trimesh => (trimesh(vertices, &triangles), None),
    }
}

/// The convex hull of `mesh` scaled by `scale`; `None` when it is flat (no volume).
pub fn convex_hull(mesh: &Mesh, scale: [f64; 3]) -> Option<SharedShape> {
    SharedShape::convex_hull(&scaled_vertices(mesh, scale)).filter(|hull| hull.mass_properties(1.0).mass() > 0.0)
}

/// The vertices of `mesh` multiplied per axis by `scale` (URDF `<mesh scale>`).
fn scaled_vertices(mesh: &Mesh, scale: [f64; 3]) -> Vec<Vector> {
    let scale = Vector::new(scale[0] as f32, scale[1] as f32, scale[2] as f32);
    mesh.vertices.iter().map(|v| Vector::new(v[0], v[1], v[2]) * scale).collect()
}

/// A triangle mesh with rapier3d-urdf's default clean-up flags, or as given when the clean-up
/// leaves nothing (a mesh of degenerate triangles).
fn trimesh(vertices: Vec<Vector>, triangles: &[[u32; 3]]) -> SharedShape {
    SharedShape::trimesh_with_flags(vertices.clone(), triangles.to_vec(), TriMeshFlags::all())
        .or_else(|_| SharedShape::trimesh(vertices, triangles.to_vec()))
        .expect("load() returns at least one triangle, which is all rapier's TriMesh::new needs")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_package_is_found_as_an_ancestor_named_like_it_or_through_its_package_xml() {
        let root = std::env::temp_dir().join(format!("dreamrig-mesh-{}", std::process::id()));
        let urdf_dir = root.join("src/my_robot/urdf");
        std::fs::create_dir_all(&urdf_dir).unwrap();
        std::fs::write(root.join("src/my_robot/package.xml"), "<package><name>my_robot_description</name></package>").unwrap();
        let paths = PackagePaths::default();
        assert_eq!(
            paths.resolve("package://my_robot_description/meshes/a.stl", &urdf_dir).unwrap(),
            root.join("src/my_robot/meshes/a.stl")
        );
        assert_eq!(paths.resolve("package://src/x.stl", &urdf_dir).unwrap(), root.join("src/x.stl"));
        let problem = paths.resolve("package://nowhere/a.stl", &urdf_dir).unwrap_err();
        assert!(
            problem.contains("package \"nowhere\"") && problem.contains("ROS_PACKAGE_PATH") && problem.contains("AMENT_PREFIX_PATH"),
            "{problem}"
        );
        let ros = PackagePaths { ros_package_path: vec![root.clone()], ..Default::default() };
        assert_eq!(ros.resolve("package://my_robot_description/a.stl", Path::new("/")).unwrap(), root.join("src/my_robot/a.stl"));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn file_uris_are_absolute_or_relative_to_the_urdf() {
        let paths = PackagePaths::default();
        assert_eq!(paths.resolve("file:///abs/a.stl", Path::new("/r")).unwrap(), PathBuf::from("/abs/a.stl"));
        assert_eq!(paths.resolve("file://a.stl", Path::new("/r")).unwrap(), PathBuf::from("/r/a.stl"));
        assert_eq!(paths.resolve("m/a.stl", Path::new("/r")).unwrap(), PathBuf::from("/r/m/a.stl"));
        assert!(paths.resolve("http://x/a.stl", Path::new("/r")).is_err());
    }

    #[test]
    fn a_binary_stl_is_told_from_ascii_by_its_size() {
        let mut bytes = b"solid cube".to_vec();
        bytes.resize(80, b' ');
        bytes.extend(1u32.to_le_bytes());
        bytes.extend([0u8; 50]);
        assert!(is_binary_stl(&bytes));
        assert!(!is_binary_stl(b"solid a\nfacet normal 0 0 1\n"));
    }
}
