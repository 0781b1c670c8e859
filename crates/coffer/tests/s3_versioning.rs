//! Runs the versioning and object-lock end-to-end suite (tests/e2e/s3_versioning.py)
//! against the real binary: versions of plain and encrypted objects, delete markers,
//! version listings, object lock, and a crash test during versioned writes.

mod common;

#[test]
fn versioning_end_to_end() {
    common::run_python_suite("s3_versioning.py", "versioning");
}
