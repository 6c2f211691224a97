//! With the `ros2` feature: record where the ROS 2 libraries are (an rpath), so that
//! `dreamrig` starts without `LD_LIBRARY_PATH` and can itself say when the ROS 2 environment is
//! missing. `scripts/ros2-env.sh` lists the folders in `DREAMRIG_ROS2_LIBRARY_PATH`.

fn main() {
    println!("cargo:rerun-if-env-changed=DREAMRIG_ROS2_LIBRARY_PATH");
    if std::env::var_os("CARGO_FEATURE_ROS2").is_none() {
        return;
    }
    if let Some(paths) = std::env::var_os("DREAMRIG_ROS2_LIBRARY_PATH") {
        // DT_RPATH rather than DT_RUNPATH: it also serves the libraries' own dependencies.
        println!("cargo:rustc-link-arg=-Wl,--disable-new-dtags");
        for dir in std::env::split_paths(&paths).filter(|p| !p.as_os_str().is_empty()) {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
        }
    }
}
