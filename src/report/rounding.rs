//! Numbers as the public summary shows them: two significant figures, with units. The
//! rounding is also what limits how many bits a migration author could smuggle out
//! through timings and sizes.

/// Rounds to two significant figures.
pub fn sig2(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return 0.0;
    }
    let magnitude = x.abs().log10().floor() as i32;
    let factor = 10f64.powi(1 - magnitude);
    (x * factor).round() / factor
}

fn trim(x: f64) -> String {
    let s = format!("{x:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

/// A duration: `850 µs`, `12 ms`, `1.2 s`, `3.5 min`, `1.5 h`.
pub fn duration_s(seconds: f64) -> String {
    let s = seconds.max(0.0);
    if s < 0.001 {
        format!("{} µs", trim(sig2(s * 1e6)))
    } else if s < 1.0 {
        format!("{} ms", trim(sig2(s * 1e3)))
    } else if s < 120.0 {
        format!("{} s", trim(sig2(s)))
    } else if s < 7200.0 {
        format!("{} min", trim(sig2(s / 60.0)))
    } else {
        format!("{} h", trim(sig2(s / 3600.0)))
    }
}

/// Milliseconds as a duration.
pub fn duration_ms(ms: f64) -> String {
    duration_s(ms / 1000.0)
}

/// A signed size change: `+24 KiB`, `-1.2 MiB`, `0 B`.
pub fn size_change(bytes: i64) -> String {
    if bytes == 0 {
        return "0 B".into();
    }
    let sign = if bytes > 0 { "+" } else { "-" };
    format!("{sign}{}", size(bytes.unsigned_abs()))
}

/// A size: `512 B`, `24 KiB`, `1.2 MiB`, `3.4 GiB`.
pub fn size(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < units.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    let mut rounded = sig2(value);
    if rounded >= 1024.0 && unit < units.len() - 1 {
        rounded = sig2(rounded / 1024.0);
        unit += 1;
    }
    format!("{} {}", trim(rounded), units[unit])
}

/// A count: `7`, `1,200`, `1,000,000`.
pub fn count(n: i64) -> String {
    let r = sig2(n as f64) as i64;
    let digits = r.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if r < 0 {
        format!("-{out}")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_significant_figures() {
        assert_eq!(sig2(1234.0), 1200.0);
        assert_eq!(sig2(0.012345), 0.012);
        assert_eq!(sig2(-987.0), -990.0);
        assert_eq!(sig2(0.0), 0.0);
    }

    #[test]
    fn units() {
        assert_eq!(duration_s(0.0123), "12 ms");
        assert_eq!(duration_s(1.234), "1.2 s");
        assert_eq!(duration_s(0.0000004), "0.4 µs");
        assert_eq!(duration_s(600.0), "10 min");
        assert_eq!(size_change(24 * 1024 + 100), "+24 KiB");
        assert_eq!(size_change(-1_300_000), "-1.2 MiB");
        assert_eq!(size_change(0), "0 B");
        assert_eq!(size(1023 * 1024), "1000 KiB");
        assert_eq!(size(1100 * 1024), "1.1 MiB");
        assert_eq!(count(1_234_567), "1,200,000");
        assert_eq!(count(7), "7");
    }
}
