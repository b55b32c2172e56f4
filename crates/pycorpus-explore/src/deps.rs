//! `deps`: what a project requires over its releases, or who requires it across the corpus
//! (reverse dependencies, by release), from the shards' `requirements.parquet`.

use pycorpus_catalog::{FilterError, RequirementRow, parse_date};
use pycorpus_core::{CoreError, Corpus, DepsCoverage};
use pycorpus_deps::Kind;

/// `deps`'s options as every front end gives them (the project is the front end's).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[serde(default, deny_unknown_fields)]
pub struct DepsSpec {
    /// Who requires PROJECT (every release in the corpus that names it), instead of what
    /// PROJECT requires.
    #[cfg_attr(feature = "clap", arg(long))]
    pub reverse: bool,
    /// Requirements of extras too (`extra:NAME`); without it, only those for installing
    /// (`run`), building (`build`) and conda's.
    #[cfg_attr(feature = "clap", arg(long))]
    pub extras: bool,
    /// Releases uploaded on or after (YYYY-MM-DD or RFC 3339).
    #[cfg_attr(feature = "clap", arg(long, value_name = "DATE"))]
    pub since: Option<String>,
    /// Releases uploaded before.
    #[cfg_attr(feature = "clap", arg(long, value_name = "DATE"))]
    pub until: Option<String>,
}

/// A checked `deps` question.
#[derive(Debug, Clone)]
pub struct DepsQuery {
    project: String,
    reverse: bool,
    extras: bool,
    since: Option<i64>,
    until: Option<i64>,
}

impl DepsSpec {
    /// The question about `project` (any spelling: it is normalised), checked.
    pub fn build(&self, project: &str) -> Result<DepsQuery, FilterError> {
        let date = |option: &str, v: &Option<String>| v.as_deref().map(parse_date).transpose().map_err(|e| FilterError::Option { option: option.to_string(), source: Box::new(e) });
        Ok(DepsQuery { project: pycorpus_archive::normalize_project(project), reverse: self.reverse, extras: self.extras, since: date("since", &self.since)?, until: date("until", &self.until)? })
    }
}

impl DepsQuery {
    /// The normalised project asked about.
    pub fn project(&self) -> &str {
        &self.project
    }

    /// Hands `f` each requirement row that answers, a shard at a time in shard order (in
    /// the shard's order of project, version, distribution within one); `f` returns false
    /// to stop.
    pub fn run(&self, corpus: &Corpus, f: &mut dyn FnMut(RequirementRow) -> bool) -> Result<DepsCoverage, CoreError> {
        let keep = |project: &str, name: Option<&str>| match self.reverse {
            true => name == Some(self.project.as_str()),
            false => project == self.project,
        };
        let mut going = true;
        corpus.requirements(&keep, &mut |rows| {
            for r in rows {
                let t = r.dist.uploaded_on;
                let in_time = self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u);
                let kind_ok = self.extras || !matches!(r.requirement.kind, Kind::Extra(_));
                if going && in_time && kind_ok {
                    going = f(r);
                }
            }
            Ok(())
        })
    }
}
