//! Streaming behaviour of the `Read`/`Write` and tokio adapters: stream shape, the
//! decode rules at stream level (truncation, reordering, trailing data), range starts.

mod common;

use std::io::{Read, Write};

use common::{pattern, sio_key};
use dare::io::{DecryptReader, DecryptWriter, EncryptReader, EncryptWriter};
use dare::{CipherSuite, Error, Key, Sealer, MAX_PACKAGE_SIZE, MAX_PAYLOAD_SIZE};

const P: usize = MAX_PAYLOAD_SIZE;
const PK: usize = MAX_PACKAGE_SIZE;

fn sealer(key: &Key) -> Sealer {
    Sealer::with_nonce(key, CipherSuite::Aes256Gcm, [7; 12], 0)
}

/// Reads everything from `r` in reads of at most `chunk` bytes.
fn read_chunked(mut r: impl Read, chunk: usize) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; chunk];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => return Err(Error::from_io(e)),
        }
    }
}

fn encrypt(key: &Key, data: &[u8]) -> Vec<u8> {
    read_chunked(EncryptReader::encrypt(data, sealer(key)), 1 << 20).expect("encrypt")
}

fn decrypt(key: &Key, data: &[u8], seq: u32) -> Result<Vec<u8>, Error> {
    read_chunked(DecryptReader::decrypt(data, key, seq), 1 << 20)
}

/// sio's `ioTests` data/buffer size combinations (sio_test.go), payload size 64 KiB.
const IO_TESTS: &[(usize, usize)] = &[
    (1, 1),
    (2, 1),
    (P - 1, 1),
    (P, 1),
    (P + 1, 1),
    (1, 16),
    (1024, 16),
    (P - 1, 16),
    (P, 16),
    (P + 1, 16),
    (1, P),
    (32 * 1024, P),
    (P - 1, P),
    (P, P),
    (P + 1, P),
    (1, P + 16),
    (7 * 1024, P + 16),
    (P - 1, P + 16),
    (P, P + 16),
    (P + 1, P + 16),
    (1, 16 + P + 16),
    (2 * P, P + 16),
    (2 * P - 1, P + 16),
    (2 * P + 1, P + 16),
    (2 * P + 1024, P + 16),
    (1, P + 1),
    (2 * P, P + 1),
    (1024 * 1024 - 1, P + 1),
    (1024 * 1024, P + 1),
    (1024 * 1024 + 1, P + 1),
    (2 * P, 1024 * 1024),
    (3 * P + 1, 3 * P),
    (1024 * 1024, 2 * 1024 * 1024),
    (P + 1, P - 1),
];

#[test]
fn sio_io_tests_reader_and_writer() {
    let key = sio_key();
    for (i, &(size, buf)) in IO_TESTS.iter().enumerate() {
        // Byte-at-a-time over a MiB is slow in debug builds; sio's 1-byte cases stop at 64 KiB+1.
        let data = pattern(size, i as u64 + 1);
        let want = dare::encrypted_size(size as u64).expect("size") as usize;

        let ct = read_chunked(EncryptReader::encrypt(&data[..], sealer(&key)), buf)
            .unwrap_or_else(|e| panic!("#{i}: {e}"));
        assert_eq!(ct.len(), want, "#{i}: encrypted size");
        let pt = read_chunked(DecryptReader::decrypt(&ct[..], &key, 0), buf)
            .unwrap_or_else(|e| panic!("#{i}: {e}"));
        assert!(pt == data, "#{i}: reader round trip");

        let mut w = EncryptWriter::encrypt(Vec::new(), sealer(&key));
        for c in data.chunks(buf) {
            w.write_all(c).expect("write");
        }
        let ct2 = w.finish().expect("finish");
        assert!(ct2 == ct, "#{i}: writer and reader produce the same stream");
        let mut w = DecryptWriter::decrypt(Vec::new(), &key, 0);
        for c in ct.chunks(buf) {
            w.write_all(c).expect("write");
        }
        assert!(
            w.finish().expect("finish") == data,
            "#{i}: writer round trip"
        );
    }
}

