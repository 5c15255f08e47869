//! Log statements: `log rejected ...` and a rule's `log ...` -> `model::LogSpec`, with
//! their clauses' checks (repeats, rate and burst, NFLOG group, prefix, level).

use super::codes;
use super::site::Site;
use super::validate::{self, did_you_mean};
use crate::diag::Diagnostic;
use crate::model::{LogLevel, LogSpec, Rate, RateUnit};
use crate::source::{Span, Spanned};
use crate::syntax::ast;

/// Checks one log statement (`what` names it in messages: `log rejected`, `log`); `None`
/// after any error, every error reported.
pub(crate) fn spec(
    l: &ast::LogStmt,
    what: &str,
    site: &Site,
    diags: &mut Vec<Diagnostic>,
) -> Option<LogSpec> {
    let before = diags.len();
    repeated(l, what, diags);
    let limit = l
        .limit
        .as_ref()
        .and_then(|lim| rate(lim, Rated::Log, diags));
    let group = l.group.as_ref().and_then(|g| match u16::try_from(g.value) {
        Ok(v) => Some(v),
        Err(_) => {
            diags.push(
                Diagnostic::error(codes::BAD_LOG_GROUP, g.span, "NFLOG group out of range")
                    .with_label("groups are 0 to 65535")
                    .with_help("the group a userspace logger (ulogd) listens on, e.g. `group 1`"),
            );
            None
        }
    });
    let level = l
        .level
        .as_ref()
        .and_then(|v| level(v, l.group.as_ref(), diags));
    let prefix = match &l.prefix {
        Some(p) => match validate::log_prefix(&p.value, p.span) {
            Ok(()) => p.value.clone(),
            Err(d) => {
                diags.push(d);
                String::new()
            }
        },
        None => site.settings.log_prefix.clone(),
    };
    if diags.len() > before {
        return None;
    }
    Some(LogSpec {
        limit,
        prefix,
        group,
        level: level.unwrap_or_default(),
        span: l.span,
    })
}

/// `E0303` for each clause given again, naming the first.
fn repeated(l: &ast::LogStmt, what: &str, diags: &mut Vec<Diagnostic>) {
    for again in &l.repeated {
        let first = match again {
            ast::LogClause::Limit(_) => l.limit.as_ref().map(|x| x.span),
            ast::LogClause::Prefix(_) => l.prefix.as_ref().map(|x| x.span),
            ast::LogClause::Group(_) => l.group.as_ref().map(|x| x.span),
            ast::LogClause::Level(_) => l.level.as_ref().map(|x| x.span),
        };
        let mut d = Diagnostic::error(
            codes::DUPLICATE_CLAUSE,
            again.span(),
            format!("`{}` given twice in `{what}`", again.keyword()),
        )
        .with_label("second one")
        .with_help("keep one of them");
        if let Some(f) = first {
            d = d.with_secondary(f, "first one");
        }
        diags.push(d);
    }
}

/// A level name (`E0220` when unknown, with a suggestion); `E0221` beside a `group`: the
/// kernel refuses a level for NFLOG, whose logger decides.
fn level(
    v: &Spanned<String>,
    group: Option<&Spanned<u64>>,
    diags: &mut Vec<Diagnostic>,
) -> Option<LogLevel> {
    let Some(level) = LogLevel::from_name(&v.value) else {
        let names = LogLevel::ALL.iter().map(|(_, n)| *n);
        let d = Diagnostic::error(
            codes::BAD_LOG_LEVEL,
            v.span,
            format!("unknown log level `{}`", v.value),
        )
        .with_label("not a log level");
        diags.push(match did_you_mean(&v.value, names) {
            Some(s) => d.with_help(format!("did you mean `{s}`?")),
            None => d.with_help(
                "levels are emerg, alert, crit, err, warn, notice, info, debug (default warn)",
            ),
        });
        return None;
    };
    if let Some(g) = group {
        diags.push(
            Diagnostic::error(
                codes::LOG_LEVEL_WITH_GROUP,
                v.span,
                "`level` and `group` cannot be combined",
            )
            .with_label("a level is for the kernel log")
            .with_secondary(g.span, "NFLOG group: the userspace logger decides levels")
            .with_help("keep `group N` to log through NFLOG, or `level` to use the kernel log"),
        );
        return None;
    }
    Some(level)
}

/// What a `limit` limits: a log, or what a rule accepts.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rated {
    Log,
    Rule,
}

