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

/// Parses `pyproject.toml`; `None` (and why) when it is not TOML (the parser refuses what
/// nests too deep: 10,000 nested tables are an error, not a stack overflow; tested below).
pub fn parse_pyproject(data: &[u8]) -> (Option<Pyproject>, Vec<Problem>) {
    let mut problems = Vec::new();
    if data.len() > limits::FILE_BYTES {
        return (None, vec![format!("{} bytes: too large to parse", data.len())]);
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return (None, vec!["not UTF-8 (TOML is): not parsed".into()]);
    };
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
        // nested 10,000 deep, three ways, on a thread with a small stack: refused, no overflow
        let docs =
            [format!("a = {}1{}", "{b = ".repeat(10_000), "}".repeat(10_000)), format!("x = {}1{}", "[".repeat(10_000), "]".repeat(10_000)), format!("[{}]\nx = 1\n", vec!["t"; 10_000].join("."))];
        for doc in docs {
            let (p, problems) = std::thread::Builder::new().stack_size(1 << 20).spawn(move || parse_pyproject(doc.as_bytes())).unwrap().join().unwrap();
            assert!(p.is_none() && problems[0].contains("recurs"), "{problems:?}");
        }
        assert!(parse_pyproject(b"\xff\xfe").0.is_none());
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

/// A wheel's `WHEEL` file.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Wheel {
    /// `Wheel-Version`.
    pub wheel_version: Option<String>,
    /// `Generator`.
    pub generator: Option<String>,
    /// `Root-Is-Purelib` (`true` / `false` as written, compared without case).
    pub root_is_purelib: Option<bool>,
    /// Every `Tag`.
    pub tags: Vec<String>,
    /// `Build`.
    pub build: Option<String>,
}

/// Parses a `WHEEL` file (headers as in core metadata).
pub fn parse_wheel(data: &[u8]) -> (Wheel, Vec<Problem>) {
    let mut problems = Vec::new();
    let text = String::from_utf8_lossy(&data[..data.len().min(limits::FILE_BYTES)]);
    let mut w = Wheel::default();
    let no_colon = pycorpus_archive::for_each_header(&text, &mut |k, v| {
        let v = cut(&v).0.to_string();
        match k.as_str() {
            "wheel-version" => w.wheel_version = Some(v),
            "generator" => w.generator = Some(v),
            "root-is-purelib" => w.root_is_purelib = Some(v.eq_ignore_ascii_case("true")),
            "tag" if w.tags.len() < limits::VALUES => w.tags.push(v),
            "build" => w.build = Some(v),
            _ => {}
        }
    });
    if no_colon > 0 {
        problems.push(format!("WHEEL: {no_colon} line(s) without a colon left out"));
    }
    (w, problems)
}

/// An entry point.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EntryPoint {
    /// Its group (`console_scripts`, `gui_scripts`, a plugin group).
    pub group: String,
    /// Its name.
    pub name: String,
    /// What it points at (`module:attr [extras]`).
    pub value: String,
}

/// The sections of an INI file (`entry_points.txt`, `setup.cfg`): (section, key, value) in
/// order; a value continued on indented lines is joined with newlines; `#` and `;` comments
/// at the start of a line are skipped.
fn ini(text: &str, problems: &mut Vec<Problem>, what: &str) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = Vec::new();
    let mut section = String::new();
    let mut bad = 0usize;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if line.starts_with([' ', '\t'])
            && let Some(last) = out.last_mut().filter(|l| l.0 == section)
        {
            last.2.push('\n');
            last.2.push_str(trimmed);
            continue;
        }
        if let Some(s) = trimmed.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            section = s.trim().to_string();
            continue;
        }
        match trimmed.split_once(['=', ':']) {
            Some((k, v)) if out.len() < limits::VALUES => out.push((section.clone(), k.trim().to_string(), cut(v.trim()).0.to_string())),
            Some(_) => {}
            // a few said, the rest counted: a file of bad lines costs no memory past its own
            None if bad < 20 => {
                bad += 1;
                problems.push(format!("{what}: a line that is no key = value: {:?}", crate::cut_to(trimmed, 200)));
            }
            None => bad += 1,
        }
    }
    if bad > 20 {
        problems.push(format!("{what}: {} more line(s) that are no key = value", bad - 20));
    }
    out
}

