//! The protocol core alone, without I/O: one keep-alive request, and 16 pipelined in one
//! buffer (hyper's `hello_world_16` shape), fed through a connection's flow as a backend
//! feeds it. Throughput is in requests.

use std::hint::black_box;
use std::time::{Instant, SystemTime};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use greeter::proto::{Flow, Greeter, Output, ProtoConfig};

const GET: &[u8] =
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8888\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n";

fn answer(c: &mut Criterion, name: &str, count: usize) {
    let greeter = Greeter::new(ProtoConfig::default(), SystemTime::now());
    let input = GET.repeat(count);
    let now = Instant::now();
    let mut flow = Flow::new(&greeter, now);
    let mut out = Vec::with_capacity(64 * 1024);
    let mut group = c.benchmark_group("proto");
    group.throughput(Throughput::Elements(count as u64));
    group.bench_function(name, |b| {
        b.iter(|| {
            out.clear();
            let mut output = Output::bytes(&mut out);
            let action = flow.handle_input(&greeter, black_box(&input), &mut output, now);
            let flushed = flow.handle_flushed(&greeter, &mut output, now);
            black_box((action, flushed, out.len()))
        })
    });
    group.finish();
}

fn one_request(c: &mut Criterion) {
    answer(c, "one_request", 1);
}

fn pipelined_16(c: &mut Criterion) {
    answer(c, "pipelined_16", 16);
}

criterion_group!(benches, one_request, pipelined_16);
criterion_main!(benches);
