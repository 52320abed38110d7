//! The console's chart of the last 30 days, Basic requests against Bearer requests of
//! migrated clients, as numbers a template draws: the days filled in (a day nobody called
//! is a zero, not a gap), a vertical scale of round numbers, and the points of both lines
//! in the SVG's coordinates. No drawing here; the SVG is in the template.

use super::bearer_usage::{day_start, DailyUsage, DAY_SECONDS};
use crate::rfc3339::format_rfc3339;
use crate::UnixSeconds;

/// Days the chart covers, today included.
pub const CHART_DAYS: i64 = 30;
/// The SVG's coordinate box. Narrow, so that its text is still legible at 375 px wide.
pub const WIDTH: i64 = 360;
pub const HEIGHT: i64 = 200;
const LEFT: i64 = 40;
const RIGHT: i64 = 10;
const TOP: i64 = 10;
const BOTTOM: i64 = 24;
/// Horizontal lines of the scale, above zero.
const TICKS: i64 = 4;

/// A labelled line of the scale (`y` in the SVG's coordinates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tick {
    pub y: i64,
    pub label: String,
}

/// A date under the horizontal axis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayLabel {
    pub x: i64,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageChart {
    /// One per day, oldest first, [`CHART_DAYS`] of them.
    pub days: Vec<DailyUsage>,
    /// The top of the scale: a round number at least the largest count (at least 4).
    pub max: i64,
    pub ticks: Vec<Tick>,
    pub labels: Vec<DayLabel>,
    /// `x,y x,y …`, for `<polyline points="…">`.
    pub basic_points: String,
    pub bearer_points: String,
    pub basic_total: i64,
    pub bearer_total: i64,
    /// The plot area: left and right edges, top and bottom (zero) lines.
    pub left: i64,
    pub right: i64,
    pub top: i64,
    pub bottom: i64,
}

/// The smallest of 1, 2, 2.5, 5 × 10ⁿ that is at least `n` (at least 1; 2.5 only from 25
/// on, so every step is a whole number).
fn round_step(n: i64) -> i64 {
    let mut magnitude = 1_i64;
    loop {
        let quarter = if magnitude >= 10 {
            magnitude / 2 * 5
        } else {
            5 * magnitude
        };
        for step in [
            magnitude,
            magnitude.saturating_mul(2),
            quarter,
            magnitude.saturating_mul(5),
        ] {
            if step >= n || step == i64::MAX {
                return step;
            }
        }
        magnitude = magnitude.saturating_mul(10);
    }
}

