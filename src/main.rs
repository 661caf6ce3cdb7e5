//! The `greeter` binary: parse the command line, start logging, then serve until a signal
//! or run the load generator.

mod cli;
mod health_check;
mod supervise;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use sd_notify::NotifyState;
use tracing_subscriber::EnvFilter;

use cli::{Cli, Command, LoadArgs, ProbeArgs, ServeArgs};
use supervise::tell_supervisor;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    let format = match &cli.command {
        Some(Command::Serve(args)) => args.log_format,
        _ => cli.serve.log_format,
    };
    init_logs(format);
    // Before any thread starts: taking the sockets unsets their variables.
    let inherited = match &cli.command {
        Some(Command::Load(_) | Command::Probe(_) | Command::Generate(_)) => Ok(None),
        _ => greeter::activation::take(),
    };
    let inherited = match inherited {
        Ok(inherited) => inherited,
        Err(e) => return fatal(&e),
    };
    match cli.command {
        Some(Command::Serve(args)) => serve(args, inherited),
        Some(Command::Load(args)) => load(&args),
        Some(Command::Probe(args)) => probe(&args),
        Some(Command::Generate(args)) => generate(&args.what),
        None => serve(cli.serve, inherited),
    }
}

/// A command line clap refuses: its message and exit code 2, as one JSON object when the
/// arguments or `GREETER_LOG_FORMAT` ask for JSON logs (logging is not set up yet).
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let args: Vec<String> = std::env::args().collect();
    let json_asked = std::env::var("GREETER_LOG_FORMAT").is_ok_and(|f| f == "json")
        || args.iter().any(|a| a == "--log-format=json")
        || args
            .windows(2)
            .any(|w| w[0] == "--log-format" && w[1] == "json");
    if !json_asked || matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        e.exit();
    }
    let message = e.render().to_string();
    let line = serde_json::json!({
        "timestamp": humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string(),
        "level": "ERROR", "target": "greeter", "message": message.trim_end(),
        "exit_code": 2,
    });
    eprintln!("{line}");
    ExitCode::from(2)
}

/// A fatal error before or while serving: logged (one JSON object with `--log-format
/// json`, else `greeter: error: ...`), exit code 1.
fn fatal(e: &dyn std::fmt::Display) -> ExitCode {
    if JSON_LOGS.get().copied().unwrap_or(false) {
        tracing::error!(exit_code = 1, "{e}");
    } else {
        eprintln!("greeter: error: {e}");
    }
    ExitCode::FAILURE
}

/// Whether logs are JSON lines (set once, by `init_logs`).
static JSON_LOGS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// Logs to standard error: text (coloured only when it is a terminal, so a file or the
/// journal gets no escape codes) or JSON lines; `RUST_LOG` filters.
fn init_logs(format: greeter::LogFormat) {
    let _ = JSON_LOGS.set(format == greeter::LogFormat::Json);
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // A log line that cannot be written is lost, never reported on standard error: that
    // report would panic when standard error is a closed pipe (a log reader gone), and
    // the thread logging (the signal thread, a worker) with it.
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .log_internal_errors(false);
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

/// `greeter generate`: the man page or a shell's completions, on standard output.
fn generate(what: &cli::Generated) -> ExitCode {
    use clap::CommandFactory;
    let mut command = Cli::command();
    // Rendered whole first: clap_complete panics on a failed write (a closed pipe).
    let mut text = Vec::new();
    let rendered = match what {
        cli::Generated::Man => clap_mangen::Man::new(command).render(&mut text),
        cli::Generated::Completions { shell } => {
            clap_complete::generate(*shell, &mut command, "greeter", &mut text);
            Ok(())
        }
    };
    match rendered.and_then(|()| std::io::Write::write_all(&mut std::io::stdout(), &text)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fatal(&format!("cannot write: {e}")),
    }
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
    let signals = match supervise::install() {
        Ok(signals) => signals,
        Err(e) => return fatal(&format!("cannot install signal handlers: {e}")),
    };
    supervise::connect_supervisor(); // before any thread confines itself (--sandbox)
    let config = args.into_config();
    let started = match inherited {
        Some(inherited) => greeter::start_inherited(config, inherited),
        None => greeter::start(config),
    };
    let server = match started {
        Ok(server) => server,
        Err(e) => return fatal(&e),
    };
    if let Err(e) = supervise::watch_signals(signals, &server) {
        return fatal(&format!("cannot start the signal thread: {e}"));
    }
    if let Err(e) = supervise::start_watchdog(&server) {
        return fatal(&format!("cannot start the watchdog thread: {e}"));
    }
    // With --sandbox: every thread is confined from here on (the server's, the signal
    // and watchdog threads, this one), so no call outside the filter is possible.
    if let Err(e) = server.confinement().confine_caller() {
        return fatal(&format!("cannot confine the main thread (--sandbox): {e}"));
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
        Err(e) => fatal(&format!("a worker failed: {e}")),
    }
}

/// Debug builds only: `GREETER_TEST_FAULT=N` makes worker `N` fail once serving, and
/// `GREETER_TEST_FAULT=stall:N` makes its loop stop turning, so the tests see what a
/// supervisor sees (the ERROR line, the exit code, the watchdog going quiet).
fn inject_test_fault(server: &greeter::ServerHandle) {
    #[cfg(debug_assertions)]
    if let Ok(fault) = std::env::var("GREETER_TEST_FAULT") {
        match fault.strip_prefix("stall:").map(str::parse) {
            Some(Ok(index)) => server.inject_stall(index),
            _ => {
                if let Ok(index) = fault.parse() {
                    server.inject_fault(index);
                }
            }
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = server;
}
