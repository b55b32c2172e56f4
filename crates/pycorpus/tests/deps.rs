//! Dependency metadata end to end: distributions with every kind of metadata file, and hostile
//! ones, added and sealed; `deps` forward and reverse in every format; the tables read back;
//! `reindex-metadata` of shards sealed before the tables.
#![allow(clippy::unwrap_used)] // tests panic on purpose

mod common;
use common::*;
use serde_json::Value;

fn jsonl(s: &str) -> Vec<Value> {
    s.lines().map(|l| serde_json::from_str(l).expect("json line")).collect()
}

/// An sdist with core metadata, pyproject.toml, setup.cfg and an egg-info; a wheel of it.
fn write_inputs(w: &World) {
    let top = "webapp-1.0";
    let pkg_info = "Metadata-Version: 2.4\nName: webapp\nVersion: 1.0\nSummary: A web app\nLicense-Expression: MIT\nLicense-File: LICENSE\nRequires-Dist: Requests[socks]>=2.8.1,==2.8.*; python_version > \"3.8\"\nRequires-Dist: click\nRequires-Dist: pytest>=7; extra == \"test\"\nProvides-Extra: test\nDynamic: Classifier\n\nbody\n";
    let pyproject = "[build-system]\nrequires = [\"hatchling>=1.5\"]\nbuild-backend = \"hatchling.build\"\n[project]\nname = \"webapp\"\ndependencies = [\"requests>=2.8.1\", \"click\"]\ndynamic = [\"version\"]\n[project.optional-dependencies]\ntest = [\"pytest>=7\"]\n[tool.ruff]\nx = 1\n";
    w.write(
        "webapp-1.0.tar.gz",
        &tar_gz(&[
            f(&format!("{top}/PKG-INFO"), pkg_info.as_bytes()),
            f(&format!("{top}/pyproject.toml"), pyproject.as_bytes()),
            f(&format!("{top}/setup.cfg"), b"[options]\ninstall_requires =\n    requests>=2.8.1\n"),
            f(&format!("{top}/webapp.egg-info/requires.txt"), b"requests>=2.8.1\n\n[test]\npytest>=7\n"),
            f(&format!("{top}/webapp/__init__.py"), b"import requests\n"),
        ]),
    );
    w.write(
        "webapp-1.0-py3-none-any.whl",
        &zip_bytes(&[
            f("webapp/__init__.py", b"import requests\n"),
            f("webapp_cli.py", b"def main(): pass\n"),
            f("webapp-1.0.dist-info/METADATA", pkg_info.as_bytes()),
            f("webapp-1.0.dist-info/WHEEL", b"Wheel-Version: 1.0\nGenerator: hatchling 1.21.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"),
            f("webapp-1.0.dist-info/entry_points.txt", b"[console_scripts]\nwebapp = webapp_cli:main\n"),
        ]),
    );
    // a second project that requires requests only in an extra
    w.write("client-2.0.tar.gz", &tar_gz(&[f("client-2.0/PKG-INFO", b"Metadata-Version: 2.1\nName: client\nVersion: 2.0\nRequires-Dist: requests<3; extra == \"http\"\n\n")]));
}

