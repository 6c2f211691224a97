use anyhow::Context;
use dreamrig_eval::{collect_demonstrations, DemonstrationOptions};
use dreamrig_policies::neural::{train_behavior_cloning, MlpPolicyConfig, FORMAT};
use dreamrig_sim::World;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand, Debug)]
pub enum PolicyCommand {
    /// Train an MLP policy by behaviour cloning a shipped controller (with DART-style noise
    /// injection: the teacher drives with noisy actions, the labels are its clean actions).
    TrainBc(TrainArgs),
}

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// Scenario (file or shipped name).
    #[arg(long)]
    pub scenario: String,
    /// Controller to imitate (auto, lqr, reach, navigate, push).
    #[arg(long, default_value = "auto")]
    pub teacher: String,
    /// Demonstration episodes.
    #[arg(long, default_value_t = 100)]
    pub episodes: u32,
    /// Observation fields the network reads, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "joint_state.position,joint_state.velocity")]
    pub inputs: Vec<String>,
    /// Hidden layer sizes, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "64,64")]
    pub hidden: Vec<usize>,
    #[arg(long, default_value_t = 40)]
    pub epochs: usize,
    /// Standard deviation of the noise added to the teacher's actions while collecting, as a
    /// fraction of the action range.
    #[arg(long, default_value_t = 0.1)]
    pub noise: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output path of the config (`.json`); the weights go beside it (`.safetensors`).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(command: PolicyCommand) -> anyhow::Result<ExitCode> {
    let PolicyCommand::TrainBc(args) = command;
    let scenario = super::load_scenario(&args.scenario)?;
    // Demonstrations come from the scenario's own dynamics, world models included.
    let options = DemonstrationOptions { episodes: args.episodes, inputs: args.inputs.clone(), noise: args.noise, seed: args.seed };
    let data = collect_demonstrations(&scenario.config, &args.teacher, &options).map_err(super::eval_error)?;
    let probe = dreamrig_sim::PhysicsWorld::new(scenario.config.clone());
    let spec = probe.action_spec().clone();
    let size: usize = args.inputs.iter().filter_map(|name| probe.observation_spec().field(name)).map(|f| f.len()).sum();
    let config = MlpPolicyConfig {
        format: FORMAT.into(),
        observation_fields: args.inputs.clone(),
        observation_size: size,
        action_names: spec.names.clone(),
        hidden: args.hidden.clone(),
        activation: "tanh".into(),
        observation_mean: vec![],
        observation_std: vec![],
        action_mean: vec![],
        action_std: vec![],
        provenance: serde_json::json!({
            "method": "behaviour cloning with noise injection (DART)",
            "command": std::env::args().collect::<Vec<_>>().join(" "),
            "scenario": scenario.config.name,
            "scenario_hash": scenario.source_hash,
            "teacher": args.teacher,
            "episodes": args.episodes,
            "samples": data.observations.len(),
            "epochs": args.epochs,
            "seed": args.seed,
        }),
    };
    let (mut config, varmap, loss) = train_behavior_cloning(&data, config, args.epochs, 256, 3e-3, args.seed).context("training")?;
    if let Some(p) = config.provenance.as_object_mut() {
        p.insert("final_training_mse".into(), serde_json::json!(loss));
    }
    let weights = dreamrig_policies::neural::weights_path(&args.out);
    let temporary = dreamrig_sim::atomic::temporary_path(&weights);
    varmap.save(&temporary).with_context(|| format!("saving weights to {}", weights.display()))?;
    dreamrig_sim::atomic::commit(&temporary, &weights).with_context(|| format!("saving weights to {}", weights.display()))?;
    let json = serde_json::to_string_pretty(&config)?;
    dreamrig_sim::atomic::write_atomic(&args.out, json.as_bytes()).with_context(|| format!("saving {}", args.out.display()))?;
    println!(
        "trained on {} samples from {} episodes; final training MSE (normalized) {loss:.5}; wrote {} and {}",
        data.observations.len(),
        args.episodes,
        args.out.display(),
        weights.display()
    );
    Ok(ExitCode::SUCCESS)
}
