//! Which servers a comparison runs: greeter on each compiled backend, the floors (minimal
//! canned-answer servers on each I/O model, built from `floors/`), the shipped peers that
//! can run here (asyncio, nginx) and any `--peer`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::servers::{ServerSpec, on_path};

/// greeter's backends: name, `--backend` value, and the floor each is measured against.
const BACKENDS: [(&str, &str, Option<&str>); 3] = [
    ("greeter io_uring", "uring", Some("floor io_uring")),
    ("greeter tokio", "tokio", Some("floor tokio")),
    // Only when built with the `tokio-uring` feature (ci/bench.sh does); no floor of its
    // own: it is the comparison's third I/O model.
    ("greeter tokio-uring", "tokio-uring", None),
];

/// The floors: name and binary (in the `floors/` package).
const FLOORS: [(&str, &str); 3] = [
    ("floor io_uring", "floor_uring"),
    ("floor epoll", "floor_epoll"),
    ("floor tokio", "floor_tokio"),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every server to compare, in order; `workers` for greeter, `floors` whether to build
/// and run the floors, `peers` the `--peer` list.
pub fn all(workers: usize, floors: bool, peers: &[(String, String)]) -> Vec<ServerSpec> {
    let mut specs = greeter(workers);
    if floors {
        specs.extend(floor_specs());
    }
    specs.extend(asyncio());
    specs.extend(nginx());
    specs.extend(peers.iter().map(|(name, command)| ServerSpec {
        name: name.clone(),
        http: vec!["sh".into(), "-c".into(), format!("exec {command}")],
        ..ServerSpec::default()
    }));
    specs
}

fn greeter(workers: usize) -> Vec<ServerSpec> {
    let mut specs = Vec::new();
    for (name, backend, floor) in BACKENDS {
        let choice = match backend {
            "uring" => greeter::BackendChoice::Uring,
            "tokio-uring" if cfg!(tokio_uring) => greeter::BackendChoice::TokioUring,
            "tokio-uring" => continue, // not built in
            _ => greeter::BackendChoice::Tokio,
        };
        if let Err(why) = greeter::resolve(choice, "--backend") {
            eprintln!("skipped: {name}: {why}");
            continue;
        }
        let workers = workers.to_string();
        let args = [
            "--backend",
            backend,
            "--workers",
            &workers,
            "--listen",
            "127.0.0.1:{port}",
        ];
        let http: Vec<String> = std::iter::once(env!("CARGO_BIN_EXE_greeter"))
            .chain(args)
            .map(String::from)
            .collect();
        let raw = [http.clone(), vec!["--protocol".into(), "raw".into()]].concat();
        specs.push(ServerSpec {
            name: name.into(),
            http,
            raw: Some(raw),
            post: true,
            floor,
            ..ServerSpec::default()
        });
    }
    specs
}

/// The floors, built in release mode first (into `target/floors`).
fn floor_specs() -> Vec<ServerSpec> {
    let Some(bin) = build_floors() else {
        return Vec::new();
    };
    FLOORS
        .iter()
        .filter(|(name, _)| {
            *name != "floor io_uring" || greeter::resolve(greeter::BackendChoice::Uring, "").is_ok()
        })
        .map(|(name, binary)| ServerSpec {
            name: (*name).into(),
            http: vec![
                bin.join(binary).to_string_lossy().into_owned(),
                "--port".into(),
                "{port}".into(),
            ],
            ..ServerSpec::default()
        })
        .collect()
}

/// Builds `floors/`; the directory of its binaries, or `None` (with the reason printed).
fn build_floors() -> Option<PathBuf> {
    let target = root().join("target/floors");
    let built = Command::new(env!("CARGO"))
        .args(["build", "--release", "--quiet", "--manifest-path"])
        .arg(root().join("floors/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .status();
    match built {
        Ok(status) if status.success() => Some(target.join("release")),
        other => {
            eprintln!("skipped: the floors did not build: {other:?}");
            None
        }
    }
}

fn asyncio() -> Option<ServerSpec> {
    if !on_path("python3") {
        eprintln!("skipped: asyncio peer: python3 is not on PATH");
        return None;
    }
    let script = root().join("benches/peers/asyncio_server.py");
    let http = vec![
        "python3".to_owned(),
        script.to_string_lossy().into_owned(),
        "--port".into(),
        "{port}".into(),
    ];
    let raw = [http.clone(), vec!["--raw".into()]].concat();
    Some(ServerSpec {
        name: "asyncio".into(),
        http,
        raw: Some(raw),
        post: true,
        ..ServerSpec::default()
    })
}

fn nginx() -> Option<ServerSpec> {
    if !on_path("nginx") {
        eprintln!("skipped: nginx peer: nginx is not on PATH (apt-get install nginx)");
        return None;
    }
    let args = [
        "nginx",
        "-p",
        "{dir}",
        "-c",
        "{dir}/nginx.conf",
        "-e",
        "stderr",
    ];
    Some(ServerSpec {
        name: "nginx".into(),
        http: args.map(String::from).to_vec(),
        post: true,
        config: Some(Path::new(&root()).join("benches/peers/nginx.conf")),
        ..ServerSpec::default()
    })
}
