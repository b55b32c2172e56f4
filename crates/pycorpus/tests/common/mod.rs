//! Test harness: an isolated folder per test, the real binary, and generators for every
//! distribution format, including hostile ones.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// One test's world: a temp folder with `in/` for inputs and `corpus/`.
pub struct World {
    pub tmp: tempfile::TempDir,
}

impl World {
    pub fn new() -> World {
        let w = World { tmp: tempfile::tempdir().expect("tempdir") };
        std::fs::create_dir_all(w.input()).expect("mkdir in");
        w
    }
    pub fn root(&self) -> &Path {
        self.tmp.path()
    }
    pub fn input(&self) -> PathBuf {
        self.tmp.path().join("in")
    }
    pub fn corpus(&self) -> PathBuf {
        self.tmp.path().join("corpus")
    }
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_pycorpus"));
        c.arg("--corpus").arg(self.corpus()).env_remove("PYCORPUS_DIR").current_dir(self.root());
        c
    }
    /// Runs pycorpus with `args`; returns the output whatever the exit code.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run pycorpus")
    }
    /// Runs and requires success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(o.status.success(), "pycorpus {args:?} failed ({:?})\nstdout:\n{}\nstderr:\n{}", o.status, String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).expect("utf8 stdout")
    }
    /// `ls --format jsonl` parsed.
    pub fn rows(&self, extra: &[&str]) -> Vec<serde_json::Value> {
        let mut args = vec!["ls", "--format", "jsonl"];
        args.extend_from_slice(extra);
        self.ok(&args).lines().map(|l| serde_json::from_str(l).expect("json row")).collect()
    }
    pub fn write(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.input().join(name);
        std::fs::write(&p, data).expect("write input");
        p
    }
    pub fn set_config(&self, text: &str) {
        std::fs::write(self.corpus().join("corpus.toml"), text).expect("write config");
    }
}

/// An entry to put in a generated archive.
#[derive(Clone)]
pub enum E {
    File(Vec<u8>, Vec<u8>),
    Symlink(Vec<u8>, Vec<u8>),
    Hardlink(Vec<u8>, Vec<u8>),
    Dir(Vec<u8>),
}

pub fn f(name: &str, data: &[u8]) -> E {
    E::File(name.as_bytes().to_vec(), data.to_vec())
}

/// A plain tar stream. Names are written raw (GNU long names when needed), so hostile names
/// (`../x`, `/abs`, invalid UTF-8) survive as they are.
pub fn tar_bytes(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        let (name, data, ty, link): (&[u8], &[u8], tar::EntryType, Option<&[u8]>) = match e {
            E::File(n, d) => (n, d, tar::EntryType::Regular, None),
            E::Symlink(n, t) => (n, &[], tar::EntryType::Symlink, Some(t)),
            E::Hardlink(n, t) => (n, &[], tar::EntryType::Link, Some(t)),
            E::Dir(n) => (n, &[], tar::EntryType::Directory, None),
        };
        h.set_entry_type(ty);
        h.set_size(data.len() as u64);
        if name.len() > 99 {
            let mut ln = tar::Header::new_gnu();
            ln.set_entry_type(tar::EntryType::GNULongName);
            ln.set_size(name.len() as u64 + 1);
            ln.as_gnu_mut().expect("gnu").name[..13].copy_from_slice(b"././@LongLink");
            ln.set_cksum();
            let mut n = name.to_vec();
            n.push(0);
            b.append(&ln, &n[..]).expect("longname");
            h.as_gnu_mut().expect("gnu").name[..99].copy_from_slice(&name[..99]);
        } else {
            h.as_gnu_mut().expect("gnu").name[..name.len()].copy_from_slice(name);
        }
        if let Some(t) = link {
            h.as_gnu_mut().expect("gnu").linkname[..t.len()].copy_from_slice(t);
        }
        h.set_cksum();
        b.append(&h, data).expect("append");
    }
    b.into_inner().expect("finish tar")
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    gzip_level(data, flate2::Compression::fast())
}

pub fn gzip_level(data: &[u8], level: flate2::Compression) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), level);
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

pub fn bz2(data: &[u8]) -> Vec<u8> {
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    e.write_all(data).expect("bz2");
    e.finish().expect("bz2")
}

pub fn xz(data: &[u8]) -> Vec<u8> {
    let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
    e.write_all(data).expect("xz");
    e.finish().expect("xz")
}

pub fn tar_gz(entries: &[E]) -> Vec<u8> {
    gzip(&tar_bytes(entries))
}

/// A zip file; symlinks carry Unix mode 0o120777.
pub fn zip_bytes(entries: &[E]) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for e in entries {
        match e {
            E::File(n, d) => {
                z.start_file(String::from_utf8_lossy(n), opts).expect("start");
                z.write_all(d).expect("write");
            }
            E::Symlink(n, t) => {
                z.add_symlink(String::from_utf8_lossy(n), String::from_utf8_lossy(t), opts).expect("symlink");
            }
            E::Dir(n) => {
                z.add_directory(String::from_utf8_lossy(n), opts).expect("dir");
            }
            E::Hardlink(..) => panic!("zip has no hard links"),
        }
    }
    z.finish().expect("zip").into_inner()
}

/// A `.conda` package: a zip holding `info-*.tar.zst` and `pkg-*.tar.zst`.
pub fn conda_bytes(stem: &str, index_json: &str, pkg: &[E]) -> Vec<u8> {
    let info = zstd::encode_all(&tar_bytes(&[f("info/index.json", index_json.as_bytes())])[..], 3).expect("zstd");
    let pkgz = zstd::encode_all(&tar_bytes(pkg)[..], 3).expect("zstd");
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    z.start_file("metadata.json", stored).expect("start");
    z.write_all(br#"{"conda_pkg_format_version": 2}"#).expect("w");
    z.start_file(format!("info-{stem}.tar.zst"), stored).expect("start");
    z.write_all(&info).expect("w");
    z.start_file(format!("pkg-{stem}.tar.zst"), stored).expect("start");
    z.write_all(&pkgz).expect("w");
    z.finish().expect("zip").into_inner()
}

pub fn pkg_info(name: &str, version: &str) -> Vec<u8> {
    format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: test package {name}\nLicense: MIT\nClassifier: Programming Language :: Python :: 3\n\n").into_bytes()
}

/// A small realistic sdist (`name-version/` with PKG-INFO, setup.py and a package).
pub fn sdist_entries(name: &str, version: &str, extra: &str) -> Vec<E> {
    let top = format!("{name}-{version}");
    vec![
        E::Dir(format!("{top}/").into_bytes()),
        f(&format!("{top}/PKG-INFO"), &pkg_info(name, version)),
        f(&format!("{top}/setup.py"), format!("from setuptools import setup\nsetup(name={name:?}, version={version:?})\n").as_bytes()),
        f(&format!("{top}/{name}/__init__.py"), format!("__version__ = {version:?}\n{extra}\n").as_bytes()),
        f(&format!("{top}/{name}/core.py"), b"def add(a, b):\n    \"\"\"Add two numbers.\"\"\"\n    return a + b\n"),
    ]
}

/// `key = value` of a TOML text set to `value`.
pub fn set_toml_key(text: &str, key: &str, value: &str) -> String {
    let mut out: Vec<String> = text.lines().map(str::to_string).collect();
    let line = out.iter_mut().find(|l| l.trim_start().starts_with(key)).unwrap_or_else(|| panic!("no {key} in corpus.toml"));
    *line = format!("{key} = {value}");
    out.join("\n") + "\n"
}
