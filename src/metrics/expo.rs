//! The Prometheus text exposition format (what node_exporter's textfile collector
//! reads): one `# HELP` and one `# TYPE` line per family, then its samples; label
//! values and help text escaped; free-text comments kept to one line.

use std::fmt::Write;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    Gauge,
    Counter,
}

/// One metric family: a name, what it means, and its samples (label pairs, value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Type,
    pub samples: Vec<(Vec<(&'static str, String)>, u64)>,
}

impl Family {
    pub fn new(name: &'static str, kind: Type, help: &'static str) -> Family {
        Family {
            name,
            help,
            kind,
            samples: Vec::new(),
        }
    }

    /// One family with one unlabelled sample.
    pub fn single(name: &'static str, kind: Type, help: &'static str, value: u64) -> Family {
        let mut f = Family::new(name, kind, help);
        f.samples.push((Vec::new(), value));
        f
    }
}

/// The families in order; a family without samples is left out whole.
pub fn render(comments: &[String], families: &[Family]) -> String {
    let mut out = String::new();
    for c in comments {
        let _ = writeln!(out, "# {}", one_line(c));
    }
    for f in families.iter().filter(|f| !f.samples.is_empty()) {
        let kind = match f.kind {
            Type::Gauge => "gauge",
            Type::Counter => "counter",
        };
        let _ = writeln!(out, "# HELP {} {}", f.name, escape_help(f.help));
        let _ = writeln!(out, "# TYPE {} {kind}", f.name);
        for (labels, value) in &f.samples {
            out.push_str(f.name);
            if !labels.is_empty() {
                let pairs: Vec<String> = labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
                    .collect();
                let _ = write!(out, "{{{}}}", pairs.join(","));
            }
            let _ = writeln!(out, " {value}");
        }
    }
    out
}

/// A label value: backslash, double quote and line feed escaped.
pub fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// Help text: backslash and line feed escaped.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A comment's text on one line: any line break or other control character as a space.
fn one_line(v: &str) -> String {
    v.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_and_comments_cannot_break_the_format() {
        assert_eq!(escape_label(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape_label("x\ny"), "x\\ny");
        let mut f = Family::new("hostwall_x_total", Type::Counter, "what \\ it\nis");
        f.samples.push((vec![("line", "p\"\n.policy:3".into())], 7));
        let empty = Family::new("hostwall_none", Type::Gauge, "left out");
        let text = render(&["read failed:\nno\rnetns".into()], &[f, empty]);
        assert_eq!(
            text,
            "# read failed: no netns\n\
             # HELP hostwall_x_total what \\\\ it\\nis\n\
             # TYPE hostwall_x_total counter\n\
             hostwall_x_total{line=\"p\\\"\\n.policy:3\"} 7\n"
        );
    }
}
