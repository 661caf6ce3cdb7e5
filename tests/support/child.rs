//! The `greeter` binary as a child process: its log lines, address, signals and exit.

use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::WAIT;

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
