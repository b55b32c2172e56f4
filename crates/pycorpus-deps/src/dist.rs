//! One distribution's packaging metadata, from the files of it that hold some: which files
//! those are ([`wanted`]), and what they say together ([`DistMetadata`]).

use crate::requirement::normalize_project;
use crate::{CoreMetadata, EntryPoint, Kind, Problem, Pyproject, Requirement, Source, Wheel, files, parse_requirement};
use pycorpus_archive::DistType;

/// A file that holds packaging metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaFile {
    /// `PKG-INFO` / `METADATA`.
    Core,
    /// `pyproject.toml` at the top of an sdist.
    Pyproject,
    /// `setup.cfg` at the top of an sdist.
    SetupCfg,
    /// `*.egg-info/requires.txt`, `EGG-INFO/requires.txt`.
    RequiresTxt,
    /// A wheel's `WHEEL`.
    Wheel,
    /// `entry_points.txt`.
    EntryPoints,
    /// `top_level.txt`.
    TopLevel,
    /// conda's `info/index.json`.
    CondaIndex,
}

/// Which metadata file `path` (inside a distribution of type `t`, normalised) is, if any.
pub fn wanted(t: DistType, path: &str) -> Option<MetaFile> {
    let parts: Vec<&str> = path.split('/').collect();
    let (dir, name) = match parts.as_slice() {
        [.., d, n] => (*d, *n),
        [n] => ("", *n),
        [] => return None,
    };
    let egg_info = dir.ends_with(".egg-info") && parts.len() <= 4;
    match (t, parts.len(), name) {
        (DistType::Sdist, 2, "PKG-INFO") => Some(MetaFile::Core),
        (DistType::Sdist, 2, "pyproject.toml") => Some(MetaFile::Pyproject),
        (DistType::Sdist, 2, "setup.cfg") => Some(MetaFile::SetupCfg),
        (DistType::Sdist, _, "requires.txt") if egg_info => Some(MetaFile::RequiresTxt),
        (DistType::Sdist, _, "entry_points.txt") if egg_info => Some(MetaFile::EntryPoints),
        (DistType::Sdist, _, "top_level.txt") if egg_info => Some(MetaFile::TopLevel),
        (DistType::Wheel, 2, n) if dir.ends_with(".dist-info") => match n {
            "METADATA" => Some(MetaFile::Core),
            "WHEEL" => Some(MetaFile::Wheel),
            "entry_points.txt" => Some(MetaFile::EntryPoints),
            "top_level.txt" => Some(MetaFile::TopLevel),
            _ => None,
        },
        (DistType::Egg, 2, n) if dir == "EGG-INFO" => match n {
            "PKG-INFO" => Some(MetaFile::Core),
            "requires.txt" => Some(MetaFile::RequiresTxt),
            "entry_points.txt" => Some(MetaFile::EntryPoints),
            "top_level.txt" => Some(MetaFile::TopLevel),
            _ => None,
        },
        (DistType::Conda, 2, "index.json") if dir == "info" => Some(MetaFile::CondaIndex),
        _ => None,
    }
}

/// An import name a distribution provides, and how it is known.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ImportName {
    /// The top-level module or package.
    pub name: String,
    /// `top_level.txt`, or `paths` (a wheel's own files).
    pub source: &'static str,
}

/// What a distribution's metadata files say, gathered as they come.
#[derive(Debug, Default)]
pub struct DistMetadata {
    /// Its core metadata (the first such file).
    pub core: Option<CoreMetadata>,
    /// Its `pyproject.toml`, when there is one that parses.
    pub pyproject: Option<Pyproject>,
    /// A `pyproject.toml` was there (parsed or not).
    pub has_pyproject: bool,
    /// Its `WHEEL`.
    pub wheel: Option<Wheel>,
    /// Every requirement, from every file, in the order read.
    pub requirements: Vec<Requirement>,
    /// Its entry points.
    pub entry_points: Vec<EntryPoint>,
    /// The import names it provides.
    pub import_names: Vec<ImportName>,
    /// What could not be read, each prefixed by the file.
    pub problems: Vec<Problem>,
    /// Top-level names seen in a wheel's paths.
    path_names: std::collections::BTreeSet<String>,
}

