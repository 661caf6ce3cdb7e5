//! Which servers a comparison runs: greeter on each compiled backend, the floors (minimal
//! canned-answer servers on each I/O model, built from `floors/`), the peers that can run
//! here ([`crate::peers`]) and any `--peer`; io_uring servers first, greeter first in each.

use std::path::PathBuf;
use std::process::Command;

use crate::servers::ServerSpec;

/// greeter's backends: name, `--backend` value, and the floor each is measured against.
const BACKENDS: [(&str, &str, Option<&str>, &str); 3] = [
    (
        "greeter io_uring",
        "uring",
        Some("floor io_uring"),
        "io_uring",
    ),
    ("greeter tokio", "tokio", Some("floor tokio"), "epoll"),
    // Only when built with the `tokio-uring` feature (ci/bench.sh does); no floor of its
    // own: it is the comparison's third I/O model.
    ("greeter tokio-uring", "tokio-uring", None, "io_uring"),
];

/// The floors: name, binary (in the `floors/` package) and I/O model.
const FLOORS: [(&str, &str, &str); 3] = [
    ("floor io_uring", "floor_uring", "io_uring"),
    ("floor epoll", "floor_epoll", "epoll"),
    ("floor tokio", "floor_tokio", "epoll"),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What to compare: `workers` for greeter and the peers, whether to build and run the
/// floors and the peers (built for speed of building with `quick`), and the `--peer` list.
pub struct Choice<'a> {
    pub workers: usize,
    pub floors: bool,
    pub peers: bool,
    pub quick: bool,
    pub extra: &'a [(String, String)],
}

/// Every server to compare, io_uring ones first; the peers that cannot run here, with
/// why, in `skipped`.
pub fn all(c: &Choice<'_>, skipped: &mut Vec<(String, String)>) -> Vec<ServerSpec> {
    let mut specs = greeter(c.workers);
    if c.floors {
        specs.extend(floor_specs());
    }
    if c.peers {
        specs.extend(crate::peers::all(c.workers, c.quick, skipped));
    }
    specs.extend(c.extra.iter().map(|(name, command)| ServerSpec {
        name: name.clone(),
        http: vec!["sh".into(), "-c".into(), format!("exec {command}")],
        model: "other",
        ..ServerSpec::default()
    }));
    specs.sort_by_key(|s| s.model != "io_uring"); // stable: greeter stays first
    specs
}

fn greeter(workers: usize) -> Vec<ServerSpec> {
    let mut specs = Vec::new();
    for (name, backend, floor, model) in BACKENDS {
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
            model,
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
        .filter(|(name, _, _)| {
            *name != "floor io_uring" || greeter::resolve(greeter::BackendChoice::Uring, "").is_ok()
        })
        .map(|(name, binary, model)| ServerSpec {
            name: (*name).into(),
            model,
            note: Some("a minimal canned-answer responder (floors/)".into()),
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
