//! The protocol core alone, without I/O: one keep-alive request, and 16 pipelined in one
//! buffer (hyper's `hello_world_16` shape). Throughput is in requests.

use std::hint::black_box;
use std::time::SystemTime;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use greeter::proto::{Greeter, ProtoConfig};

const GET: &[u8] =
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8888\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n";

fn answer(c: &mut Criterion, name: &str, count: usize) {
    let greeter = Greeter::new(ProtoConfig::default(), SystemTime::now());
    let input = GET.repeat(count);
    let mut session = greeter.new_session();
    let mut out = Vec::with_capacity(64 * 1024);
    let mut group = c.benchmark_group("proto");
    group.throughput(Throughput::Elements(count as u64));
    group.bench_function(name, |b| {
        b.iter(|| {
            out.clear();
            let progress = session.handle_input(&greeter, black_box(&input), &mut out);
            black_box((progress, out.len()))
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
