//! A throwaway moto server (`pip install 'moto[server]'` ships `moto_server`), an
//! in-process fake of AWS APIs including SecretsManager, bound to 127.0.0.1 on a free
//! port and killed on drop.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where `moto_server` is: `$COFFER_MOTO_SERVER` or `moto_server` on PATH. Panics
/// (fails the test) when there is none.
pub fn moto_binary() -> String {
    if let Some(p) = std::env::var_os("COFFER_MOTO_SERVER") {
        return p.to_string_lossy().into_owned();
    }
    let found = Command::new("sh")
        .args(["-c", "command -v moto_server"])
        .stderr(Stdio::null())
        .output();
    if let Ok(out) = found {
        let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() && !p.is_empty() {
            return p;
        }
    }
    panic!(
        "`moto_server` was not found: run `python3 -m pip install 'moto[server]'` (scripts/test does), or set COFFER_MOTO_SERVER to its path"
    );
}

/// A free TCP port on 127.0.0.1 (nothing listens on it once this returns).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// A running `moto_server`.
pub struct Moto {
    child: Option<Child>,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

impl Moto {
    /// Starts moto and waits (bounded) until it answers HTTP.
    pub fn start() -> Self {
        let bin = moto_binary();
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
        let moto = Self {
            child: Some(child),
            addr,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !moto.answers() {
            assert!(
                Instant::now() < deadline,
                "moto_server on {} not ready within 60 s",
                moto.addr
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    fn answers(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(&self.addr) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let req = format!("GET /moto-api/ HTTP/1.0\r\nHost: {}\r\n\r\n", self.addr);
        if s.write_all(req.as_bytes()).is_err() {
            return false;
        }
        let mut head = [0u8; 8];
        s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.")
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Kills the server (idempotent).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}
