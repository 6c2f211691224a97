//! The `dreamrig` command line: parse arguments, call the library, print.

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    // A closed pipe (`dreamrig dataset info DIR | head`) ends a command that only prints
    // quietly, as it ends any Unix tool, instead of making `println!` panic. Rust starts
    // programs with SIGPIPE ignored; commands that open sockets (Zenoh, remote policies,
    // Rerun) keep it so, where a vanished peer must be an error and not a silent death.
    #[cfg(unix)]
    if !args.command.opens_sockets() {
        // SAFETY: called in `main` before any thread is started; `signal` with SIG_DFL only
        // resets a disposition.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    cli::init_logging(args.verbose);
    match cli::dispatch(args) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(cli::exit_code(&error))
        }
    }
}
