//! The probe plan (pure, no namespaces): the topology, the partition's
//! probes, the per-endpoint matrix and the forward probes, cut to the
//! budget, with their expectations, the rules each exercises and what they
//! cover; and what each probe would see under another ruleset (the mutation
//! test's observations).

use super::{
    Coverage, DEFAULT_PROBES, Outcome, VerifyError, VerifyOptions, budget, cover, design, forward,
    labels, limits, matrix, output, topology,
};
use crate::eval::EvalError;
use crate::ir::Ruleset;

/// The probes verify sends for a policy (and, with `--against`, the decoded
/// ruleset's boundaries), with their expectations: pure, no namespaces.
pub struct ProbePlan {
    pub(super) topo: topology::Topology,
    pub(super) planned: Vec<matrix::Planned>,
    pub(super) fwd: Vec<forward::FwdPlanned>,
    pub(super) coverage: Coverage,
    /// Per input probe: the rule deciding it and the rules it exercises.
    pub(super) rules: Vec<String>,
    pub(super) no_rules: String,
    /// Per forward probe, what the live tables say of it (empty: `no_rules` for all).
    pub(super) fwd_rules: Vec<String>,
    /// The probes the host sends itself (the output block), and their rules texts.
    pub(super) output: Vec<output::OutPlanned>,
    pub(super) output_rules: Vec<String>,
    /// The rate-limited rules' probes, run after the others in a lab of their own.
    pub(super) limits: Vec<limits::LimitProbe>,
}

impl ProbePlan {
    pub fn len(&self) -> usize {
        self.planned.len() + self.fwd.len() + self.output.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Probe names, in order (input probes, then forward probes, then output probes).
    pub fn names(&self) -> Vec<&str> {
        let fwd = self.fwd.iter().map(|p| p.name.as_str());
        self.planned
            .iter()
            .map(|p| p.name.as_str())
            .chain(fwd)
            .chain(self.output.iter().map(|p| p.name.as_str()))
            .collect()
    }

    /// What the policy says each probe sees.
    pub fn expected(&self) -> Vec<&Outcome> {
        let fwd = self.fwd.iter().map(|p| &p.expected);
        self.planned
            .iter()
            .map(|p| &p.expected)
            .chain(fwd)
            .chain(self.output.iter().map(|p| &p.expected))
            .collect()
    }

    /// What each probe would see if the host ran `other` instead: `eval` of
    /// `other` for the same packets (the mutation test's observations).
    pub fn outcomes_under(&self, other: &Ruleset) -> Result<Vec<Outcome>, EvalError> {
        let mut out = matrix::outcomes(other, &self.topo, &self.planned)?;
        out.extend(forward::outcomes(other, &self.topo, &self.fwd)?);
        out.extend(output::outcomes(other, &self.topo, &self.output)?);
        Ok(out)
    }

    /// Per probe, the rule deciding it and the rules it exercises.
    pub fn rules(&self) -> Vec<&str> {
        self.rules
            .iter()
            .map(String::as_str)
            .chain(self.fwd_rules_iter())
            .chain(self.output_rules.iter().map(String::as_str))
            .collect()
    }

    /// Per forward probe, its rules text.
    pub(super) fn fwd_rules_iter(&self) -> impl Iterator<Item = &str> {
        (0..self.fwd.len()).map(|i| self.fwd_rules.get(i).unwrap_or(&self.no_rules).as_str())
    }

    pub fn coverage(&self) -> &Coverage {
        &self.coverage
    }
}

/// Plans every probe: the topology, the partition's probes (crossings,
/// samples, and the boundaries `against` draws), the per-endpoint matrix,
/// the forward probes, cut to the budget; and what they cover.
pub fn plan(
    rs: &Ruleset,
    against: Option<&Ruleset>,
    opts: &VerifyOptions,
) -> Result<ProbePlan, VerifyError> {
    let mut topo = design::topology(rs, against);
    let cover = cover::plan(rs, against, &mut topo);
    let cap = opts.probes.unwrap_or(DEFAULT_PROBES);
    let (mut planned, left_out) = matrix::plan(rs, &topo, &cover.wants, cap)?;
    let mut fwd = forward::plan(rs, &topo)?;
    let mut cut = budget::cut(&mut planned, &mut fwd, cap, left_out);
    let before = planned.len() + fwd.len();
    let out = output::plan(rs, against, &mut topo, cap.saturating_sub(before))?;
    let labels = labels::Labels {
        rs,
        against,
        map: opts.sources.as_ref(),
    };
    output::budget(&mut cut, before, out.probes.len(), out.planned);
    let mut coverage = budget::coverage(rs, against, &topo, &planned, &cover, &labels, cut);
    let (out_cov, out_missing) = output::coverage(&out, &labels);
    coverage.output = out_cov;
    coverage.not_crossed.extend(out_missing);
    let out_probes = out.probes;
    let output_rules = (out_probes.iter())
        .map(|p| output::rules_text(p, &labels))
        .collect();
    let rules = planned
        .iter()
        .map(|p| budget::rules_text(p, &labels))
        .collect();
    let (mut limits, skipped) = limits::plan(rs, &topo, &planned);
    for p in &mut limits {
        p.label = format!("counts out {}", labels.cause(&p.cause));
    }
    topo.unprobed.extend(
        skipped
            .into_iter()
            .map(|(cause, reason)| topology::Unprobed {
                name: format!("limit of {}", labels.cause(&cause)),
                reason,
            }),
    );
    Ok(ProbePlan {
        topo,
        planned,
        fwd,
        coverage,
        rules,
        no_rules: String::new(),
        fwd_rules: Vec::new(),
        output: out_probes,
        output_rules,
        limits,
    })
}
