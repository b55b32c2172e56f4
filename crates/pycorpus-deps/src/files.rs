//! The other files that hold packaging metadata: `pyproject.toml`, `setup.cfg`,
//! `requires.txt`, a wheel's `WHEEL`, `entry_points.txt`, `top_level.txt`.

use crate::{Problem, cut, limits};

/// What `pyproject.toml` says about building and installing.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Pyproject {
    /// `[build-system] requires`.
    pub build_requires: Vec<String>,
    /// `[build-system] build-backend`.
    pub build_backend: Option<String>,
    /// A `[project]` table is there (PEP 621).
    pub has_project: bool,
    /// `[project] dependencies`.
    pub dependencies: Vec<String>,
    /// `[project] optional-dependencies`: each extra (as written) and its requirements.
    pub optional_dependencies: Vec<(String, Vec<String>)>,
    /// `[project] dynamic`.
    pub dynamic: Vec<String>,
    /// `[project] requires-python`.
    pub requires_python: Option<String>,
    /// The names of the `[tool.*]` tables, in order.
    pub tool_tables: Vec<String>,
}

/// Deepest nesting of brackets and braces outside strings and comments: what a TOML parser
/// would recurse into. A scan, not a parse: it only has to find where to stop.
fn toml_depth(text: &str) -> usize {
    let (mut depth, mut max, mut it) = (0usize, 0usize, text.chars());
    while let Some(c) = it.next() {
        match c {
            '#' => {
                for c in it.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '"' | '\'' => {
                // basic strings end at an unescaped quote; literal strings at the quote
                let mut escaped = false;
                for d in it.by_ref() {
                    if c == '"' && d == '\\' && !escaped {
                        escaped = true;
                        continue;
                    }
                    if d == c && !escaped {
                        break;
                    }
                    escaped = false;
                }
            }
            '[' | '{' => {
                depth += 1;
                max = max.max(depth);
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

fn strings(v: Option<&toml::Value>, what: &str, problems: &mut Vec<Problem>) -> Vec<String> {
    match v {
        None => Vec::new(),
        Some(toml::Value::Array(a)) => a
            .iter()
            .take(limits::VALUES)
            .filter_map(|x| match x {
                toml::Value::String(s) => Some(cut(s).0.to_string()),
                other => {
                    problems.push(format!("{what}: a {} where a string belongs, left out", other.type_str()));
                    None
                }
            })
            .collect(),
        Some(other) => {
            problems.push(format!("{what}: a {} where an array of strings belongs, left out", other.type_str()));
            Vec::new()
        }
    }
}

/// Parses `pyproject.toml`; `None` (and why) when it is not TOML or nests deeper than
/// `limits::TOML_DEPTH`.
pub fn parse_pyproject(data: &[u8]) -> (Option<Pyproject>, Vec<Problem>) {
    let mut problems = Vec::new();
    if data.len() > limits::FILE_BYTES {
        return (None, vec![format!("{} bytes: too large to parse", data.len())]);
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return (None, vec!["not UTF-8 (TOML is): not parsed".into()]);
    };
    let depth = toml_depth(text);
    if depth > limits::TOML_DEPTH || text.lines().filter(|l| l.trim_start().starts_with('[')).any(|l| l.matches('.').count() > limits::TOML_DEPTH) {
        return (None, vec![format!("nests deeper than {} tables or arrays: not parsed", limits::TOML_DEPTH)]);
    }
    let doc: toml::Table = match toml::from_str(text) {
        Ok(t) => t,
        Err(e) => return (None, vec![format!("not TOML: {}", e.message())]),
    };
    let mut p = Pyproject::default();
    if let Some(bs) = doc.get("build-system").and_then(toml::Value::as_table) {
        p.build_requires = strings(bs.get("requires"), "build-system.requires", &mut problems);
        p.build_backend = bs.get("build-backend").and_then(toml::Value::as_str).map(|s| cut(s).0.to_string());
    }
    if let Some(project) = doc.get("project").and_then(toml::Value::as_table) {
        p.has_project = true;
        p.dependencies = strings(project.get("dependencies"), "project.dependencies", &mut problems);
        p.dynamic = strings(project.get("dynamic"), "project.dynamic", &mut problems);
        p.requires_python = project.get("requires-python").and_then(toml::Value::as_str).map(|s| cut(s).0.to_string());
        if let Some(extras) = project.get("optional-dependencies").and_then(toml::Value::as_table) {
            for (extra, reqs) in extras.iter().take(limits::VALUES) {
                p.optional_dependencies.push((extra.clone(), strings(Some(reqs), &format!("project.optional-dependencies.{extra}"), &mut problems)));
            }
        }
    }
    if let Some(tool) = doc.get("tool").and_then(toml::Value::as_table) {
        p.tool_tables = tool.keys().take(limits::VALUES).cloned().collect();
    }
    (Some(p), problems)
}

/// The requirements of a `requires.txt` (setuptools' egg-info): one a line, `[extra]` or
/// `[extra:marker]` sections, `#` comments. Returns (extra, marker of the section,
/// requirement) for each, the extra `None` for the unconditional ones.
pub fn parse_requires_txt(data: &[u8]) -> Vec<(Option<String>, Option<String>, String)> {
    let text = String::from_utf8_lossy(&data[..data.len().min(limits::FILE_BYTES)]);
    let mut section: (Option<String>, Option<String>) = (None, None);
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(inner) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let (extra, marker) = match inner.split_once(':') {
                Some((e, m)) => (e.trim(), Some(m.trim().to_string()).filter(|m| !m.is_empty())),
                None => (inner.trim(), None),
            };
            section = (Some(extra.to_string()).filter(|e| !e.is_empty()), marker);
            continue;
        }
        if out.len() < limits::VALUES {
            out.push((section.0.clone(), section.1.clone(), cut(line).0.to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pyproject_tables_are_read() {
        let (p, problems) = parse_pyproject(
            br#"
[build-system]
requires = ["hatchling>=1.5", "hatch-vcs"]
build-backend = "hatchling.build"

[project]
name = "demo"
dependencies = ["requests>=2", "click"]
dynamic = ["version"]
requires-python = ">=3.9"
[project.optional-dependencies]
test = ["pytest>=7"]
docs = ["sphinx", 3]

[tool.ruff]
line-length = 100
[tool.pytest.ini_options]
x = "[not a table]"
"#,
        );
        let p = p.expect("parses");
        assert_eq!(p.build_requires, vec!["hatchling>=1.5", "hatch-vcs"]);
        assert_eq!(p.build_backend.as_deref(), Some("hatchling.build"));
        assert!(p.has_project);
        assert_eq!(p.dependencies, vec!["requests>=2", "click"]);
        assert_eq!(p.optional_dependencies, vec![("docs".to_string(), vec!["sphinx".to_string()]), ("test".to_string(), vec!["pytest>=7".to_string()])]);
        assert_eq!(p.tool_tables, vec!["pytest", "ruff"]);
        assert_eq!(problems.len(), 1, "{problems:?}"); // the 3
    }

    #[test]
    fn hostile_pyproject_files_are_refused_with_a_reason() {
        let (p, problems) = parse_pyproject(b"[build-system\nrequires = ");
        assert!(p.is_none() && problems[0].starts_with("not TOML"), "{problems:?}");
        let deep = format!("a = {}1{}", "{b = ".repeat(10_000), "}".repeat(10_000));
        let (p, problems) = parse_pyproject(deep.as_bytes());
        assert!(p.is_none() && problems[0].contains("deeper"), "{problems:?}");
        let deep = format!("x = {}1{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(parse_pyproject(deep.as_bytes()).0.is_none());
        let dotted = format!("[{}]\nx = 1\n", vec!["t"; 10_000].join("."));
        let (p, problems) = parse_pyproject(dotted.as_bytes());
        assert!(p.is_none() && problems[0].contains("deeper"), "{problems:?}");
        assert!(parse_pyproject(b"\xff\xfe").0.is_none());
        // brackets inside strings and comments are not nesting
        let (p, _) = parse_pyproject(b"a = \"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\" # {{{{\n");
        assert!(p.is_some());
    }

    #[test]
    fn requires_txt_sections_are_extras_and_markers() {
        let got = parse_requires_txt(b"requests>=2\n# a comment\n\n[socks]\nPySocks!=1.5.7\n[:python_version < \"3.8\"]\nimportlib-metadata\n");
        assert_eq!(
            got,
            vec![
                (None, None, "requests>=2".to_string()),
                (Some("socks".to_string()), None, "PySocks!=1.5.7".to_string()),
                (None, Some("python_version < \"3.8\"".to_string()), "importlib-metadata".to_string()),
            ]
        );
    }
}
