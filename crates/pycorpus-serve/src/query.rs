//! A search as a URL gives it: the query box (a pattern, with `project:`, `path:`, `ext:`,
//! `since:` and `until:` words), the toggles and the filter fields, turned into the same
//! `GrepOptions` and `Filter` as the command line's (through `GrepSpec` and `FilterSpec`).

use crate::limits;
use crate::web::WebError;
use pycorpus_catalog::{Filter, FilterSpec};
use pycorpus_explore::{GrepOptions, GrepSpec, OutputMode};

/// The parameters of `/search`, `/search/results` and `/api/search`.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct SearchParams {
    /// The query box.
    pub q: String,
    /// A literal string, not a regex (`1`, `on` or `true`).
    pub fixed: Option<String>,
    /// Case-insensitive.
    pub ignore_case: Option<String>,
    /// Whole words.
    pub word: Option<String>,
    /// File extension(s), comma-separated.
    pub ext: Option<String>,
    /// Project name glob.
    pub project: Option<String>,
    /// Glob on the path inside the distribution.
    pub path: Option<String>,
    /// Uploaded on or after.
    pub since: Option<String>,
    /// Uploaded before.
    pub until: Option<String>,
    /// Matching lines to answer with.
    pub limit: Option<usize>,
    /// Lines of context around each match (the API's; pages show two).
    pub context: Option<usize>,
    /// The server's token, when it came in the URL (checked before this).
    #[serde(skip_serializing)]
    pub token: Option<String>,
}

/// The filter words of the query box.
const WORDS: [&str; 5] = ["project", "path", "ext", "since", "until"];

fn on(v: &Option<String>, name: &str) -> Result<bool, WebError> {
    match v.as_deref().map(str::trim) {
        None | Some("" | "0" | "off" | "false") => Ok(false),
        Some("1" | "on" | "true") => Ok(true),
        Some(other) => Err(WebError::bad(format!("{name}={other:?}: use 1 or 0"))),
    }
}

/// A search ready to run.
pub(crate) struct Search {
    pub opts: GrepOptions,
    pub filter: Filter,
    pub limit: usize,
}

