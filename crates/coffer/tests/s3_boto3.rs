//! Runs the boto3 end-to-end suite (tests/e2e/s3_boto3.py) against the real binary.

mod common;

#[test]
fn boto3_end_to_end() {
    common::run_python_suite("s3_boto3.py", "boto3");
}
