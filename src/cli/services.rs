//! `hostwall services [NAME] [--format json]`: the built-in service catalog, with each
//! entry's ports and reference.

use super::EXIT_POLICY;
use super::output::Out;
use hostwall::check::catalog::{self, Builtin, Reference};
use serde_json::{Value, json};

#[derive(clap::Args, Debug)]
pub struct ServicesArgs {
    /// One service (a catalog name or alias); every entry when absent.
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
    /// Output format (json: docs/schema/services.schema.json).
    #[arg(long, value_enum, default_value_t = ServicesFormat::Text)]
    pub format: ServicesFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ServicesFormat {
    Text,
    Json,
}

pub fn run(out: &Out, c: &ServicesArgs) -> u8 {
    let entries: Vec<&Builtin> = match &c.name {
        None => catalog::CATALOG.iter().collect(),
        Some(name) => match catalog::builtin(name) {
            Some(b) => vec![b],
            None => {
                let index = hostwall::check::suggest::NameIndex::new(catalog::builtin_names());
                let help = catalog::unknown_service_help(name, index.suggest(name));
                let msg = format!("`{name}` is not in the catalog: {help}");
                out.error(&msg);
                if c.format == ServicesFormat::Json {
                    let error = json!({ "kind": "input", "message": msg });
                    let body = json!({ "services": [], "error": error });
                    return super::json::print(out, "services", 1, EXIT_POLICY, body);
                }
                return EXIT_POLICY;
            }
        },
    };
    match c.format {
        ServicesFormat::Json => {
            let list: Vec<Value> = entries.iter().map(|b| entry_json(b)).collect();
            super::json::print(out, "services", 1, 0, json!({ "services": list }))
        }
        ServicesFormat::Text if c.name.is_some() => {
            out.stdout(&entries.iter().map(|b| entry_text(b)).collect::<String>())
        }
        ServicesFormat::Text => out.stdout(&table(&entries)),
    }
}

/// One line per entry: name (aliases), ports, reference.
fn table(entries: &[&Builtin]) -> String {
    let rows: Vec<[String; 3]> = entries
        .iter()
        .map(|b| {
            let mut name = b.name.to_string();
            if !b.aliases.is_empty() {
                name.push_str(&format!(" ({})", b.aliases.join(", ")));
            }
            [name, catalog::ports_text(b.ports), b.reference.text()]
        })
        .collect();
    let w0 = rows.iter().map(|r| r[0].len()).max().unwrap_or(0).max(4);
    let w1 = rows.iter().map(|r| r[1].len()).max().unwrap_or(0).max(5);
    let mut s = format!("{:w0$}  {:w1$}  REFERENCE\n", "NAME", "PORTS");
    for r in rows {
        s.push_str(&format!("{:w0$}  {:w1$}  {}\n", r[0], r[1], r[2]));
    }
    s
}

/// One entry, field by field.
fn entry_text(b: &Builtin) -> String {
    let mut s = format!(
        "{}: {}\n  ports:     {}\n  reference: {}\n",
        b.name,
        b.about,
        catalog::ports_text(b.ports),
        b.reference.text()
    );
    if !b.aliases.is_empty() {
        s.push_str(&format!("  aliases:   {}\n", b.aliases.join(", ")));
    }
    if let Reference::Differs(_, why) = b.reference {
        s.push_str(&format!("  differs:   {why}\n"));
    }
    if !b.note.is_empty() {
        s.push_str(&format!("  note:      {}\n", b.note));
    }
    s
}

fn entry_json(b: &Builtin) -> Value {
    let ports: Vec<Value> = (b.ports.iter())
        .map(|(p, lo, hi)| json!({ "protocol": p.name(), "first": lo, "last": hi }))
        .collect();
    let reference = match b.reference {
        Reference::Firewalld(f) => json!({ "kind": "firewalld", "file": format!("{f}.xml") }),
        Reference::Differs(f, why) => {
            json!({ "kind": "differs", "file": format!("{f}.xml"), "why": why })
        }
        Reference::Guide => json!({ "kind": "guide" }),
        Reference::Upstream(f, w) => {
            json!({ "kind": "upstream", "file": format!("{f}.xml"), "where": w })
        }
    };
    let mut v = json!({
        "name": b.name,
        "aliases": b.aliases,
        "about": b.about,
        "ports": ports,
        "reference": reference,
    });
    // A field that does not apply is left out, never null (docs/json.md).
    if !b.note.is_empty() {
        v["note"] = json!(b.note);
    }
    v
}
