//! Key-server configuration files, YAML and the first-era TOML, with `${VAR}`
//! substitutions: a bad file gives a `ConfigError` naming the problem, never a panic.
#![no_main]

use kes_server::config::{parse, Format};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = |name: &str| (name.len() % 2 == 0).then(|| format!("value-of-{name}"));
    for format in [Format::Yaml, Format::Toml] {
        if let Err(e) = parse(text, format, &env) {
            assert!(!e.0.is_empty());
        }
    }
});
