//! Time buckets of a report: months, quarters or years of upload, in UTC.

use serde::Serialize;

/// The width of a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// Calendar months (py-code.org's unit).
    Month,
    /// Calendar quarters.
    Quarter,
    /// Calendar years.
    Year,
}

/// The month of a time given in µs since the epoch, counted from year 0
/// (`year * 12 + month - 1`), so that months, quarters and years are plain divisions.
pub fn month_of(micros: i64) -> i32 {
    let t = jiff::Timestamp::from_microsecond(micros).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let d = jiff::tz::TimeZone::UTC.to_datetime(t).date();
    i32::from(d.year()) * 12 + i32::from(d.month()) - 1
}

impl Period {
    /// Every width, finest first.
    pub const ALL: [Period; 3] = [Period::Month, Period::Quarter, Period::Year];

    /// The bucket holding month `m` (see [`month_of`]).
    pub fn of_month(self, m: i32) -> i32 {
        match self {
            Period::Month => m,
            Period::Quarter => m.div_euclid(3),
            Period::Year => m.div_euclid(12),
        }
    }

    /// The bucket's label: `2024-05`, `2024-Q2`, `2024`.
    pub fn label(self, p: i32) -> String {
        match self {
            Period::Month => format!("{:04}-{:02}", p.div_euclid(12), p.rem_euclid(12) + 1),
            Period::Quarter => format!("{:04}-Q{}", p.div_euclid(4), p.rem_euclid(4) + 1),
            Period::Year => format!("{p:04}"),
        }
    }

    /// The name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            Period::Month => "month",
            Period::Quarter => "quarter",
            Period::Year => "year",
        }
    }

    /// The finest width whose buckets hold, on average, at least `per_bucket` of `units`
    /// spread over months `first..=last`: monthly lines over a few hundred releases would be
    /// noise.
    pub fn auto(units: u64, first: i32, last: i32, per_bucket: u64) -> Period {
        for p in [Period::Month, Period::Quarter] {
            let buckets = (p.of_month(last) - p.of_month(first) + 1).max(1) as u64;
            if units >= per_bucket * buckets {
                return p;
            }
        }
        Period::Year
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_and_labels() {
        // 2024-05-01T00:00:00Z and one µs before it
        let may = 1_714_521_600_000_000i64;
        assert_eq!(Period::Month.label(month_of(may)), "2024-05");
        assert_eq!(Period::Month.label(month_of(may - 1)), "2024-04");
        assert_eq!(Period::Quarter.label(Period::Quarter.of_month(month_of(may))), "2024-Q2");
        assert_eq!(Period::Year.label(Period::Year.of_month(month_of(may))), "2024");
        assert_eq!(Period::Month.label(month_of(0)), "1970-01");
        for p in Period::ALL {
            assert_eq!(serde_json::to_value(p).expect("serialises"), p.name());
        }
    }

    #[test]
    fn auto_picks_the_finest_width_with_enough_units() {
        let (first, last) = (2020 * 12, 2020 * 12 + 23); // two years
        assert_eq!(Period::auto(24 * 30, first, last, 30), Period::Month);
        assert_eq!(Period::auto(8 * 30, first, last, 30), Period::Quarter);
        assert_eq!(Period::auto(59, first, last, 30), Period::Year);
    }
}
