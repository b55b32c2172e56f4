//! One distribution's packaging metadata, from the files of it that hold some: which files
//! those are ([`wanted`]), and what they say together ([`DistMetadata`]).

use crate::requirement::normalize_project;
use crate::{CoreMetadata, EntryPoint, Fields, Kind, Problem, Pyproject, Requirement, Source, Wheel, files, parse_requirement};
use pycorpus_archive::{DistType, Metadata};

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
    // called for every file of every distribution: no allocation
    let depth = path.bytes().filter(|&b| b == b'/').count() + 1;
    let mut last = path.rsplitn(3, '/');
    let name = last.next().unwrap_or_default();
    let dir = last.next().unwrap_or_default();
    let egg_info = dir.ends_with(".egg-info") && depth <= 4;
    match (t, depth, name) {
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

/// How an import name is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum ImportSource {
    /// Listed in `top_level.txt`.
    #[serde(rename = "top_level.txt")]
    TopLevel,
    /// A top-level package or module among a wheel's own files.
    #[serde(rename = "paths")]
    Paths,
}

impl ImportSource {
    /// Its name in the tables: `top_level.txt` or `paths`.
    pub fn as_str(self) -> &'static str {
        match self {
            ImportSource::TopLevel => "top_level.txt",
            ImportSource::Paths => "paths",
        }
    }
}

/// An import name a distribution provides, and how it is known.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct ImportName {
    /// The top-level module or package.
    pub name: String,
    /// How it is known.
    pub source: ImportSource,
}

/// Problems kept of one file: a file of a million bad lines says so in a few.
const FILE_PROBLEMS: usize = 20;

/// What conda's `info/index.json` says of the package.
#[derive(Debug, Default, serde::Deserialize)]
struct CondaIndex {
    name: Option<String>,
    version: Option<String>,
    license: Option<String>,
    #[serde(default)]
    depends: Vec<String>,
}

/// What a distribution's metadata files say, gathered as they come ([`DistMetadata::add`]),
/// then parted into what pycorpus keeps ([`DistMetadata::finish`]).
#[derive(Debug, Default)]
pub struct DistMetadata {
    core: Option<CoreMetadata>,
    pyproject: Option<Pyproject>,
    has_pyproject: bool,
    wheel: Option<Wheel>,
    conda: Option<CondaIndex>,
    rows: Rows,
    problems: Vec<Problem>,
    /// Top-level names seen in a wheel's paths.
    path_names: std::collections::BTreeSet<String>,
}

/// A distribution's rows of the requirement, entry point and import name tables.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rows {
    /// Every requirement, from every file, in the order read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requirements: Vec<Requirement>,
    /// Its entry points.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entry_points: Vec<EntryPoint>,
    /// The import names it provides: `top_level.txt`'s, then those of a wheel's paths.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub import_names: Vec<ImportName>,
}

impl Rows {
    /// No row at all.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty() && self.entry_points.is_empty() && self.import_names.is_empty()
    }
}

/// What [`DistMetadata::finish`] parts a distribution's metadata into.
#[derive(Debug, Default)]
pub struct Parsed {
    /// The release's own name, version, summary, license, requires-python, classifiers and
    /// project URLs (core metadata's, or conda's `index.json`'s), when it has metadata.
    pub metadata: Option<Metadata>,
    /// The other scalar fields (the new columns of `releases.parquet`).
    pub fields: Fields,
    /// Its rows.
    pub rows: Rows,
}

