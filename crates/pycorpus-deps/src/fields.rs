//! The scalar fields of a distribution's packaging metadata that `releases.parquet` keeps as
//! columns, besides those it had before (name, version, summary, license, requires-python,
//! classifiers, project URLs), and the one table of them ([`Fields::COLUMNS`]) that the
//! Parquet writer and reader both follow.

use crate::{CoreMetadata, Problem, Pyproject, Wheel};
use pycorpus_archive::Metadata;

/// How one column of [`Fields`] is read and set.
#[derive(Clone, Copy)]
pub enum Column {
    /// Text (null when absent).
    Text(fn(&Fields) -> Option<&str>, fn(&mut Fields, String)),
    /// A list of text (empty when absent).
    List(fn(&Fields) -> &[String], fn(&mut Fields, Vec<String>)),
    /// True or false (null when absent).
    Flag(fn(&Fields) -> Option<bool>, fn(&mut Fields, bool)),
}

/// Skips a field that holds nothing in the journal's JSON.
trait Absent {
    fn absent(&self) -> bool;
}
impl<T> Absent for Option<T> {
    fn absent(&self) -> bool {
        self.is_none()
    }
}
impl<T> Absent for Vec<T> {
    fn absent(&self) -> bool {
        self.is_empty()
    }
}

macro_rules! ty {
    (text) => { Option<String> };
    (list) => { Vec<String> };
    (flag) => { Option<bool> };
}

macro_rules! column {
    (text, $n:ident) => {
        Column::Text(|f| f.$n.as_deref(), |f, v| f.$n = Some(v))
    };
    (list, $n:ident) => {
        Column::List(|f| &f.$n, |f, v| f.$n = v)
    };
    (flag, $n:ident) => {
        Column::Flag(|f| f.$n, |f, v| f.$n = Some(v))
    };
}

