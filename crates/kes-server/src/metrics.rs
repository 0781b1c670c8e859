//! Prometheus metrics with the family names kms-go reads (spec §2.2).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const BUCKETS: [f64; 10] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 3.0, 5.0, 10.0];

/// Request counters and the response-time histogram.
#[derive(Debug)]
pub struct Metrics {
    started: Instant,
    codes: Mutex<BTreeMap<u16, u64>>,
    active: AtomicI64,
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
    /// Audit events emitted.
    pub audit_events: AtomicU64,
    /// Error events emitted.
    pub error_events: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            codes: Mutex::new(BTreeMap::new()),
            active: AtomicI64::new(0),
            buckets: Default::default(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
            audit_events: AtomicU64::new(0),
            error_events: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// Time since the server started.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// A request began.
    pub fn begin(&self) {
        self.active.fetch_add(1, Ordering::Relaxed);
    }

    /// A request ended with `code` after `elapsed`.
    pub fn end(&self, code: u16, elapsed: Duration) {
        self.active.fetch_sub(1, Ordering::Relaxed);
        if let Ok(mut codes) = self.codes.lock() {
            *codes.entry(code).or_default() += 1;
        }
        let secs = elapsed.as_secs_f64();
        for (b, limit) in self.buckets.iter().zip(BUCKETS) {
            if secs <= limit {
                b.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self, cached_keys: usize) -> String {
        let mut out = String::new();
        let codes = self.codes.lock().map(|c| c.clone()).unwrap_or_default();
        for (family, help, range) in [
            (
                "kes_http_request_success",
                "Number of successful requests.",
                200..300,
            ),
            (
                "kes_http_request_error",
                "Number of requests that failed with a client error (4xx).",
                400..500,
            ),
            (
                "kes_http_request_failure",
                "Number of requests that failed with a server error (5xx).",
                500..600,
            ),
        ] {
            let _ = writeln!(out, "# HELP {family} {help}\n# TYPE {family} counter");
            let mut any = false;
            for (code, n) in codes.iter().filter(|(c, _)| range.contains(*c)) {
                let _ = writeln!(out, "{family}{{code=\"{code}\"}} {n}");
                any = true;
            }
            if !any {
                let _ = writeln!(out, "{family}{{code=\"{}\"}} 0", range.start);
            }
        }
        let _ = writeln!(
            out,
            "# HELP kes_http_request_active Number of active requests.\n# TYPE kes_http_request_active gauge\nkes_http_request_active {}",
            self.active.load(Ordering::Relaxed)
        );
        let _ = writeln!(out, "# HELP kes_http_response_time Response time in seconds.\n# TYPE kes_http_response_time histogram");
        for (b, limit) in self.buckets.iter().zip(BUCKETS) {
            let _ = writeln!(
                out,
                "kes_http_response_time_bucket{{le=\"{limit}\"}} {}",
                b.load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "kes_http_response_time_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "kes_http_response_time_sum {}\nkes_http_response_time_count {count}",
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let gauge = |out: &mut String, name: &str, kind: &str, help: &str, v: f64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        };
        gauge(
            &mut out,
            "kes_log_error_events",
            "counter",
            "Number of error log events.",
            self.error_events.load(Ordering::Relaxed) as f64,
        );
        gauge(
            &mut out,
            "kes_log_audit_events",
            "counter",
            "Number of audit log events.",
            self.audit_events.load(Ordering::Relaxed) as f64,
        );
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1) as f64;
        gauge(
            &mut out,
            "kes_system_up_time",
            "gauge",
            "Uptime in seconds.",
            self.uptime().as_secs_f64(),
        );
        gauge(
            &mut out,
            "kes_system_num_cpu",
            "gauge",
            "Number of CPUs.",
            cpus,
        );
        gauge(
            &mut out,
            "kes_system_num_cpu_used",
            "gauge",
            "Number of CPUs used.",
            cpus,
        );
        gauge(
            &mut out,
            "kes_system_num_threads",
            "gauge",
            "Number of threads.",
            threads() as f64,
        );
        let (rss, _) = memory();
        gauge(
            &mut out,
            "kes_system_mem_heap_used",
            "gauge",
            "Resident memory in bytes.",
            rss as f64,
        );
        gauge(
            &mut out,
            "kes_system_mem_heap_objects",
            "gauge",
            "Cached keys.",
            cached_keys as f64,
        );
        gauge(
            &mut out,
            "kes_system_mem_stack_used",
            "gauge",
            "Stack memory in bytes (not measured).",
            0.0,
        );
        out
    }
}

/// Threads of this process (Linux), else 1.
pub fn threads() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:").map(|v| v.trim().parse().ok()))
        })
        .flatten()
        .unwrap_or(1)
}

/// (resident bytes, virtual bytes) of this process (Linux), else zero.
pub fn memory() -> (u64, u64) {
    let Ok(s) = std::fs::read_to_string("/proc/self/statm") else {
        return (0, 0);
    };
    let mut it = s.split_whitespace().map(|v| v.parse::<u64>().unwrap_or(0));
    let virt = it.next().unwrap_or(0) * 4096;
    let rss = it.next().unwrap_or(0) * 4096;
    (rss, virt)
}
