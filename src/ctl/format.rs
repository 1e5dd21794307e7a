//! Small text helpers for human output: durations, UTC times, enum names, and cells
//! safe to print (customer text never reaches the terminal as control characters).

use std::time::Duration;

/// A duration in milliseconds as an operator reads it: `850ms`, `45s`, `3m05s`,
/// `2h07m`, `3d04h`.
pub(crate) fn duration_ms(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        _ if ms < 1000 => format!("{ms}ms"),
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86400, s % 86400 / 3600),
    }
}

/// Seconds (a mean, possibly fractional) as [`duration_ms`] writes them.
pub(crate) fn duration_secs(secs: f64) -> String {
    if secs.is_finite() && secs >= 0.0 {
        duration_ms((secs * 1000.0).round() as u64)
    } else {
        "-".to_owned()
    }
}

/// Unix milliseconds as `2026-12-03 09:36:27 UTC`; `-` for 0 (never).
pub(crate) fn utc(unix_ms: i64) -> String {
    if unix_ms <= 0 {
        return "-".to_owned();
    }
    let secs = unix_ms / 1000;
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Unix milliseconds as the time of day, `09:36:27`.
pub(crate) fn time_of_day(unix_ms: i64) -> String {
    let rest = (unix_ms / 1000).rem_euclid(86_400);
    format!(
        "{:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Now, Unix milliseconds.
pub(crate) fn now_unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Year, month, day of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A generated enum's value as its proto name without the type prefix, in lower case
/// (`CHANNEL_WECHAT_OFFICIAL_ACCOUNT` → `wechat_official_account`), the names metrics
/// and the config file use; `unknown(N)` for a value newer than this client.
pub(crate) fn enum_name<E: TryFrom<i32>>(
    value: i32,
    as_str_name: fn(&E) -> &'static str,
    prefix: &str,
) -> String {
    match E::try_from(value) {
        Ok(e) => {
            let name = as_str_name(&e);
            name.strip_prefix(prefix)
                .unwrap_or(name)
                .to_ascii_lowercase()
        }
        Err(_) => format!("unknown({value})"),
    }
}

/// `c` as printed: control characters (newlines, the escape that starts a terminal
/// sequence) and bidirectional overrides, which a customer could type to garble or
/// disguise what an operator reads, become spaces.
fn printable(c: char) -> char {
    if c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}') {
        ' '
    } else {
        c
    }
}

/// A value for one table cell, made [`printable`]; an empty value becomes `-`.
pub(crate) fn cell(text: &str) -> String {
    if text.is_empty() {
        return "-".to_owned();
    }
    text.chars().map(printable).collect()
}

/// Message text for a transcript: kept on its lines, each continuation line indented
/// by `indent`, each line made [`printable`].
pub(crate) fn message_text(text: &str, indent: &str) -> String {
    text.lines()
        .map(|line| line.chars().map(printable).collect::<String>())
        .collect::<Vec<_>>()
        .join(&format!("\n{indent}"))
}

/// Parses `500ms`, `2s`, `5m`, `1h`, `7d` or a plain number of seconds.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?}: expected a duration such as 500ms, 2s, 5m, 1h"))?;
    let ms = match unit {
        "ms" => Some(n),
        "" | "s" => n.checked_mul(1000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        "d" => n.checked_mul(86_400_000),
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (ms, s, m, h, d)")),
    };
    ms.map(Duration::from_millis)
        .ok_or_else(|| format!("{text:?}: too long"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::pb;

    #[test]
    fn durations_read_as_operators_say_them() {
        assert_eq!(duration_ms(850), "850ms");
        assert_eq!(duration_ms(45_000), "45s");
        assert_eq!(duration_ms(185_000), "3m05s");
        assert_eq!(duration_ms(7_620_000), "2h07m");
        assert_eq!(duration_ms(86_400_000 * 3 + 3_600_000 * 4), "3d04h");
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("2 weeks").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }

    #[test]
    fn times_are_utc_calendar_dates() {
        assert_eq!(utc(0), "-");
        assert_eq!(utc(1_000), "1970-01-01 00:00:01 UTC");
        assert_eq!(utc(1_796_290_587_000), "2026-12-03 09:36:27 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(time_of_day(1_796_290_587_000), "09:36:27");
    }

    #[test]
    fn enum_names_and_cells_are_safe_to_print() {
        let ch = pb::Channel::WechatOfficialAccount as i32;
        assert_eq!(
            enum_name(ch, pb::Channel::as_str_name, "CHANNEL_"),
            "wechat_official_account"
        );
        assert_eq!(
            enum_name(99, pb::Channel::as_str_name, "CHANNEL_"),
            "unknown(99)"
        );
        assert_eq!(cell("a\x1b[31mb\nc"), "a [31mb c");
        assert_eq!(cell(""), "-");
        assert_eq!(cell("ab\u{202E}cd"), "ab cd");
        assert_eq!(message_text("one\ntwo\x07", "  "), "one\n  two ");
    }
}
