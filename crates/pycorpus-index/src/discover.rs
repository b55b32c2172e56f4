//! Which index to use: `--index-url`, then the corpus's `index_url`, then `PIP_INDEX_URL`, then
//! pip's configuration files, then the default of the local pip. No host is named here.

use crate::IndexError;
use std::path::{Path, PathBuf};

/// Where the index URL came from (shown to the user so that a surprise is explainable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexSource {
    /// `--index-url`.
    Flag,
    /// `index_url` in corpus.toml.
    CorpusConfig,
    /// The `PIP_INDEX_URL` environment variable.
    Env,
    /// A pip configuration file.
    PipConfig(PathBuf),
    /// The default of the local pip (`python3 -c ...`).
    PipDefault,
}

/// A simple-API base URL, always ending in `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexUrl {
    /// The URL.
    pub url: String,
    /// Where it came from.
    pub source: IndexSource,
}

fn with_slash(u: &str) -> String {
    let u = u.trim();
    if u.ends_with('/') { u.to_string() } else { format!("{u}/") }
}

/// Resolves the index URL. `env` is passed in so tests can control it. A URL that is not
/// http(s) is an error naming where it came from, before any request (a request to it would
/// fail on every retry with a message about the client, not the setting).
pub fn resolve_index_url(flag: Option<&str>, corpus: Option<&str>, env: &dyn Fn(&str) -> Option<String>) -> Result<IndexUrl, IndexError> {
    let found = choose_index_url(flag, corpus, env)?;
    let why = match reqwest::Url::parse(&found.url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => return Ok(found),
        Ok(u) => format!("its scheme is {:?}, not http or https", u.scheme()),
        Err(e) => e.to_string(),
    };
    let from = match &found.source {
        IndexSource::Flag => "the index_url option".to_string(),
        IndexSource::CorpusConfig => "index_url in corpus.toml".to_string(),
        IndexSource::Env => "PIP_INDEX_URL".to_string(),
        IndexSource::PipConfig(f) => f.display().to_string(),
        IndexSource::PipDefault => "the local pip's default".to_string(),
    };
    Err(IndexError::NoIndex(format!("the index URL {:?} (from {from}) is not an http(s) URL: {why}", without_credentials(found.url.trim_end_matches('/')))))
}

/// `url` with any `user:password@` before its host replaced by `***@`, for messages (a token in
/// PIP_INDEX_URL must not end up in a log).
fn without_credentials(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let host_end = url[start..].find(['/', '?', '#']).map_or(url.len(), |i| start + i);
    match url[start..host_end].rfind('@') {
        Some(at) => format!("{}***@{}", &url[..start], &url[start + at + 1..]),
        None => url.to_string(),
    }
}

fn choose_index_url(flag: Option<&str>, corpus: Option<&str>, env: &dyn Fn(&str) -> Option<String>) -> Result<IndexUrl, IndexError> {
    if let Some(u) = flag.filter(|u| !u.trim().is_empty()) {
        return Ok(IndexUrl { url: with_slash(u), source: IndexSource::Flag });
    }
    if let Some(u) = corpus.filter(|u| !u.trim().is_empty()) {
        return Ok(IndexUrl { url: with_slash(u), source: IndexSource::CorpusConfig });
    }
    if let Some(u) = env("PIP_INDEX_URL").filter(|u| !u.trim().is_empty()) {
        return Ok(IndexUrl { url: with_slash(&u), source: IndexSource::Env });
    }
    let mut found = None;
    for file in pip_config_files(env) {
        if let Some(u) = read_pip_config(&file) {
            found = Some(IndexUrl { url: with_slash(&u), source: IndexSource::PipConfig(file) });
        }
    }
    if let Some(f) = found {
        return Ok(f);
    }
    pip_default().map(|u| IndexUrl { url: with_slash(&u), source: IndexSource::PipDefault })
}

