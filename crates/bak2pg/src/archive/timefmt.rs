//! The few calendar conversions the archive formats need (member times are only compared
//! and shown, so no time-zone database is involved).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since 1970-01-01 UTC to a time; `None` when out of the platform's range.
pub(crate) fn from_unix_secs(secs: i64) -> Option<SystemTime> {
    if secs >= 0 {
        UNIX_EPOCH.checked_add(Duration::from_secs(secs.unsigned_abs()))
    } else {
        UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs()))
    }
}

/// A Windows FILETIME (100 ns ticks since 1601-01-01 UTC) to a time; `None` for 0 (the
/// formats' "not recorded").
pub(crate) fn from_filetime(ticks: u64) -> Option<SystemTime> {
    const TICKS_1601_TO_1970: u64 = 116_444_736_000_000_000;
    if ticks == 0 {
        return None;
    }
    let secs = i64::try_from(ticks / 10_000_000).ok()? - (TICKS_1601_TO_1970 / 10_000_000) as i64;
    let nanos = (ticks % 10_000_000) as u32 * 100;
    from_unix_secs(secs)?.checked_add(Duration::from_nanos(u64::from(nanos)))
}

/// A calendar date and time (read as UTC) to a time; `None` when a field is out of range.
pub(crate) fn from_civil(year: i64, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> Option<SystemTime> {
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    from_unix_secs(days * 86_400 + i64::from(hour * 3600 + minute * 60 + second))
}

/// `YYYY-MM-DD HH:MM:SS UTC`, for notes.
pub(crate) fn format_utc(t: SystemTime) -> String {
    let secs = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    };
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC", rem / 3600, rem % 3600 / 60, rem % 60)
}

// Howard Hinnant's algorithms (proleptic Gregorian calendar), days relative to 1970-01-01.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_known_dates() {
        let t = from_civil(2011, 8, 10, 19, 46, 56).unwrap();
        assert_eq!(t.duration_since(UNIX_EPOCH).unwrap().as_secs(), 1_313_005_616);
        assert_eq!(format_utc(t), "2011-08-10 19:46:56 UTC");
        assert_eq!(format_utc(from_civil(2000, 2, 29, 0, 0, 0).unwrap()), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_utc(from_civil(1969, 12, 31, 23, 59, 59).unwrap()), "1969-12-31 23:59:59 UTC");
        assert_eq!(from_civil(2011, 13, 1, 0, 0, 0), None);
        // 2011-08-10 19:46:56 UTC as a FILETIME.
        assert_eq!(from_filetime(129_574_792_160_000_000), Some(t));
        assert_eq!(from_filetime(0), None);
        // The largest FILETIME must not overflow into a panic.
        let _ = from_filetime(u64::MAX);
    }
}