/// Parses `entry_points.txt`.
pub fn parse_entry_points(data: &[u8]) -> (Vec<EntryPoint>, Vec<Problem>) {
    let mut problems = Vec::new();
    let text = String::from_utf8_lossy(&data[..data.len().min(limits::FILE_BYTES)]);
    let eps = ini(&text, &mut problems, "entry_points.txt").into_iter().filter(|(g, _, _)| !g.is_empty()).map(|(group, name, value)| EntryPoint { group, name, value }).collect();
    (eps, problems)
}

/// What `setup.cfg` says about requirements: (kind, requirement) for
/// `[options] install_requires` (`run`), `setup_requires` (`build`) and
/// `[options.extras_require]` (each extra).
pub fn parse_setup_cfg(data: &[u8]) -> (Vec<(crate::Kind, String)>, Vec<Problem>) {
    let mut problems = Vec::new();
    let text = String::from_utf8_lossy(&data[..data.len().min(limits::FILE_BYTES)]);
    let mut out = Vec::new();
    // setuptools' list-semi: a value on several lines is a line each (a `;` there starts a
    // marker), a value on one line is split at `;`
    let split = |v: &str| -> Vec<String> {
        let parts: Vec<&str> = if v.contains('\n') { v.lines().collect() } else { v.split(';').collect() };
        parts.into_iter().map(str::trim).filter(|s| !s.is_empty() && !s.starts_with('#')).map(String::from).collect()
    };
    for (section, key, value) in ini(&text, &mut problems, "setup.cfg") {
        let kind = match (section.as_str(), key.as_str()) {
            ("options", "install_requires") => crate::Kind::Run,
            ("options", "setup_requires") => crate::Kind::Build,
            ("options.extras_require", extra) => crate::Kind::Extra(crate::requirement::normalize_project(extra)),
            _ => continue,
        };
        out.extend(split(&value).into_iter().map(|r| (kind.clone(), r)));
    }
    (out, problems)
}

/// The names of `top_level.txt`, one a line.
pub fn parse_top_level(data: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(&data[..data.len().min(limits::FILE_BYTES)]).lines().map(str::trim).filter(|l| !l.is_empty()).take(limits::VALUES).map(String::from).collect()
}

#[cfg(test)]
mod more_tests {
    use super::*;

    #[test]
    fn wheel_entry_points_setup_cfg_and_top_level() {
        let (w, p) = parse_wheel(b"Wheel-Version: 1.0\nGenerator: bdist_wheel (0.41.2)\nRoot-Is-Purelib: True\nTag: py3-none-any\nTag: py2-none-any\nno colon\n");
        assert_eq!((w.wheel_version.as_deref(), w.root_is_purelib, w.tags.len(), p.len()), (Some("1.0"), Some(true), 2, 1));
        let (eps, p) = parse_entry_points(b"[console_scripts]\nblack = black:patched_main\n\n[gui_scripts]\nx=y:z [extra]\n[pygments.lexers]\n; comment\nfoo = foo.lexer:Lexer\n");
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(
            eps.iter().map(|e| (e.group.as_str(), e.name.as_str(), e.value.as_str())).collect::<Vec<_>>(),
            vec![("console_scripts", "black", "black:patched_main"), ("gui_scripts", "x", "y:z [extra]"), ("pygments.lexers", "foo", "foo.lexer:Lexer"),]
        );
        let (reqs, _) = parse_setup_cfg(
            b"[metadata]\nname = x\n[options]\ninstall_requires =\n    requests>=2\n    click; python_version>'3'\nsetup_requires = setuptools_scm\n[options.extras_require]\nTest_All =\n    pytest\n",
        );
        assert_eq!(
            reqs,
            vec![
                (crate::Kind::Run, "requests>=2".to_string()),
                (crate::Kind::Run, "click; python_version>'3'".to_string()),
                (crate::Kind::Build, "setuptools_scm".to_string()),
                (crate::Kind::Extra("test-all".into()), "pytest".to_string()),
            ]
        );
        assert_eq!(parse_top_level(b"black\n\nblib2to3\n"), vec!["black", "blib2to3"]);
    }
}
