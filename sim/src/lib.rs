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

pub use batch::BatchWorld;
pub use error::{ScenarioError, ScenarioErrors, SimError};
pub use physics::PhysicsWorld;
pub use randomize::EpisodeParameters;
pub use scenario::Scenario;
pub use world::*;

/// Builds the world a scenario's `dynamics` section asks for.
pub fn make_world(scenario: &Scenario) -> Box<dyn World> {
    match scenario.config.dynamics {
        scenario::config::DynamicsConfig::Physics
        | scenario::config::DynamicsConfig::Learned { .. }
        | scenario::config::DynamicsConfig::Hybrid { .. } => Box::new(PhysicsWorld::new(scenario.config.clone())),
    }
}
