use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct ValidateArgs {
    /// Scenario files to check.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

pub fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let mut failed = 0;
    for file in &args.files {
        match dreamrig_sim::Scenario::load(file) {
            Ok(scenario) => {
                let c = &scenario.config;
                println!(
                    "ok: {} ({}: {} joints, {} actuators, {} sensors, {} task)",
                    file.display(),
                    c.name,
                    c.robot.model.joints.len(),
                    c.robot.actuators.len(),
                    c.sensors.len(),
                    format!("{:?}", c.task.kind).to_lowercase()
                );
            }
            Err(errors) => {
                failed += 1;
                eprintln!("{errors}");
            }
        }
    }
    if failed > 0 {
        eprintln!("{failed} of {} scenario files are invalid", args.files.len());
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}
