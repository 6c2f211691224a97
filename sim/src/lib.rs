//! dreamrig's core: scenario files, worlds that roll out observations given actions, sensors
//! and tasks. This crate depends on no other dreamrig crate.
//!
//! ```no_run
//! use dreamrig_sim::{Scenario, PhysicsWorld, World};
//! let scenario = Scenario::load("scenarios/cartpole-balance.yaml".as_ref()).unwrap();
//! let mut world = PhysicsWorld::new(scenario.config.clone());
//! let (observation, _info) = world.reset(7).unwrap();
//! let action = vec![0.0; world.action_spec().len()];
//! let result = world.step(&action).unwrap();
//! ```

#![warn(missing_docs)]
// Scenario errors carry file, position, key and both sides of the mismatch; they are built
// once per bad file, so their size on the error path does not matter.
#![allow(clippy::result_large_err)]

/// How far physics settings take a scenario's trajectories from a fine reference.
pub mod accuracy;
/// Atomic, durable file writes (temporary file, fsync, rename, fsync of the folder).
pub mod atomic;
/// The batched world API: [`WorldBatch`], B worlds of one scenario stepped together.
pub mod batch;
/// Scenario errors (with file, line, column and key) and world errors.
pub mod error;
/// Mesh files of URDFs: `package://` and `file://` resolution, STL/OBJ/COLLADA reading, collision shapes.
pub mod mesh;
/// The MLP, Glorot initialization and normalization statistics world models and neural policies share.
pub mod nn;
/// The [`StepObserver`] trait the rollout engine pushes every step to.
pub mod observer;
/// [`PhysicsWorld`]: the rapier world behind the [`World`] API.
pub mod physics;
/// Per-episode randomization drawn from the seed ([`EpisodeParameters`]).
pub mod randomize;
/// Camera images (colour, depth, segmentation) rasterized by wgpu from poses and meshes.
pub mod render;
/// URDF robots, checked before rapier sees them ([`robot::RobotModel`]).
pub mod robot;
/// Scenario files: YAML spec, validated config, positions of keys in the file.
pub mod scenario;
/// The rapier scene of an episode: bodies, colliders, the robot's multibody.
pub mod scene;
/// Derived seeds and content hashes (FNV-1a) and the one shuffle.
pub mod seed;
/// Sensors computed from the world state: joint state, IMU, odometry, contact, lidar, depth.
pub mod sensors;
/// Tasks: success, failure and reward for balance, reach, navigate and push.
pub mod task;
/// The [`World`] trait and its value types (observations, actions, states, step results).
pub mod world;
/// Learned and hybrid world models: files, worlds, batches, training, identification, fidelity.
pub mod world_model;
/// xacro: telling it from plain URDF, and expanding it with the `xacro` command.
pub mod xacro;

pub use batch::WorldBatch;
pub use error::{ScenarioError, ScenarioErrors, SimError};
pub use observer::{EpisodeEnd, EpisodeInfo, EpisodeOutcome, EpisodeStart, ObserverError, StepObserver, StepView};
pub use physics::PhysicsWorld;
pub use randomize::EpisodeParameters;
pub use scenario::Scenario;
pub use world::*;

pub use world_model::{HybridWorld, LearnedWorld, ModelBatch, WorldModel};

/// Builds the world a scenario's `dynamics` section asks for, loading its world model.
pub fn make_world(config: &std::sync::Arc<scenario::config::ScenarioConfig>) -> Result<Box<dyn World>, world_model::WorldModelError> {
    use scenario::config::DynamicsConfig;
    Ok(match &config.dynamics {
        DynamicsConfig::Physics => Box::new(PhysicsWorld::new(config.clone())),
        DynamicsConfig::Learned { model } => Box::new(LearnedWorld::new(config.clone(), std::sync::Arc::new(WorldModel::load(model)?))?),
        DynamicsConfig::Hybrid { model } => Box::new(HybridWorld::new(config.clone(), std::sync::Arc::new(WorldModel::load(model)?))?),
    })
}
