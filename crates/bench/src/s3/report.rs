//! The Markdown tables `coffer-bench s3` prints on stdout: every figure of the run, the
//! ratios against the baselines, the encryption ratios against the same run's
//! unencrypted rows, the KMS calls per object, and the memory while streaming.

use super::servers::{Row, System};
use super::sse::Sse;
use super::{
    cpu_per_gib, kib_mib, mib_s, opt, size_label, AtRest, Memory, Scenario, Verb, KIB, MIB,
};
use crate::load::Outcome;
use crate::S3Args;

/// Issue #9 §6: encrypted GET at least this fraction of unencrypted GET.
const GET_TARGET: f64 = 0.9;
/// Issue #9 §6: encrypted PUT at least this fraction of unencrypted PUT.
const PUT_TARGET: f64 = 0.85;

const COFFER: Row = Row::new(System::Coffer, Sse::None);
const COFFER_S3: Row = Row::new(System::Coffer, Sse::S3);
const COFFER_C: Row = Row::new(System::Coffer, Sse::C);
const BEFORE: Row = Row::new(System::CofferBefore, Sse::None);
const S3S_FS: Row = Row::new(System::S3sFs, Sse::None);
const WEED: Row = Row::new(System::Seaweed, Sse::None);
const WEED_S3: Row = Row::new(System::Seaweed, Sse::S3);
const GATEWAY: Row = Row::new(System::Gateway, Sse::S3);
const GATEWAY2: Row = Row::new(System::Gateway2, Sse::S3);
/// Issue #14: a gateway with SSE-S3 at least this fraction of direct access to its backend.
const GATEWAY_TARGET: f64 = 0.8;

/// MiB/s and outcome of one scenario, if it ran.
type Found<'a> = Option<(f64, &'a Outcome)>;

