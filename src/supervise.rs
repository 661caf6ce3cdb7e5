//! What the binary does for its supervisor: signals (SIGINT/SIGTERM drain, a second one
//! stops at once; SIGUSR1 and SIGHUP reopen the access log and never stop anything),
//! `sd_notify` state changes, and systemd's watchdog, fed only while every worker's loop
//! turns.

use std::time::{Duration, Instant};

use sd_notify::NotifyState;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
use signal_hook::iterator::Signals;

/// The signals greeter handles, installed before the listeners open (once connections
/// arrive they may take every descriptor left).
pub fn install() -> std::io::Result<Signals> {
    Signals::new([SIGINT, SIGTERM, SIGHUP, SIGUSR1])
}

/// On a thread of its own, confined as the server's are: the first SIGINT/SIGTERM
/// drains, a second stops at once (exit 130); SIGUSR1 and SIGHUP reopen the access log.
pub fn watch_signals(mut signals: Signals, server: &greeter::ServerHandle) -> std::io::Result<()> {
    let (trigger, reopen) = (server.shutdown_trigger(), server.access_log_reopener());
    let confinement = server.confinement();
    std::thread::Builder::new()
        .name("greeter-signals".into())
        .spawn(move || {
            if let Err(e) = confinement.confine_caller() {
                tracing::error!("the signal thread cannot be confined (--sandbox): {e}");
                std::process::exit(1);
            }
            let mut draining = false;
            for signal in signals.forever() {
                match signal {
                    SIGUSR1 | SIGHUP => reopen.reopen(),
                    _ if !draining => {
                        draining = true;
                        tracing::info!(
                            "shutting down: finishing requests in flight (signal again to stop at once)"
                        );
                        tell_supervisor(NotifyState::Stopping);
                        trigger.shutdown();
                    }
                    _ => {
                        tracing::warn!("second signal: stopping at once");
                        std::process::exit(130);
                    }
                }
            }
        })?;
    Ok(())
}

/// With systemd's watchdog on (`WatchdogSec=`, so `WATCHDOG_USEC` is set for greeter),
/// a thread sends `WATCHDOG=1` every half period, but only while every worker's loop
/// turns; a stuck worker stops the pings, and systemd restarts the service. Nothing
/// without the variable.
pub fn start_watchdog(server: &greeter::ServerHandle) -> std::io::Result<()> {
    let Some(period) = sd_notify::watchdog_enabled() else {
        return Ok(());
    };
    let every = period / 2;
    let mut heartbeat = server.heartbeat();
    let confinement = server.confinement();
    tracing::info!(
        "systemd's watchdog: WATCHDOG=1 every {every:?} while every worker's loop turns"
    );
    std::thread::Builder::new()
        .name("greeter-watchdog".into())
        .spawn(move || {
            if let Err(e) = confinement.confine_caller() {
                return tracing::error!("the watchdog thread cannot be confined (--sandbox): {e}");
            }
            let mut turning = Turning::new();
            loop {
                std::thread::sleep(every);
                if turning.check(&mut heartbeat) {
                    tell_supervisor(NotifyState::Watchdog);
                }
            }
        })?;
    Ok(())
}

/// Whether the loops turn, judged over windows of at least two of their 1-second ticks
/// (a shorter window would see a stall between two ticks).
struct Turning {
    since: Instant,
    healthy: bool,
}

impl Turning {
    const WINDOW: Duration = Duration::from_secs(2);

    fn new() -> Turning {
        Turning {
            since: Instant::now(),
            healthy: true,
        }
    }

    fn check(&mut self, heartbeat: &mut greeter::Heartbeat) -> bool {
        if self.since.elapsed() < Self::WINDOW {
            return self.healthy;
        }
        let stalled = heartbeat.stalled();
        if !stalled.is_empty() && self.healthy {
            tracing::error!(
                "worker(s) {} took no tick in {:?}: their loop is stuck; not telling systemd's watchdog, which restarts greeter",
                stalled.join(", "),
                self.since.elapsed()
            );
        }
        self.healthy = stalled.is_empty();
        self.since = Instant::now();
        self.healthy
    }
}

/// Tells systemd (`Type=notify`) of a state change; nothing without `NOTIFY_SOCKET`.
pub fn tell_supervisor(state: NotifyState<'_>) {
    if let Err(e) = sd_notify::notify(&[state]) {
        tracing::warn!("cannot notify the service manager (NOTIFY_SOCKET): {e}");
    }
}
