//! The servers users would pick instead of greeter, built or installed by the bench
//! itself: Rust crates from the `benches/peers/rust` workspace (hyper, actix-web,
//! may_minihttp, and minimal responders on compio and monoio), Go's net/http (Debian's
//! Go), Node's http, uvloop (in a venv under `target/peers`), h2o and nginx (Debian;
//! `ci/bench.sh` installs them). Each runs with `threads` threads, pinned with the rest
//! to the server cores; one that cannot be built or run here is skipped with the reason,
//! which the results list.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::servers::{ServerSpec, on_path};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn target() -> PathBuf {
    root().join("target/peers")
}

/// Every peer that can run here; the reasons for those that cannot, in `skipped`.
pub fn all(threads: usize, quick: bool, skipped: &mut Vec<(String, String)>) -> Vec<ServerSpec> {
    let mut specs = Vec::new();
    let mut add = |found: Result<Vec<ServerSpec>, (Vec<&str>, String)>| match found {
        Ok(found) => specs.extend(found),
        Err((names, why)) => {
            for name in names {
                eprintln!("skipped: {name}: {why}");
                skipped.push((name.to_owned(), why.clone()));
            }
        }
    };
    add(rust(threads, quick));
    add(go(threads));
    add(node());
    add(asyncio());
    if on_path("python3") {
        add(uvloop());
    }
    let nginx = [
        "nginx",
        "-p",
        "{dir}",
        "-c",
        "{dir}/nginx.conf",
        "-e",
        "stderr",
    ];
    add(debian(
        "h2o",
        "epoll",
        &["h2o", "-c", "{dir}/h2o.conf"],
        "h2o.conf",
    ));
    add(debian("nginx", "epoll", &nginx, "nginx.conf"));
    specs
}

/// A peer's spec: `name` on `model`, started by `command` (`{port}` filled in).
fn spec(name: &str, model: &'static str, command: Vec<String>, note: Option<&str>) -> ServerSpec {
    ServerSpec {
        name: name.into(),
        http: command,
        model,
        note: note.map(str::to_owned),
        ..ServerSpec::default()
    }
}

/// The Rust peers: name, binary, I/O model, and a note for the results.
const RUST: [(&str, &str, &str, Option<&str>); 5] = [
    (
        "hyper",
        "hyper_server",
        "epoll",
        Some("hyper 1.x, http1, on tokio's multi-threaded runtime"),
    ),
    ("actix-web", "actix_server", "epoll", None),
    (
        "may_minihttp",
        "may_minihttp_server",
        "epoll",
        Some("stackful coroutines"),
    ),
    (
        "compio",
        "compio_server",
        "io_uring",
        Some("no HTTP layer fits: a minimal responder like the floors"),
    ),
    (
        "monoio",
        "monoio_server",
        "io_uring",
        Some("no HTTP server layer: a minimal responder like the floors"),
    ),
];

fn rust(threads: usize, quick: bool) -> Result<Vec<ServerSpec>, (Vec<&'static str>, String)> {
    let names = RUST.map(|r| r.0).to_vec();
    let profile = if quick { "quick" } else { "release" };
    let built = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--profile", profile, "--manifest-path"])
        .arg(root().join("benches/peers/rust/Cargo.toml"))
        .arg("--target-dir")
        .arg(target())
        .status();
    match built {
        Ok(s) if s.success() => {}
        other => {
            return Err((
                names,
                format!("the peers workspace did not build: {other:?}"),
            ));
        }
    }
    let bin = target().join(profile);
    let threads = threads.to_string();
    Ok(RUST
        .iter()
        .map(|(name, binary, model, note)| {
            let command = [
                path(&bin.join(binary)),
                "--port".into(),
                "{port}".into(),
                "--threads".into(),
                threads.clone(),
            ];
            spec(name, model, command.to_vec(), *note)
        })
        .collect())
}

