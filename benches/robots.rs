//! Public robots with and without ground contact (issue "Robots from the wild"): control steps
//! per second (10 physics steps of 2 ms each) for the KUKA iiwa and mini_cheetah of
//! pybullet_data, and the LeRobot SO-101 arm and the Unitree G1 humanoid of example-robot-data,
//! each holding its zero pose with PD position actuators, on the ground and with the ground
//! disabled; episodes of 100 steps (2 s), so that a free base without ground falls for 2 s at
//! most before its next reset. Moving links' meshes are convex hulls (the default). The robots come from the
//! interop environment (`scripts/python-env.sh`). `cargo bench --bench robots`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use dreamrig_sim::{PhysicsWorld, Scenario, World};
use std::path::{Path, PathBuf};
use std::process::Command;

/// (name, package, path in it, base `fixed: true|false` and position, extra robot keys).
const ROBOTS: [(&str, &str, &str, &str, &str); 4] = [
    ("kuka_iiwa", "pybullet_data", "kuka_iiwa/model.urdf", "{fixed: true, position: [0, 0, 0]}", ""),
    ("so101", "example-robot-data", "robots/so_arm_description/urdf/so101.urdf", "{fixed: true, position: [0, 0, 0]}", ""),
    // mini_cheetah's thigh inertias break the triangle inequality: computed from its geometry.
    (
        "mini_cheetah",
        "pybullet_data",
        "mini_cheetah/mini_cheetah.urdf",
        "{fixed: false, position: [0, 0, 0.3]}",
        "  inertia: from_geometry\n",
    ),
    ("g1_humanoid", "example-robot-data", "robots/g1_description/urdf/g1_29dof_rev_1_0.urdf", "{fixed: false, position: [0, 0, 0.8]}", ""),
];

/// Where pybullet_data and example-robot-data are installed.
fn packages() -> (PathBuf, PathBuf) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let env = Command::new(root.join("scripts/python-env.sh")).output().expect("scripts/python-env.sh runs");
    let python = String::from_utf8(env.stdout).unwrap().trim().to_string();
    let out = Command::new(python)
        .args(["-c", "import sysconfig, pybullet_data; print(pybullet_data.getDataPath()); print(sysconfig.get_paths()['purelib'])"])
        .output()
        .expect("python runs");
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let pybullet = PathBuf::from(lines.next().expect("pybullet_data path"));
    let erd = PathBuf::from(lines.next().expect("site-packages")).join("cmeel.prefix/share/example-robot-data");
    (pybullet, erd)
}

fn movable_joints(urdf: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(urdf).unwrap();
    let model = dreamrig_sim::robot::RobotModel::from_str(&text, urdf.to_path_buf(), &Default::default()).unwrap();
    model.joints.iter().filter(|j| j.mimic.is_none()).map(|j| j.name.clone()).collect()
}

fn make_world(dir: &Path, name: &str, urdf: &Path, base: &str, extra: &str, ground: bool) -> PhysicsWorld {
    let actuators: String = movable_joints(urdf)
        .iter()
        .map(|j| format!("    - {{kind: position, joint: \"{j}\", kp: 50, kd: 2, effort_limit: 100}}\n"))
        .collect();
    let yaml = format!(
        "version: 1\nname: {name}\nrobot:\n  urdf: \"{}\"\n  base: {base}\n{extra}  actuators:\n{actuators}\
         world:\n  ground: {{enabled: {ground}}}\nsensors:\n  - joint_state: {{}}\ntask: {{kind: balance, horizon_steps: 100}}\n\
         timing: {{physics_dt: 0.002, control_period: 0.02}}\n",
        urdf.display()
    );
    let path = dir.join(format!("{name}-{ground}.yaml"));
    std::fs::write(&path, yaml).unwrap();
    PhysicsWorld::new(Scenario::load(&path).unwrap_or_else(|e| panic!("{e}")).config)
}

fn robot_steps(c: &mut Criterion) {
    let (pybullet, erd) = packages();
    let dir = std::env::temp_dir().join(format!("dreamrig-bench-robots-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut group = c.benchmark_group("robot_steps");
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);
    for (name, package, path, base, extra) in ROBOTS {
        let urdf = if package == "pybullet_data" { pybullet.join(path) } else { erd.join(path) };
        for ground in [true, false] {
            let mut world = make_world(&dir, name, &urdf, base, extra, ground);
            world.reset(0).unwrap();
            let hold = vec![0.0; world.action_spec().len()];
            let mut seed = 0;
            let id = BenchmarkId::new(name, if ground { "ground" } else { "no_ground" });
            group.bench_function(id, |b| {
                b.iter(|| match world.step(&hold) {
                    Ok(r) if !(r.terminated || r.truncated) => {}
                    _ => {
                        seed += 1;
                        world.reset(seed).expect("reset");
                    }
                })
            });
        }
    }
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, robot_steps);
criterion_main!(benches);
