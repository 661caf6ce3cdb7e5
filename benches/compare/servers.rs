//! The servers under comparison: how each is started (pinned to the server cores), when it
//! is ready, and what `/proc` says about its CPU time and memory.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::workloads::Kind;

/// How to run one server, HTTP and (if it can) raw greet-and-close.
#[derive(Debug, Clone, Default)]
pub struct ServerSpec {
    pub name: String,
    /// Command for HTTP; `{port}` and `{dir}` are replaced.
    pub http: Vec<String>,
    /// Command for the raw protocol, if the server speaks it.
    pub raw: Option<Vec<String>>,
    /// It answers `POST /greet` with the name from a form body.
    pub post: bool,
    /// A config template written to `{dir}/<file name>` with the same replacements.
    pub config: Option<PathBuf>,
    /// The floor this server is measured against, for greeter's backends.
    pub floor: Option<&'static str>,
    /// Its I/O model, `io_uring` or `epoll`: the charts group by it.
    pub model: &'static str,
    /// What to know about it beside the figures (a minimal responder, one thread).
    pub note: Option<String>,
}

impl ServerSpec {
    /// Whether it can serve `kind` at all.
    pub fn serves(&self, kind: Kind) -> bool {
        match kind {
            Kind::Get => true,
            Kind::PostGreet => self.post,
            Kind::Raw => self.raw.is_some(),
        }
    }
}

/// A started server process.
pub struct Running {
    pub name: String,
    pub addr: SocketAddr,
    child: Child,
    ticks_per_second: f64,
}

/// Where a command is found, if anywhere on `PATH`.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// A free loopback port (bound and released; good enough on a quiet machine).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl ServerSpec {
    /// Starts the server pinned to `cpus`; `raw` picks the raw command.
    pub fn start(
        &self,
        cpus: &str,
        raw: bool,
        scratch: &Path,
        ticks: f64,
    ) -> Result<Running, String> {
        let template = if raw {
            self.raw.as_ref().ok_or("no raw mode")?
        } else {
            &self.http
        };
        let port = free_port();
        let dir = scratch.join(format!("{}-{port}", self.name.replace(' ', "-")));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let fill = |s: &str| {
            s.replace("{port}", &port.to_string())
                .replace("{dir}", &dir.to_string_lossy())
        };
        self.write_config(&dir, &fill)?;
        let args: Vec<String> = template.iter().map(|a| fill(a)).collect();
        let running = Running {
            name: self.name.clone(),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            child: spawn_pinned(cpus, &args, &dir)?,
            ticks_per_second: ticks,
        };
        running.wait_ready(&dir)?;
        Ok(running)
    }

    /// Writes the config template, filled in, into the server's directory.
    fn write_config(&self, dir: &Path, fill: &dyn Fn(&str) -> String) -> Result<(), String> {
        let Some(config) = &self.config else {
            return Ok(());
        };
        let text =
            std::fs::read_to_string(config).map_err(|e| format!("{}: {e}", config.display()))?;
        std::fs::write(dir.join(config.file_name().unwrap()), fill(&text))
            .map_err(|e| e.to_string())
    }
}

/// Runs `args` pinned to `cpus`, its output into `dir/server.log`.
fn spawn_pinned(cpus: &str, args: &[String], dir: &Path) -> Result<Child, String> {
    let log = std::fs::File::create(dir.join("server.log")).map_err(|e| e.to_string())?;
    let child = Command::new("taskset")
        .args(["-c", cpus])
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", args.join(" ")))?;
    STARTED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(child.id());
    Ok(child)
}

/// Every server started, so a signal to the bench alone does not leave them running.
static STARTED: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());

/// On SIGINT or SIGTERM, stops the servers still running and exits.
pub fn stop_servers_on_signal() {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
        return;
    };
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            for pid in STARTED.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                let _ = Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status();
            }
            std::process::exit(128 + signal);
        }
    });
}

impl Running {
    fn wait_ready(&self, dir: &Path) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(100)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
        Err(format!(
            "{} did not start listening on {}: {log}",
            self.name, self.addr
        ))
    }

    /// User plus system CPU seconds the server has used (all its threads).
    pub fn cpu_seconds(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the command name (which may hold spaces) start at index 2.
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        (ticks(11) + ticks(12)) / self.ticks_per_second
    }

    /// Resident memory now, and its peak, in bytes.
    pub fn memory(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let kib = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
                .unwrap_or(0)
                * 1024
        };
        (kib("VmRSS:"), kib("VmHWM:"))
    }

    pub fn stop(mut self) {
        let id = self.child.id();
        STARTED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|&p| p != id);
        let pid = id.to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Clock ticks per second, for `/proc/PID/stat` times.
pub fn clock_ticks() -> f64 {
    let out = Command::new("getconf").arg("CLK_TCK").output().ok();
    out.and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}