/// `limit N/unit [burst M]`: both 1..=2^32-1 (the kernel's u32); `None` after an error.
pub(crate) fn rate(lim: &ast::LogLimit, what: Rated, diags: &mut Vec<Diagnostic>) -> Option<Rate> {
    let zero = match what {
        Rated::Log => "a rate of 0 logs nothing",
        Rated::Rule => "a rate of 0 allows nothing",
    };
    let count = in_u32(&lim.count, zero, "rate", what, diags);
    let burst = match &lim.burst {
        Some(b) => in_u32(b, "a burst must be at least 1", "burst", what, diags),
        None => Some(0),
    };
    let unit = match lim.unit {
        ast::RateUnit::Second => RateUnit::Second,
        ast::RateUnit::Minute => RateUnit::Minute,
        ast::RateUnit::Hour => RateUnit::Hour,
        ast::RateUnit::Day => RateUnit::Day,
    };
    let (count, burst) = (count?, burst?);
    let secs = match unit {
        RateUnit::Second => 1,
        RateUnit::Minute => 60,
        RateUnit::Hour => 3600,
        RateUnit::Day => 86400,
    };
    if let Err(max) = validate::limit_bucket(count, secs, burst) {
        diags.push(
            limit_error(
                lim.span,
                "the kernel refuses this rate with this burst",
                what,
            )
            .with_help(format!(
                "the kernel's token bucket (the unit in nanoseconds / rate x burst) must fit \
                     in 64 bits: at {count}/{} the burst is at most {max}",
                lim.unit.keyword()
            )),
        );
        return None;
    }
    Some(Rate { count, unit, burst })
}

/// A rate or burst: 1..=u32::MAX, else an error saying which end it missed.
fn in_u32(
    n: &Spanned<u64>,
    zero: &str,
    field: &str,
    what: Rated,
    diags: &mut Vec<Diagnostic>,
) -> Option<u32> {
    match u32::try_from(n.value) {
        Ok(0) => diags.push(limit_error(n.span, zero, what)),
        Ok(v) => return Some(v),
        Err(_) => diags.push(limit_error(
            n.span,
            &format!(
                "a {field} of {} is too large (at most 4294967295)",
                validate::shown(n.value)
            ),
            what,
        )),
    }
    None
}

fn limit_error(span: Span, why: &str, what: Rated) -> Diagnostic {
    let title = match what {
        Rated::Log => "invalid log rate",
        Rated::Rule => "invalid rate limit",
    };
    Diagnostic::error(codes::BAD_LOG_LIMIT, span, title)
        .with_label(why.to_string())
        .with_help("write a rate like `limit 10/minute burst 5` (1 to 4294967295)")
}

/// A rule's `limit`: only `allow` may carry one (`E0222`); a drop or reject over its rate
/// would let the excess through to later rules.
pub(crate) fn rule_limit(
    lim: &ast::LogLimit,
    verdict: &Spanned<ast::Verdict>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Rate> {
    if verdict.value != ast::Verdict::Allow {
        diags.push(
            Diagnostic::error(
                codes::LIMIT_NOT_ALLOW,
                lim.span,
                format!("`limit` on a `{}` rule", verdict.value.keyword()),
            )
            .with_label("only `allow` rules take a rate limit")
            .with_secondary(verdict.span, "this rule refuses")
            .with_help(
                "a limit caps what a rule accepts; packets over it meet the later rules and \
                 the default, so a limited drop would let them through",
            ),
        );
        return None;
    }
    let rate = rate(lim, Rated::Rule, diags)?;
    match lim.per_source {
        Some(per) => source_timeout(lim, per, rate, diags).then_some(rate),
        None => Some(rate),
    }
}

/// `per source`: each address's entry lives until its bucket refills, which must be at most
/// [`validate::MAX_SOURCE_TIMEOUT_MS`] (`E0225`).
fn source_timeout(lim: &ast::LogLimit, per: Span, r: Rate, diags: &mut Vec<Diagnostic>) -> bool {
    let ms = validate::source_timeout_ms(r.count, r.unit.seconds(), r.burst);
    if ms <= validate::MAX_SOURCE_TIMEOUT_MS {
        return true;
    }
    let days = validate::MAX_SOURCE_TIMEOUT_MS / 86_400_000;
    diags.push(
        Diagnostic::error(
            validate::SOURCE_LIMIT_TOO_SLOW,
            lim.span,
            "a per-source bucket that refills too slowly",
        )
        .with_label(format!(
            "each source's bucket takes {} s to refill, more than {days} days",
            ms / 1000
        ))
        .with_secondary(per, "one bucket per source address")
        .with_help(format!(
            "a per-source entry is kept until its bucket refills (burst x unit / rate), at most \
             {} ms: raise the rate or lower the burst",
            validate::MAX_SOURCE_TIMEOUT_MS
        )),
    );
    false
}
