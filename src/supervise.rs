//! What the binary does for its supervisor: signals (SIGINT/SIGTERM drain, a second one
//! stops at once; SIGUSR1 and SIGHUP reopen the access log and never stop anything),
//! `sd_notify` state changes, and systemd's watchdog, fed only while every worker's loop
//! turns.

use std::os::unix::net::UnixDatagram;
use std::sync::OnceLock;
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

/// The supervisor's notify socket (`NOTIFY_SOCKET`), connected once, at start-up: with
/// `--sandbox` a confined thread may not `connect`, so it is done before any confines
/// itself, and later notices are a plain `send` on it.
static NOTIFY: OnceLock<Option<UnixDatagram>> = OnceLock::new();

/// Connects to `NOTIFY_SOCKET` (a path, or `@name` for an abstract socket), if it is set;
/// call before the server's threads confine themselves.
pub fn connect_supervisor() {
    NOTIFY.get_or_init(|| {
        let path = std::env::var_os("NOTIFY_SOCKET")?;
        let connected = UnixDatagram::unbound().and_then(|socket| {
            connect_notify(&socket, &path)?;
            Ok(socket)
        });
        connected
            .map_err(|e| {
                tracing::warn!("cannot reach the service manager (NOTIFY_SOCKET={path:?}): {e}")
            })
            .ok()
    });
}

fn connect_notify(socket: &UnixDatagram, path: &std::ffi::OsStr) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    if let Some(name) = std::os::unix::ffi::OsStrExt::as_bytes(path).strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
        return socket.connect_addr(&addr);
    }
    socket.connect(path)
}

/// Tells systemd (`Type=notify`) of a state change; nothing without `NOTIFY_SOCKET`.
pub fn tell_supervisor(state: NotifyState<'_>) {
    connect_supervisor();
    let Some(Some(socket)) = NOTIFY.get() else {
        return;
    };
    if let Err(e) = socket.send(format!("{state}\n").as_bytes()) {
        tracing::warn!("cannot notify the service manager (NOTIFY_SOCKET): {e}");
    }
}
