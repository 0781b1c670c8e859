//! DARE encrypt/decrypt throughput on 64 MiB against the raw AEAD of the same crate
//! (aws-lc-rs AES-256-GCM, in place, 64 KiB at a time) on the same buffers, in the same
//! run. Rounds interleave the variants so machine noise hits all of them alike.
//!
//! Run: `cargo bench -p coffer-dare --bench dare` (env `DARE_BENCH_ROUNDS`, default 15).

use std::hint::black_box;
use std::io::Read;
use std::time::{Duration, Instant};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use dare::io::{DecryptReader, EncryptReader};
use dare::{CipherSuite, Key, Sealer, MAX_PACKAGE_SIZE, MAX_PAYLOAD_SIZE};

const SIZE: usize = 64 << 20;

fn raw_seal(key: &LessSafeKey, buf: &mut [u8], tags: &mut [[u8; 16]]) {
    for (i, (chunk, tag)) in buf
        .chunks_mut(MAX_PAYLOAD_SIZE)
        .zip(tags.iter_mut())
        .enumerate()
    {
        let mut n = [0u8; 12];
        n[8..].copy_from_slice(&(i as u32).to_le_bytes());
        let t = key
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(n), Aad::from([0u8; 4]), chunk)
            .expect("seal");
        tag.copy_from_slice(t.as_ref());
    }
}

fn raw_open(key: &LessSafeKey, buf: &mut [u8], tags: &[[u8; 16]]) {
    for (i, (chunk, tag)) in buf
        .chunks_mut(MAX_PAYLOAD_SIZE)
        .zip(tags.iter())
        .enumerate()
    {
        let mut n = [0u8; 12];
        n[8..].copy_from_slice(&(i as u32).to_le_bytes());
        key.open_in_place_separate_tag(
            Nonce::assume_unique_for_key(n),
            Aad::from([0u8; 4]),
            tag,
            chunk,
        )
        .expect("open");
    }
}

/// Out of place, as DARE must work: plaintext buffer → package-shaped ciphertext buffer.
fn raw_seal_into(key: &LessSafeKey, plain: &[u8], ct: &mut [u8]) {
    for (i, (src, pkg)) in plain
        .chunks(MAX_PAYLOAD_SIZE)
        .zip(ct.chunks_mut(MAX_PACKAGE_SIZE))
        .enumerate()
    {
        let mut n = [0u8; 12];
        n[8..].copy_from_slice(&(i as u32).to_le_bytes());
        let (data, tag) = pkg[16..].split_at_mut(src.len());
        key.seal_out_of_place_scatter(
            Nonce::assume_unique_for_key(n),
            Aad::from([0u8; 4]),
            src,
            data,
            &[],
            tag,
        )
        .expect("seal");
    }
}

/// Out of place: package-shaped ciphertext buffer → plaintext buffer.
fn raw_open_into(key: &LessSafeKey, ct: &[u8], plain: &mut [u8]) {
    for (i, (pkg, dst)) in ct
        .chunks(MAX_PACKAGE_SIZE)
        .zip(plain.chunks_mut(MAX_PAYLOAD_SIZE))
        .enumerate()
    {
        let mut n = [0u8; 12];
        n[8..].copy_from_slice(&(i as u32).to_le_bytes());
        let (data, tag) = pkg[16..].split_at(dst.len());
        key.open_separate_gather(
            Nonce::assume_unique_for_key(n),
            Aad::from([0u8; 4]),
            data,
            tag,
            dst,
        )
        .expect("open");
    }
}

/// Reads `r` to its end into `out` (pre-sized), in reads of up to 1 MiB.
fn drain(mut r: impl Read, out: &mut [u8]) -> usize {
    let mut pos = 0;
    loop {
        let end = (pos + (1 << 20)).min(out.len());
        match r.read(&mut out[pos..end]).expect("read") {
            0 => return pos,
            n => pos += n,
        }
    }
}

