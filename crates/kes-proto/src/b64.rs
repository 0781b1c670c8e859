//! Standard base64 as Go's `encoding/base64.StdEncoding` (and so Go's JSON `[]byte`) speaks it:
//! padding required, non-zero trailing bits tolerated.

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serializer};
use zeroize::Zeroizing;

/// The engine used for every base64 field in this crate.
pub(crate) const ENGINE: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical)
        .with_decode_allow_trailing_bits(true),
);

/// Serialises bytes as a base64 string.
pub(crate) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&ENGINE.encode(bytes))
}

/// Deserialises a base64 string; JSON `null` means empty.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let text: Option<String> = Option::deserialize(d)?;
    match text {
        None => Ok(Vec::new()),
        Some(t) => ENGINE
            .decode(t.as_bytes())
            .map_err(|_| serde::de::Error::custom("invalid base64")),
    }
}

/// Serialises zeroizing bytes as base64.
pub(crate) fn serialize_secret<S: Serializer>(
    bytes: &Zeroizing<Vec<u8>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    let text = Zeroizing::new(ENGINE.encode(bytes.as_slice()));
    s.serialize_str(&text)
}

/// Deserialises base64 into zeroizing bytes; JSON `null` means empty.
pub(crate) fn deserialize_secret<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Zeroizing<Vec<u8>>, D::Error> {
    let text: Option<Zeroizing<String>> = Option::<String>::deserialize(d)?.map(Zeroizing::new);
    let mut out = Zeroizing::new(Vec::new());
    if let Some(t) = text {
        // Reserve up front so decoding never reallocates and leaves secret copies behind.
        out.reserve(base64::decoded_len_estimate(t.len()));
        ENGINE
            .decode_vec(t.as_bytes(), &mut out)
            .map_err(|_| serde::de::Error::custom("invalid base64"))?;
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn go_compatible() {
        assert_eq!(ENGINE.decode("AAEC").unwrap(), vec![0, 1, 2]);
        assert_eq!(ENGINE.decode("AQ==").unwrap(), vec![1]);
        // Go's StdEncoding ignores non-zero trailing bits.
        assert_eq!(ENGINE.decode("AR==").unwrap(), vec![1]);
        assert!(ENGINE.decode("AQ").is_err());
        assert!(ENGINE.decode("A-_=").is_err());
        assert_eq!(ENGINE.encode([0xff]), "/w==");
    }
}