/// pip's configuration files in pip's order (later ones override earlier ones).
pub fn pip_config_files(env: &dyn Fn(&str) -> Option<String>) -> Vec<PathBuf> {
    let mut files = vec![PathBuf::from("/etc/xdg/pip/pip.conf"), PathBuf::from("/etc/pip.conf")];
    if let Some(home) = env("HOME") {
        files.push(Path::new(&home).join(".pip/pip.conf"));
        let xdg = env("XDG_CONFIG_HOME").map(PathBuf::from).unwrap_or_else(|| Path::new(&home).join(".config"));
        files.push(xdg.join("pip/pip.conf"));
    }
    if let Some(venv) = env("VIRTUAL_ENV") {
        files.push(Path::new(&venv).join("pip.conf"));
    }
    if let Some(f) = env("PIP_CONFIG_FILE").filter(|f| f != "/dev/null" && f != "os.devnull") {
        files.push(PathBuf::from(f));
    }
    files
}

/// `index-url` from the `[global]`, then `[download]` section of an INI file (the later wins).
pub fn read_pip_config(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut section = String::new();
    let (mut global, mut download) = (None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.trim().to_ascii_lowercase();
            continue;
        }
        if let Some((k, v)) = line.split_once(['=', ':'])
            && k.trim().to_ascii_lowercase().replace('_', "-") == "index-url"
        {
            match section.as_str() {
                "global" => global = Some(v.trim().to_string()),
                "download" => download = Some(v.trim().to_string()),
                _ => {}
            }
        }
    }
    download.or(global)
}

fn pip_default() -> Result<String, IndexError> {
    let out = std::process::Command::new("python3")
        .args(["-c", "from pip._internal.models.index import PyPI; print(PyPI.simple_url)"])
        .output()
        .map_err(|e| IndexError::NoIndex(format!("cannot ask the local pip ({e})")))?;
    let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || url.is_empty() {
        return Err(IndexError::NoIndex(format!("the local pip did not say: {}", String::from_utf8_lossy(&out.stderr).trim())));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn precedence() {
        let dir = tempfile::tempdir().expect("tmp");
        let home = dir.path().to_string_lossy().into_owned();
        std::fs::create_dir_all(dir.path().join(".config/pip")).expect("mkdir");
        std::fs::write(dir.path().join(".config/pip/pip.conf"), "[global]\nindex-url = http://from-config.test/simple\n").expect("write");
        let mut vars: HashMap<String, String> = HashMap::from([("HOME".to_string(), home)]);
        let r = resolve_index_url(None, None, &|k: &str| vars.get(k).cloned()).expect("config");
        assert_eq!(r.url, "http://from-config.test/simple/");
        assert!(matches!(r.source, IndexSource::PipConfig(_)));
        vars.insert("PIP_INDEX_URL".into(), "http://from-env.test/simple/".into());
        let env = |k: &str| vars.get(k).cloned();
        assert_eq!(resolve_index_url(None, None, &env).expect("env").source, IndexSource::Env);
        assert_eq!(resolve_index_url(None, Some("http://corpus.test/s"), &env).expect("corpus").url, "http://corpus.test/s/");
        assert_eq!(resolve_index_url(Some("http://flag.test/"), Some("x"), &env).expect("flag").source, IndexSource::Flag);
        // Not an http(s) URL: an error naming the setting, before any request.
        for (flag, corpus, want) in
            [(Some("not a url"), None, "the index_url option"), (None, Some("ftp://mirror.test/simple"), "index_url in corpus.toml"), (Some("https://"), None, "the index_url option")]
        {
            let e = resolve_index_url(flag, corpus, &env).expect_err("refused").to_string();
            assert!(e.contains(want) && e.contains("is not an http(s) URL"), "{e}");
        }
        // ...without the credentials it may carry
        let e = resolve_index_url(Some("htps://user:s3cret@mirror.test/simple"), None, &env).expect_err("refused").to_string();
        assert!(e.contains("\"htps://***@mirror.test/simple\"") && !e.contains("s3cret"), "{e}");
        assert_eq!(without_credentials("ftp://mirror.test/a@b"), "ftp://mirror.test/a@b");
    }

    #[test]
    fn ini_sections() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("pip.conf");
        std::fs::write(&p, "# c\n[install]\nindex-url = http://install\n[global]\nindex_url: http://global\n").expect("w");
        assert_eq!(read_pip_config(&p).as_deref(), Some("http://global"));
        std::fs::write(&p, "[global]\nindex-url = http://global\n[download]\nindex-url = http://download\n").expect("w");
        assert_eq!(read_pip_config(&p).as_deref(), Some("http://download"));
        std::fs::write(&p, "[global]\ntimeout = 3\n").expect("w");
        assert_eq!(read_pip_config(&p), None);
    }
}
