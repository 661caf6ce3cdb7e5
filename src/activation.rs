//! Socket activation: listening sockets inherited from systemd, or any supervisor speaking
//! its protocol (`LISTEN_PID`, `LISTEN_FDS`, `LISTEN_FDNAMES`; sd_listen_fds(3)), instead
//! of sockets greeter binds. A held socket is what lets a restart refuse nothing.

use std::fmt;
use std::net::SocketAddr;

/// The descriptor name (`FileDescriptorName=` in a socket unit) that serves `/metrics`.
pub const METRICS_NAME: &str = "metrics";

/// First inherited descriptor (`SD_LISTEN_FDS_START`).
const FIRST_FD: usize = 3;

/// Listening sockets passed by the supervisor, checked: TCP, listening.
#[derive(Debug)]
pub struct Inherited {
    /// The socket greetings are served on, and its address.
    pub serve: (socket2::Socket, SocketAddr),
    /// The socket named [`METRICS_NAME`], if passed: `/metrics` is served there.
    pub metrics: Option<(socket2::Socket, SocketAddr)>,
    /// The names the supervisor gave, in order (`LISTEN_FDNAMES`), for the start log.
    pub names: Vec<String>,
}

/// Inherited descriptors that cannot be served; the message names the variable at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivationError(String);

impl fmt::Display for ActivationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ActivationError {}

/// The sockets the supervisor passed, if any were passed to this process. As
/// sd_listen_fds(3): without `LISTEN_PID`, or with another process's, nothing was
/// passed to us and greeter binds `--listen`.
///
/// Call it once, before starting threads: it unsets the variables (so a child does not
/// inherit them), and changing the environment races with threads reading it.
pub fn take() -> Result<Option<Inherited>, ActivationError> {
    let var = |name| std::env::var(name).ok();
    let Some(count) = passed_to_us(var("LISTEN_PID"), var("LISTEN_FDS"), std::process::id())?
    else {
        return Ok(None);
    };
    let names = names(var("LISTEN_FDNAMES"), count)?;
    let mut fds = listenfd::ListenFd::from_env();
    let sockets = (0..count)
        .map(|index| adopt(&mut fds, index, count))
        .collect::<Result<Vec<_>, _>>()?;
    assign(sockets, names).map(Some)
}

/// How many descriptors were passed to process `pid`: `None` when none were (no
/// `LISTEN_PID`, or another process's); an error for values that make no sense.
fn passed_to_us(
    pid: Option<String>,
    fds: Option<String>,
    our_pid: u32,
) -> Result<Option<usize>, ActivationError> {
    let (Some(pid), Some(fds)) = (pid, fds) else {
        return Ok(None);
    };
    let pid: u32 = pid
        .trim()
        .parse()
        .map_err(|_| ActivationError(format!("LISTEN_PID=`{pid}` is not a process id")))?;
    if pid != our_pid {
        tracing::info!(
            "LISTEN_FDS is for process {pid}, not this one ({our_pid}): ignoring it and binding --listen"
        );
        return Ok(None);
    }
    match fds.trim().parse::<usize>() {
        Ok(count) if (1..=64).contains(&count) => Ok(Some(count)),
        _ => Err(ActivationError(format!(
            "LISTEN_FDS=`{fds}` names no socket: it should count the listening sockets passed from descriptor {FIRST_FD} on (1 to 64)"
        ))),
    }
}

/// The names of the `count` descriptors (`unknown` where the supervisor gave none).
fn names(names: Option<String>, count: usize) -> Result<Vec<String>, ActivationError> {
    let Some(names) = names else {
        return Ok(vec!["unknown".to_owned(); count]);
    };
    let names: Vec<String> = names.split(':').map(str::to_owned).collect();
    match names.len() == count {
        true => Ok(names),
        false => Err(ActivationError(format!(
            "LISTEN_FDNAMES names {} descriptor(s) but LISTEN_FDS passes {count}",
            names.len()
        ))),
    }
}