#[test]
fn stream_shape() {
    let key = sio_key();
    assert!(
        encrypt(&key, &[]).is_empty(),
        "0 B plaintext is 0 B ciphertext"
    );
    assert_eq!(
        decrypt(&key, &[], 0).expect("empty stream"),
        Vec::<u8>::new()
    );
    assert!(matches!(
        dare::decrypt_buffer(&key, 0, &[]),
        Err(Error::UnexpectedEof)
    ));

    let one = encrypt(&key, &vec![1u8; P]);
    assert_eq!(one.len(), PK);
    assert_eq!(one[4] & 0x80, 0x80, "a full single package is final");

    let two = encrypt(&key, &vec![1u8; P + 1]);
    assert_eq!(two.len(), 65601);
    assert_eq!(&two[2..4], &[0xff, 0xff]);
    assert_eq!(two[4] & 0x80, 0, "first of two packages is not final");
    assert_eq!(two[PK + 4] & 0x80, 0x80, "last package is final");
    assert_eq!(
        &two[PK + 2..PK + 4],
        &[0, 0],
        "final package holds one byte"
    );
    assert_eq!(
        two[PK + 5..PK + 16],
        two[5..16],
        "same nonce in every package"
    );
}

#[test]
fn truncation_reordering_and_trailing_data_are_detected() {
    let key = sio_key();
    let data = pattern(3 * P + 100, 9);
    let ct = encrypt(&key, &data);

    let no_final = &ct[..3 * PK];
    assert!(matches!(
        decrypt(&key, no_final, 0),
        Err(Error::UnexpectedEof)
    ));
    for cut in [1, 15, 16, 17, PK + 40, ct.len() - 1] {
        assert!(
            matches!(decrypt(&key, &ct[..cut], 0), Err(Error::UnexpectedEof)),
            "cut at {cut}"
        );
    }

    let mut trailing = ct.clone();
    trailing.push(0);
    assert!(matches!(
        decrypt(&key, &trailing, 0),
        Err(Error::UnexpectedData)
    ));

    let mut swapped = ct[PK..2 * PK].to_vec();
    swapped.extend_from_slice(&ct[..PK]);
    swapped.extend_from_slice(&ct[2 * PK..]);
    assert!(matches!(
        decrypt(&key, &swapped, 0),
        Err(Error::AuthenticationFailed)
    ));

    let mut dropped = ct[..PK].to_vec();
    dropped.extend_from_slice(&ct[2 * PK..]);
    assert!(matches!(
        decrypt(&key, &dropped, 0),
        Err(Error::AuthenticationFailed)
    ));

    // A final flag set on a middle package: the next package is then trailing data, and
    // the flagged package itself no longer matches the stream nonce.
    let mut early_final = ct.clone();
    early_final[PK + 4] |= 0x80;
    assert!(decrypt(&key, &early_final, 0).is_err());
}

#[test]
fn plaintext_of_a_failed_package_is_never_released() {
    let key = sio_key();
    let data = pattern(3 * P, 3);
    let mut ct = encrypt(&key, &data);
    ct[2 * PK + 100] ^= 1; // inside the third package's ciphertext
    let mut r = DecryptReader::decrypt(&ct[..], &key, 0);
    let mut out = Vec::new();
    let err = r.read_to_end(&mut out).expect_err("tampered");
    assert!(matches!(Error::from_io(err), Error::AuthenticationFailed));
    assert_eq!(out.len(), 2 * P, "only the authenticated packages came out");
    assert!(out[..] == data[..2 * P]);
    // Later reads keep failing instead of resuming.
    assert!(r.read(&mut [0u8; 10]).is_err());
}

#[test]
fn decryption_can_start_at_any_package() {
    let key = sio_key();
    let data = pattern(5 * P + 77, 5);
    let ct = encrypt(&key, &data);
    for k in 0..=5usize {
        let pt = decrypt(&key, &ct[k * PK..], k as u32).expect("range start");
        assert!(pt[..] == data[k * P..], "start at package {k}");
        assert!(decrypt(&key, &ct[k * PK..], k as u32 + 1).is_err());
    }
}

#[test]
fn range_plan_reads_exactly_the_needed_bytes() {
    let key = sio_key();
    let data = pattern(4 * P + 500, 11);
    let ct = encrypt(&key, &data);
    for (off, len) in [
        (0, 1),
        (P - 1, 2),
        (P, P),
        (3 * P + 10, P + 490),
        (17, 4 * P),
    ] {
        let plan =
            dare::decrypted_range(&[data.len() as u64], off as u64, len as u64).expect("plan");
        let start = plan.encrypted_offset as usize;
        let slice = &ct[start..start + plan.encrypted_length as usize];
        let mut r = DecryptReader::decrypt(slice, &key, plan.sequence);
        let mut skip = vec![0u8; plan.skip as usize];
        r.read_exact(&mut skip).expect("skip");
        let mut got = vec![0u8; len];
        r.read_exact(&mut got).expect("range");
        assert!(got[..] == data[off..off + len], "range {off}+{len}");
    }
}

