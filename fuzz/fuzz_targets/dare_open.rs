//! DARE: encrypt plaintext from the input, damage the ciphertext as the input says (flip
//! bytes, truncate, splice packages), then decrypt whole and as a stream fed in uneven
//! chunks. Either both fail, or both give back exactly the plaintext: never other bytes.
//! Also the size and range arithmetic with arbitrary numbers.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 12 {
        return;
    }
    let (ctl, rest) = data.split_at(12);
    let key = dare::Key::new([7u8; 32]);
    // Plaintext: the rest repeated up to a length that spans several 64 KiB packages.
    let len = (usize::from(u16::from_le_bytes([ctl[0], ctl[1]])) * 5).min(300_000);
    let plain: Vec<u8> = rest.iter().copied().cycle().take(len).collect();
    let Ok(sealer) = dare::Sealer::new(&key, 0) else {
        return;
    };
    let Ok(mut ct) = dare::encrypt_buffer(sealer, &plain) else {
        return;
    };
    let n = ct.len();
    match ctl[2] % 4 {
        0 => {}
        1 if n > 0 => {
            let at = usize::from(u16::from_le_bytes([ctl[3], ctl[4]])) * 7 % n;
            ct[at] ^= ctl[5] | 1;
        }
        2 => ct.truncate(usize::from(u16::from_le_bytes([ctl[3], ctl[4]])) * 7 % (n + 1)),
        _ => {
            // Splice: move a span to another place.
            let a = usize::from(ctl[3]) * 997 % (n + 1);
            let b = (a + usize::from(ctl[4]) * 331) % (n + 1);
            let span: Vec<u8> = ct.drain(a..b.max(a)).collect();
            let at = usize::from(ctl[5]) * 769 % (ct.len() + 1);
            ct.splice(at..at, span);
        }
    }
    let whole = dare::decrypt_buffer(&key, 0, &ct);
    // The same stream through the incremental decoder, in chunks sized by the input.
    let mut dec = dare::Decoder::new(&key, 0);
    let (mut out, mut pos, mut failed) = (Vec::new(), 0usize, false);
    let mut step = 0usize;
    while pos < ct.len() && !failed {
        let chunk = 1 + usize::from(ctl[6 + step % 6]) * 61;
        step += 1;
        let end = (pos + chunk).min(ct.len());
        let mut slice = &ct[pos..end];
        while !slice.is_empty() {
            match dec.push(slice) {
                Ok(0) => {
                    out.extend_from_slice(dec.pending());
                    let k = dec.pending().len();
                    dec.consume(k);
                    if k == 0 {
                        failed = true;
                        break;
                    }
                }
                Ok(k) => slice = &slice[k..],
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        pos = end;
    }
    out.extend_from_slice(dec.pending());
    let streamed_ok = !failed && dec.finish().is_ok();
    match whole {
        Ok(p) => {
            assert_eq!(p, plain, "decrypt_buffer returned other bytes");
            assert!(
                streamed_ok,
                "the decoder refused what decrypt_buffer accepted"
            );
            assert_eq!(out, plain, "the decoder returned other bytes");
        }
        // An empty stream is the encryption of empty plaintext: the decoder accepts it,
        // decrypt_buffer refuses it as sio's DecryptBuffer does. (The object server
        // checks lengths, so an emptied object fails there.)
        Err(_) if ct.is_empty() => assert!(out.is_empty()),
        Err(_) => {
            assert!(
                !streamed_ok,
                "the decoder accepted what decrypt_buffer refused"
            );
            // What the decoder released before failing is a prefix of the plaintext.
            assert!(
                plain.starts_with(&out),
                "the decoder released unauthenticated bytes"
            );
        }
    }
    // Size and range arithmetic never panics.
    let big = u64::from_le_bytes([
        ctl[0], ctl[1], ctl[2], ctl[3], ctl[4], ctl[5], ctl[6], ctl[7],
    ]);
    let _ = dare::encrypted_size(big);
    let _ = dare::decrypted_size(big);
    let parts = [big % 1_000_000_007, u64::from(ctl[8]) << 20, 5 << 20];
    let _ = dare::decrypted_range(&parts, big >> 3, u64::from(ctl[9]) << 12);
});
