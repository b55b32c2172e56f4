//! `secrets`: each unique stored blob of a selection scanned once with a rule set
//! ([`pycorpus_secrets::RuleSet`]); every file holding a finding reported. The rules'
//! keywords go through the trigram index first, so blobs and frames that hold none of them are
//! not decoded.

use crate::{ExploreError, plan};
use pycorpus_catalog::{FileRow, Filter};
use pycorpus_core::{Corpus, Ctx};
use pycorpus_secrets::RuleSet;
use pycorpus_store::{Candidates, Oid};
use pycorpus_visit::{Holders, VisitError, VisitOptions, VisitStats, visit_blobs};
use serde::Serialize;

/// `secrets`' options as every front end gives them (filters and output are the front end's).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[serde(default, deny_unknown_fields)]
pub struct SecretsSpec {
    /// A gitleaks TOML rule file, used instead of the built-in rules.
    #[cfg_attr(feature = "clap", arg(long, value_name = "FILE"))]
    pub rules: Option<std::path::PathBuf>,
    /// Print the secrets themselves (else masked: their first 4 characters).
    #[cfg_attr(feature = "clap", arg(long))]
    pub show_secrets: bool,
}

impl SecretsSpec {
    /// The rule set: the file's, or the built-in one. A rule file that cannot be read or
    /// holds a bad rule is an error naming it.
    pub fn rule_set(&self) -> Result<RuleSet, ExploreError> {
        match &self.rules {
            None => Ok(RuleSet::builtin()),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| ExploreError::Rules(format!("cannot read the rule file {}: {e}", path.display())))?;
                RuleSet::from_gitleaks(&text).map_err(|e| ExploreError::Rules(format!("{}: {e}", path.display())))
            }
        }
    }
}

/// A file holding a finding: the index's columns of the file, then the finding's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretRecord {
    /// The rule's id.
    pub rule: String,
    /// Normalised project name.
    pub project_name: String,
    /// Version.
    pub project_version: String,
    /// Distribution file name.
    pub project_release: String,
    /// `packages/<project>/<release>/<path in archive>`, as files.parquet.
    pub path: String,
    /// 1-based line of the secret.
    pub line: u64,
    /// When the blob was first uploaded (RFC 3339): the earliest of the files holding it.
    pub first_uploaded_on: String,
    /// The blob (git blob id).
    pub oid: String,
    /// sha256 of the secret.
    pub fingerprint: String,
    /// The secret, masked unless asked for.
    pub secret: String,
    /// `test` for a test module (`test_*.py`, `*_test.py`, `tests.py`, `conftest.py`) or a
    /// file under `test(s)`, `testing`, `testdata`, `test_data` or `fixtures`; `docs` under
    /// `doc(s)`, `docs_src` or `documentation`; `example` under `example(s)` or `sample(s)`,
    /// or named `example*` (the nearest such folder decides); else empty: a package's
    /// fixtures and documentation examples, marked rather than left out.
    pub context: String,
    /// The rule is of shape (a high-entropy assignment), not of an issuer's format.
    pub generic: bool,
}

/// The columns of a record, in order (the JSON objects' fields, the CSV's and Parquet's columns).
pub const SECRET_COLUMNS: pycorpus_catalog::RecordColumns = {
    use pycorpus_catalog::CellKind::{Bool, Text, UInt};
    &[
        ("rule", Text),
        ("project_name", Text),
        ("project_version", Text),
        ("project_release", Text),
        ("path", Text),
        ("line", UInt),
        ("first_uploaded_on", Text),
        ("oid", Text),
        ("fingerprint", Text),
        ("secret", Text),
        ("context", Text),
        ("generic", Bool),
    ]
};

impl SecretRecord {
    /// The record's cells, in [`SECRET_COLUMNS`]' order.
    pub fn cells(&self) -> Vec<pycorpus_catalog::RecordCell> {
        use pycorpus_catalog::RecordCell::{Bool, Text, UInt};
        let t = |s: &str| Text(s.to_string());
        vec![
            t(&self.rule),
            t(&self.project_name),
            t(&self.project_version),
            t(&self.project_release),
            t(&self.path),
            UInt(self.line),
            t(&self.first_uploaded_on),
            t(&self.oid),
            t(&self.fingerprint),
            t(&self.secret),
            t(&self.context),
            Bool(self.generic),
        ]
    }
}

/// What a scan touched and found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SecretsStats {
    /// The row scan and the blobs read.
    pub visit: VisitStats,
    /// Blobs holding a finding.
    pub blobs_with_findings: u64,
    /// Findings in those blobs (each once, however many files hold the blob).
    pub findings: u64,
    /// Records written (a finding per file holding it).
    pub records: u64,
}

/// `test`, `docs` or `example` for a path under such a folder.
fn context_of(inner: &str) -> &'static str {
    let mut dirs: Vec<String> = inner.split('/').map(str::to_ascii_lowercase).collect();
    let name = dirs.pop().unwrap_or_default();
    // pytest's and unittest's modules: test_*.py, *_test.py, tests.py (Django's), conftest.py
    let stem = name.strip_suffix(".py").unwrap_or("");
    if stem.starts_with("test_") || stem.ends_with("_test") || stem == "tests" || stem == "conftest" {
        return "test";
    }
    for d in dirs.iter().rev() {
        match d.as_str() {
            "test" | "tests" | "testing" | "testdata" | "test_data" | "fixtures" => return "test",
            "doc" | "docs" | "docs_src" | "documentation" => return "docs",
            "example" | "examples" | "sample" | "samples" => return "example",
            _ => {}
        }
    }
    // an API's documented requests and answers (botocore's examples-1.json)
    if name.starts_with("example") { "example" } else { "" }
}