pub(super) fn print(
    scenarios: &[Scenario],
    rows: &[Row],
    memory: &[Memory],
    at_rest: &[AtRest],
    args: &S3Args,
    cores: usize,
    md5_ceiling: f64,
) {
    if args.sse || args.gateway {
        println!(
            "\n{cores} cores, load generator on the same machine; {:.1} s measured per \
             scenario after {:.1} s warm-up, 64 MiB objects included (a request started in \
             the window runs to its end and counts); plain HTTP for every row (Coffer's \
             SSE-C row runs with --insecure-sse-c)\n",
            args.secs, args.warmup
        );
    } else {
        println!(
            "\n{cores} cores, load generator on the same machine; {:.1} s measured per \
             scenario after {:.1} s warm-up (64 MiB: {} requests per system and \
             concurrency after one warm-up request per worker)\n",
            args.secs, args.warmup, args.large_ops
        );
    }
    print_all(scenarios);

    let find = |row: Row, verb: Verb, size: u64, workers: usize| {
        if !rows.contains(&row) {
            return None;
        }
        scenarios
            .iter()
            .find(|s| s.row == row && s.verb == verb && s.size == size && s.workers == workers)
            .and_then(|s| s.out.as_ref().map(|o| (mib_s(s.bytes, o.secs), o)))
    };
    let sizes: Vec<u64> = [4 * KIB, MIB, 64 * MIB]
        .into_iter()
        .filter(|z| scenarios.iter().any(|s| s.size == *z))
        .collect();
    let mut cases = Vec::new();
    for &size in &sizes {
        for verb in [Verb::Put, Verb::Get] {
            for workers in [1, args.concurrency] {
                cases.push((size, verb, workers));
            }
        }
    }

    if rows.contains(&GATEWAY) {
        print_gateway(&cases, &find);
    }

    if rows.contains(&COFFER) && (rows.contains(&S3S_FS) || rows.contains(&WEED)) {
        println!(
            "\nCoffer against the baselines (throughput ratio = coffer MiB/s ÷ baseline MiB/s):\n"
        );
        println!("| object | op | conc | coffer MiB/s | s3s-fs MiB/s | SeaweedFS MiB/s | ÷ s3s-fs | ÷ SeaweedFS | p99 ms coffer / s3s-fs / SeaweedFS | server CPU s/GiB coffer / s3s-fs / SeaweedFS |");
        println!("|---|---|---:|---:|---:|---:|---:|---:|---|---|");
        for &(size, verb, workers) in &cases {
            let c = find(COFFER, verb, size, workers);
            let Some((cm, _)) = c else { continue };
            let b = find(S3S_FS, verb, size, workers);
            let w = find(WEED, verb, size, workers);
            println!(
                "| {} | {} | {} | {cm:.1} | {} | {} | {} | {} | {} / {} / {} | {} / {} / {} |",
                size_label(size),
                verb.label(),
                workers,
                mib(b),
                mib(w),
                ratio(c, b, None),
                ratio(c, w, None),
                p99(c),
                p99(b),
                p99(w),
                cpu(c),
                cpu(b),
                cpu(w),
            );
        }
    }

    if rows.contains(&BEFORE) {
        println!("\nThis coffer against the `--coffer-before` binary, same run (ratio = coffer MiB/s ÷ coffer before MiB/s):\n");
        println!("| object | op | conc | coffer MiB/s | before MiB/s | ÷ before | p50 ms coffer / before | p99 ms coffer / before | server CPU s/GiB coffer / before |");
        println!("|---|---|---:|---:|---:|---:|---|---|---|");
        for &(size, verb, workers) in &cases {
            let c = find(COFFER, verb, size, workers);
            let Some((cm, _)) = c else { continue };
            let b = find(BEFORE, verb, size, workers);
            println!(
                "| {} | {} | {} | {cm:.1} | {} | {} | {} / {} | {} / {} | {} / {} |",
                size_label(size),
                verb.label(),
                workers,
                mib(b),
                ratio(c, b, None),
                p50(c),
                p50(b),
                p99(c),
                p99(b),
                cpu(c),
                cpu(b),
            );
        }
    }

    if let Some((put, _)) = find(COFFER, Verb::Put, 64 * MIB, 1) {
        println!(
            "\nSingle-stream ceiling: MD5 of the same bytes in the bench process {md5_ceiling:.0} MiB/s; \
             coffer 64 MiB PUT x1 {put:.1} MiB/s = **{:.2}** of it\n",
            put / md5_ceiling
        );
    }

    if rows.iter().any(|r| r.sse != Sse::None) {
        if !args.gateway {
            print_sse(rows, &cases, &find);
        }
        print_kms(scenarios);
    }
    if !at_rest.is_empty() {
        println!("\nSet-up check: one 4 KiB object of unique bytes per row, PUT and read back, then its data directory searched for 32 bytes of its plaintext:\n");
        for a in at_rest {
            println!(
                "- {}: plaintext {}",
                a.row.label(),
                if a.plaintext_found {
                    "found (stored in clear)"
                } else {
                    "not found (stored encrypted)"
                }
            );
        }
    }

    if !memory.is_empty() {
        println!(
            "\nServer peak resident set (VmHWM) while one object streams through a fresh server:\n"
        );
        println!("| system | object | VmHWM after start MiB | after PUT MiB | after GET MiB | PUT MiB/s | GET MiB/s | bench VmHWM MiB |");
        println!("|---|---|---:|---:|---:|---:|---:|---:|");
        for m in memory {
            println!(
                "| {} | {} | {} | {} | {} | {:.0} | {:.0} | {} |",
                m.system.label(),
                size_label(m.size),
                kib_mib(m.base_kib),
                kib_mib(m.put_kib),
                kib_mib(m.get_kib),
                m.put_mib_s,
                m.get_mib_s,
                kib_mib(m.bench_kib),
            );
        }
    }
}

