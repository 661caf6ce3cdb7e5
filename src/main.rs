//! The `greeter` binary: parse the command line, start logging, then serve until a signal
//! or run the load generator.

mod cli;
mod health_check;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use sd_notify::NotifyState;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use tracing_subscriber::EnvFilter;

use cli::{Cli, Command, LoadArgs, ProbeArgs, ServeArgs};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let format = match &cli.command {
        Some(Command::Serve(args)) => args.log_format,
        _ => cli.serve.log_format,
    };
    init_logs(format);
    // Before any thread starts: taking the sockets unsets their variables.
    let inherited = match &cli.command {
        Some(Command::Load(_) | Command::Probe(_)) => Ok(None),
        _ => greeter::activation::take(),
    };
    let inherited = match inherited {
        Ok(inherited) => inherited,
        Err(e) => {
            eprintln!("greeter: error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Some(Command::Serve(args)) => serve(args, inherited),
        Some(Command::Load(args)) => load(&args),
        Some(Command::Probe(args)) => probe(&args),
        None => serve(cli.serve, inherited),
    }
}

/// Logs to standard error: text (coloured only when it is a terminal, so a file or the
/// journal gets no escape codes) or JSON lines; `RUST_LOG` filters.
fn init_logs(format: greeter::LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        greeter::LogFormat::Text => logs.init(),
        greeter::LogFormat::Json => logs.json().flatten_event(true).init(),
    }
}

/// `greeter load`: runs the load generator, with a progress bar on a terminal.
fn load(args: &LoadArgs) -> ExitCode {
    let config = args.to_config();
    let progress = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&progress);
    let run = std::thread::spawn(move || greeter::load::run(&config, counter));
    if std::io::stderr().is_terminal() {
        show_progress(&run, &progress, args.duration);
    }
    let report = match run.join() {
        Ok(Ok(report)) => report,
        Ok(Err(e)) => {
            eprintln!("greeter load: error: {e}");
            return ExitCode::FAILURE;
        }
        Err(_) => {
            eprintln!("greeter load: error: the load generator panicked");
            return ExitCode::FAILURE;
        }
    };
    println!("{report}");
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report).expect("a report serializes");
        if let Err(e) = std::fs::write(path, json + "\n") {
            eprintln!("greeter load: error: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// `greeter probe`: the status on standard output, or the reason on standard error.
fn probe(args: &ProbeArgs) -> ExitCode {
    match health_check::probe(&args.url, args.timeout) {
        Ok(status) => {
            println!("{status}");
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("greeter probe: {}: {why}", args.url);
            ExitCode::FAILURE
        }
    }
}

fn show_progress<T>(run: &std::thread::JoinHandle<T>, done: &AtomicU64, duration: Duration) {
    let bar = indicatif::ProgressBar::new(duration.as_millis() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{bar:40}] {elapsed}/{duration} {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    let start = Instant::now();
    while !run.is_finished() {
        let elapsed = start.elapsed();
        bar.set_position(elapsed.as_millis() as u64);
        let rate = done.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64().max(1e-3);
        bar.set_message(format!("{rate:.0} requests/s"));
        std::thread::sleep(Duration::from_millis(100));
    }
    bar.finish_and_clear();
}

fn serve(args: ServeArgs, inherited: Option<greeter::activation::Inherited>) -> ExitCode {
    // Many connections need many descriptors: take the hard limit, as Go and nginx do.
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        tracing::debug!("cannot raise the descriptor limit: {e}");
    }
    // The signal pipe is opened before the listeners: once connections arrive they may
    // take every descriptor left.
    let signals = match Signals::new([SIGINT, SIGTERM]) {
        Ok(signals) => signals,
        Err(e) => {
            eprintln!("greeter: error: cannot install signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    let config = args.into_config();
    let started = match inherited {
        Some(inherited) => greeter::start_inherited(config, inherited),
        None => greeter::start(config),
    };
    let server = match started {
        Ok(server) => server,
        Err(e) => {
            eprintln!("greeter: error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let confinement = server.confinement();
    if let Err(e) = watch_signals(signals, server.shutdown_trigger(), confinement.clone()) {
        eprintln!("greeter: error: cannot start the signal thread: {e}");
        return ExitCode::FAILURE;
    }
    // With --sandbox: every thread is confined from here on (the server's, the signal
    // thread, this one), so no call outside the filter is possible in the process.
    if let Err(e) = confinement.confine_caller() {
        eprintln!("greeter: error: cannot confine the main thread (--sandbox): {e}");
        return ExitCode::FAILURE;
    }
    run_until_stopped(server)
}

/// Serving: tells the supervisor, then waits for the end; the exit code says how it ended.
fn run_until_stopped(server: greeter::ServerHandle) -> ExitCode {
    // Every worker accepts by now: a `Type=notify` unit counts as started.
    tell_supervisor(NotifyState::Ready);
    inject_test_fault(&server);
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

/// Debug builds only: `GREETER_TEST_FAULT=N` makes worker `N` fail once serving, so the
/// tests see what a supervisor sees (the ERROR line, the exit code).
fn inject_test_fault(server: &greeter::ServerHandle) {
    #[cfg(debug_assertions)]
    if let Some(index) = std::env::var("GREETER_TEST_FAULT")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        server.inject_fault(index);
    }
    #[cfg(not(debug_assertions))]
    let _ = server;
}

/// First SIGINT/SIGTERM drains gracefully; a second one stops at once.
fn watch_signals(
    mut signals: Signals,
    trigger: greeter::Shutdown,
    confinement: greeter::Confinement,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("greeter-signals".into())
        .spawn(move || {
            if let Err(e) = confinement.confine_caller() {
                tracing::error!("the signal thread cannot be confined (--sandbox): {e}");
                std::process::exit(1);
            }
            let mut forever = signals.forever();
            if forever.next().is_some() {
                tracing::info!(
                    "shutting down: finishing requests in flight (signal again to stop at once)"
                );
                tell_supervisor(NotifyState::Stopping);
                trigger.shutdown();
            }
            if forever.next().is_some() {
                tracing::warn!("second signal: stopping at once");
                std::process::exit(130);
            }
        })?;
    Ok(())
}

/// Tells systemd (`Type=notify`) of a state change; nothing without `NOTIFY_SOCKET`.
fn tell_supervisor(state: NotifyState<'_>) {
    if let Err(e) = sd_notify::notify(&[state]) {
        tracing::warn!("cannot notify the service manager (NOTIFY_SOCKET): {e}");
    }
}
