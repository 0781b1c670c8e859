//! `coffer dare encrypt|decrypt` driven as a process, as an operator would use it.

use std::io::Write;
use std::process::{Command, Output, Stdio};

const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

fn coffer(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start coffer");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        // The process may exit before reading everything; a broken pipe is fine then.
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait");
    writer.join().expect("writer thread");
    out
}

fn vectors(name: &str) -> Vec<(Vec<u8>, String)> {
    let path = format!("{}/../dare/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path)
        .expect("vector file")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (h, c) = l.split_once(' ').unwrap_or((l, ""));
            (hex::decode(h).expect("hex"), c.to_string())
        })
        .collect()
}

fn stderr_line(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim_end().to_string()
}

#[test]
fn golden_v20_aes_vector_decrypts_to_one_zero_byte() {
    let v = &vectors("sio-golden-v20.txt")[0].0;
    let out = coffer(&["dare", "decrypt", "--key", KEY], v);
    assert!(out.status.success(), "{}", stderr_line(&out));
    assert_eq!(out.stdout, vec![0u8]);
}

#[test]
fn golden_vectors_decrypt_with_their_sequence_number() {
    for file in ["sio-golden-v10.txt", "sio-golden-v20.txt"] {
        for (i, (v, _)) in vectors(file).iter().enumerate().step_by(9) {
            let seq = i.to_string();
            let out = coffer(&["dare", "decrypt", "--key", KEY, "--sequence", &seq], v);
            assert!(out.status.success(), "{file} #{i}: {}", stderr_line(&out));
            assert_eq!(out.stdout, vec![0u8; i + 1], "{file} #{i}");
        }
    }
}

#[test]
fn invalid_vectors_exit_nonzero_with_one_line_and_no_output() {
    for file in ["sio-invalid-v10.txt", "sio-invalid-v20.txt"] {
        for (i, (v, what)) in vectors(file).iter().enumerate() {
            let seq = i.to_string();
            let out = coffer(&["dare", "decrypt", "--key", KEY, "--sequence", &seq], v);
            assert!(!out.status.success(), "{file} #{i} ({what}) accepted");
            assert!(out.stdout.is_empty(), "{file} #{i}: plaintext written");
            let err = stderr_line(&out);
            assert_eq!(err.lines().count(), 1, "{file} #{i}: {err}");
            assert!(err.starts_with("coffer: decrypt: dare: "), "{err}");
        }
    }
}

#[test]
fn error_messages_name_the_problem() {
    let v = &vectors("sio-golden-v20.txt")[0].0;
    let cases: Vec<(Vec<u8>, &str, &str)> = vec![
        (v.clone(), "1", "authentication failed"),
        (v[..20].to_vec(), "0", "unexpected EOF"),
        (
            [&v[..], &[0u8][..]].concat(),
            "0",
            "unexpected data after final package",
        ),
        (
            [&[0x30u8][..], &v[1..]].concat(),
            "0",
            "unsupported version",
        ),
        (
            [&[0x20u8, 7][..], &v[2..]].concat(),
            "0",
            "unsupported cipher suite",
        ),
    ];
    for (input, seq, want) in cases {
        let out = coffer(
            &["dare", "decrypt", "--key", KEY, "--sequence", seq],
            &input,
        );
        assert!(!out.status.success());
        assert!(
            stderr_line(&out).contains(want),
            "want {want}: {}",
            stderr_line(&out)
        );
    }
}

#[test]
fn encrypt_then_decrypt_round_trips_and_tamper_fails() {
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let enc = coffer(&["dare", "encrypt", "--key", KEY], &data);
    assert!(enc.status.success(), "{}", stderr_line(&enc));
    assert_eq!(enc.stdout.len(), 200_000 + 4 * 32);
    let dec = coffer(&["dare", "decrypt", "--key", KEY], &enc.stdout);
    assert!(dec.status.success(), "{}", stderr_line(&dec));
    assert!(dec.stdout == data);

    let mut tampered = enc.stdout.clone();
    tampered[3 * 65568 + 20] ^= 0x40; // inside the last package
    let dec = coffer(&["dare", "decrypt", "--key", KEY], &tampered);
    assert!(!dec.status.success());
    assert_eq!(
        dec.stdout.len(),
        3 * 65536,
        "only authenticated packages are written"
    );

    let empty = coffer(&["dare", "encrypt", "--key", KEY], b"");
    assert!(empty.status.success() && empty.stdout.is_empty());
}

#[test]
fn key_file_must_be_private_and_well_formed() {
    let dir = std::env::temp_dir().join(format!("coffer-dare-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let path = dir.join("key");
    std::fs::write(&path, format!("{KEY}\n")).expect("write key");
    let p = path.to_str().expect("utf-8 path");
    let v = &vectors("sio-golden-v20.txt")[0].0;

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let out = coffer(&["dare", "decrypt", "--key-file", p], v);
        assert!(!out.status.success());
        assert!(
            stderr_line(&out).contains("chmod 600"),
            "{}",
            stderr_line(&out)
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let out = coffer(&["dare", "decrypt", "--key-file", p], v);
    assert!(out.status.success(), "{}", stderr_line(&out));
    assert_eq!(out.stdout, vec![0u8]);

    for bad in ["00", "zz", &KEY[..63]] {
        let out = coffer(&["dare", "decrypt", "--key", bad], v);
        assert!(!out.status.success());
        assert!(stderr_line(&out).contains("key"), "{}", stderr_line(&out));
        assert!(
            !stderr_line(&out).contains(bad) || bad.len() < 3,
            "key echoed"
        );
    }
    let out = coffer(&["dare", "decrypt"], v);
    assert!(!out.status.success(), "a key is required");
    let _ = std::fs::remove_dir_all(&dir);
}
