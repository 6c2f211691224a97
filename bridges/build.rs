//! With the `ros2` feature: link CPython, which the `ros-*` wheels' librcl needs.
//!
//! The wheels' `librcl.so` depends on `*__rosidl_generator_py.so` type-support libraries that
//! use CPython's C API without naming libpython (as Python extensions do), so a program that is
//! not Python must bring it. `scripts/ros2-env.sh` names the library in
//! `DREAMRIG_ROS2_PYTHON_LIB` (a path to `libpythonX.Y.so`). Against a ROS 2 installed from
//! Debian packages, where librcl needs no Python, leave it unset.

fn main() {
    println!("cargo:rerun-if-env-changed=DREAMRIG_ROS2_PYTHON_LIB");
    if std::env::var_os("CARGO_FEATURE_ROS2").is_none() {
        return;
    }
    if let Ok(library) = std::env::var("DREAMRIG_ROS2_PYTHON_LIB") {
        let path = std::path::Path::new(&library);
        let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
            panic!("DREAMRIG_ROS2_PYTHON_LIB: expected a path to libpythonX.Y.so, got {library:?}");
        };
        let Some(name) = name.strip_prefix("lib").and_then(|n| n.strip_suffix(".so")) else {
            panic!("DREAMRIG_ROS2_PYTHON_LIB: expected a file named libNAME.so, got {library:?}");
        };
        println!("cargo:rustc-link-search=native={}", dir.display());
        println!("cargo:rustc-link-lib=dylib={name}");
        println!("cargo:rustc-cfg=dreamrig_link_python");
    }
    println!("cargo:rustc-check-cfg=cfg(dreamrig_link_python)");
}
