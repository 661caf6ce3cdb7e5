//! `--sandbox`: once serving, every thread greeter runs carries its seccomp filter, on
//! every backend; in the binary that is every thread of the process, while a library
//! user's own threads are left alone. (The filter's refusals themselves are unit tests in
//! `src/sandbox.rs`; every other integration case runs sandboxed too.)
#![cfg(target_os = "linux")]

mod support;

use std::io::Write;

use greeter::BackendChoice;
use support::child::{Greeter, child_args};
use support::*;

/// `Seccomp:` of one thread's status: 0 none, 2 filtered.
fn seccomp_mode(status: &str) -> u32 {
    let line = status.lines().find_map(|l| l.strip_prefix("Seccomp:"));
    line.and_then(|v| v.trim().parse().ok())
        .expect("a Seccomp line")
}

/// Each thread of process `pid`: its name, and its seccomp mode.
fn threads(pid: u32) -> Vec<(String, u32)> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap();
    tasks
        .map(|t| t.unwrap().path())
        .filter_map(|task| {
            let comm = std::fs::read_to_string(task.join("comm")).ok()?;
            let status = std::fs::read_to_string(task.join("status")).ok()?;
            Some((comm.trim().to_owned(), seccomp_mode(&status)))
        })
        .collect()
}

/// `Seccomp_filters:` of one thread's status: how many filters it runs under (a test run
/// under a filter of its own, as with io_uring blocked, starts above 0).
fn filters(status: &str) -> u32 {
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("Seccomp_filters:"));
    line.and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

fn a_library_server_confines_its_own_threads_only(backend: BackendChoice) {
    let before = std::fs::read_to_string("/proc/thread-self/status").unwrap();
    let server = server(backend); // the test support turns the sandbox on
    let mut c = connect(server.local_addr());
    c.write_all(GET.as_bytes()).unwrap();
    assert_eq!(read_response(&mut c), hello(), "served, confined");
    // Every server thread in this process (other tests' too) confines itself once set up.
    eventually("every server thread is confined", || {
        let all = threads(std::process::id());
        let ours: Vec<_> = all
            .iter()
            .filter(|(n, _)| n.starts_with("greeter-"))
            .collect();
        ours.len() >= 2 && ours.iter().all(|(_, mode)| *mode == 2)
    });
    let this = std::fs::read_to_string("/proc/thread-self/status").unwrap();
    assert_eq!(
        (seccomp_mode(&this), filters(&this)),
        (seccomp_mode(&before), filters(&before)),
        "the test's own thread is not confined by the server"
    );
}

fn the_binary_confines_every_thread_of_its_process(backend: BackendChoice) {
    let args = child_args(backend, &["--sandbox", "--access-log"]);
    let mut g = Greeter::start(&args, &[]);
    let addr = g.address();
    let mut c = connect(addr);
    c.write_all(GET.repeat(3).as_bytes()).unwrap();
    assert_eq!(read_responses(&mut c, 3), hello().repeat(3));
    // Each thread confines itself once set up: the main one just after the start-up line.
    let pid = g.pid();
    eventually("every thread of the process is confined", || {
        let all = threads(pid);
        all.len() >= 4 && all.iter().all(|(_, mode)| *mode == 2)
    });
    g.signal("TERM");
    assert!(g.wait().success(), "a clean exit, confined: {:#?}", g.log);
}

fn log_mode_serves_and_only_logs(backend: BackendChoice) {
    let args = child_args(backend, &["--sandbox", "log"]);
    let mut g = Greeter::start(&args, &[]);
    let mut c = connect(g.address());
    c.write_all(GET.as_bytes()).unwrap();
    assert_eq!(read_response(&mut c), hello());
    let pid = g.pid();
    eventually("every thread of the process is confined", || {
        threads(pid).iter().all(|(_, mode)| *mode == 2)
    });
}

per_backend!(
    a_library_server_confines_its_own_threads_only,
    the_binary_confines_every_thread_of_its_process,
    log_mode_serves_and_only_logs,
);
