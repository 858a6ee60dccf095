//! The evaluator: first rule whose `when` is true decides. Three-valued:
//! `Some(true)`, `Some(false)`, `None` (unknown: context missing).

use super::{
    Condition, Decision, EvalInput, Matched, Minute, Rules, Sensitivity, TimeWindow, When,
};
use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use chrono_tz::Tz;
use std::net::IpAddr;

struct Ctx<'i, 'a> {
    input: &'i EvalInput<'a>,
    now: DateTime<Utc>,
    ip: Option<IpAddr>,
    sensitivity: Sensitivity,
    /// Local weekday (0 = Monday) and minute, computed once per time zone.
    local: Option<(Tz, u32, Minute)>,
}

pub(super) fn evaluate(rules: &Rules, input: &EvalInput<'_>, now: DateTime<Utc>) -> Decision {
    let mut ctx = Ctx {
        input,
        now,
        ip: input.ip.map(|ip| ip.to_canonical()),
        sensitivity: input.sensitivity.unwrap_or(input.system_sensitivity),
        local: None,
    };
    for (i, rule) in rules.rules.iter().enumerate() {
        if when(&rule.when, &mut ctx) == Some(true) {
            return Decision {
                matched: Matched::Rule(i),
                outcome: rule.outcome,
            };
        }
    }
    Decision {
        matched: Matched::Default,
        outcome: rules.default,
    }
}

/// Kleene AND: any false is false, else any unknown is unknown.
fn when(w: &When, ctx: &mut Ctx<'_, '_>) -> Option<bool> {
    let mut unknown = false;
    for c in &w.0 {
        match condition(c, ctx) {
            Some(true) => {}
            Some(false) => return Some(false),
            None => unknown = true,
        }
    }
    (!unknown).then_some(true)
}

fn condition(c: &Condition, ctx: &mut Ctx<'_, '_>) -> Option<bool> {
    let input = ctx.input;
    match c {
        Condition::SensitivityAtLeast(min) => Some(ctx.sensitivity >= *min),
        Condition::NewDevice(new) => input.device_known.map(|known| known != *new),
        Condition::UserInGroup(wanted) => Some(input.groups.iter().any(|has| {
            let has = has.trim();
            wanted.iter().any(|w| w.eq_ignore_ascii_case(has))
        })),
        Condition::RecentAuth { within, factors } => Some(input.last_approved.is_some_and(|l| {
            Window::new(ctx.now, *within).contains(l.at)
                && factors.iter().all(|f| l.factors.contains(f))
        })),
        Condition::IpIn(nets) => ctx.ip.map(|ip| nets.iter().any(|n| n.contains(&ip))),
        Condition::Time(t) => Some(time(t, ctx)),
        Condition::RecentFailuresAtLeast { count, within } => {
            let window = Window::new(ctx.now, *within);
            let n = input
                .recent_failures
                .iter()
                .filter(|t| window.contains(**t))
                .count();
            Some(n >= *count as usize)
        }
        Condition::Not(inner) => when(inner, ctx).map(|b| !b),
    }
}

/// `now - within < t <= now`, as two comparisons.
struct Window {
    after: DateTime<Utc>,
    now: DateTime<Utc>,
}

impl Window {
    fn new(now: DateTime<Utc>, within: Duration) -> Self {
        // Only a `now` at the very start of chrono's range could underflow.
        let after = now
            .checked_sub_signed(within)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        Self { after, now }
    }

    fn contains(&self, t: DateTime<Utc>) -> bool {
        self.after < t && t <= self.now
    }
}

fn time(t: &TimeWindow, ctx: &mut Ctx<'_, '_>) -> bool {
    let (day, minute) = match ctx.local {
        Some((tz, day, minute)) if tz == t.tz => (day, minute),
        _ => {
            let local = ctx.now.with_timezone(&t.tz);
            let day = local.weekday().num_days_from_monday();
            // hour < 24 and minute < 60: fits.
            let minute = (local.hour() * 60 + local.minute()) as Minute;
            ctx.local = Some((t.tz, day, minute));
            (day, minute)
        }
    };
    let on = |d: u32| t.days.is_none_or(|mask| mask & (1 << d) != 0);
    match t.hours {
        None => on(day),
        Some((from, to)) if from < to => on(day) && from <= minute && minute < to,
        // Crosses midnight: the part after midnight belongs to the day before.
        Some((from, to)) => (minute >= from && on(day)) || (minute < to && on((day + 6) % 7)),
    }
}