/// `1200` → `1.2k`, `3000000` → `3M`: short enough for the scale's margin.
pub fn compact(n: i64) -> String {
    let scaled = |unit: i64, suffix: &str| {
        let tenths = i128::from(n) * 10 / i128::from(unit);
        if tenths % 10 == 0 {
            format!("{}{suffix}", tenths / 10)
        } else {
            format!("{}.{}{suffix}", tenths / 10, tenths % 10)
        }
    };
    match n {
        n if n >= 1_000_000_000 => scaled(1_000_000_000, "G"),
        n if n >= 1_000_000 => scaled(1_000_000, "M"),
        n if n >= 1_000 => scaled(1_000, "k"),
        n => n.to_string(),
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `7 Dec` for the day starting at `t`.
fn day_label(t: UnixSeconds) -> String {
    let date = format_rfc3339(t);
    let month: usize = date.get(5..7).and_then(|m| m.parse().ok()).unwrap_or(1);
    let day: u32 = date.get(8..10).and_then(|d| d.parse().ok()).unwrap_or(1);
    format!("{day} {}", MONTHS[month.clamp(1, 12) - 1])
}

/// The chart of the [`CHART_DAYS`] days up to the one holding `now`, from the store's
/// counts (any order, days without requests missing, days outside ignored).
pub fn usage_chart(counts: &[DailyUsage], now: UnixSeconds) -> UsageChart {
    let today = day_start(now);
    let first = today - (CHART_DAYS - 1) * DAY_SECONDS;
    let mut days: Vec<DailyUsage> = (0..CHART_DAYS)
        .map(|i| DailyUsage {
            day_start: first + i * DAY_SECONDS,
            ..DailyUsage::default()
        })
        .collect();
    for c in counts {
        let index = (c.day_start - first).div_euclid(DAY_SECONDS);
        if let Some(day) = usize::try_from(index).ok().and_then(|i| days.get_mut(i)) {
            day.basic += c.basic;
            day.bearer += c.bearer;
        }
    }
    let largest = days
        .iter()
        .map(|d| d.basic.max(d.bearer))
        .max()
        .unwrap_or(0);
    let step = round_step((largest.max(0) + TICKS - 1) / TICKS);
    let max = step.saturating_mul(TICKS);
    let (left, right, top, bottom) = (LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM);
    let x = |i: i64| left + i * (right - left) / (CHART_DAYS - 1);
    // i128: counts times the height cannot overflow.
    let y = |v: i64| bottom - (i128::from(v) * i128::from(bottom - top) / i128::from(max)) as i64;
    let points = |value: fn(&DailyUsage) -> i64| {
        days.iter()
            .zip(0..)
            .map(|(d, i)| format!("{},{}", x(i), y(value(d))))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let ticks = (0..=TICKS)
        .map(|t| Tick {
            y: y(t.saturating_mul(step)),
            label: compact(t.saturating_mul(step)),
        })
        .collect();
    let labels = (0..CHART_DAYS)
        .rev()
        .step_by(7)
        .map(|i| DayLabel {
            x: x(i),
            label: day_label(first + i * DAY_SECONDS),
        })
        .collect();
    UsageChart {
        basic_points: points(|d| d.basic),
        bearer_points: points(|d| d.bearer),
        basic_total: days.iter().map(|d| d.basic).sum(),
        bearer_total: days.iter().map(|d| d.bearer).sum(),
        days,
        max,
        ticks,
        labels,
        left,
        right,
        top,
        bottom,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_764_633_600 + 3600; // 2 Dec 2025 01:00 UTC

    #[test]
    fn scales_are_round_numbers_covering_the_largest_count() {
        assert_eq!(round_step(0), 1);
        assert_eq!(round_step(1), 1);
        assert_eq!(round_step(3), 5);
        assert_eq!(round_step(7), 10);
        assert_eq!(round_step(11), 20);
        assert_eq!(round_step(25), 25);
        assert_eq!(round_step(26), 50);
        assert_eq!(round_step(2_500), 2_500);
        assert_eq!(round_step(2_501), 5_000);
        let chart = usage_chart(
            &[DailyUsage {
                day_start: day_start(NOW),
                basic: 9,
                bearer: 3,
            }],
            NOW,
        );
        assert_eq!(chart.max, 20, "steps of 3 are not round: 4 steps of 5");
    }

    #[test]
    fn every_day_is_there_and_missing_days_are_zero() {
        let today = day_start(NOW);
        let counts = [
            DailyUsage {
                day_start: today,
                basic: 100,
                bearer: 40,
            },
            DailyUsage {
                day_start: today - 29 * DAY_SECONDS,
                basic: 20,
                bearer: 0,
            },
            DailyUsage {
                day_start: today - 30 * DAY_SECONDS,
                basic: 999,
                bearer: 999,
            },
            DailyUsage {
                day_start: today,
                basic: 0,
                bearer: 10,
            },
        ];
        let chart = usage_chart(&counts, NOW);
        assert_eq!(chart.days.len(), 30);
        assert_eq!(chart.days[0].day_start, today - 29 * DAY_SECONDS);
        assert_eq!((chart.days[0].basic, chart.days[29].bearer), (20, 50));
        assert_eq!(
            (chart.basic_total, chart.bearer_total),
            (120, 50),
            "day 31 is left out"
        );
        assert_eq!(chart.max, 100);
        let basic: Vec<&str> = chart.basic_points.split(' ').collect();
        assert_eq!(basic.len(), 30);
        assert_eq!(
            basic[0],
            format!(
                "{},{}",
                chart.left,
                chart.bottom - (chart.bottom - chart.top) / 5
            )
        );
        assert_eq!(
            basic[1],
            format!("{},{}", chart.left + 10, chart.bottom),
            "a zero day"
        );
        assert_eq!(
            basic[29],
            format!("{},{}", chart.right, chart.top),
            "the largest touches the top"
        );
    }

    #[test]
    fn an_empty_chart_has_a_scale_and_flat_lines() {
        let chart = usage_chart(&[], NOW);
        assert_eq!(chart.max, 4);
        assert_eq!(chart.ticks.len(), 5);
        assert_eq!(
            chart.ticks[0],
            Tick {
                y: chart.bottom,
                label: "0".into()
            }
        );
        assert_eq!(
            chart.ticks[4],
            Tick {
                y: chart.top,
                label: "4".into()
            }
        );
        assert!(chart
            .bearer_points
            .split(' ')
            .all(|p| p.ends_with(&format!(",{}", chart.bottom))));
    }

    #[test]
    fn dates_label_every_week_back_from_today() {
        let chart = usage_chart(&[], NOW);
        let labels: Vec<&str> = chart.labels.iter().map(|l| l.label.as_str()).collect();
        assert_eq!(labels, ["2 Dec", "25 Nov", "18 Nov", "11 Nov", "4 Nov"]);
        assert_eq!(chart.labels[0].x, chart.right);
    }

    #[test]
    fn large_numbers_are_compact() {
        assert_eq!(compact(0), "0");
        assert_eq!(compact(999), "999");
        assert_eq!(compact(1_000), "1k");
        assert_eq!(compact(1_250), "1.2k");
        assert_eq!(compact(20_000_000), "20M");
        let chart = usage_chart(
            &[DailyUsage {
                day_start: day_start(NOW),
                basic: i64::MAX / 2,
                bearer: 0,
            }],
            NOW,
        );
        assert!(chart.max >= i64::MAX / 2);
    }
}
