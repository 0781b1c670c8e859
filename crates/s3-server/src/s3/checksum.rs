//! Checksums of multipart objects as current SDKs expect them: `COMPOSITE` (the
//! checksum of the parts' checksums, shown as `<base64>-<parts>`) or `FULL_OBJECT` (the
//! CRC of the whole object, combined from the parts' CRCs without reading the data).

use base64::Engine;
use s3s::{s3_error, S3Result};

/// `x-amz-checksum-type` values.
pub const FULL_OBJECT: &str = "FULL_OBJECT";
/// See [`FULL_OBJECT`].
pub const COMPOSITE: &str = "COMPOSITE";

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The `x-amz-checksum-*` values of an input (distinct s3s types with the same field
/// names), for [`requested`].
macro_rules! sent {
    ($input:expr) => {
        [
            ("CRC32", &$input.checksum_crc32),
            ("CRC32C", &$input.checksum_crc32c),
            ("CRC64NVME", &$input.checksum_crc64nvme),
            ("SHA1", &$input.checksum_sha1),
            ("SHA256", &$input.checksum_sha256),
        ]
    };
}
pub(crate) use sent;

/// The additional checksum a PUT or UploadPart asks for: (algorithm, value the client
/// sent). The value comes in an `x-amz-checksum-*` header, or in a trailer announced by
/// `x-amz-trailer` (then s3s checks it against the body), or only the algorithm is named.
pub fn requested(
    sent: [(&str, &Option<String>); 5],
    algorithm: Option<&s3s::dto::ChecksumAlgorithm>,
    headers: &hyper::HeaderMap,
) -> S3Result<Option<(String, Option<String>)>> {
    if let Some((algorithm, value)) = sent.iter().find(|(_, v)| v.is_some()) {
        return Ok(Some((algorithm.to_string(), (*value).clone())));
    }
    let named = algorithm
        .map(|a| a.as_str().to_ascii_uppercase())
        .or_else(|| {
            headers
                .get("x-amz-trailer")
                .and_then(|v| v.to_str().ok())
                .and_then(|t| t.trim().strip_prefix("x-amz-checksum-"))
                .map(str::to_ascii_uppercase)
        });
    match named {
        None => Ok(None),
        Some(a) if sent.iter().any(|(known, _)| *known == a) => Ok(Some((a, None))),
        Some(a) => Err(s3_error!(
            InvalidRequest,
            "unsupported checksum algorithm {a}"
        )),
    }
}

/// The checksum type a multipart upload gets when the client names none: CRC64NVME
/// exists only as a full-object checksum, the others default to composite (as S3).
pub fn default_type(algorithm: &str) -> &'static str {
    if algorithm == "CRC64NVME" {
        FULL_OBJECT
    } else {
        COMPOSITE
    }
}

/// Checks that `algorithm` can have checksums of type `kind`.
pub fn check_type(algorithm: &str, kind: &str) -> S3Result<()> {
    match kind {
        FULL_OBJECT if matches!(algorithm, "CRC32" | "CRC32C" | "CRC64NVME") => Ok(()),
        COMPOSITE if algorithm != "CRC64NVME" => Ok(()),
        FULL_OBJECT | COMPOSITE => Err(s3_error!(
            InvalidRequest,
            "The {kind} checksum type cannot be used with the {algorithm} algorithm."
        )),
        other => Err(s3_error!(InvalidRequest, "invalid checksum type {other}")),
    }
}

/// The checksum of a multipart object from its parts' checksums (base64) and sizes.
pub fn of_parts(algorithm: &str, kind: &str, parts: &[(&str, u64)]) -> S3Result<String> {
    let bad = || s3_error!(InvalidPart, "a part's stored checksum is not valid base64");
    if kind == COMPOSITE {
        let mut raw = Vec::new();
        for (c, _) in parts {
            raw.extend(B64.decode(c).map_err(|_| bad())?);
        }
        let mut h = super::body::checksum_hasher(algorithm)?;
        h.update(&raw);
        let value = super::body::checksum_value(h.finalize())
            .ok_or_else(|| s3_error!(InternalError, "no checksum computed"))?;
        return Ok(format!("{value}-{}", parts.len()));
    }
    let (poly, width) = crc_parameters(algorithm)?;
    let mut acc: Option<u64> = None;
    for (c, len) in parts {
        let bytes = B64.decode(c).map_err(|_| bad())?;
        if bytes.len() * 8 != width as usize {
            return Err(bad());
        }
        let crc = bytes.iter().fold(0u64, |a, b| (a << 8) | u64::from(*b));
        acc = Some(match acc {
            None => crc,
            Some(a) => crc_combine(poly, width, a, crc, *len),
        });
    }
    let crc = acc.ok_or_else(|| s3_error!(InvalidPart, "no parts"))?;
    let bytes = crc.to_be_bytes();
    Ok(B64.encode(&bytes[8 - width as usize / 8..]))
}

