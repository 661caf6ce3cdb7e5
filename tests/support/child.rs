//! The `greeter` binary as a child process: its log lines, address, signals and exit.

use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use greeter::BackendChoice;

use super::{WAIT, backend_flag};

/// Flags for a one-worker `greeter` child on `backend`, plus `extra` (and the rings not
/// restricted, in a `uring_unrestricted` test).
pub fn child_args<'a>(backend: BackendChoice, extra: &[&'a str]) -> Vec<&'a str> {
    let name = backend_flag(backend);
    let unrestricted: &[&str] = match super::unrestricted() {
        true => &["--uring-features", "off-restrict"],
        false => &[],
    };
    [
        [
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "1",
            "--backend",
            name,
        ]
        .as_slice(),
        unrestricted,
        extra,
    ]
    .concat()
}

/// A running `greeter` child, killed if the test fails before it exits.
pub struct Greeter {
    child: Child,
    lines: mpsc::Receiver<String>,
    pub log: Vec<String>,
}

/// The binary with `args` and `env`, logging plainly to a pipe.
pub fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_greeter"));
    command
        .args(args)
        .envs(env.iter().copied())
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG");
    command.stderr(Stdio::piped()).stdout(Stdio::null());
    command
}

/// `command` run with both descriptor limits set to `limit` (through the shell's `ulimit`,
/// so the server cannot raise them).
pub fn with_nofile(command: Command, limit: u32) -> Command {
    through_shell(command, &format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
}

/// `command` run by `sh -c script`, which gets the program as `$0` and its arguments as
/// `$@` (and should `exec` them); the environment is kept.
pub fn through_shell(command: Command, script: &str) -> Command {
    let mut wrapped = Command::new("sh");
    wrapped
        .arg("-c")
        .arg(script)
        .arg(command.get_program())
        .args(command.get_args());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => wrapped.env(key, value),
            None => wrapped.env_remove(key),
        };
    }
    wrapped.stderr(Stdio::piped()).stdout(Stdio::null());
    wrapped
}

impl Greeter {
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Greeter {
        Greeter::spawn_with(command(args, env), |mut c| c.spawn())
    }

    /// Starts `command` through `spawn` (for instance under a seccomp filter).
    pub fn spawn_with(
        command: Command,
        spawn: impl FnOnce(Command) -> io::Result<Child>,
    ) -> Greeter {
        let mut child = spawn(command).expect("greeter runs");
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            stderr
                .lines()
                .map_while(Result::ok)
                .for_each(|l| drop(tx.send(l)))
        });
        Greeter {
            child,
            lines,
            log: Vec::new(),
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The child's standard output, if it was piped (to read it, or drop it).
    pub fn take_stdout(&mut self) -> Option<std::process::ChildStdout> {
        self.child.stdout.take()
    }

    /// Waits for a log line containing `needle`.
    pub fn wait_for_line(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!("no log line with {needle:?}; saw {:#?}", self.log),
            }
        }
    }

    /// The address from the start-up line.
    pub fn address(&mut self) -> SocketAddr {
        let line = self.wait_for_line("greeter serving");
        address_in(&line)
    }

    /// Every log line seen so far (by the waits and [`Greeter::drain_log`]).
    pub fn log(&self) -> &[String] {
        &self.log
    }

    /// Log lines that arrived so far, without waiting.
    pub fn drain_log(&mut self) -> Vec<String> {
        let fresh: Vec<String> = self.lines.try_iter().collect();
        self.log.extend(fresh.iter().cloned());
        fresh
    }

    /// User plus system CPU seconds the server has used.
    pub fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .collect();
        let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
        ticks / clock_ticks()
    }

    /// Resident memory in bytes.
    pub fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok());
        kib.unwrap() * 1024
    }

    pub fn signal(&self, name: &str) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("greeter did not exit; log {:#?}", self.log);
    }
}

/// The address in a start-up line (`greeter serving http://ADDR/ on ...`).
pub fn address_in(line: &str) -> SocketAddr {
    let url = line.split_whitespace().find(|w| w.contains("://")).unwrap();
    url.split("://")
        .nth(1)
        .unwrap()
        .trim_end_matches('/')
        .parse()
        .unwrap()
}

impl Drop for Greeter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn clock_ticks() -> f64 {
    let out = Command::new("getconf").arg("CLK_TCK").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}