#[test]
fn deps_forward_and_reverse_in_every_format() {
    let w = World::new();
    write_inputs(&w);
    w.ok(&["init"]);
    w.ok(&["add", "in"]);
    // the open shard answers from its journal
    let open = w.ok(&["deps", "requests", "--reverse", "--format", "jsonl"]);
    w.ok(&["seal"]);
    let rows = jsonl(&w.ok(&["deps", "requests", "--reverse", "--format", "jsonl"]));
    assert_eq!(open, w.ok(&["deps", "requests", "--reverse", "--format", "jsonl"]), "open and sealed answers differ");
    // every source of webapp's sdist and wheel names requests; client only in an extra
    let sources: Vec<(&str, &str, &str)> = rows.iter().map(|r| (r["project_release"].as_str().unwrap(), r["source"].as_str().unwrap(), r["kind"].as_str().unwrap())).collect();
    assert_eq!(
        sources,
        vec![
            ("webapp-1.0-py3-none-any.whl", "core-metadata", "run"),
            ("webapp-1.0.tar.gz", "core-metadata", "run"),
            ("webapp-1.0.tar.gz", "pyproject", "run"),
            ("webapp-1.0.tar.gz", "setup-cfg", "run"),
            ("webapp-1.0.tar.gz", "requires-txt", "run"),
        ]
    );
    let r = &rows[0];
    assert_eq!((r["project_name"].as_str(), r["project_version"].as_str(), r["name"].as_str()), (Some("webapp"), Some("1.0"), Some("requests")));
    assert_eq!((r["specifier"].as_str(), r["extras"][0].as_str()), (Some("==2.8.*, >=2.8.1"), Some("socks")));
    assert!(r["marker"].as_str().is_some_and(|m| m.contains("3.9")), "{r}");
    // --extras adds client's
    let with_extras = jsonl(&w.ok(&["deps", "requests", "--reverse", "--extras", "--format", "jsonl"]));
    assert_eq!(with_extras.len(), rows.len() + 1);
    assert!(with_extras.iter().any(|r| r["project_name"] == "client" && r["kind"] == "extra:http" && r["specifier"] == "<3"));
    // the table says each release's requirement once
    let table = w.ok(&["deps", "requests", "--reverse", "--extras"]);
    let want =
        "client 2.0  extra:http   requests <3; extra == 'http'\nwebapp 1.0  run          requests[socks] ==2.8.*, >=2.8.1; python_full_version >= '3.9'\nwebapp 1.0  run          requests >=2.8.1\n";
    assert_eq!(table, want);
    // forward: what webapp requires, build requirements included, extras only with --extras
    let fwd = jsonl(&w.ok(&["deps", "WebApp", "--format", "jsonl"]));
    assert!(fwd.iter().any(|r| r["kind"] == "build" && r["name"] == "hatchling"));
    assert!(fwd.iter().all(|r| r["kind"] != "extra:test"));
    assert!(jsonl(&w.ok(&["deps", "webapp", "--extras", "--format", "jsonl"])).iter().any(|r| r["kind"] == "extra:test" && r["name"] == "pytest"));
    // csv has the same columns, a header first
    let csv = w.ok(&["deps", "requests", "--reverse", "--format", "csv"]);
    assert!(csv.starts_with("project_name,project_version,project_release,uploaded_on,source,kind,name,specifier,url,marker,extras,raw,error\n"), "{csv}");
    assert_eq!(csv.lines().count(), rows.len() + 1);
    // --since past every upload: nothing; a bad date: a clear error
    assert_eq!(w.ok(&["deps", "requests", "--reverse", "--since", "2999-01-01", "--format", "jsonl"]), "");
    let bad = w.run(&["deps", "requests", "--since", "yesterday"]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("since"));

    // the tables and the new release columns, read back from the shard
    let shard = w.corpus().join("shards/000001");
    let rels = pycorpus_catalog::read_releases(&shard.join("releases.parquet")).expect("releases");
    let wheel = rels.iter().find(|r| r.project_release.ends_with(".whl")).expect("wheel");
    let p = &wheel.packaging;
    assert_eq!((p.core_metadata_version.as_deref(), p.license_expression.as_deref(), p.license_files.as_slice()), (Some("2.4"), Some("MIT"), &["LICENSE".to_string()][..]));
    assert_eq!((p.wheel_generator.as_deref(), p.root_is_purelib, p.wheel_tags.as_slice()), (Some("hatchling 1.21.0"), Some(true), &["py3-none-any".to_string()][..]));
    let sdist = rels.iter().find(|r| r.project_release == "webapp-1.0.tar.gz").expect("sdist");
    assert_eq!((sdist.packaging.pyproject, sdist.packaging.pep621, sdist.packaging.build_backend.as_deref()), (Some(true), Some(true), Some("hatchling.build")));
    assert_eq!(sdist.packaging.tool_tables, vec!["ruff"]);
    let eps = pycorpus_catalog::read_table(&shard.join("entry_points.parquet")).expect("entry points");
    assert_eq!(pycorpus_catalog::rows_in(&eps), 1);
    let names = pycorpus_catalog::read_table(&shard.join("import_names.parquet")).expect("import names");
    assert_eq!(pycorpus_catalog::rows_in(&names), 2); // webapp and webapp_cli, from the wheel's paths
    assert!(w.ok(&["verify"]).starts_with("ok:"));
}

