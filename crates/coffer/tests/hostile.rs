//! Runs the hostile-input suite (tests/e2e/hostile.py): 10 000 random and malformed HTTP
//! requests against a running server, and slow clients holding hundreds of connections.

mod common;

#[test]
fn hostile_input() {
    common::run_python_suite("hostile.py", "hostile-input");
}
