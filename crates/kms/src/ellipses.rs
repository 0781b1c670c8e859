//! MinIO's ellipses notation for endpoint lists: `https://kes{1...3}:7373` names
//! `https://kes1:7373`, `https://kes2:7373` and `https://kes3:7373`; `{01...10}` keeps the
//! zero padding (`01` … `10`). Several ranges in one string multiply. Braces that do not
//! hold a `{A...B}` range are left as they are.

/// Most names one string may expand to (a typo like `{1...100000}` should not allocate).
const MAX_EXPANSION: usize = 4096;

/// Expands every `{A...B}` range of `s`, first range outermost.
pub(crate) fn expand(s: &str) -> Result<Vec<String>, String> {
    let Some((before, range, after)) = find_range(s)? else {
        return Ok(vec![s.to_string()]);
    };
    let tails = expand(after)?;
    let mut out = Vec::new();
    for n in range.start..=range.end {
        for tail in &tails {
            if out.len() == MAX_EXPANSION {
                return Err(format!("'{s}' expands to more than {MAX_EXPANSION} names"));
            }
            out.push(format!("{before}{n:0width$}{tail}", width = range.width));
        }
    }
    Ok(out)
}

struct Range {
    start: u64,
    end: u64,
    /// Zero-padded width; 0 = no padding.
    width: usize,
}

/// The text before the first range, the range and the text after it.
fn find_range(s: &str) -> Result<Option<(&str, Range, &str)>, String> {
    let mut from = 0;
    while let Some(open) = s.get(from..).and_then(|t| t.find('{')).map(|i| i + from) {
        let Some(close) = s.get(open..).and_then(|t| t.find('}')).map(|i| i + open) else {
            return Ok(None);
        };
        let inner = s.get(open + 1..close).unwrap_or_default();
        if let Some((a, b)) = inner.split_once("...") {
            let range = parse_range(a, b).map_err(|e| format!("'{{{inner}}}': {e}"))?;
            let before = s.get(..open).unwrap_or_default();
            let after = s.get(close + 1..).unwrap_or_default();
            return Ok(Some((before, range, after)));
        }
        from = close + 1;
    }
    Ok(None)
}

fn parse_range(a: &str, b: &str) -> Result<Range, String> {
    let num = |t: &str| -> Result<u64, String> {
        if t.is_empty() || !t.bytes().all(|c| c.is_ascii_digit()) {
            return Err(format!("'{t}' is not a number"));
        }
        t.parse().map_err(|_| format!("'{t}' is too large"))
    };
    let (start, end) = (num(a)?, num(b)?);
    if start > end {
        return Err("the range runs backwards".into());
    }
    let padded = (a.len() > 1 && a.starts_with('0')) || (b.len() > 1 && b.starts_with('0'));
    Ok(Range {
        start,
        end,
        width: if padded { a.len().max(b.len()) } else { 0 },
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn expands_ranges() {
        assert_eq!(
            expand("https://kes{1...3}:7373").unwrap(),
            [
                "https://kes1:7373",
                "https://kes2:7373",
                "https://kes3:7373"
            ]
        );
        assert_eq!(expand("kes{01...03}").unwrap(), ["kes01", "kes02", "kes03"]);
        assert_eq!(expand("k{8...10}").unwrap(), ["k8", "k9", "k10"]);
        assert_eq!(expand("k{08...10}").unwrap(), ["k08", "k09", "k10"]);
        assert_eq!(
            expand("a{1...2}.b{1...2}").unwrap(),
            ["a1.b1", "a1.b2", "a2.b1", "a2.b2"]
        );
        assert_eq!(expand("https://kes:7373").unwrap(), ["https://kes:7373"]);
        assert_eq!(expand("x{y}z{1...2}").unwrap(), ["x{y}z1", "x{y}z2"]);
        assert_eq!(expand("x{").unwrap(), ["x{"]);
        assert_eq!(expand("{5...5}").unwrap(), ["5"]);
    }

    #[test]
    fn rejects_bad_ranges() {
        for bad in [
            "k{3...1}",
            "k{a...b}",
            "k{1...}",
            "k{...2}",
            "k{-1...2}",
            "k{1...99999}",
        ] {
            assert!(expand(bad).is_err(), "{bad}");
        }
    }
}
