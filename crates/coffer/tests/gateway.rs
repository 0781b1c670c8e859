//! Runs the scale-out suite (tests/e2e/gateway.py): two `coffer gateway s3` object
//! servers and two key servers over OpenBao, with SeaweedFS as the backend cluster;
//! read-after-write, multipart and listings across gateways, atomic conditional writes,
//! a gateway and a key server killed mid-run, and no plaintext in the backend.
//! Needs `weed` (COFFER_WEED or PATH; scripts/test fetches it) and `bao`.

mod common;

#[test]
fn gateway_scale_out() {
    common::run_python_suite("gateway.py", "gateway");
}
