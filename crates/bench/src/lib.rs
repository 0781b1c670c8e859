//! Library part of `coffer-bench`: the pieces worth unit-testing (the SigV4 signer). The
//! load generator itself is the `coffer-bench` binary, which has no tests.

pub mod sigv4;
