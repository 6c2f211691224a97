use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct ValidateArgs {
    /// Scenario files to check.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Measure every file's physics settings against a fine reference (by default only files
    /// that set `timing.solver` are measured). A setting whose trajectories leave the tolerance
    /// gets a warning; the exit code stays 0.
    #[arg(long, conflicts_with = "no_accuracy")]
    pub accuracy: bool,
    /// Skip the accuracy measurement, even for files that set `timing.solver`.
    #[arg(long)]
    pub no_accuracy: bool,
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
                if args.accuracy || (c.timing.solver_given && !args.no_accuracy) {
                    match dreamrig_sim::accuracy::measure(c, 0) {
                        Ok(report) if report.within_tolerance() => println!("  accuracy: {report}"),
                        Ok(report) => {
                            eprintln!("warning: {}: timing: too coarse to stay within the accuracy tolerance: {report}", file.display())
                        }
                        Err(e) => eprintln!("warning: {}: timing: the accuracy measurement failed: {e}", file.display()),
                    }
                }
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