#[test]
fn hostile_metadata_is_recorded_never_fatal() {
    let w = World::new();
    let sdist = |name: &str, files: Vec<(&str, Vec<u8>)>| {
        let top = format!("{name}-1.0");
        let mut entries = vec![f(&format!("{top}/{name}/__init__.py"), b"x = 1\n")];
        entries.extend(files.into_iter().map(|(p, d)| f(&format!("{top}/{p}"), &d)));
        w.write(&format!("{name}-1.0.tar.gz"), &tar_gz(&entries));
    };
    let head = |name: &str| format!("Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n");
    // a METADATA of 10 MB: over what is read, said, not parsed
    sdist("huge", vec![("PKG-INFO", format!("{}Summary: {}\n", head("huge"), "s".repeat(10 << 20)).into_bytes())]);
    // 100,000 Requires-Dist lines: the first 10,000 kept
    let many: String = (0..100_000).map(|i| format!("Requires-Dist: dep{i}>=1\n")).collect();
    sdist("many", vec![("PKG-INFO", format!("{}{many}", head("many")).into_bytes())]);
    // invalid UTF-8, a header with no colon
    let mut bad = head("badutf").into_bytes();
    bad.extend_from_slice(b"Summary: caf\xe9\nthis line has no colon\nRequires-Dist: requests\n\n");
    sdist("badutf", vec![("PKG-INFO", bad)]);
    // a pyproject.toml that is not TOML, one nesting 10,000 tables
    sdist("nottoml", vec![("PKG-INFO", head("nottoml").into_bytes()), ("pyproject.toml", b"[build-system\nrequires = [".to_vec())]);
    sdist("deep", vec![("PKG-INFO", head("deep").into_bytes()), ("pyproject.toml", format!("x = {}1{}\n", "[".repeat(10_000), "]".repeat(10_000)).into_bytes())]);
    // a requirement string of 1 MB
    sdist("longreq", vec![("PKG-INFO", format!("{}Requires-Dist: requests>={}\n", head("longreq"), "1".repeat(1 << 20)).into_bytes())]);
    w.ok(&["init"]);
    let s: Value = serde_json::from_str(&w.ok(&["add", "in", "--json"])).expect("json");
    assert_eq!(s["failed"].as_u64(), Some(0), "{s}");
    w.ok(&["seal"]);
    let rels = pycorpus_catalog::read_releases(&w.corpus().join("shards/000001/releases.parquet")).expect("releases");
    let problems = |name: &str| rels.iter().find(|r| r.project_name == name).map(|r| r.packaging.metadata_problems.join(" | ")).unwrap_or_default();
    assert!(problems("huge").contains("not parsed"), "{}", problems("huge"));
    assert!(problems("many").contains("more than 10000 values"), "{}", problems("many"));
    assert!(problems("badutf").contains("not UTF-8") && problems("badutf").contains("without a colon"), "{}", problems("badutf"));
    assert!(problems("nottoml").contains("not TOML"), "{}", problems("nottoml"));
    assert!(problems("deep").contains("not TOML"), "{}", problems("deep"));
    let nottoml = rels.iter().find(|r| r.project_name == "nottoml").expect("nottoml");
    assert_eq!((nottoml.packaging.pyproject, nottoml.packaging.pep621), (Some(true), None));
    // the rows: 10,000 of many's, badutf's requests, longreq's kept raw (cut) with its error
    assert_eq!(jsonl(&w.ok(&["deps", "many", "--format", "jsonl"])).len(), 10_000);
    assert_eq!(jsonl(&w.ok(&["deps", "badutf", "--format", "jsonl"]))[0]["name"], "requests");
    let long = jsonl(&w.ok(&["deps", "longreq", "--format", "jsonl"]));
    assert_eq!(long.len(), 1);
    assert!(long[0]["name"].is_null() && long[0]["error"].as_str().is_some_and(|e| e.contains("cut")), "{}", long[0]["error"]);
    assert!(long[0]["raw"].as_str().is_some_and(|r| r.starts_with("requests>=111") && r.len() <= 64 << 10));
}