impl DistMetadata {
    /// Reads `data`, the file `path` of kind `kind`.
    pub fn add(&mut self, kind: MetaFile, path: &str, data: &[u8]) {
        let mut problems = Vec::new();
        match kind {
            MetaFile::Core if self.core.is_none() => {
                let (md, p) = crate::parse_core(data);
                problems = p;
                for raw in &md.requires_dist {
                    self.requirements.push(parse_requirement(raw, Source::CoreMetadata, Kind::Run));
                }
                self.core = Some(md);
            }
            MetaFile::Core => {}
            MetaFile::Pyproject => {
                self.has_pyproject = true;
                let (p, pr) = files::parse_pyproject(data);
                problems = pr;
                if let Some(p) = p {
                    let reqs = p.build_requires.iter().map(|r| (Kind::Build, r)).chain(p.dependencies.iter().map(|r| (Kind::Run, r)));
                    let extras = p.optional_dependencies.iter().flat_map(|(e, rs)| rs.iter().map(move |r| (Kind::Extra(normalize_project(e)), r)));
                    for (kind, raw) in reqs.chain(extras) {
                        self.requirements.push(parse_requirement(raw, Source::Pyproject, kind));
                    }
                    self.pyproject = Some(p);
                }
            }
            MetaFile::SetupCfg => {
                let (reqs, pr) = files::parse_setup_cfg(data);
                problems = pr;
                for (kind, raw) in reqs {
                    self.requirements.push(parse_requirement(&raw, Source::SetupCfg, kind));
                }
            }
            MetaFile::RequiresTxt => {
                for (extra, marker, raw) in files::parse_requires_txt(data) {
                    let kind = extra.as_deref().map_or(Kind::Run, |e| Kind::Extra(normalize_project(e)));
                    let mut r = parse_requirement(&raw, Source::RequiresTxt, kind);
                    // a `[:marker]` section's marker applies to each of its lines
                    if let (Some(m), None) = (marker, &r.error) {
                        r.marker = Some(match r.marker.take() {
                            Some(own) => format!("({own}) and ({m})"),
                            None => m,
                        });
                    }
                    self.requirements.push(r);
                }
            }
            MetaFile::Wheel => {
                let (w, p) = files::parse_wheel(data);
                problems = p;
                self.wheel = Some(w);
            }
            MetaFile::EntryPoints => {
                let (eps, p) = files::parse_entry_points(data);
                problems = p;
                self.entry_points.extend(eps);
            }
            MetaFile::TopLevel => {
                for name in files::parse_top_level(data) {
                    self.import_names.push(ImportName { name, source: "top_level.txt" });
                }
            }
            MetaFile::CondaIndex => match conda_depends(data) {
                Ok(deps) => {
                    for raw in deps {
                        self.requirements.push(parse_requirement(&raw, Source::CondaIndex, Kind::Conda));
                    }
                }
                Err(e) => problems.push(e),
            },
        }
        self.problems.extend(problems.into_iter().map(|p| format!("{path}: {p}")));
    }

    /// Notes a file of a wheel (any), for the import names its paths provide: `pkg/...` and
    /// `mod.py`, `mod.cpython-312-x86_64-linux-gnu.so` at the top; not `*.dist-info/` nor
    /// `*.data/`.
    pub fn wheel_path(&mut self, path: &str) {
        let (top, rest) = match path.split_once('/') {
            Some((t, r)) => (t, Some(r)),
            None => (path, None),
        };
        if top.ends_with(".dist-info") || top.ends_with(".data") || top.is_empty() || self.path_names.len() >= crate::limits::VALUES {
            return;
        }
        let name = match rest {
            Some(_) => Some(top),
            None => [".py", ".pyi", ".so", ".pyd"].iter().find_map(|ext| top.strip_suffix(ext)).map(|stem| stem.split('.').next().unwrap_or(stem)),
        };
        if let Some(n) = name.filter(|n| !n.is_empty() && n.chars().all(|c| c.is_alphanumeric() || c == '_') && *n != "__pycache__") {
            self.path_names.insert(n.to_string());
        }
    }