impl DistMetadata {
    /// Reads `data`, the file `path` of kind `kind`.
    pub fn add(&mut self, kind: MetaFile, path: &str, data: &[u8]) {
        let mut problems = Vec::new();
        let reqs = &mut self.rows.requirements;
        match kind {
            MetaFile::Core if self.core.is_none() => {
                let (md, p) = crate::parse_core(data);
                problems = p;
                for raw in &md.requires_dist {
                    reqs.push(parse_requirement(raw, Source::CoreMetadata, Kind::Run));
                }
                self.core = Some(md);
            }
            MetaFile::Core => problems.push("a second core metadata file, not read".into()),
            MetaFile::Pyproject => {
                self.has_pyproject = true;
                let (p, pr) = files::parse_pyproject(data);
                problems = pr;
                if let Some(p) = p {
                    let build = p.build_requires.iter().map(|r| (Kind::Build, r)).chain(p.dependencies.iter().map(|r| (Kind::Run, r)));
                    let extras = p.optional_dependencies.iter().flat_map(|(e, rs)| rs.iter().map(move |r| (Kind::Extra(normalize_project(e)), r)));
                    for (kind, raw) in build.chain(extras) {
                        reqs.push(parse_requirement(raw, Source::Pyproject, kind));
                    }
                    self.pyproject = Some(p);
                }
            }
            MetaFile::SetupCfg => {
                let (found, pr) = files::parse_setup_cfg(data);
                problems = pr;
                for (kind, raw) in found {
                    reqs.push(parse_requirement(&raw, Source::SetupCfg, kind));
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
                    reqs.push(r);
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
                let room = crate::limits::VALUES.saturating_sub(self.rows.entry_points.len());
                self.rows.entry_points.extend(eps.into_iter().take(room));
            }
            MetaFile::TopLevel => {
                for name in files::parse_top_level(data) {
                    self.rows.import_names.push(ImportName { name, source: ImportSource::TopLevel });
                }
            }
            MetaFile::CondaIndex => match serde_json::from_slice::<CondaIndex>(&data[..data.len().min(crate::limits::FILE_BYTES)]) {
                Ok(mut idx) => {
                    for raw in idx.depends.drain(..).take(crate::limits::VALUES) {
                        reqs.push(parse_requirement(&raw, Source::CondaIndex, Kind::Conda));
                    }
                    self.conda = Some(idx);
                }
                Err(e) => problems.push(format!("not the JSON expected: {e}")),
            },
        }
        let more = problems.len().saturating_sub(FILE_PROBLEMS);
        self.problems.extend(problems.into_iter().take(FILE_PROBLEMS).map(|p| format!("{path}: {p}")));
        if more > 0 {
            self.problems.push(format!("{path}: {more} more problem(s)"));
        }
    }

    /// Records a problem of a metadata file that could not be read (over the size read).
    pub fn problem(&mut self, path: &str, what: &str) {
        self.problems.push(format!("{path}: {what}"));
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

    /// Done: what was read, parted into the release's metadata, its other fields and its rows
    /// (the import names of a wheel's paths after those of `top_level.txt`).
    pub fn finish(mut self) -> Parsed {
        let from_paths = std::mem::take(&mut self.path_names);
        self.rows.import_names.extend(from_paths.into_iter().map(|name| ImportName { name, source: ImportSource::Paths }));
        let metadata = match self.conda.take() {
            Some(c) => Some(Metadata { name: c.name, version: c.version, license: c.license, ..Metadata::default() }),
            None => self.core.as_ref().map(CoreMetadata::release_metadata),
        };
        let fields = Fields::gather(self.core.as_ref(), self.has_pyproject.then_some(self.pyproject.as_ref()), self.wheel.as_ref(), self.problems);
        Parsed { metadata, fields, rows: self.rows }
    }
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
    fn a_file_of_bad_lines_says_so_in_a_few_problems_and_entry_points_are_capped() {
        let mut d = DistMetadata::default();
        let bad: String = (0..100).map(|i| format!("[g]\nnot a key value line {i}\n")).collect();
        d.add(MetaFile::EntryPoints, "x.dist-info/entry_points.txt", bad.as_bytes());
        let many: String = (0..12_000).map(|i| format!("[g{}]\nn{i} = m:f\n", i % 3)).collect();
        d.add(MetaFile::EntryPoints, "x.dist-info/entry_points.txt", many.as_bytes());
        d.add(MetaFile::EntryPoints, "y/entry_points.txt", b"[g]\nmore = m:f\n");
        let p = d.finish();
        // the reader says 20 lines and counts the other 80 in one more; the distribution keeps 20 a file
        assert_eq!(p.fields.metadata_problems.len(), FILE_PROBLEMS + 1, "{:?}", p.fields.metadata_problems);
        assert!(p.fields.metadata_problems.last().is_some_and(|m| m.ends_with("1 more problem(s)")), "{:?}", p.fields.metadata_problems.last());
        assert_eq!(p.rows.entry_points.len(), crate::limits::VALUES);
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
        let parsed = d.finish();
        let d = &parsed.rows;
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
        assert_eq!(parsed.fields.metadata_problems.len(), 1, "{:?}", parsed.fields.metadata_problems);
        let names: Vec<(&str, &str)> = d.import_names.iter().map(|n| (n.name.as_str(), n.source.as_str())).collect();
        assert_eq!(names, vec![("x", "top_level.txt"), ("_speedups", "paths"), ("x", "paths"), ("y", "paths")]);
    }
}
