//! Runs the fault suite (tests/e2e/faults.py) in its quick form: the object server and
//! the key server killed during concurrent work, KMS outages, a full and a read-only
//! disk, files vanishing underneath, and tampering with stored objects. The long form is
//! `python3 tests/e2e/faults.py --long` (see docs/RELIABILITY.md).

mod common;

#[test]
fn faults_quick() {
    common::run_python_suite("faults.py", "fault");
}
