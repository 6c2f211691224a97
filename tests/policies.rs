//! Policies against the simulator and their own contracts.

mod common;

use common::{repo, shipped, world};
use dreamrig_policies::kinematics::{base_pose, KinematicChain};
use dreamrig_policies::neural::MlpPolicy;
use dreamrig_policies::wrappers::Latency;
use dreamrig_policies::{zoo::by_name, Policy, PolicyError};
use dreamrig_sim::{ActionSpec, Observation, ObservationSpec, Scenario, World};

#[test]
fn forward_kinematics_agrees_with_the_simulator() {
    let scenario = Scenario::load(&shipped("arm7-reach")).unwrap();
    let mut w = world(&shipped("arm7-reach"));
    w.reset(0).unwrap();
    let model = &scenario.config.robot.model;
    let chain = KinematicChain::new(model, base_pose(scenario.config.robot.base.position, scenario.config.robot.base.rpy), "ee").unwrap();
    for k in 0..5 {
        let q: Vec<f64> = (0..7).map(|j| ((k * 7 + j) as f64 * 0.7).sin() * 1.5).collect();
        let mut state = w.state().unwrap();
        state.values[..7].copy_from_slice(&q);
        state.values[7..].iter_mut().for_each(|v| *v = 0.0);
        w.set_state(&state).unwrap();
        let simulated = w.observe().unwrap().get("end_effector.position").unwrap().to_vec();
        let computed = chain.forward(&q).translation.vector;
        for axis in 0..3 {
            assert!((simulated[axis] as f64 - computed[axis]).abs() < 1e-4, "q = {q:?}: simulator {simulated:?}, kinematics {computed:?}");
        }
    }
}

#[test]
fn a_controller_for_another_task_is_rejected_with_both_specs_named() {
    let scenario = Scenario::load(&shipped("reacher-2link")).unwrap();
    let w = world(&shipped("reacher-2link"));
    let error = by_name("lqr", &scenario.config, w.observation_spec(), w.action_spec()).err().unwrap().to_string();
    assert!(error.contains("lqr") && error.contains("prismatic"), "{error}");
    let scenario = Scenario::load(&shipped("cartpole-balance")).unwrap();
    let w = world(&shipped("cartpole-balance"));
    let error = by_name("navigate", &scenario.config, w.observation_spec(), w.action_spec()).err().unwrap().to_string();
    assert!(error.contains("differential_drive"), "{error}");
}

#[test]
fn the_shipped_neural_policy_loads_and_fits_the_cartpole() {
    let path = repo().join("policies/models/cartpole-mlp.json");
    let mut policy = MlpPolicy::load(&path).unwrap();
    let mut w = world(&shipped("cartpole-balance"));
    policy.check(w.observation_spec(), w.action_spec()).unwrap();
    let (observation, _) = w.reset(3).unwrap();
    let action = policy.act(&observation).unwrap();
    assert_eq!(action.len(), 1);
    assert!(action[0].is_finite());
    // The same network, batched: one forward pass gives the same actions, and an environment
    // whose episode has ended gets none.
    let batch = dreamrig_policies::BatchPolicy::act(&mut policy, &[Some(&observation), None, Some(&observation)]).unwrap();
    assert_eq!(batch, vec![Some(action.clone()), None, Some(action)]);
    // On the reacher its inputs exist but its action does not.
    let reacher = world(&shipped("reacher-2link"));
    let error = policy.check(reacher.observation_spec(), reacher.action_spec()).unwrap_err().to_string();
    assert!(error.contains("slider.effort") && error.contains("shoulder.effort"), "{error}");
}

#[test]
fn corrupt_or_mismatched_model_files_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let source = repo().join("policies/models/cartpole-mlp");
    let config = dir.path().join("m.json");
    std::fs::copy(source.with_extension("json"), &config).unwrap();
    let weights = std::fs::read(source.with_extension("safetensors")).unwrap();
    std::fs::write(dir.path().join("m.safetensors"), &weights[..weights.len() / 2]).unwrap();
    let error = MlpPolicy::load(&config).err().unwrap().to_string();
    assert!(error.contains("m.safetensors") && error.contains("cannot load weights"), "{error}");

    std::fs::write(dir.path().join("m.safetensors"), &weights).unwrap();
    let text =
        std::fs::read_to_string(&config).unwrap().replace("\"hidden\": [\n    32,\n    32\n  ]", "\"hidden\": [\n    16,\n    32\n  ]");
    std::fs::write(&config, text).unwrap();
    let error = MlpPolicy::load(&config).err().unwrap().to_string();
    assert!(error.contains("weights do not fit the config"), "{error}");

    std::fs::write(&config, "{\"format\": \"something-else\"}").unwrap();
    let error = MlpPolicy::load(&config).err().unwrap().to_string();
    assert!(error.contains("m.json") && error.contains("not a policy config"), "{error}");
}

/// Outputs the step count as its action.
struct Counter(f64);

impl Policy for Counter {
    fn name(&self) -> &str {
        "counter"
    }
    fn check(&self, _: &ObservationSpec, _: &ActionSpec) -> Result<(), PolicyError> {
        Ok(())
    }
    fn reset(&mut self, _: u64) {
        self.0 = 0.0;
    }
    fn act(&mut self, _: &Observation) -> Result<Vec<f64>, PolicyError> {
        self.0 += 1.0;
        Ok(vec![self.0])
    }
}

#[test]
fn latency_delays_actions_by_whole_steps() {
    let mut w = world(&shipped("cartpole-balance"));
    let (observation, _) = w.reset(0).unwrap();
    let mut delayed = Latency::wrap(Box::new(Counter(0.0)), 2);
    delayed.reset(0);
    let actions: Vec<f64> = (0..5).map(|_| delayed.act(&observation).unwrap()[0]).collect();
    assert_eq!(actions, vec![1.0, 1.0, 1.0, 2.0, 3.0]);
}
