//! The `greeter` binary: parse the command line, start logging, serve until a signal.

mod cli;

use std::process::ExitCode;

use clap::Parser;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use tracing_subscriber::EnvFilter;

use cli::{Cli, Command, ServeArgs};

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Some(Command::Serve(args)) => serve(args),
        None => serve(cli.serve),
    }
}

fn serve(args: ServeArgs) -> ExitCode {
    // Many connections need many descriptors: take the hard limit, as Go and nginx do.
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        tracing::debug!("cannot raise the descriptor limit: {e}");
    }
    let server = match greeter::start(args.into_config()) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("greeter: error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = watch_signals(server.shutdown_trigger()) {
        eprintln!("greeter: error: cannot install signal handlers: {e}");
        return ExitCode::FAILURE;
    }
    match server.join() {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("greeter: error: a worker failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// First SIGINT/SIGTERM drains gracefully; a second one stops at once.
fn watch_signals(trigger: greeter::server::Shutdown) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("greeter-signals".into())
        .spawn(move || {
            let mut forever = signals.forever();
            if forever.next().is_some() {
                tracing::info!(
                    "shutting down: finishing requests in flight (signal again to stop at once)"
                );
                trigger.shutdown();
            }
            if forever.next().is_some() {
                tracing::warn!("second signal: stopping at once");
                std::process::exit(130);
            }
        })?;
    Ok(())
}
