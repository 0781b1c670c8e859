//! sio's golden and invalid package vectors, and its size table (`tests/data/`).

mod common;

use common::{load, sio_key};
use dare::{decrypt_buffer, CipherSuite, Opener, Sealer};

const SIO_NONCE_V20: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];

#[test]
fn golden_packages_open_to_zero_bytes() {
    let key = sio_key();
    for file in ["sio-golden-v10.txt", "sio-golden-v20.txt"] {
        let vectors = load(file);
        assert_eq!(vectors.len(), 128, "{file}");
        for (i, v) in vectors.iter().enumerate() {
            let mut pkg = v.bytes.clone();
            let mut opener = Opener::new(&key, i as u32);
            let n = opener
                .open_in_place(&mut pkg)
                .unwrap_or_else(|e| panic!("{file} #{i}: {e}"));
            assert_eq!(n, i + 1, "{file} #{i}: payload length");
            assert!(pkg[16..16 + n].iter().all(|&b| b == 0), "{file} #{i}");
            // The whole-stream decoder agrees (a 2.0 golden vector is a final package).
            let plain = decrypt_buffer(&key, i as u32, &v.bytes)
                .unwrap_or_else(|e| panic!("{file} #{i}: {e}"));
            assert_eq!(plain, vec![0u8; i + 1], "{file} #{i}");
        }
    }
}

#[test]
fn sealing_reproduces_golden_v20_packages() {
    let key = sio_key();
    for (i, v) in load("sio-golden-v20.txt").iter().enumerate() {
        let suite = if i % 2 == 0 {
            CipherSuite::Aes256Gcm
        } else {
            CipherSuite::ChaCha20Poly1305
        };
        let mut sealer = Sealer::with_nonce(&key, suite, SIO_NONCE_V20, i as u32);
        let mut pkg = vec![0u8; 16 + i + 1 + 16];
        sealer.seal_in_place(&mut pkg, true).expect("seal");
        assert_eq!(hex::encode(&pkg), hex::encode(&v.bytes), "golden v20 #{i}");
    }
}

#[test]
fn invalid_packages_are_rejected() {
    let key = sio_key();
    for file in ["sio-invalid-v10.txt", "sio-invalid-v20.txt"] {
        let vectors = load(file);
        assert_eq!(vectors.len(), 18, "{file}");
        for (i, v) in vectors.iter().enumerate() {
            let mut pkg = v.bytes.clone();
            let r = Opener::new(&key, i as u32).open_in_place(&mut pkg);
            assert!(r.is_err(), "{file} #{i} ({}) was accepted", v.comment);
            let r = decrypt_buffer(&key, i as u32, &v.bytes);
            assert!(r.is_err(), "{file} #{i} ({}) decrypted", v.comment);
        }
    }
}

#[test]
fn invalid_v20_errors_name_the_broken_field() {
    use dare::Error;
    let key = sio_key();
    for (i, v) in load("sio-invalid-v20.txt").iter().enumerate() {
        let mut pkg = v.bytes.clone();
        let err = Opener::new(&key, i as u32)
            .open_in_place(&mut pkg)
            .expect_err("invalid");
        let ok = match v.comment.as_str() {
            // Vector 0 is a 1.0 header; read as 1.0 its sequence field is wrong.
            "invalid version number" => {
                matches!(err, Error::UnsupportedVersion | Error::SequenceMismatch)
            }
            "invalid cipher ID" => matches!(err, Error::UnsupportedCipher),
            "invalid payload length" => matches!(err, Error::InvalidPayloadSize),
            // A cleared final flag on a short package: not full, so not a valid non-final.
            "invalid final flag" => matches!(err, Error::InvalidPayloadSize),
            "invalid random value" => matches!(err, Error::AuthenticationFailed),
            "invalid ciphertext" | "invalid authentication tag" => {
                matches!(err, Error::AuthenticationFailed)
            }
            other => panic!("unknown comment {other}"),
        };
        assert!(ok, "#{i} {}: got {err:?}", v.comment);
    }
}

#[test]
fn size_table() {
    let path = format!("{}/tests/data/sio-sizes.txt", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).expect("size table");
    let mut count = 0;
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let f: Vec<&str> = line.split_whitespace().collect();
        let input: u64 = f[1].parse().expect("number");
        let got = match f[0] {
            "encrypted" => dare::encrypted_size(input),
            "decrypted" => dare::decrypted_size(input),
            other => panic!("unknown function {other}"),
        };
        match f[2] {
            "error" => assert!(got.is_err(), "{line}: got {got:?}"),
            want => assert_eq!(
                got.expect(line),
                want.parse::<u64>().expect("number"),
                "{line}"
            ),
        }
        count += 1;
    }
    assert_eq!(count, 16);
}

#[test]
fn spec_vector_hex_strings() {
    // ../shared/spec/sse.md §12 item 1, written out so the data files are checked too.
    let key = sio_key();
    let v2_aes = "20000000800102030405060708090a0b29c5f2b6d44cf237128fb2917fd04d2d1f";
    let v2_chacha = "20010100800102030405060708090a0bcc5d902a536aa9b678ff97e206e34356aeb8";
    let v1 = "100000000000000000010203040506077eda3bd68d5fb40f5579e61ff2c94c5b20";
    let dec = |h: &str, seq| decrypt_buffer(&key, seq, &hex::decode(h).expect("hex"));
    assert_eq!(dec(v2_aes, 0).expect("aes"), vec![0]);
    assert_eq!(dec(v2_chacha, 1).expect("chacha"), vec![0, 0]);
    assert_eq!(dec(v1, 0).expect("v1"), vec![0]);
    assert!(
        dec(v2_chacha, 0).is_err(),
        "wrong sequence number must fail"
    );
    assert!(matches!(
        dec(
            "20000800000102030405060708090a0bf574c12cd092d57dcb54332b9ecfa8df436f55b381384c1cfa",
            8
        ),
        Err(dare::Error::InvalidPayloadSize)
    ));
}
