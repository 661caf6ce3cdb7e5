//! The tokio load engine: a current-thread runtime per thread, a task per connection.
//! Moves bytes; `client` decides.

use std::cell::RefCell;
use std::io::{self, ErrorKind};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep, sleep_until};

use super::Job;
use super::client::{Client, Judge, Outcome};
use super::report::Stats;
use super::validate::Expect;

/// How often a waiting connection checks its timeout.
const TICK: Duration = Duration::from_millis(100);
const RETRY: Duration = Duration::from_millis(10);

struct Shared {
    job: Job,
    stats: RefCell<Stats>,
    expect: RefCell<Expect>,
}

/// Drives `job.count` connections until `job.end`.
pub(super) fn run(job: Job) -> io::Result<Stats> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    let expect = RefCell::new(job.expect.clone());
    let shared = Rc::new(Shared {
        job,
        stats: RefCell::default(),
        expect,
    });
    local.block_on(&runtime, async {
        let end = Instant::from_std(shared.job.end);
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..shared.job.count {
            tasks.spawn_local(connection(Rc::clone(&shared), shared.job.first + i));
        }
        let progress = tokio::task::spawn_local(report_progress(Rc::clone(&shared)));
        sleep_until(end).await;
        tasks.shutdown().await;
        progress.abort();
    });
    let stats = shared.stats.borrow().clone();
    Ok(stats)
}

/// One connection slot: connect, exchange until told to reconnect, repeat.
async fn connection(shared: Rc<Shared>, index: usize) {
    let plan = &shared.job.plan;
    let mut client = Client::new(plan, index, shared.job.now_ns());
    loop {
        let Ok(stream) = TcpStream::connect(shared.job.addr).await else {
            shared.stats.borrow_mut().errors.connect += 1;
            sleep(RETRY).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        exchange(&shared, stream, &mut client).await;
        client.reconnected();
    }
}

async fn exchange(shared: &Shared, mut stream: TcpStream, client: &mut Client) {
    let plan = &shared.job.plan;
    let (mut out, mut buf) = (Vec::new(), vec![0u8; 64 * 1024]);
    loop {
        client.fill(plan, shared.job.now_ns(), &mut out);
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                return client.on_error(plan, &mut shared.stats.borrow_mut());
            }
            out.clear();
        }
        let wake = client.next_due(plan).map_or(TICK, |due| {
            Duration::from_nanos(due.saturating_sub(shared.job.now_ns()))
        });
        tokio::select! {
            ready = stream.readable() => if ready.is_err() { return client.on_error(plan, &mut shared.stats.borrow_mut()) },
            () = sleep(wake.min(TICK)) => {
                if client.timed_out(plan, shared.job.now_ns()) {
                    return client.on_timeout(&mut shared.stats.borrow_mut());
                }
                continue;
            }
        }
        if read(shared, &mut stream, client, &mut buf) == Outcome::Reconnect {
            return;
        }
    }
}

fn read(shared: &Shared, stream: &mut TcpStream, client: &mut Client, buf: &mut [u8]) -> Outcome {
    let (mut stats, mut expect) = (shared.stats.borrow_mut(), shared.expect.borrow_mut());
    let mut judge = Judge {
        plan: &shared.job.plan,
        now_ns: shared.job.now_ns(),
        expect: &mut expect,
        stats: &mut stats,
    };
    match stream.try_read(buf) {
        Ok(0) => client.on_eof(&mut judge),
        Ok(n) => client.on_input(&buf[..n], &mut judge),
        Err(e) if e.kind() == ErrorKind::WouldBlock => Outcome::Keep,
        Err(_) => {
            client.on_error(judge.plan, judge.stats);
            Outcome::Reconnect
        }
    }
}

async fn report_progress(shared: Rc<Shared>) {
    let mut reported = 0;
    loop {
        sleep(TICK).await;
        let ok = shared.stats.borrow().ok;
        shared
            .job
            .progress
            .fetch_add(ok - reported, Ordering::Relaxed);
        reported = ok;
    }
}
