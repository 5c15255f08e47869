//! `firewalld.conf` read as firewalld 1.3 reads it (`firewall/core/io/firewalld_conf.py`),
//! and the default zone firewalld then uses (`Firewall._start`): a `DefaultZone` that
//! names no zone falls back to `public`, else `external`, else `block`.

/// Where a key's value was written: 1-based line and column of the value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    pub value: String,
    pub line: u32,
    pub col: u32,
}

/// The value of `key` as firewalld takes it: each line stripped of surrounding
/// whitespace; blank lines and lines starting with `#` or `;` skipped; a setting is
/// `KEY=VALUE` with exactly one `=`, both sides stripped; an empty value is skipped; the
/// first definition wins. Quotes are part of the value (firewalld does not remove them).
pub fn value(text: &str, key: &str) -> Option<Setting> {
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let mut parts = line.split('=');
        let (Some(k), Some(v), None) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let v = v.trim();
        if k.trim() != key || v.is_empty() {
            continue;
        }
        // `v` is a slice of `line`, itself a slice of `raw`: its byte offset in the line.
        let col = v.as_ptr() as usize - raw.as_ptr() as usize;
        return Some(Setting {
            value: v.to_string(),
            line: u32::try_from(n + 1).unwrap_or(u32::MAX),
            col: u32::try_from(raw[..col].chars().count() + 1).unwrap_or(u32::MAX),
        });
    }
    None
}

/// firewalld's default zone when `firewalld.conf` sets none.
pub const FALLBACK_ZONE: &str = "public";

/// The zone firewalld uses as its default: `configured` when a zone of that name exists,
/// else the first of `public`, `external`, `block` that exists; `None` when none does
/// (firewalld itself refuses to start without `block`).
pub fn effective_default<'a>(configured: &'a str, zones: &[&'a str]) -> Option<&'a str> {
    [configured, "public", "external", "block"]
        .into_iter()
        .find(|z| zones.contains(z))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(text: &str) -> Option<String> {
        value(text, "DefaultZone").map(|s| s.value)
    }

    #[test]
    fn comments_blank_lines_and_empty_values_are_skipped() {
        let conf =
            "# DefaultZone=wrong\n\n; DefaultZone=also-wrong\nDefaultZone=\n  DefaultZone = dmz \n";
        let s = value(conf, "DefaultZone").expect("a value");
        assert_eq!((s.value.as_str(), s.line, s.col), ("dmz", 5, 17));
        assert_eq!(zone(""), None);
        assert_eq!(zone("LogDenied=off\n"), None);
    }

    /// firewalld keeps quotes and skips a line with a second `=`; the first definition
    /// wins (a later one is a duplicate firewalld ignores).
    #[test]
    fn quotes_stay_and_malformed_lines_are_skipped_as_firewalld_does() {
        assert_eq!(zone("DefaultZone=\"dmz\"\n").as_deref(), Some("\"dmz\""));
        assert_eq!(
            zone("DefaultZone=a=b\nDefaultZone=work\n").as_deref(),
            Some("work")
        );
        assert_eq!(
            zone("DefaultZone=home\nDefaultZone=work\n").as_deref(),
            Some("home")
        );
        assert_eq!(zone("DefaultZoneX=home\n"), None);
    }

    #[test]
    fn a_default_that_is_no_zone_falls_back_as_firewalld_does() {
        let all = ["block", "dmz", "drop", "external", "public"];
        assert_eq!(effective_default("dmz", &all), Some("dmz"));
        assert_eq!(effective_default("\"dmz\"", &all), Some("public"));
        assert_eq!(effective_default("nope", &all[..4]), Some("external"));
        assert_eq!(effective_default("nope", &["block", "drop"]), Some("block"));
        assert_eq!(effective_default("nope", &["drop"]), None);
    }
}
