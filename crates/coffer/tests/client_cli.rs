//! Runs the client end-to-end suite (tests/e2e/client_cli.py) against the real binary:
//! every mc-style command over HTTP and HTTPS, aliases (and an mc config.json), the
//! progress bar in a pseudo-terminal, Ctrl-C and resuming, and the KMS guide's steps.

mod common;

#[test]
fn client_end_to_end() {
    common::run_python_suite("client_cli.py", "client");
}
