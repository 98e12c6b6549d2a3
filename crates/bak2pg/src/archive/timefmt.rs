//! The few time conversions the archive formats need (member times are only compared and
//! shown, so no time-zone database is involved); calendar arithmetic is jiff's.

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

/// A calendar date and time (read as UTC) to a time; `None` when a field is out of range
/// (a 31st of February included). Second 60 (a leap second) is the next minute's first.
pub(crate) fn from_civil(year: i64, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> Option<SystemTime> {
    let field = |v: u32| i8::try_from(v).ok();
    let dt = jiff::civil::DateTime::new(
        i16::try_from(year).ok()?,
        field(month)?,
        field(day)?,
        field(hour)?,
        field(minute)?,
        field(second.min(59))?,
        0,
    )
    .ok()?;
    let t = SystemTime::from(dt.to_zoned(jiff::tz::TimeZone::UTC).ok()?.timestamp());
    t.checked_add(Duration::from_secs(u64::from(second.saturating_sub(59).min(1))))
}

/// `YYYY-MM-DD HH:MM:SS UTC`, for notes.
pub(crate) fn format_utc(t: SystemTime) -> String {
    match jiff::Timestamp::try_from(t) {
        Ok(ts) => ts.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
        Err(_) => format!("{t:?}"),
    }
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
