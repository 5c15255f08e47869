//! `hostwall gen-assets DIR` (hidden): the man pages and shell completions the packages
//! ship, generated from the clap definitions into `DIR/man/` and `DIR/completions/`.
//!
//! The checked-in copies live in `packaging/`; `packaging/gen-assets.sh` regenerates them
//! and the `package` test fails when they differ from what this writes.

use clap::{ArgGroup, Command, CommandFactory};
use clap_complete::Shell;
use std::path::{Path, PathBuf};

/// The man section of every page: hostwall administers the host (section 8).
pub const MAN_SECTION: &str = "8";

#[derive(clap::Args, Debug)]
pub struct AssetsArgs {
    /// The directory to write `man/` and `completions/` into (each is replaced whole).
    pub dir: PathBuf,
}

/// One generated file: its path below the output directory and its bytes.
#[derive(Debug, PartialEq, Eq)]
pub struct Asset {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
}

/// Every asset: a page for `hostwall` and one per visible subcommand, and the bash, zsh
/// and fish completions.
pub fn assets() -> std::io::Result<Vec<Asset>> {
    let mut out = man_pages()?;
    out.extend(completions());
    Ok(out)
}

fn man_pages() -> std::io::Result<Vec<Asset>> {
    let mut cmd = super::Args::command().disable_help_subcommand(true);
    cmd.build();
    let subs: Vec<Command> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .collect();
    let mut pages = vec![man_page(&cmd, &see_also_subcommands(&subs))?];
    for sub in &subs {
        pages.push(man_page(sub, &format!("hostwall({MAN_SECTION})"))?);
    }
    Ok(pages)
}

/// One page: clap_mangen's sections, the after-help text as preformatted EXAMPLES (it
/// holds aligned examples and exit codes, which filling would run together), then
/// SEE ALSO and where the documentation lives.
fn man_page(cmd: &Command, see_also: &str) -> std::io::Result<Asset> {
    let man = clap_mangen::Man::new(cmd.clone())
        .section(MAN_SECTION)
        .source(concat!("hostwall ", env!("CARGO_PKG_VERSION")))
        .manual("hostwall manual");
    let mut bytes = Vec::new();
    man.render_title(&mut bytes)?;
    man.render_name_section(&mut bytes)?;
    man.render_synopsis_section(&mut bytes)?;
    man.render_description_section(&mut bytes)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut bytes)?;
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(&mut bytes)?;
    }
    if let Some(text) = cmd.get_after_long_help().or(cmd.get_after_help()) {
        bytes.extend_from_slice(b".SH EXAMPLES\n.nf\n");
        for line in text.to_string().lines() {
            bytes.extend_from_slice(roff_line(line).as_bytes());
        }
        bytes.extend_from_slice(b".fi\n");
    }
    if cmd.get_version().is_some() {
        man.render_version_section(&mut bytes)?;
    }
    bytes.extend_from_slice(
        format!(
            ".SH \"SEE ALSO\"\n{see_also}\n.PP\nThe documentation in /usr/share/doc/hostwall/ \
             and the example policies in /usr/share/hostwall/.\n"
        )
        .as_bytes(),
    );
    Ok(Asset {
        path: Path::new("man").join(man.get_filename()),
        bytes,
    })
}

/// One line of preformatted text as roff: backslashes and hyphens escaped, and a
/// leading `.` or `'` kept from reading as a request.
fn roff_line(line: &str) -> String {
    let escaped = line.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with(['.', '\'']) {
        format!("\\&{escaped}\n")
    } else {
        format!("{escaped}\n")
    }
}

fn see_also_subcommands(subs: &[Command]) -> String {
    let names: Vec<String> = subs
        .iter()
        .map(|s| format!("hostwall\\-{}({MAN_SECTION})", s.get_name()))
        .collect();
    names.join(",\n")
}

/// The completion files, named as each shell looks them up.
fn completions() -> Vec<Asset> {
    [
        (Shell::Bash, "hostwall"),
        (Shell::Zsh, "_hostwall"),
        (Shell::Fish, "hostwall.fish"),
    ]
    .into_iter()
    .map(|(shell, file)| {
        let mut cmd = visible(&super::Args::command());
        let mut bytes = Vec::new();
        clap_complete::generate(shell, &mut cmd, "hostwall", &mut bytes);
        Asset {
            path: Path::new("completions").join(shell.to_string()).join(file),
            bytes,
        }
    })
    .collect()
}

/// `cmd` without its hidden subcommands and arguments, which the completion
/// generators would otherwise offer (man pages leave them out on their own).
fn visible(cmd: &Command) -> Command {
    let mut out = Command::new(cmd.get_name().to_owned())
        .args(cmd.get_arguments().filter(|a| !a.is_hide_set()).cloned())
        .groups(cmd.get_groups().filter_map(|g| visible_group(cmd, g)))
        .subcommands(
            cmd.get_subcommands()
                .filter(|s| !s.is_hide_set())
                .map(visible),
        );
    if let Some(about) = cmd.get_about() {
        out = out.about(about.clone());
    }
    if let Some(version) = cmd.get_version() {
        out = out.version(version.to_owned());
    }
    out
}

/// `group` with only the visible arguments of `cmd` (none: no group).
fn visible_group(cmd: &Command, group: &ArgGroup) -> Option<ArgGroup> {
    let shown = |id: &&clap::Id| {
        cmd.get_arguments()
            .any(|a| a.get_id() == *id && !a.is_hide_set())
    };
    let ids: Vec<clap::Id> = group.get_args().filter(shown).cloned().collect();
    let multiple = group.clone().is_multiple();
    (!ids.is_empty()).then(|| {
        ArgGroup::new(group.get_id().clone())
            .args(ids)
            .multiple(multiple)
            .required(group.is_required_set())
    })
}

/// Writes every asset below `dir`, replacing `dir/man` and `dir/completions` whole so a
/// page of a removed subcommand does not linger.
pub fn write(dir: &Path) -> Result<usize, (PathBuf, std::io::Error)> {
    let assets = assets().map_err(|e| (dir.to_path_buf(), e))?;
    for sub in ["man", "completions"] {
        let path = dir.join(sub);
        match std::fs::remove_dir_all(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err((path, e)),
        }
    }
    for a in &assets {
        let path = dir.join(&a.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| (parent.to_path_buf(), e))?;
        }
        std::fs::write(&path, &a.bytes).map_err(|e| (path.clone(), e))?;
    }
    Ok(assets.len())
}

/// The hidden subcommand: write the assets, say how many.
pub fn run(out: &super::output::Out, a: &AssetsArgs) -> u8 {
    match write(&a.dir) {
        Ok(n) => {
            out.stderr(&format!("wrote {n} files below {}\n", a.dir.display()));
            0
        }
        Err((path, e)) => {
            out.error(&format!("{}: {e}", path.display()));
            super::EXIT_SYSTEM
        }
    }
}

#[cfg(test)]
mod tests {
    use super::roff_line;

    #[test]
    fn preformatted_lines_cannot_become_roff_requests() {
        assert_eq!(roff_line(".SH x"), "\\&.SH x\n");
        assert_eq!(roff_line("'br"), "\\&'br\n");
        assert_eq!(roff_line("a\\fB b --x"), "a\\efB b \\-\\-x\n");
    }
}