fn mib_s(d: Duration) -> f64 {
    (SIZE as f64 / (1 << 20) as f64) / d.as_secs_f64()
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("dare_64mib: benchmark");
        return;
    }
    let rounds: usize = std::env::var("DARE_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    let key_bytes = [0x42u8; 32];
    let key = Key::new(key_bytes);
    let raw_key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key_bytes).expect("key"));
    let plain: Vec<u8> = (0..SIZE).map(|i| (i * 31 % 253) as u8).collect();
    let ct_len = dare::encrypted_size(SIZE as u64).expect("size") as usize;
    let mut raw_buf = plain.clone();
    let mut tags = vec![[0u8; 16]; SIZE / MAX_PAYLOAD_SIZE];
    let mut ct = vec![0u8; ct_len];
    let mut pt = vec![0u8; SIZE];

    let mut raw_ct = vec![1u8; ct_len];
    let mut raw_pt = vec![1u8; SIZE];
    ct.fill(1);
    pt.fill(1);

    let mut t: [Vec<Duration>; 8] = Default::default();
    for _ in 0..rounds {
        raw_buf.copy_from_slice(&plain);
        let s = Instant::now();
        raw_seal(&raw_key, &mut raw_buf, &mut tags);
        t[0].push(s.elapsed());

        let s = Instant::now();
        raw_open(&raw_key, &mut raw_buf, &tags);
        t[1].push(s.elapsed());
        assert!(raw_buf == plain);

        let s = Instant::now();
        raw_seal_into(&raw_key, &plain, &mut raw_ct);
        t[2].push(s.elapsed());

        let s = Instant::now();
        raw_open_into(&raw_key, &raw_ct, &mut raw_pt);
        t[3].push(s.elapsed());
        assert!(raw_pt == plain);

        let sealer = Sealer::with_nonce(&key, CipherSuite::Aes256Gcm, [1; 12], 0);
        let s = Instant::now();
        let n = drain(EncryptReader::encrypt(&plain[..], sealer), &mut ct);
        t[4].push(s.elapsed());
        assert_eq!(n, ct_len);

        let s = Instant::now();
        let n = drain(DecryptReader::decrypt(&ct[..], &key, 0), &mut pt);
        t[5].push(s.elapsed());
        assert_eq!(n, SIZE);
        assert!(black_box(&pt) == &plain);

        let sealer = Sealer::with_nonce(&key, CipherSuite::Aes256Gcm, [1; 12], 0);
        let s = Instant::now();
        let n = dare::encrypt_slice(sealer, &plain, &mut ct).expect("encrypt_slice");
        t[6].push(s.elapsed());
        assert_eq!(n, ct_len);
        let s = Instant::now();
        let n = dare::decrypt_slice(&key, 0, &ct, &mut pt).expect("decrypt_slice");
        t[7].push(s.elapsed());
        assert_eq!(n, SIZE);
        assert!(black_box(&pt) == &plain);
    }
    let [raw_enc, raw_dec, oop_enc, oop_dec, dare_enc, dare_dec, buf_enc, buf_dec] =
        t.map(|mut v| median(&mut v));
    let ratio = |base: Duration, d: Duration| base.as_secs_f64() / d.as_secs_f64();
    println!("dare bench: 64 MiB, {rounds} interleaved rounds, median per variant (MiB/s)");
    println!(
        "  raw AES-256-GCM seal, in place             {:>7.0}",
        mib_s(raw_enc)
    );
    println!(
        "  raw AES-256-GCM open, in place             {:>7.0}",
        mib_s(raw_dec)
    );
    println!(
        "  raw AES-256-GCM seal, plaintext -> ct buf  {:>7.0}",
        mib_s(oop_enc)
    );
    println!(
        "  raw AES-256-GCM open, ct -> plaintext buf  {:>7.0}",
        mib_s(oop_dec)
    );
    println!(
        "  DARE encrypt (EncryptReader)               {:>7.0}  ratio {:.2} to raw out of place, {:.2} to raw in place",
        mib_s(dare_enc),
        ratio(oop_enc, dare_enc),
        ratio(raw_enc, dare_enc)
    );
    println!(
        "  DARE decrypt (DecryptReader)               {:>7.0}  ratio {:.2} to raw out of place, {:.2} to raw in place",
        mib_s(dare_dec),
        ratio(oop_dec, dare_dec),
        ratio(raw_dec, dare_dec)
    );
    println!(
        "  DARE encrypt_slice (slice -> slice)         {:>7.0}  ratio {:.2} to raw out of place, {:.2} to raw in place",
        mib_s(buf_enc),
        ratio(oop_enc, buf_enc),
        ratio(raw_enc, buf_enc)
    );
    println!(
        "  DARE decrypt_slice (slice -> slice)         {:>7.0}  ratio {:.2} to raw out of place, {:.2} to raw in place",
        mib_s(buf_dec),
        ratio(oop_dec, buf_dec),
        ratio(raw_dec, buf_dec)
    );
}
