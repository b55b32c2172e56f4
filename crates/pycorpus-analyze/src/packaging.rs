//! Packaging facts of one distribution, from the paths of its files alone (and the build
//! backend named in its top-level `pyproject.toml`, when given its text): no parsing of code.

use serde::{Deserialize, Serialize};

/// What a distribution ships.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Packaging {
    /// A `pyproject.toml` at the top (of the archive, or of its single top folder).
    pub pyproject: bool,
    /// A top-level `setup.py`.
    pub setup_py: bool,
    /// A top-level `setup.cfg`.
    pub setup_cfg: bool,
    /// A `py.typed` marker anywhere (PEP 561).
    pub py_typed: bool,
    /// Stub files (`.pyi`) anywhere.
    pub pyi: bool,
    /// A `requirements*.txt` anywhere.
    pub requirements_txt: bool,
    /// Rust sources (`.rs`).
    pub rust: bool,
    /// C sources or headers (`.c`, `.h`).
    pub c: bool,
    /// C++ sources or headers (`.cpp`, `.cc`, `.cxx`, `.hpp`, `.hh`, `.hxx`).
    pub cpp: bool,
    /// Cython sources (`.pyx`, `.pxd`).
    pub cython: bool,
    /// `[build-system] build-backend` of the top-level `pyproject.toml`.
    pub build_backend: Option<String>,
}

/// True for a path at the top of a distribution: `name` or `<one folder>/name`.
fn at_top(path: &str, name: &str) -> bool {
    path == name || path.strip_suffix(name).and_then(|p| p.strip_suffix('/')).is_some_and(|p| !p.is_empty() && !p.contains('/'))
}

impl Packaging {
    /// Notes one file of the distribution (its path inside the archive). Build files
    /// (`pyproject.toml`, `setup.py`, `setup.cfg`) count only in source distributions
    /// (`sdist`): a wheel's top folder is its package, where `setup.py` is just a module.
    pub fn add_path(&mut self, path: &str, sdist: bool) {
        let name = path.rsplit('/').next().unwrap_or(path);
        let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
        if sdist {
            self.pyproject |= at_top(path, "pyproject.toml");
            self.setup_py |= at_top(path, "setup.py");
            self.setup_cfg |= at_top(path, "setup.cfg");
        }
        self.py_typed |= name == "py.typed";
        self.requirements_txt |= name.starts_with("requirements") && ext == "txt";
        match ext.as_str() {
            "pyi" => self.pyi = true,
            "rs" => self.rust = true,
            "c" | "h" => self.c = true,
            "cpp" | "cc" | "cxx" | "hpp" | "hh" | "hxx" => self.cpp = true,
            "pyx" | "pxd" => self.cython = true,
            _ => {}
        }
    }

    /// True when `path` is the top-level `pyproject.toml` whose build backend is wanted.
    pub fn is_top_pyproject(path: &str) -> bool {
        at_top(path, "pyproject.toml")
    }

    /// Reads the build backend from the text of the top-level `pyproject.toml` (nothing when
    /// it is not valid TOML or names none).
    pub fn set_pyproject_text(&mut self, text: &str) {
        let Ok(doc) = text.parse::<toml::Table>() else { return };
        self.build_backend = doc.get("build-system").and_then(|b| b.get("build-backend")).and_then(|v| v.as_str()).map(str::to_string);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_from_paths_and_pyproject() {
        let mut p = Packaging::default();
        for path in [
            "demo-1.0/pyproject.toml",
            "demo-1.0/setup.py",
            "demo-1.0/docs/setup.cfg",
            "demo-1.0/src/demo/py.typed",
            "demo-1.0/src/demo/__init__.pyi",
            "demo-1.0/requirements-dev.txt",
            "demo-1.0/src/lib.rs",
            "demo-1.0/ext/fast.pyx",
            "demo-1.0/ext/x.H",
        ] {
            p.add_path(path, true);
        }
        assert!(p.pyproject && p.setup_py && !p.setup_cfg, "setup.cfg below the top does not count");
        assert!(p.py_typed && p.pyi && p.requirements_txt && p.rust && p.cython && p.c && !p.cpp);
        assert!(Packaging::is_top_pyproject("pyproject.toml") && Packaging::is_top_pyproject("x-1/pyproject.toml"));
        assert!(!Packaging::is_top_pyproject("x-1/sub/pyproject.toml") && !Packaging::is_top_pyproject("/pyproject.toml"));
        p.set_pyproject_text("[build-system]\nrequires = ['hatchling']\nbuild-backend = 'hatchling.build'\n");
        assert_eq!(p.build_backend.as_deref(), Some("hatchling.build"));
        let mut w = Packaging::default();
        w.add_path("demo/setup.py", false);
        w.add_path("demo/py.typed", false);
        assert!(!w.setup_py && w.py_typed, "a wheel's demo/setup.py is a module, not a build file");
        let mut q = Packaging::default();
        q.set_pyproject_text("not [ toml");
        assert_eq!(q.build_backend, None);
    }
}