fn go(threads: usize) -> Result<Vec<ServerSpec>, (Vec<&'static str>, String)> {
    let name = vec!["Go net/http"];
    if !on_path("go") {
        return Err((
            name,
            "go is not on PATH (Debian: apt-get install golang-go; ci/bench.sh does)".into(),
        ));
    }
    let out = target().join("go-http");
    let built = Command::new("go")
        .args(["build", "-o"])
        .arg(&out)
        .arg(root().join("benches/peers/go/main.go"))
        .env("GOCACHE", target().join("go-cache"))
        .env("GOPATH", target().join("go-path"))
        .env("GO111MODULE", "off")
        .status();
    match built {
        Ok(s) if s.success() => {}
        other => return Err((name, format!("go build failed: {other:?}"))),
    }
    let command = vec![
        path(&out),
        "-port".into(),
        "{port}".into(),
        "-threads".into(),
        threads.to_string(),
    ];
    Ok(vec![spec(
        "Go net/http",
        "epoll",
        command,
        Some("the standard library, GOMAXPROCS = the core budget"),
    )])
}

fn node() -> Result<Vec<ServerSpec>, (Vec<&'static str>, String)> {
    let names = vec!["Node http"];
    let Some(node) = ["node", "nodejs"].into_iter().find(|n| on_path(n)) else {
        return Err((
            names,
            "node is not on PATH (Debian: apt-get install nodejs)".into(),
        ));
    };
    let script = path(&root().join("benches/peers/node_server.js"));
    let command = vec![node.into(), script, "--port".into(), "{port}".into()];
    Ok(vec![spec(
        "Node http",
        "epoll",
        command,
        Some("one JavaScript thread"),
    )])
}

/// The seed's asyncio server (`benches/peers/asyncio_server.py`) run by `python` on
/// `event_loop`.
fn seed_server(python: String, event_loop: &str) -> Vec<String> {
    let script = path(&root().join("benches/peers/asyncio_server.py"));
    let args = ["--port", "{port}", "--loop", event_loop];
    [vec![python, script], args.map(String::from).to_vec()].concat()
}

/// The seed's server on CPython's own event loop (it also speaks the raw protocol).
fn asyncio() -> Result<Vec<ServerSpec>, (Vec<&'static str>, String)> {
    if !on_path("python3") {
        return Err((vec!["asyncio", "uvloop"], "python3 is not on PATH".into()));
    }
    let http = seed_server("python3".into(), "asyncio");
    let note = Some("the seed's server, CPython's own event loop");
    Ok(vec![ServerSpec {
        raw: Some([http.clone(), vec!["--raw".into()]].concat()),
        post: true,
        ..spec("asyncio", "epoll", http, note)
    }])
}

/// The same server on uvloop, from a venv.
fn uvloop() -> Result<Vec<ServerSpec>, (Vec<&'static str>, String)> {
    let python = uvloop_python().map_err(|why| (vec!["uvloop"], why))?;
    let note = Some("the seed's server on uvloop");
    Ok(vec![ServerSpec {
        post: true,
        ..spec("uvloop", "epoll", seed_server(python, "uvloop"), note)
    }])
}

/// A venv under `target/peers` with uvloop from PyPI; its python.
fn uvloop_python() -> Result<String, String> {
    let venv = target().join("venv");
    let python = venv.join("bin/python3");
    let has = |p: &Path| {
        Command::new(p)
            .args(["-c", "import uvloop"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if has(&python) {
        return Ok(path(&python));
    }
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status();
    let pip = || {
        Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "uvloop"])
            .status()
    };
    match (made, pip()) {
        (Ok(m), Ok(p)) if m.success() && p.success() && has(&python) => Ok(path(&python)),
        other => Err(format!(
            "no venv with uvloop (python3-venv, PyPI): {other:?}"
        )),
    }
}

/// A server from the Debian package `name` (its program too), configured by `config` in
/// `benches/peers/`.
fn debian(
    name: &'static str,
    model: &'static str,
    args: &[&str],
    config: &str,
) -> Result<Vec<ServerSpec>, (Vec<&'static str>, String)> {
    if !on_path(name) {
        let why =
            format!("{name} is not on PATH (Debian: apt-get install {name}; ci/bench.sh does)");
        return Err((vec![name], why));
    }
    Ok(vec![ServerSpec {
        config: Some(root().join("benches/peers").join(config)),
        post: name == "nginx",
        ..spec(
            name,
            model,
            args.iter().map(|a| (*a).to_owned()).collect(),
            Some("one worker process"),
        )
    }])
}

fn path(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}