    /// Done: the import names of the paths join those of `top_level.txt`.
    pub fn finish(mut self) -> DistMetadata {
        let from_paths = std::mem::take(&mut self.path_names);
        self.import_names.extend(from_paths.into_iter().map(|name| ImportName { name, source: "paths" }));
        self
    }
}

/// conda's `info/index.json` `depends` list.
fn conda_depends(data: &[u8]) -> Result<Vec<String>, Problem> {
    #[derive(serde::Deserialize)]
    struct Index {
        #[serde(default)]
        depends: Vec<String>,
    }
    let idx: Index = serde_json::from_slice(&data[..data.len().min(crate::limits::FILE_BYTES)]).map_err(|e| format!("not the JSON expected: {e}"))?;
    Ok(idx.depends.into_iter().take(crate::limits::VALUES).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_files_are_found_where_each_format_keeps_them() {
        let w = |t, p| wanted(t, p);
        assert_eq!(w(DistType::Sdist, "demo-1.0/PKG-INFO"), Some(MetaFile::Core));
        assert_eq!(w(DistType::Sdist, "demo-1.0/src/demo/PKG-INFO"), None);
        assert_eq!(w(DistType::Sdist, "demo-1.0/pyproject.toml"), Some(MetaFile::Pyproject));
        assert_eq!(w(DistType::Sdist, "demo-1.0/tests/pyproject.toml"), None);
        assert_eq!(w(DistType::Sdist, "demo-1.0/src/demo.egg-info/requires.txt"), Some(MetaFile::RequiresTxt));
        assert_eq!(w(DistType::Wheel, "demo-1.0.dist-info/WHEEL"), Some(MetaFile::Wheel));
        assert_eq!(w(DistType::Wheel, "demo/METADATA"), None);
        assert_eq!(w(DistType::Egg, "EGG-INFO/entry_points.txt"), Some(MetaFile::EntryPoints));
        assert_eq!(w(DistType::Conda, "info/index.json"), Some(MetaFile::CondaIndex));
    }

    #[test]
    fn a_distributions_files_together() {
        let mut d = DistMetadata::default();
        d.add(MetaFile::Core, "x.dist-info/METADATA", b"Name: x\nRequires-Dist: requests>=2\nRequires-Dist: pytest; extra == \"test\"\n");
        d.add(MetaFile::RequiresTxt, "x.egg-info/requires.txt", b"click\n[:sys_platform == \"win32\"]\ncolorama\n[socks]\nPySocks\n");
        d.add(MetaFile::CondaIndex, "info/index.json", br#"{"name": "x", "depends": ["python >=3.8", "numpy"]}"#);
        d.add(MetaFile::CondaIndex, "info/index.json", b"{not json");
        for p in ["x/__init__.py", "x/core.py", "y.py", "_speedups.cpython-312-x86_64-linux-gnu.so", "x-1.0.dist-info/RECORD", "x-1.0.data/scripts/run", "__pycache__/y.cpython-312.pyc"] {
            d.wheel_path(p);
        }
        d.add(MetaFile::TopLevel, "x.dist-info/top_level.txt", b"x\n");
        let d = d.finish();
        let rows: Vec<(String, String, Option<String>)> = d.requirements.iter().map(|r| (r.source.as_str().to_string(), r.kind.as_text(), r.name.clone())).collect();
        assert_eq!(
            rows,
            vec![
                ("core-metadata".into(), "run".into(), Some("requests".into())),
                ("core-metadata".into(), "extra:test".into(), Some("pytest".into())),
                ("requires-txt".into(), "run".into(), Some("click".into())),
                ("requires-txt".into(), "run".into(), Some("colorama".into())),
                ("requires-txt".into(), "extra:socks".into(), Some("pysocks".into())),
                ("conda-index".into(), "conda".into(), Some("python".into())),
                ("conda-index".into(), "conda".into(), Some("numpy".into())),
            ]
        );
        assert_eq!(d.requirements[3].marker.as_deref(), Some("sys_platform == \"win32\""));
        assert_eq!(d.problems.len(), 1, "{:?}", d.problems);
        let names: Vec<(&str, &str)> = d.import_names.iter().map(|n| (n.name.as_str(), n.source)).collect();
        assert_eq!(names, vec![("x", "top_level.txt"), ("_speedups", "paths"), ("x", "paths"), ("y", "paths")]);
    }
}
