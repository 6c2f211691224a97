use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct ScenariosArgs {}

pub fn run(_args: ScenariosArgs) -> anyhow::Result<ExitCode> {
    let files = dreamrig_sim::scenario::shipped();
    if files.is_empty() {
        anyhow::bail!(super::UsageError(format!(
            "no scenario folder found (looked in {}); set DREAMRIG_SCENARIO_PATH",
            dreamrig_sim::scenario::search_path().iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        )));
    }
    for file in files {
        match dreamrig_sim::Scenario::load(&file) {
            Ok(s) => println!("{:<20} {}  ({})", s.config.name, s.config.description, file.display()),
            Err(errors) => println!("{:<20} INVALID: {}", file.display(), errors),
        }
    }
    Ok(ExitCode::SUCCESS)
}