#[test]
fn writer_rejects_data_after_final_and_reports_truncation() {
    let key = sio_key();
    let ct = encrypt(&key, &pattern(P + 5, 1));
    let mut w = DecryptWriter::decrypt(Vec::new(), &key, 0);
    w.write_all(&ct[..ct.len() - 1])
        .expect("partial write is fine");
    assert!(matches!(w.finish(), Err(Error::UnexpectedEof)));

    let mut w = DecryptWriter::decrypt(Vec::new(), &key, 0);
    w.write_all(&ct).expect("whole stream");
    let err = w.write_all(&[1]).expect_err("trailing byte");
    assert!(matches!(Error::from_io(err), Error::UnexpectedData));
}

#[test]
fn key_debug_is_redacted() {
    let key = Key::new([0xab; 32]);
    let text = format!("{key:?}");
    assert!(!text.contains("ab") && !text.contains("171"), "{text}");
}

#[tokio::test]
async fn async_adapters_round_trip() {
    use dare::async_io::{
        AsyncDecryptReader, AsyncDecryptWriter, AsyncEncryptReader, AsyncEncryptWriter,
    };
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let key = sio_key();
    for size in [0, 1, P - 1, P, P + 1, 3 * P + 333] {
        let data = pattern(size, size as u64 + 2);
        let want = encrypt(&key, &data);

        let mut ct = Vec::new();
        AsyncEncryptReader::encrypt(&data[..], sealer(&key))
            .read_to_end(&mut ct)
            .await
            .expect("async encrypt");
        assert!(ct == want, "size {size}: async reader = sync reader");

        let mut w = AsyncEncryptWriter::encrypt(Vec::new(), sealer(&key));
        for c in data.chunks(1000) {
            w.write_all(c).await.expect("write");
        }
        w.shutdown().await.expect("shutdown");
        assert!(w.into_inner() == want, "size {size}: async writer");

        let mut pt = Vec::new();
        AsyncDecryptReader::decrypt(&ct[..], &key, 0)
            .read_to_end(&mut pt)
            .await
            .expect("async decrypt");
        assert!(pt == data, "size {size}: async decrypt");

        let mut w = AsyncDecryptWriter::decrypt(Vec::new(), &key, 0);
        w.write_all(&ct).await.expect("write");
        w.shutdown().await.expect("shutdown");
        assert!(w.into_inner() == data, "size {size}: async decrypt writer");
    }

    let ct = encrypt(&key, &pattern(2 * P, 1));
    let mut pt = Vec::new();
    let err = AsyncDecryptReader::decrypt(&ct[..ct.len() - PK], &key, 0)
        .read_to_end(&mut pt)
        .await
        .expect_err("truncated");
    assert!(matches!(Error::from_io(err), Error::UnexpectedEof));
}

/// `Decoder::open_in_place` mixed with `push` at several splits of the input: the same
/// plaintext as the other paths; a damaged package fails, and nothing opens after it.
#[test]
fn in_place_open_mixes_with_push() {
    let key = sio_key();
    let data = pattern(3 * P + 1234, 9);
    let stored = encrypt(&key, &data);
    for split in [0, 1, 16, PK - 1, PK, 2 * PK + 7] {
        let mut d = dare::Decoder::new(&key, 0);
        let mut got = Vec::new();
        let mut buf = stored.clone();
        let mut pos = split.min(buf.len());
        let mut first = &stored[..pos];
        while !first.is_empty() {
            let n = d.push(first).expect("push");
            first = &first[n..];
            got.extend_from_slice(d.pending());
            let p = d.pending().len();
            d.consume(p);
        }
        while pos < buf.len() {
            match d.open_in_place(&mut buf[pos..]).expect("open_in_place") {
                Some((len, payload)) => {
                    got.extend_from_slice(&buf[pos + 16..pos + 16 + payload]);
                    pos += len;
                }
                None => {
                    let n = d.push(&stored[pos..]).expect("push");
                    pos += n;
                    got.extend_from_slice(d.pending());
                    let p = d.pending().len();
                    d.consume(p);
                }
            }
        }
        d.finish().expect("finish");
        assert_eq!(got, data, "split at {split}");
    }
    let mut bad = stored.clone();
    bad[PK + 100] ^= 1;
    let mut d = dare::Decoder::new(&key, 0);
    let first = d.open_in_place(&mut bad).expect("first package is intact");
    assert_eq!(first, Some((PK, P)));
    assert!(d.open_in_place(&mut bad[PK..]).is_err());
    assert_eq!(
        d.open_in_place(&mut bad[2 * PK..]).expect("no new error"),
        None,
        "a failed decoder opens nothing more"
    );
}