/// The pattern of a query box and its filter words, in order: `foo( project:req* ext:py`
/// gives `foo(` and `[("project", "req*"), ("ext", "py")]`. Text between the words is kept as
/// typed (a pattern may hold spaces).
pub(crate) fn split_words(q: &str) -> (String, Vec<(&'static str, String)>) {
    let mut words = Vec::new();
    let mut pattern = String::new();
    let mut rest = q;
    while !rest.is_empty() {
        let start = rest.len() - rest.trim_start().len();
        let token_end = rest[start..].find(char::is_whitespace).map_or(rest.len(), |e| start + e);
        let token = &rest[start..token_end];
        match WORDS.iter().find(|w| token.strip_prefix(**w).and_then(|t| t.strip_prefix(':')).is_some_and(|v| !v.is_empty())) {
            Some(w) => words.push((*w, token[w.len() + 1..].to_string())),
            None => pattern.push_str(&rest[..token_end]),
        }
        rest = &rest[token_end..];
    }
    (pattern.trim().to_string(), words)
}

impl SearchParams {
    /// The pattern typed, without its filter words.
    pub fn pattern(&self) -> String {
        split_words(&self.q).0
    }

    /// Checks everything and builds the search; `context` is the page's when the request
    /// names none.
    pub fn build(&self, context: usize) -> Result<Search, WebError> {
        if self.q.len() > limits::QUERY_BYTES {
            return Err(WebError::bad(format!("the query is {} bytes long; at most {} are taken", self.q.len(), limits::QUERY_BYTES)));
        }
        let (pattern, words) = split_words(&self.q);
        if pattern.is_empty() {
            return Err(WebError::bad("the query is empty: type a pattern (a regex, or a literal string with fixed=1)"));
        }
        let mut spec = FilterSpec::default();
        let fields = [("project", &self.project), ("path", &self.path), ("ext", &self.ext), ("since", &self.since), ("until", &self.until)];
        let words = fields.iter().filter_map(|(k, v)| v.as_deref().filter(|v| !v.trim().is_empty()).map(|v| (*k, v.trim().to_string()))).chain(words);
        for (k, v) in words {
            match k {
                "project" => spec.project.push(v),
                "path" => spec.path.push(v),
                "ext" => spec.ext.extend(v.split(',').map(str::trim).filter(|e| !e.is_empty()).map(String::from)),
                "since" => spec.since = Some(v),
                _ => spec.until = Some(v),
            }
        }
        let filter = spec.build(&|f| format!("{f}:")).map_err(|e| WebError::bad(e.to_string()))?;
        let context = self.context.unwrap_or(context).min(10);
        let grep = GrepSpec {
            ignore_case: on(&self.ignore_case, "ignore_case")?,
            fixed_strings: on(&self.fixed, "fixed")?,
            word_regexp: on(&self.word, "word")?,
            context: Some(context),
            ..Default::default()
        };
        let opts = grep.build_limited(pattern, OutputMode::Lines, false, false, Some(limits::REGEX_BYTES)).map_err(|e| WebError::bad(e.to_string()))?;
        let limit = self.limit.unwrap_or(limits::RESULTS_DEFAULT);
        if limit == 0 || limit > limits::RESULTS_MAX {
            return Err(WebError::bad(format!("limit={limit}: from 1 to {}", limits::RESULTS_MAX)));
        }
        Ok(Search { opts, filter, limit })
    }

    /// The query string of this search (for links to files that keep it).
    pub fn query_string(&self) -> String {
        serde_urlencoded::to_string(SearchParams { limit: None, context: None, ..self.clone() }).unwrap_or_default()
    }

    /// Whether a toggle is on (for the page's check boxes).
    pub fn flag(&self, name: &str) -> bool {
        let v = match name {
            "fixed" => &self.fixed,
            "ignore_case" => &self.ignore_case,
            _ => &self.word,
        };
        on(v, name).unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_words_come_out_of_the_pattern() {
        assert_eq!(split_words("foo( project:req* ext:py"), ("foo(".into(), vec![("project", "req*".into()), ("ext", "py".into())]));
        assert_eq!(split_words("def  x(self) since:2020-01-01"), ("def  x(self)".into(), vec![("since", "2020-01-01".into())]));
        // not a filter word: a colon with nothing after it, or another word
        assert_eq!(split_words("path: a:b"), ("path: a:b".into(), vec![]));
        assert_eq!(split_words("   "), (String::new(), vec![]));
    }

    #[test]
    fn bad_queries_are_refused_with_what_is_wrong() {
        let p = |q: &str| SearchParams { q: q.into(), ..Default::default() };
        let msg = |r: Result<Search, WebError>| r.err().map(|e| (e.status.as_u16(), e.message)).expect("an error");
        assert_eq!(msg(p("").build(2)).0, 400);
        assert!(msg(p("(").build(2)).1.contains("invalid pattern"));
        assert!(msg(p("x since:yesterday").build(2)).1.contains("since:"));
        assert!(msg(p(&"a".repeat(2000)).build(2)).1.contains("at most 1000"));
        assert!(msg(SearchParams { fixed: Some("maybe".into()), ..p("x") }.build(2)).1.contains("fixed"));
        assert!(msg(SearchParams { limit: Some(0), ..p("x") }.build(2)).1.contains("limit"));
        // a pattern that compiles into more than the server allows
        assert!(msg(p("(\\w{50}){50}[a-z]{1000}").build(2)).1.contains("invalid pattern"));
        let s = SearchParams { ext: Some("py".into()), ..p("x project:re*") }.build(2).expect("builds");
        assert_eq!((s.filter.exts.clone(), s.opts.before, s.limit), (vec!["py".to_string()], 2, limits::RESULTS_DEFAULT));
    }
}
