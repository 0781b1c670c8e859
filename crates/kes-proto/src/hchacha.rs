//! HChaCha20 (draft-irtf-cfrg-xchacha-03 §2.2): derives the ChaCha20-Poly1305 sealing key of a
//! KES ChaCha20 key from its master key and the 16-byte per-message IV (spec §4.1).

use zeroize::Zeroizing;

/// "expand 32-byte k" as four little-endian words.
const SIGMA: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

fn quarter_round(s: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
    s[a] = s[a].wrapping_add(s[b]);
    s[d] = (s[d] ^ s[a]).rotate_left(16);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_left(12);
    s[a] = s[a].wrapping_add(s[b]);
    s[d] = (s[d] ^ s[a]).rotate_left(8);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_left(7);
}

fn le_words<const N: usize>(bytes: &[u8]) -> [u32; N] {
    let mut words = [0u32; N];
    for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(4)) {
        let mut b = [0u8; 4];
        b.copy_from_slice(chunk);
        *word = u32::from_le_bytes(b);
    }
    words
}

/// HChaCha20(key, input): 20 ChaCha rounds over `SIGMA || key || input`, output = state words
/// 0..4 and 12..16 (little-endian), without the final feed-forward addition.
pub(crate) fn hchacha20(key: &[u8; 32], input: &[u8; 16]) -> Zeroizing<[u8; 32]> {
    let mut state = Zeroizing::new([0u32; 16]);
    let key_words = Zeroizing::new(le_words::<8>(key));
    let input_words = le_words::<4>(input);
    state[..4].copy_from_slice(&SIGMA);
    state[4..12].copy_from_slice(key_words.as_ref());
    state[12..].copy_from_slice(&input_words);

    for _ in 0..10 {
        // Column round.
        quarter_round(&mut state, 0, 4, 8, 12);
        quarter_round(&mut state, 1, 5, 9, 13);
        quarter_round(&mut state, 2, 6, 10, 14);
        quarter_round(&mut state, 3, 7, 11, 15);
        // Diagonal round.
        quarter_round(&mut state, 0, 5, 10, 15);
        quarter_round(&mut state, 1, 6, 11, 12);
        quarter_round(&mut state, 2, 7, 8, 13);
        quarter_round(&mut state, 3, 4, 9, 14);
    }

    let mut out = Zeroizing::new([0u8; 32]);
    let words = state[..4].iter().chain(&state[12..]);
    for (chunk, word) in out.chunks_exact_mut(4).zip(words) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Hex value of `NAME = value` in the shared vector file.
    fn vector<const N: usize>(name: &str) -> [u8; N] {
        let data = include_str!("../tests/data/aead.txt");
        let value = data
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(" = "))
            .unwrap_or_else(|| panic!("missing {name}"));
        hex::decode(value.trim()).unwrap().try_into().unwrap()
    }

    #[test]
    fn draft_irtf_cfrg_xchacha_vector() {
        let out = hchacha20(&vector("HCHACHA_DRAFT_KEY"), &vector("HCHACHA_DRAFT_INPUT"));
        assert_eq!(*out, vector::<32>("HCHACHA_DRAFT_OUTPUT"));
    }

    #[test]
    fn kes_spec_vector() {
        // Spec §4.3: HChaCha20(K, IV).
        let out = hchacha20(&vector("K"), &vector("IV"));
        assert_eq!(*out, vector::<32>("HCHACHA20_K_IV"));
    }
}