/// Every figure of the run, one line per scenario.
fn print_all(scenarios: &[Scenario]) {
    println!("| object | op | conc | system | MiB/s | ops/s | p50 ms | p99 ms | server CPU s/GiB | server CPU µs/op | bench CPU s/GiB | errors |");
    println!("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|");
    for s in scenarios {
        let Some(out) = &s.out else {
            println!(
                "| {} | {} | {} | {} | - | - | - | - | - | - | - | {} |",
                size_label(s.size),
                s.verb.label(),
                s.workers,
                s.row.label(),
                s.skipped.clone().unwrap_or_default()
            );
            continue;
        };
        let err = match &out.first_error {
            Some(e) => format!("{} ({e})", out.errors),
            None => out.errors.to_string(),
        };
        let bench_cpu = out
            .client_cpu
            .filter(|c| *c >= 0.1 && s.bytes > 0)
            .map(|c| c / (s.bytes as f64 / super::GIB));
        println!(
            "| {} | {} | {} | {} | {:.1} | {:.0} | {:.2} | {:.2} | {} | {} | {} | {} |",
            size_label(s.size),
            s.verb.label(),
            s.workers,
            s.row.label(),
            mib_s(s.bytes, out.secs),
            out.rate(),
            out.ms(0.5),
            out.ms(0.99),
            opt(cpu_per_gib(out, s.bytes), 2),
            opt(out.server_us(), 0),
            opt(bench_cpu, 2),
            err
        );
    }
}

/// Encrypted rows against the unencrypted row of the same system, and Coffer's SSE-S3
/// against SeaweedFS's.
fn print_sse<'a>(
    rows: &[Row],
    cases: &[(u64, Verb, usize)],
    find: &dyn Fn(Row, Verb, u64, usize) -> Found<'a>,
) {
    println!(
        "\nEncryption against no encryption, same run (ratio = MiB/s with encryption ÷ MiB/s \
         of the same system without; targets: GET ≥ {GET_TARGET}, PUT ≥ {PUT_TARGET}):\n"
    );
    let weed = rows.contains(&WEED_S3);
    print!("| object | op | conc | coffer | coffer SSE-S3 (KES) | coffer SSE-C |");
    if weed {
        print!(" SeaweedFS | SeaweedFS SSE-S3 |");
    }
    print!(" SSE-S3 ÷ coffer | SSE-C ÷ coffer |");
    if weed {
        print!(" coffer SSE-S3 ÷ SeaweedFS SSE-S3 | SeaweedFS SSE-S3 ÷ SeaweedFS |");
    }
    println!(" server CPU s/GiB coffer / SSE-S3 / SSE-C |");
    print!("|---|---|---:|---:|---:|---:|");
    if weed {
        print!("---:|---:|");
    }
    print!("---:|---:|");
    if weed {
        print!("---:|---:|");
    }
    println!("---|");
    for &(size, verb, workers) in cases {
        let c = find(COFFER, verb, size, workers);
        let s3 = find(COFFER_S3, verb, size, workers);
        let sc = find(COFFER_C, verb, size, workers);
        let w = find(WEED, verb, size, workers);
        let ws3 = find(WEED_S3, verb, size, workers);
        let target = match verb {
            Verb::Get => GET_TARGET,
            Verb::Put => PUT_TARGET,
        };
        print!(
            "| {} | {} | {} | {} | {} | {} |",
            size_label(size),
            verb.label(),
            workers,
            mib(c),
            mib(s3),
            mib(sc)
        );
        if weed {
            print!(" {} | {} |", mib(w), mib(ws3));
        }
        print!(
            " {} | {} |",
            ratio(s3, c, Some(target)),
            ratio(sc, c, Some(target))
        );
        if weed {
            print!(" {} | {} |", ratio(s3, ws3, Some(1.0)), ratio(ws3, w, None));
        }
        println!(" {} / {} / {} |", cpu(c), cpu(s3), cpu(sc));
    }
}

/// Gateways against direct access to their backend, and two gateways against one.
fn print_gateway<'a>(
    cases: &[(u64, Verb, usize)],
    find: &dyn Fn(Row, Verb, u64, usize) -> Found<'a>,
) {
    println!(
        "\nGateways against direct access to their SeaweedFS, same run (the gateways encrypt \
         with SSE-S3 through a key server; target: one gateway ≥ {GATEWAY_TARGET} × SeaweedFS \
         direct; server CPU of a gateway row includes SeaweedFS's):\n"
    );
    println!("| object | op | conc | SeaweedFS MiB/s | SeaweedFS SSE-S3 | 1 gateway SSE-S3 | 2 gateways SSE-S3 | 1 gateway ÷ SeaweedFS | 1 gateway ÷ SeaweedFS SSE-S3 | 2 gateways ÷ 1 | p99 ms SeaweedFS / 1 gw / 2 gw | server CPU s/GiB SeaweedFS / 1 gw / 2 gw |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|");
    for &(size, verb, workers) in cases {
        let w = find(WEED, verb, size, workers);
        let ws3 = find(WEED_S3, verb, size, workers);
        let g1 = find(GATEWAY, verb, size, workers);
        let g2 = find(GATEWAY2, verb, size, workers);
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} / {} / {} | {} / {} / {} |",
            size_label(size),
            verb.label(),
            workers,
            mib(w),
            mib(ws3),
            mib(g1),
            mib(g2),
            ratio(g1, w, Some(GATEWAY_TARGET)),
            ratio(g1, ws3, None),
            ratio(g2, g1, None),
            p99(w),
            p99(g1),
            p99(g2),
            cpu(w),
            cpu(g1),
            cpu(g2),
        );
    }
}

