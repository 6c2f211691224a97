use anyhow::Context;
use dreamrig_policies::neural::{train_behavior_cloning, Demonstrations, MlpPolicyConfig, FORMAT};
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
    let mut world = dreamrig_sim::make_world(&scenario.config).map_err(|e| super::UsageError(e.to_string()))?;
    let mut teacher = dreamrig_policies::zoo::by_name(&args.teacher, &scenario.config, world.observation_spec(), world.action_spec())
        .map_err(|e| super::UsageError(e.to_string()))?;
    let mut size = 0;
    for name in &args.inputs {
        let field = world
            .observation_spec()
            .field(name)
            .ok_or_else(|| super::UsageError(format!("--inputs: the scenario has no observation field {name}")))?;
        size += field.len();
    }
    let spec = world.action_spec().clone();
    let mut data = Demonstrations { observations: Vec::new(), actions: Vec::new() };
    let mut noise = dreamrig_policies::baselines::policy_rng(args.seed, 99);
    for episode in 0..args.episodes {
        let seed = args.seed.wrapping_mul(1_000_003).wrapping_add(episode as u64);
        let (mut observation, _) = world.reset(seed)?;
        teacher.reset(seed);
        loop {
            let clean = teacher.act(&observation)?;
            data.observations.push(args.inputs.iter().flat_map(|n| observation.get(n).expect("checked").to_vec()).collect());
            data.actions.push(clean.iter().map(|a| *a as f32).collect());
            let noisy: Vec<f64> = clean
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    let z: f64 = rand_distr::Distribution::sample(&rand_distr::StandardNormal, &mut noise);
                    (a + args.noise * (spec.high[i] - spec.low[i]) / 2.0 * z).clamp(spec.low[i], spec.high[i])
                })
                .collect();
            let result = world.step(&noisy)?;
            observation = result.observation;
            if result.terminated || result.truncated {
                break;
            }
        }
    }
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
    let temporary = weights.with_extension("safetensors.tmp");
    varmap.save(&temporary).context("saving weights")?;
    std::fs::rename(&temporary, &weights).context("saving weights")?;
    let json = serde_json::to_string_pretty(&config)?;
    let temporary = args.out.with_extension("json.tmp");
    std::fs::write(&temporary, json).context("saving config")?;
    std::fs::rename(&temporary, &args.out).context("saving config")?;
    println!(
        "trained on {} samples from {} episodes; final training MSE (normalized) {loss:.5}; wrote {} and {}",
        data.observations.len(),
        args.episodes,
        args.out.display(),
        weights.display()
    );
    Ok(ExitCode::SUCCESS)
}