/// Takes descriptor `index` as a listening TCP socket; with its address.
fn adopt(
    fds: &mut listenfd::ListenFd,
    index: usize,
    count: usize,
) -> Result<(socket2::Socket, SocketAddr), ActivationError> {
    let fd = FIRST_FD + index;
    let unusable = |why: String| {
        ActivationError(format!(
            "LISTEN_FDS={count} passes descriptor {fd}, which greeter cannot serve on: {why}"
        ))
    };
    let socket = match fds.take_tcp_listener(index) {
        Ok(Some(listener)) => socket2::Socket::from(listener),
        Ok(None) => return Err(unusable("it was already taken".to_owned())),
        Err(e) => return Err(unusable(format!("{e} (a listening TCP socket is needed)"))),
    };
    if !is_listening(&socket) {
        return Err(unusable("it is a TCP socket but not listening".to_owned()));
    }
    socket
        .set_nonblocking(true)
        .map_err(|e| unusable(e.to_string()))?;
    let addr = socket.local_addr().ok().and_then(|a| a.as_socket());
    let addr = addr.ok_or_else(|| unusable("it has no IP address".to_owned()))?;
    Ok((socket, addr))
}

#[cfg(target_os = "linux")]
fn is_listening(socket: &socket2::Socket) -> bool {
    socket.is_listener().unwrap_or(false)
}

/// Elsewhere there is no `SO_ACCEPTCONN` to ask; a socket that does not listen fails at
/// the first accept.
#[cfg(not(target_os = "linux"))]
fn is_listening(_: &socket2::Socket) -> bool {
    true
}

/// Which socket serves what: the one named [`METRICS_NAME`] serves `/metrics`, the one
/// other serves greetings.
fn assign(
    sockets: Vec<(socket2::Socket, SocketAddr)>,
    names: Vec<String>,
) -> Result<Inherited, ActivationError> {
    let (mut serve, mut metrics) = (Vec::new(), None);
    for (socket, name) in sockets.into_iter().zip(&names) {
        match name == METRICS_NAME && metrics.is_none() {
            true => metrics = Some(socket),
            false => serve.push((socket, name.clone())),
        }
    }
    if serve.len() != 1 {
        let served: Vec<&str> = serve.iter().map(|(_, n)| n.as_str()).collect();
        return Err(ActivationError(format!(
            "LISTEN_FDS passes {} socket(s) to serve greetings on (LISTEN_FDNAMES: {}); greeter serves exactly one, plus optionally one named `{METRICS_NAME}` (FileDescriptorName={METRICS_NAME}) for /metrics",
            serve.len(),
            served.join(", "),
        )));
    }
    let (serve, _) = serve.remove(0);
    Ok(Inherited {
        serve,
        metrics,
        names,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn some(s: &str) -> Option<String> {
        Some(s.to_owned())
    }

    #[test]
    fn descriptors_for_another_process_or_no_process_are_not_ours() {
        assert_eq!(passed_to_us(None, some("1"), 7), Ok(None));
        assert_eq!(passed_to_us(some("8"), some("1"), 7), Ok(None));
        assert_eq!(passed_to_us(some("7"), None, 7), Ok(None));
        assert_eq!(passed_to_us(some("7"), some("2"), 7), Ok(Some(2)));
    }

    #[test]
    fn nonsense_names_the_variable() {
        let err = passed_to_us(some("x"), some("1"), 7).unwrap_err();
        assert_eq!(err.to_string(), "LISTEN_PID=`x` is not a process id");
        for fds in ["0", "-1", "two", "", "65"] {
            let err = passed_to_us(some("7"), some(fds), 7)
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with(&format!("LISTEN_FDS=`{fds}` names no socket")),
                "{err}"
            );
        }
    }

    #[test]
    fn names_must_match_the_count() {
        assert_eq!(names(None, 2).unwrap(), ["unknown", "unknown"]);
        assert_eq!(names(some("web:metrics"), 2).unwrap(), ["web", "metrics"]);
        let err = names(some("web"), 2).unwrap_err().to_string();
        assert_eq!(
            err,
            "LISTEN_FDNAMES names 1 descriptor(s) but LISTEN_FDS passes 2"
        );
    }

    fn listener() -> (socket2::Socket, SocketAddr) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        (socket2::Socket::from(listener), addr)
    }

    #[test]
    fn the_socket_named_metrics_serves_metrics() {
        let names = vec!["metrics".to_owned(), "web".to_owned()];
        let (a, b) = (listener(), listener());
        let (metrics_addr, web_addr) = (a.1, b.1);
        let got = assign(vec![a, b], names).unwrap();
        assert_eq!(got.serve.1, web_addr);
        assert_eq!(got.metrics.unwrap().1, metrics_addr);
    }

    #[test]
    fn two_sockets_to_serve_on_are_refused() {
        let names = vec!["a".to_owned(), "b".to_owned()];
        let err = assign(vec![listener(), listener()], names)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "LISTEN_FDS passes 2 socket(s) to serve greetings on (LISTEN_FDNAMES: a, b)"
            ),
            "{err}"
        );
    }
}