macro_rules! fields {
    ($( $(#[$doc:meta])* $name:ident : $kind:ident ),* $(,)?) => {
        /// The packaging fields of a release that are columns of `releases.parquet` (see
        /// docs/FORMAT.md): every core metadata field not kept before, `pyproject.toml`'s
        /// and `WHEEL`'s scalars, and what could not be read.
        #[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        pub struct Fields {
            $( $(#[$doc])* #[serde(default, skip_serializing_if = "Absent::absent")] pub $name: ty!($kind), )*
        }

        impl Fields {
            /// Every column, in the order of `releases.parquet`.
            pub const COLUMNS: &'static [(&'static str, Column)] = &[ $( (stringify!($name), column!($kind, $name)), )* ];
        }
    };
}

fields! {
    /// `Metadata-Version` of the core metadata.
    core_metadata_version: text,
    /// `Dynamic` (2.2).
    dynamic: list,
    /// `Platform`.
    platforms: list,
    /// `Supported-Platform`.
    supported_platforms: list,
    /// `Description-Content-Type`.
    description_content_type: text,
    /// `Keywords`, as written.
    keywords: text,
    /// `Home-page`.
    home_page: text,
    /// `Download-URL`.
    download_url: text,
    /// `Author`.
    author: text,
    /// `Author-email`.
    author_email: text,
    /// `Maintainer`.
    maintainer: text,
    /// `Maintainer-email`.
    maintainer_email: text,
    /// `License`, whole (continuation lines joined by newlines).
    license_text: text,
    /// `License-Expression` (2.4).
    license_expression: text,
    /// `License-File` (2.4).
    license_files: list,
    /// `Requires-External`.
    requires_external: list,
    /// `Provides-Extra`.
    provides_extra: list,
    /// `Provides-Dist`.
    provides_dist: list,
    /// `Obsoletes-Dist`.
    obsoletes_dist: list,
    /// `Requires` (1.1, deprecated).
    requires: list,
    /// `Provides` (1.1, deprecated).
    provides: list,
    /// `Obsoletes` (1.1, deprecated).
    obsoletes: list,
    /// Has a `pyproject.toml` at the top of the sdist (true even when it does not parse).
    pyproject: flag,
    /// `[build-system] build-backend`.
    build_backend: text,
    /// Has a `[project]` table (PEP 621).
    pep621: flag,
    /// `[project] dynamic`.
    project_dynamic: list,
    /// `[project] requires-python`.
    project_requires_python: text,
    /// The names of the `[tool.*]` tables.
    tool_tables: list,
    /// `WHEEL`'s `Wheel-Version`.
    wheel_version: text,
    /// `WHEEL`'s `Generator`.
    wheel_generator: text,
    /// `WHEEL`'s `Root-Is-Purelib`.
    root_is_purelib: flag,
    /// `WHEEL`'s `Tag` lines.
    wheel_tags: list,
    /// `WHEEL`'s `Build`.
    wheel_build: text,
    /// What could not be read, each as `path: problem`.
    metadata_problems: list,
}

impl Fields {
    /// The fields of what was read: core metadata, a `pyproject.toml` (`Some(None)`: there
    /// but not TOML), `WHEEL`, and the problems met.
    pub(crate) fn gather(core: Option<&CoreMetadata>, pyproject: Option<Option<&Pyproject>>, wheel: Option<&Wheel>, problems: Vec<Problem>) -> Fields {
        let mut f = Fields { metadata_problems: problems, ..Fields::default() };
        if let Some(c) = core {
            let c = c.clone();
            f.core_metadata_version = c.metadata_version;
            f.dynamic = c.dynamic;
            f.platforms = c.platforms;
            f.supported_platforms = c.supported_platforms;
            f.description_content_type = c.description_content_type;
            f.keywords = c.keywords;
            f.home_page = c.home_page;
            f.download_url = c.download_url;
            f.author = c.author;
            f.author_email = c.author_email;
            f.maintainer = c.maintainer;
            f.maintainer_email = c.maintainer_email;
            f.license_text = c.license;
            f.license_expression = c.license_expression;
            f.license_files = c.license_files;
            f.requires_external = c.requires_external;
            f.provides_extra = c.provides_extra;
            f.provides_dist = c.provides_dist;
            f.obsoletes_dist = c.obsoletes_dist;
            f.requires = c.requires;
            f.provides = c.provides;
            f.obsoletes = c.obsoletes;
        }
        if let Some(p) = pyproject {
            f.pyproject = Some(true);
            if let Some(p) = p {
                f.build_backend = p.build_backend.clone();
                f.pep621 = Some(p.has_project);
                f.project_dynamic = p.dynamic.clone();
                f.project_requires_python = p.requires_python.clone();
                f.tool_tables = p.tool_tables.clone();
            }
        }
        if let Some(w) = wheel {
            f.wheel_version = w.wheel_version.clone();
            f.wheel_generator = w.generator.clone();
            f.root_is_purelib = w.root_is_purelib;
            f.wheel_tags = w.tags.clone();
            f.wheel_build = w.build.clone();
        }
        f
    }

    /// Nothing is known.
    pub fn is_empty(&self) -> bool {
        *self == Fields::default()
    }
}

impl CoreMetadata {
    /// The release's metadata as `releases.parquet` kept it before these fields: `License` is
    /// `License-Expression` if any, else the first line of `License` (not `UNKNOWN`);
    /// `project_urls` are `Home-page` (as `Homepage`, not `UNKNOWN`), then each `Project-URL`
    /// (`label, url`), the first of a label kept.
    pub fn release_metadata(&self) -> Metadata {
        let mut urls: Vec<(String, String)> = Vec::new();
        let home = self.home_page.iter().filter(|h| !h.is_empty() && *h != "UNKNOWN").map(|h| ("Homepage", h.as_str()));
        let others = self.project_urls.iter().filter_map(|v| v.split_once(',')).map(|(l, u)| (l.trim(), u.trim()));
        for (label, url) in home.chain(others) {
            if !label.is_empty() && !url.is_empty() && !urls.iter().any(|(l, _)| l == label) {
                urls.push((label.to_string(), url.to_string()));
            }
        }
        let first_line = self.license.as_deref().and_then(|l| l.lines().next()).filter(|s| !s.is_empty() && *s != "UNKNOWN").map(str::to_string);
        Metadata {
            name: self.name.clone(),
            version: self.version.clone(),
            summary: self.summary.clone(),
            license: self.license_expression.clone().or(first_line),
            requires_python: self.requires_python.clone(),
            classifiers: self.classifiers.clone(),
            project_urls: urls,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_metadata_keeps_its_former_rules() {
        let (c, _) = crate::parse_core(
            b"Metadata-Version: 2.1\nName: Foo_Bar\nVersion: 1.0\nSummary: A thing\nLicense: MIT\n  more\nClassifier: A\nClassifier: B\nRequires-Python: >=3.8\nHome-page: https://h.test\nProject-URL: Source, https://s.test/x\nProject-URL: Homepage, https://other.test\nProject-URL: bad\n\nName: body\n",
        );
        let md = c.release_metadata();
        assert_eq!((md.name.as_deref(), md.version.as_deref(), md.license.as_deref()), (Some("Foo_Bar"), Some("1.0"), Some("MIT")));
        assert_eq!((md.classifiers.len(), md.requires_python.as_deref()), (2, Some(">=3.8")));
        let urls: Vec<(&str, &str)> = md.project_urls.iter().map(|(l, u)| (l.as_str(), u.as_str())).collect();
        assert_eq!(urls, vec![("Homepage", "https://h.test"), ("Source", "https://s.test/x")]);
        let (c, _) = crate::parse_core(b"License: UNKNOWN\nLicense-Expression: MIT\nHome-page: UNKNOWN\n");
        let md = c.release_metadata();
        assert_eq!((md.license.as_deref(), md.project_urls.len()), (Some("MIT"), 0));
    }

    #[test]
    fn every_column_reads_and_sets_its_own_field() {
        let mut f = Fields::default();
        for (i, (_, col)) in Fields::COLUMNS.iter().enumerate() {
            match col {
                Column::Text(_, set) => set(&mut f, format!("v{i}")),
                Column::List(_, set) => set(&mut f, vec![format!("v{i}")]),
                Column::Flag(_, set) => set(&mut f, i % 2 == 0),
            }
        }
        for (i, (name, col)) in Fields::COLUMNS.iter().enumerate() {
            let ok = match col {
                Column::Text(get, _) => get(&f) == Some(format!("v{i}").as_str()),
                Column::List(get, _) => get(&f) == [format!("v{i}")],
                Column::Flag(get, _) => get(&f) == Some(i % 2 == 0),
            };
            assert!(ok, "{name}");
        }
        let json = serde_json::to_string(&f).expect("json");
        assert_eq!(serde_json::from_str::<Fields>(&json).expect("back"), f);
        assert_eq!(serde_json::to_string(&Fields::default()).expect("json"), "{}");
    }
}
