//! The `dreamrig` command line: parse arguments, call the library, print.

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Mesa's Vulkan device-selection layer, loaded with its drivers, connects to a Wayland or
    // X display to find the one driving the screen, and prints an error where there is none
    // (a server, a container, CI). Cameras render off-screen on whichever device wgpu picks, so
    // the layer is off unless the user asked for it.
    if std::env::var_os("NODEVICE_SELECT").is_none() {
        // The first statement of `main`: no other thread exists yet to read the environment.
        std::env::set_var("NODEVICE_SELECT", "1");
    }
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
