//! The policy block: statements -> `model::Policy` (rules via `rules`, names via `env`).

use super::codes;
use super::env::Env;
use super::log;
use super::rules::{self, Chain};
use super::shadow;
use super::site::Site;
use super::validate;
use crate::diag::Diagnostic;
use crate::model::{DefaultAction, Forwarding, Policy, Rule, Settings};
use crate::source::{FileId, Span};
use crate::syntax::ast::{self, Stmt, TopItem};

pub(crate) fn check_policy(
    file: FileId,
    main: &ast::File,
    included: &[ast::File],
    site: &Site,
    diags: &mut Vec<Diagnostic>,
) -> Option<Policy> {
    let block = find_block(file, main, included, diags)?;
    if let Err(d) = validate::name_length(&block.name.value, block.name.span, "policy") {
        diags.push(d);
    }
    let mut services = Vec::new();
    let mut defines = Vec::new();
    let top = included.iter().chain(std::iter::once(main));
    let top_stmts = top.flat_map(|f| f.items.iter()).filter_map(|i| match i {
        TopItem::Stmt(s) => Some(s),
        _ => None,
    });
    for s in top_stmts.chain(block.body.iter()) {
        match s {
            Stmt::Service(d) => services.push(d),
            Stmt::Define(d) => defines.push(d),
            _ => {}
        }
    }
    let env = Env::build(&services, &defines, site, diags);
    let mut b = Body::new(block, site.settings.clone());
    for s in &block.body {
        b.stmt(s, &env, site, diags);
    }
    diags.extend(shadow::check(&b.policy.input));
    if let Some(fwd) = &b.policy.forward {
        diags.extend(shadow::check(fwd));
    }
    if let Some(out) = &b.policy.output {
        diags.extend(shadow::check(out));
    }
    Some(b.policy)
}

fn find_block<'a>(
    file: FileId,
    main: &'a ast::File,
    included: &[ast::File],
    diags: &mut Vec<Diagnostic>,
) -> Option<&'a ast::PolicyBlock> {
    for f in included {
        for i in &f.items {
            if let TopItem::Policy(p) = i {
                diags.push(
                    Diagnostic::error(
                        codes::POLICY_BLOCK,
                        p.header,
                        "policy block in an included file",
                    )
                    .with_label("included files hold only `define` and `service`")
                    .with_help("keep the one `policy NAME { }` block in the main file"),
                );
            }
        }
    }
    let blocks: Vec<&ast::PolicyBlock> = main
        .items
        .iter()
        .filter_map(|i| match i {
            TopItem::Policy(p) => Some(p),
            _ => None,
        })
        .collect();
    for extra in blocks.iter().skip(1) {
        diags.push(
            Diagnostic::error(
                codes::POLICY_BLOCK,
                extra.header,
                "a file holds one policy block",
            )
            .with_label("second policy block")
            .with_secondary(blocks[0].header, "first policy block")
            .with_help("merge the blocks, or put each policy in its own file"),
        );
    }
    if blocks.is_empty() {
        diags.push(
            Diagnostic::error(
                codes::POLICY_BLOCK,
                Span::new(file, 0..0),
                "no policy block",
            )
            .with_label("expected `policy NAME { ... }` in this file")
            .with_help("write the rules inside `policy NAME { ... }`"),
        );
    }
    blocks.first().copied()
}

/// Builds the policy statement by statement, remembering where each once-only statement was.
struct Body {
    policy: Policy,
    default_at: Option<Span>,
    fwd4_at: Option<Span>,
    fwd6_at: Option<Span>,
    log_at: Option<Span>,
    count_at: Option<Span>,
    forward_at: Option<Span>,
    output_at: Option<Span>,
}

impl Body {
    fn new(block: &ast::PolicyBlock, settings: Settings) -> Body {
        Body {
            policy: Policy {
                name: block.name.value.clone(),
                span: block.header,
                default: DefaultAction::Reject,
                forwarding: Forwarding::default(),
                input: Vec::new(),
                forward: None,
                forward_default: DefaultAction::Reject,
                output: None,
                output_default: None,
                log_rejected: None,
                count_rejected: false,
                settings,
            },
            default_at: None,
            fwd4_at: None,
            fwd6_at: None,
            log_at: None,
            count_at: None,
            forward_at: None,
            output_at: None,
        }
    }

