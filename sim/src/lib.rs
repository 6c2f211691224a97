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

// Scenario errors carry file, position, key and both sides of the mismatch; they are built
// once per bad file, so their size on the error path does not matter.
#![allow(clippy::result_large_err)]

pub mod batch;
pub mod error;
pub mod physics;
pub mod randomize;
pub mod robot;
pub mod scenario;
pub mod scene;
pub mod sensors;
pub mod task;
pub mod world;
pub mod world_model;

pub use batch::BatchWorld;
pub use error::{ScenarioError, ScenarioErrors, SimError};
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