/// The key server's calls per object over Coffer's SSE-S3 scenarios.
fn print_kms(scenarios: &[Scenario]) {
    let with_kms: Vec<&Scenario> = scenarios.iter().filter(|s| s.kms.is_some()).collect();
    if with_kms.is_empty() {
        return;
    }
    println!(
        "\nKey server calls during the coffer SSE-S3 (KES) scenarios, warm-up included \
         (generate/decrypt from the key server's audit log, by path; \"KES requests\" from \
         `kes_http_request_success` in its /v1/metrics, less the bench's own metrics reads):\n"
    );
    println!("| object | op | conc | objects | generate | decrypt | generate / object | decrypt / object | KES requests (metrics) | KES 4xx/5xx | KMS errors | KES CPU µs / call |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let (mut put_objects, mut gets, mut generates, mut decrypts) = (0, 0, 0, 0);
    for s in with_kms {
        let Some(k) = &s.kms else { continue };
        let per = |n: u64| {
            if s.objects > 0 {
                format!("{:.3}", n as f64 / s.objects as f64)
            } else {
                "-".into()
            }
        };
        let calls = k.generate + k.decrypt;
        let cpu_us = k
            .cpu
            .filter(|c| *c >= 0.1 && calls > 0)
            .map(|c| c * 1e6 / calls as f64);
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            size_label(s.size),
            s.verb.label(),
            s.workers,
            s.objects,
            k.generate,
            k.decrypt,
            per(k.generate),
            per(k.decrypt),
            k.success,
            k.failed,
            k.kms_errors,
            opt(cpu_us, 0),
        );
        match s.verb {
            Verb::Put => put_objects += s.objects,
            Verb::Get => gets += s.objects,
        }
        generates += k.generate;
        decrypts += k.decrypt;
    }
    let div = |a: u64, b: u64| {
        if b > 0 {
            format!("{:.3}", a as f64 / b as f64)
        } else {
            "-".into()
        }
    };
    println!(
        "\nOver all SSE-S3 scenarios: {generates} generate calls for {put_objects} objects PUT \
         ({} per object), {decrypts} decrypt calls for {gets} objects GET ({} per object).",
        div(generates, put_objects),
        div(decrypts, gets)
    );
}

fn mib(x: Found<'_>) -> String {
    x.map_or("-".into(), |(m, _)| format!("{m:.1}"))
}

/// `a ÷ b`, with "met"/"missed" against `target` when given.
fn ratio(a: Found<'_>, b: Found<'_>, target: Option<f64>) -> String {
    match (a, b) {
        (Some((a, _)), Some((b, _))) if b > 0.0 => {
            let r = a / b;
            match target {
                Some(t) if r >= t => format!("**{r:.2}** met"),
                Some(_) => format!("**{r:.2}** missed"),
                None => format!("**{r:.2}**"),
            }
        }
        _ => "-".into(),
    }
}

fn p50(x: Found<'_>) -> String {
    x.map_or("-".into(), |(_, o)| format!("{:.2}", o.ms(0.5)))
}

fn p99(x: Found<'_>) -> String {
    x.map_or("-".into(), |(_, o)| format!("{:.2}", o.ms(0.99)))
}

fn cpu(x: Found<'_>) -> String {
    x.map_or("-".into(), |(m, o)| {
        opt(cpu_per_gib(o, (m * o.secs * MIB as f64) as u64), 2)
    })
}