    fn stmt(&mut self, s: &Stmt, env: &Env, site: &Site, diags: &mut Vec<Diagnostic>) {
        match s {
            Stmt::Default { action, span } => {
                if once(&mut self.default_at, *span, "default", diags) {
                    self.policy.default = action_of(action.value);
                }
            }
            Stmt::Forwarding { family, on, span } => {
                let v6 = family
                    .as_ref()
                    .is_some_and(|f| f.value == ast::Family::Ipv6);
                let (slot, what) = if v6 {
                    (&mut self.fwd6_at, "forwarding ipv6")
                } else {
                    (&mut self.fwd4_at, "forwarding ipv4")
                };
                if once(slot, *span, what, diags) {
                    let target = if v6 {
                        &mut self.policy.forwarding.ipv6
                    } else {
                        &mut self.policy.forwarding.ipv4
                    };
                    *target = Some((on.value, *span));
                }
            }
            Stmt::Service(_) | Stmt::Define(_) => {}
            Stmt::Log(l) => {
                if once(&mut self.log_at, l.span, "log rejected", diags) {
                    self.policy.log_rejected = log::spec(l, "log rejected", site, diags);
                }
            }
            Stmt::Count { span } => {
                if once(&mut self.count_at, *span, "count rejected", diags) {
                    self.policy.count_rejected = true;
                }
            }
            Stmt::Forward(f) => {
                if once(&mut self.forward_at, f.keyword, "forward { }", diags) {
                    self.forward(f, env, site, diags);
                }
            }
            Stmt::Output(o) => {
                if once(&mut self.output_at, o.keyword, "output { }", diags) {
                    self.output(o, env, site, diags);
                }
            }
            Stmt::Rule(r) => {
                let lowered = rules::lower(r, Chain::Input, env, site, diags);
                self.policy.input.extend(lowered);
            }
        }
    }

    fn forward(
        &mut self,
        f: &ast::ForwardBlock,
        env: &Env,
        site: &Site,
        diags: &mut Vec<Diagnostic>,
    ) {
        let mut out: Vec<Rule> = Vec::new();
        let mut default_at = None;
        for s in &f.body {
            match s {
                Stmt::Default { action, span }
                    if once(&mut default_at, *span, "default (in forward)", diags) =>
                {
                    self.policy.forward_default = action_of(action.value);
                }
                Stmt::Rule(r) => out.extend(rules::lower(r, Chain::Forward, env, site, diags)),
                // The grammar admits only `default` and rules in `forward { }`.
                _ => {}
            }
        }
        self.policy.forward = Some(out);
    }
}

impl Body {
    /// `output { }`: its rules and its default (accept unless written).
    fn output(
        &mut self,
        o: &ast::ForwardBlock,
        env: &Env,
        site: &Site,
        diags: &mut Vec<Diagnostic>,
    ) {
        let mut out: Vec<Rule> = Vec::new();
        let mut default_at = None;
        for s in &o.body {
            match s {
                Stmt::Default { action, span }
                    if once(&mut default_at, *span, "default (in output)", diags) =>
                {
                    self.policy.output_default = Some(action_of(action.value));
                }
                Stmt::Rule(r) => out.extend(rules::lower(r, Chain::Output, env, site, diags)),
                // The grammar admits only `default` and rules in `output { }`.
                _ => {}
            }
        }
        self.policy.output = Some(out);
    }
}

fn action_of(a: ast::Action) -> DefaultAction {
    match a {
        ast::Action::Reject => DefaultAction::Reject,
        ast::Action::Drop => DefaultAction::Drop,
    }
}

/// Records a once-only statement; false (and an error naming both) when it was already given.
fn once(slot: &mut Option<Span>, span: Span, what: &str, diags: &mut Vec<Diagnostic>) -> bool {
    match slot {
        Some(prev) => {
            diags.push(
                Diagnostic::error(
                    codes::DUPLICATE_STATEMENT,
                    span,
                    format!("`{what}` is given twice"),
                )
                .with_label("second one")
                .with_secondary(*prev, "first one")
                .with_help("keep one of them"),
            );
            false
        }
        None => {
            *slot = Some(span);
            true
        }
    }
}