/// Makes shard `dir` look sealed before the dependency tables existed: no tables, no packaging
/// columns' values, a manifest that lists neither.
fn strip_to_old_shard(dir: &std::path::Path) {
    let rels_path = dir.join("releases.parquet");
    let mut rels = pycorpus_catalog::read_releases(&rels_path).expect("releases");
    for r in &mut rels {
        r.packaging = Default::default();
    }
    pycorpus_catalog::write_releases(&rels_path, &rels).expect("write releases");
    let manifest_path = dir.join("manifest.json");
    let mut m: Value = serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    for f in pycorpus_catalog::DEPS_FILES {
        std::fs::remove_file(dir.join(f)).expect("remove table");
        m["files_sha256"].as_object_mut().unwrap().remove(f);
    }
    use sha2::Digest;
    let data = std::fs::read(&rels_path).unwrap();
    m["files_sha256"]["releases.parquet"] = serde_json::json!({"size": data.len(), "sha256": hex::encode(sha2::Sha256::digest(&data))});
    std::fs::write(&manifest_path, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    let _ = std::fs::remove_file(dir.with_extension("torrent"));
}

#[test]
fn reindex_metadata_rebuilds_what_ingest_made() {
    let w = World::new();
    write_inputs(&w);
    w.ok(&["init"]);
    w.ok(&["add", "in/webapp-1.0.tar.gz", "in/client-2.0.tar.gz"]);
    w.ok(&["seal"]);
    // shard 2 holds a file whose blob shard 1 stores: it depends on shard 1
    w.ok(&["add", "in/webapp-1.0-py3-none-any.whl"]);
    w.ok(&["seal"]);
    let shards = w.corpus().join("shards");
    let m2: Value = serde_json::from_slice(&std::fs::read(shards.join("000002/manifest.json")).unwrap()).unwrap();
    assert_eq!(m2["depends_on"], serde_json::json!([1]), "{m2}");
    let before = w.ok(&["deps", "requests", "--reverse", "--extras", "--format", "jsonl"]);
    let rels_before: Vec<_> = [1, 2].iter().map(|n| pycorpus_catalog::read_releases(&shards.join(format!("00000{n}/releases.parquet"))).unwrap()).collect();
    strip_to_old_shard(&shards.join("000001"));
    let o = w.run(&["deps", "requests", "--reverse", "--extras", "--format", "jsonl"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("reindex-metadata"), "a shard without tables is said");
    assert_ne!(String::from_utf8_lossy(&o.stdout), before);
    // a crash of an earlier run left its staging folder: removed, and the run goes through
    std::fs::create_dir_all(w.corpus().join("shards.upgrade/000001")).unwrap();
    let s: Value = serde_json::from_str(&w.ok(&["reindex-metadata", "--json"])).expect("json");
    assert_eq!((s["shards_reindexed"].clone(), s["manifests_updated"].clone()), (serde_json::json!([1]), serde_json::json!([2])), "{s}");
    assert!(s["files_read"].as_u64().unwrap() >= 5 && s["requirements"].as_u64().unwrap() >= 9, "{s}");
    assert!(!w.corpus().join("shards.upgrade").exists());
    assert_eq!(w.ok(&["deps", "requests", "--reverse", "--extras", "--format", "jsonl"]), before);
    for (n, want) in [1, 2].iter().zip(&rels_before) {
        assert_eq!(&pycorpus_catalog::read_releases(&shards.join(format!("00000{n}/releases.parquet"))).unwrap(), want, "shard {n}");
    }
    // the manifests are whole again (shard 2 names shard 1's new info-hash) and agree with a torrent of it
    assert!(w.ok(&["verify"]).starts_with("ok:"));
    let again: Value = serde_json::from_str(&w.ok(&["reindex-metadata", "--json"])).expect("json");
    assert_eq!(again["shards_reindexed"], serde_json::json!([]));
    let forced: Value = serde_json::from_str(&w.ok(&["reindex-metadata", "--force", "--json"])).expect("json");
    assert_eq!(forced["shards_reindexed"], serde_json::json!([1, 2]));
    assert!(w.ok(&["verify"]).starts_with("ok:"));
}