/// Scans the selection: `sink` gets each blob's records (in the visit's fixed order).
pub fn secrets(corpus: &Corpus, filter: &Filter, rules: &RuleSet, show: bool, ctx: Ctx<'_>, sink: &mut dyn FnMut(Vec<SecretRecord>) -> Result<(), VisitError>) -> Result<SecretsStats, ExploreError> {
    let mut stats = SecretsStats::default();
    // Keywords through the trigram index: only when every rule has some.
    let keywords: Option<Vec<String>> = rules.rules().iter().try_fold(Vec::new(), |mut acc, r| {
        (!r.keywords.is_empty()).then(|| {
            acc.extend(r.keywords.iter().map(|k| regex_syntax::escape(k)));
            acc
        })
    });
    let query = keywords.and_then(|k| plan::query_for(&k.join("|"), true, false)).filter(|q| !q.is_all());
    let (candidates, hash_in) = match &query {
        Some(q) => plan::candidates(corpus, q)?,
        None => (std::collections::HashMap::new(), None),
    };
    let filter = &Filter { hash_in: hash_in.map(std::sync::Arc::new), ..filter.clone() };
    let blob_filter = |dir: &std::path::Path, _: &pycorpus_store::PackReader| -> Result<Option<Candidates>, VisitError> { Ok(candidates.get(dir).cloned().flatten()) };
    stats.visit = visit_blobs(
        corpus,
        filter,
        &VisitOptions { all_rows: true, blob_filter: Some(&blob_filter), batch_per_thread: 4, ..Default::default() },
        ctx,
        &|| (),
        &|_: &mut (), oid: &Oid, holders: &Holders, data: &pycorpus_visit::Blob<'_>| -> Result<(u64, Vec<SecretRecord>), VisitError> {
            let found = rules.scan(data);
            if found.is_empty() {
                return Ok((0, Vec::new()));
            }
            let first = holders.all().map(|r| r.uploaded_on).min().unwrap_or(0);
            let mut out = Vec::new();
            for f in &found {
                let rule = &rules.rules()[f.rule];
                let secret = &data[f.start..f.end];
                let text = String::from_utf8_lossy(secret);
                let shown = if show { text.to_string() } else { pycorpus_secrets::mask(&text) };
                let fingerprint = pycorpus_secrets::fingerprint(secret);
                for row in holders.all() {
                    out.push(record(row, rule, f.line, first, oid, &fingerprint, &shown));
                }
            }
            Ok((found.len() as u64, out))
        },
        &mut |(n, records): (u64, Vec<SecretRecord>)| -> Result<(), VisitError> {
            if n > 0 {
                stats.blobs_with_findings += 1;
                stats.findings += n;
                stats.records += records.len() as u64;
                sink(records)?;
            }
            Ok(())
        },
    )?;
    Ok(stats)
}

fn record(row: &FileRow, rule: &pycorpus_secrets::Rule, line: u64, first: i64, oid: &Oid, fingerprint: &str, secret: &str) -> SecretRecord {
    SecretRecord {
        rule: rule.id.clone(),
        project_name: row.project_name.clone(),
        project_version: row.project_version.clone(),
        project_release: row.project_release.clone(),
        path: row.path.clone(),
        line,
        first_uploaded_on: pycorpus_catalog::format_time(first),
        oid: oid.to_hex(),
        fingerprint: fingerprint.to_string(),
        secret: secret.to_string(),
        context: context_of(row.inner_path()).to_string(),
        generic: rule.generic,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fixtures_and_examples_are_marked_by_folder() {
        assert_eq!(super::context_of("pkg-1.0/tests/fixtures/cfg.py"), "test");
        assert_eq!(super::context_of("pkg-1.0/docs/conf.py"), "docs");
        assert_eq!(super::context_of("pkg-1.0/Examples/run.py"), "example");
        assert_eq!(super::context_of("pkg-1.0/pkg/tests.py"), "test", "Django's test module");
        assert_eq!(super::context_of("pkg-1.0/pkg/test_api.py"), "test");
        assert_eq!(super::context_of("pkg-1.0/pkg/api_test.py"), "test");
        assert_eq!(super::context_of("pkg-1.0/conftest.py"), "test");
        assert_eq!(super::context_of("pkg-1.0/pkg/testing_utils.py"), "");
        assert_eq!(super::context_of("pkg-1.0/pkg/test_data.json"), "", "only Python modules by name");
        assert_eq!(super::context_of("pkg-1.0/pkg/settings.py"), "");
        assert_eq!(super::context_of("fastapi-1.0/docs_src/security/tutorial004.py"), "docs");
        assert_eq!(super::context_of("botocore/data/ec2/2016-04-01/examples-1.json"), "example");
        assert_eq!(super::context_of("pkg-1.0/docker/compose.py"), "", "not a doc folder");
    }
}