/// The reflected polynomial and width of a CRC algorithm.
fn crc_parameters(algorithm: &str) -> S3Result<(u64, u32)> {
    match algorithm {
        "CRC32" => Ok((0xEDB8_8320, 32)),
        "CRC32C" => Ok((0x82F6_3B78, 32)),
        "CRC64NVME" => Ok((0x9A6C_9329_AC4B_C9B5, 64)),
        other => Err(s3_error!(
            InvalidRequest,
            "The FULL_OBJECT checksum type cannot be used with the {other} algorithm."
        )),
    }
}

fn gf2_times(mat: &[u64], mut vec: u64) -> u64 {
    let mut sum = 0;
    let mut i = 0;
    while vec != 0 {
        if vec & 1 != 0 {
            sum ^= mat[i];
        }
        vec >>= 1;
        i += 1;
    }
    sum
}

fn gf2_square(square: &mut [u64], mat: &[u64]) {
    for n in 0..mat.len() {
        square[n] = gf2_times(mat, mat[n]);
    }
}

/// The CRC of `A ‖ B` from `crc(A)`, `crc(B)` and `len(B)`, for a reflected CRC with
/// all-ones initial value and final XOR (CRC-32, CRC-32C, CRC-64/NVME): the operator that
/// appends `len(B)` zero bytes is applied to `crc(A)` by repeated squaring (as zlib's
/// `crc32_combine`).
pub fn crc_combine(poly: u64, width: u32, mut crc1: u64, crc2: u64, mut len2: u64) -> u64 {
    if len2 == 0 {
        return crc1;
    }
    let w = width as usize;
    let mut odd = vec![0u64; w];
    let mut even = vec![0u64; w];
    odd[0] = poly;
    let mut row = 1u64;
    for item in odd.iter_mut().skip(1) {
        *item = row;
        row <<= 1;
    }
    gf2_square(&mut even, &odd); // two zero bits
    gf2_square(&mut odd, &even); // four zero bits
    loop {
        gf2_square(&mut even, &odd);
        if len2 & 1 != 0 {
            crc1 = gf2_times(&even, crc1);
        }
        len2 >>= 1;
        if len2 == 0 {
            break;
        }
        gf2_square(&mut odd, &even);
        if len2 & 1 != 0 {
            crc1 = gf2_times(&odd, crc1);
        }
        len2 >>= 1;
        if len2 == 0 {
            break;
        }
    }
    crc1 ^ crc2
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn checksum(algorithm: &str, data: &[u8]) -> String {
        let mut h = crate::s3::body::checksum_hasher(algorithm).unwrap();
        h.update(data);
        crate::s3::body::checksum_value(h.finalize()).unwrap()
    }

    #[test]
    fn combined_crcs_equal_the_crc_of_the_whole() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        for algorithm in ["CRC32", "CRC32C", "CRC64NVME"] {
            let cuts = [0, 1, 65_536, 200_001, data.len()];
            let pieces: Vec<(String, u64)> = cuts
                .windows(2)
                .map(|w| {
                    let p = &data[w[0]..w[1]];
                    (checksum(algorithm, p), p.len() as u64)
                })
                .collect();
            let parts: Vec<(&str, u64)> = pieces.iter().map(|(c, n)| (c.as_str(), *n)).collect();
            assert_eq!(
                of_parts(algorithm, FULL_OBJECT, &parts).unwrap(),
                checksum(algorithm, &data),
                "{algorithm}"
            );
        }
    }

    #[test]
    fn composite_is_the_checksum_of_the_part_checksums() {
        // s3-tests' SHA256 vectors: parts of 5 MiB of 'A', 'B' and 'C'.
        let part = |c: u8| checksum("SHA256", &vec![c; 5 << 20]);
        let parts = [part(b'A'), part(b'B'), part(b'C')];
        assert_eq!(parts[0], "275VF5loJr1YYawit0XSHREhkFXYkkPKGuoK0x9VKxI=");
        let refs: Vec<(&str, u64)> = parts.iter().map(|p| (p.as_str(), 5 << 20)).collect();
        assert_eq!(
            of_parts("SHA256", COMPOSITE, &refs).unwrap(),
            "uWBwpe1dxI4Vw8Gf0X9ynOdw/SS6VBzfWm9giiv1sf4=-3"
        );
        // And their CRC32 full-object value.
        let crcs = [b'A', b'B', b'C'].map(|c| checksum("CRC32", &vec![c; 5 << 20]));
        assert_eq!(crcs[0], "JRTCyQ==");
        let refs: Vec<(&str, u64)> = crcs.iter().map(|p| (p.as_str(), 5 << 20)).collect();
        assert_eq!(of_parts("CRC32", FULL_OBJECT, &refs).unwrap(), "WgDhBQ==");
    }

    #[test]
    fn types_and_algorithms() {
        assert!(check_type("CRC64NVME", COMPOSITE).is_err());
        assert!(check_type("SHA256", FULL_OBJECT).is_err());
        assert!(check_type("CRC32", FULL_OBJECT).is_ok());
        assert!(check_type("CRC32", "BOTH").is_err());
        assert_eq!(default_type("CRC64NVME"), FULL_OBJECT);
    }
}
