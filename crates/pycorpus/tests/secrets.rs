//! `secrets` end to end: planted credentials in several file kinds and distribution formats,
//! a file shared by two releases, placeholders, a bad rule file, masking.
#![allow(clippy::unwrap_used)] // tests panic on purpose

mod common;
use common::*;
use serde_json::Value;

const GHP: &str = "ghp_R8x2Lq9ZkT4vWb7NcY1mHs6PdJ3fGa0eUuKo";
const AKIA: &str = "AKIAQ3EGUHWYZK7T2L4N";
const STRIPE: &str = "sk_live_4eC39HqLyjWDarjtT1zdp7dc9X";

fn findings(w: &World, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["secrets", "--format", "jsonl"];
    args.extend_from_slice(extra);
    let o = w.run(&args);
    assert!(o.status.code() == Some(0) || o.status.code() == Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn planted_secrets_are_found_in_every_file_that_holds_them() {
    let w = World::new();
    let shared = format!("GITHUB_TOKEN = '{GHP}'\n");
    let notebook = format!("{{\"cells\": [{{\"source\": [\"client = boto3.client('s3', aws_access_key_id='{AKIA}')\"]}}]}}\n");
    w.write(
        "leaky-1.0.tar.gz",
        &tar_gz(&[
            f("leaky-1.0/leaky/config.py", shared.as_bytes()),
            f("leaky-1.0/setup.cfg", format!("[stripe]\nkey = {STRIPE}\n").as_bytes()),
            f("leaky-1.0/.env", b"DATABASE_URL=postgres://app:Qz8vR2mLx9Tw@db.internal:5432/prod\n"),
            f("leaky-1.0/tests/fixtures/demo.ipynb", notebook.as_bytes()),
            f("leaky-1.0/docs/example.py", b"aws_access_key_id = 'AKIAIOSFODNN7EXAMPLE'\napi_key = '<your-api-key>'\n"),
        ]),
    );
    // the same config.py in a later release, and in a wheel
    w.write("leaky-1.1.tar.gz", &tar_gz(&[f("leaky-1.1/leaky/config.py", shared.as_bytes())]));
    w.write("leaky-1.1-py3-none-any.whl", &zip_bytes(&[f("leaky/config.py", shared.as_bytes()), f("leaky/data.json", b"{\"jwt\": \"none here\"}\n")]));
    w.write("clean-1.0.tar.gz", &tar_gz(&[f("clean-1.0/clean.py", b"print('hello')\n")]));
    w.ok(&["init"]);
    w.ok(&["add", "in"]);
    w.ok(&["seal"]);
    let rows = findings(&w, &[]);
    let got: std::collections::BTreeSet<(String, String, u64)> =
        rows.iter().map(|r| (r["rule"].as_str().unwrap().to_string(), r["path"].as_str().unwrap().rsplit('/').next().unwrap().to_string(), r["line"].as_u64().unwrap())).collect();
    let want: std::collections::BTreeSet<(String, String, u64)> = [("github-pat", "config.py", 1), ("stripe-key", "setup.cfg", 2), ("database-url", ".env", 1), ("aws-access-key-id", "demo.ipynb", 1)]
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), *c))
        .collect();
    assert_eq!(got, want, "{rows:#?}");
    // the shared file: one record per file holding it, one fingerprint, the blob's first upload
    let gh: Vec<&Value> = rows.iter().filter(|r| r["rule"] == "github-pat").collect();
    assert_eq!(gh.len(), 3);
    assert!(gh.iter().all(|r| r["fingerprint"] == gh[0]["fingerprint"] && r["first_uploaded_on"] == gh[0]["first_uploaded_on"] && r["oid"] == gh[0]["oid"]));
    let releases: std::collections::BTreeSet<&str> = gh.iter().map(|r| r["project_release"].as_str().unwrap()).collect();
    assert_eq!(releases.len(), 3);
    // masked by default, whole when asked; a fixture is marked, not dropped
    assert_eq!(gh[0]["secret"], "ghp_****************");
    assert!(findings(&w, &["--show-secrets"]).iter().any(|r| r["secret"] == GHP));
    assert!(rows.iter().any(|r| r["rule"] == "aws-access-key-id" && r["context"] == "test"));
    assert!(!rows.iter().any(|r| r["secret"].as_str().unwrap().contains("EXAMPLE")));
    // -o FILE: jsonl as printed, parquet with the same rows
    let out = w.root().join("f.jsonl");
    w.ok(&["secrets", "--format", "jsonl", "-o", out.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), rows.len());
    let pq = w.root().join("f.parquet");
    w.ok(&["secrets", "--format", "parquet", "-o", pq.to_str().unwrap()]);
    let batches = pycorpus_catalog::read_table(&pq).unwrap();
    assert_eq!(pycorpus_catalog::rows_in(&batches), rows.len());
    assert_eq!(batches[0].schema().fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>()[..3], ["rule", "project_name", "project_version"]);
    assert!(!w.root().join("f.parquet.part").exists());
    let o = w.run(&["secrets", "--format", "parquet"]);
    assert!(o.status.code() == Some(2) && String::from_utf8_lossy(&o.stderr).contains("-o FILE"));
    // filters, exit codes, the table
    assert!(findings(&w, &["--project", "clean"]).is_empty());
    assert_eq!(w.run(&["secrets", "--project", "clean"]).status.code(), Some(1));
    let table = w.ok(&["secrets", "--ext", "py"]);
    assert!(table.contains("github-pat") && !table.contains("stripe"), "{table}");
    // a rule file: its rules only; a bad one is an error naming the rule
    let rules = w.root().join("rules.toml");
    std::fs::write(&rules, "[[rules]]\nid = \"stripe-only\"\nregex = '''sk_live_[0-9a-zA-Z]{24,}'''\nkeywords = [\"sk_live\"]\n").unwrap();
    let custom = findings(&w, &["--rules", rules.to_str().unwrap()]);
    assert_eq!(custom.iter().map(|r| r["rule"].as_str().unwrap()).collect::<Vec<_>>(), vec!["stripe-only"]);
    std::fs::write(&rules, "[[rules]]\nid = \"broken\"\nregex = '''(unclosed'''\n").unwrap();
    let o = w.run(&["secrets", "--rules", rules.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.code() == Some(2) && err.contains("rule broken"), "{err}");
}

/// Every text of an export folder (records gunzipped, the card), concatenated.
fn export_text(dir: &std::path::Path) -> String {
    let mut out = String::new();
    for e in walk(dir) {
        let data = std::fs::read(&e).unwrap();
        if e.extension().is_some_and(|x| x == "gz") {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&data[..]), &mut s).unwrap();
            out.push_str(&s);
        } else {
            out.push_str(&String::from_utf8_lossy(&data));
        }
    }
    out
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

#[test]
fn exports_leave_planted_secrets_out_and_count_them() {
    let w = World::new();
    let code = |i: usize| {
        format!(
            "def connect_{i}(host):\n    \"\"\"Connect to the service as ops{i}@corp-mail.net on 93.184.216.{i} with the stored key.\"\"\"\n    token = '{GHP}'\n    key = '{AKIA}'\n    return client(host, token, key, '{STRIPE}')\n"
        )
    };
    for (i, p) in ["alpha", "beta", "gamma", "delta"].iter().enumerate() {
        w.write(&format!("{p}-1.0.tar.gz"), &tar_gz(&[f(&format!("{p}-1.0/{p}/api.py"), code(i + 10).as_bytes())]));
    }
    w.ok(&["init"]);
    w.ok(&["add", "in"]);
    w.ok(&["seal"]);
    let optout = w.root().join("opt-out.txt");
    std::fs::write(&optout, "delta\n").unwrap();
    let dest = w.root().join("csn");
    let s: Value = serde_json::from_str(&w.ok(&[
        "export",
        "codesearchnet",
        dest.to_str().unwrap(),
        "--split",
        "100/0/0",
        "--keep-duplicates",
        "--near-duplicates",
        "1",
        "--exclude-projects-file",
        optout.to_str().unwrap(),
        "--json",
    ]))
    .unwrap();
    let text = export_text(&dest);
    for planted in [GHP, AKIA, STRIPE, "ops10@corp-mail.net", "93.184.216.10"] {
        assert!(!text.contains(planted), "{planted} is in the export");
    }
    assert!(text.contains("<SECRET>") && text.contains("<EMAIL>") && text.contains("<IP_ADDRESS>"));
    assert_eq!(s["redacted"], serde_json::json!({"secrets": 9, "emails": 3, "ip_addresses": 3}), "{s}");
    assert!(text.contains("| secrets | 9 |") && text.contains("`opt-out.txt`"), "the card counts and names");
    assert!(!text.contains("connect_13"), "delta is opted out");
    // --no-redact keeps them, and says so
    let raw = w.root().join("raw");
    w.ok(&["export", "codesearchnet", raw.to_str().unwrap(), "--split", "100/0/0", "--keep-duplicates", "--near-duplicates", "1", "--no-redact"]);
    let text = export_text(&raw);
    assert!(text.contains(GHP) && text.contains("Not redacted"));
}

#[test]
fn two_hundred_planted_secrets_are_all_found_in_their_files() {
    let w = World::new();
    // (file path inside the distribution's top, expected rule, secret)
    let mut want: Vec<(String, String, &'static str, String)> = Vec::new(); // (release, path end, rule, secret)
    for seed in 0..10u64 {
        let cases = pycorpus_secrets::samples::planted(1000 + seed);
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        for (j, (rule, line, secret)) in cases.into_iter().enumerate() {
            let (name, body) = match j % 5 {
                0 => (format!("pkg/mod_{j}.py"), format!("import os\n{line}\n")),
                1 => (format!("conf/settings_{j}.cfg"), format!("[service]\n{line}\n")),
                2 => (format!("deploy/env_{j}.env"), format!("# local\n{line}\n")),
                3 => (format!("notebooks/nb_{j}.ipynb"), format!("{{\"cells\": [{{\"cell_type\": \"code\", \"source\": [{}]}}]}}\n", serde_json::to_string(&line).unwrap())),
                _ => (format!("data/conf_{j}.json"), format!("{{\"setting\": {}}}\n", serde_json::to_string(&line).unwrap())),
            };
            files.push((name.clone(), body.into_bytes()));
            want.push((format!("p{seed}"), name, rule, secret));
        }
        let (project, version) = (format!("p{seed}"), "1.0");
        let top = format!("{project}-{version}");
        match seed % 3 {
            0 => w.write(&format!("{top}.tar.gz"), &tar_gz(&files.iter().map(|(n, d)| f(&format!("{top}/{n}"), d)).collect::<Vec<_>>())),
            1 => w.write(&format!("{top}-py3-none-any.whl"), &zip_bytes(&files.iter().map(|(n, d)| f(n, d)).collect::<Vec<_>>())),
            _ => w.write(&format!("{top}.zip"), &zip_bytes(&files.iter().map(|(n, d)| f(&format!("{top}/{n}"), d)).collect::<Vec<_>>())),
        };
        if seed < 2 {
            // a later release shipping the same files: each finding again, under it
            let top = format!("{project}-1.1");
            w.write(&format!("{top}.tar.gz"), &tar_gz(&files.iter().map(|(n, d)| f(&format!("{top}/{n}"), d)).collect::<Vec<_>>()));
        }
    }
    assert_eq!(want.len(), 200);
    w.ok(&["init"]);
    w.ok(&["add", "in"]);
    w.ok(&["seal"]);
    let rows = findings(&w, &["--show-secrets"]);
    for (project, path, rule, secret) in &want {
        let hits: Vec<&Value> = rows.iter().filter(|r| r["project_name"] == project.as_str() && r["path"].as_str().unwrap().ends_with(path.as_str()) && r["rule"] == *rule).collect();
        let releases = if project == "p0" || project == "p1" { 2 } else { 1 };
        assert_eq!(hits.len(), releases, "{rule} in {project} {path}: {hits:?}");
        assert!(hits.iter().all(|h| h["secret"] == secret.as_str()), "{rule}: {hits:?}");
    }
    // nothing else: each record is one of the planted ones
    assert_eq!(rows.len(), 200 + 40, "{} records", rows.len());
}

#[test]
fn lookalikes_and_hostile_files_give_no_findings_and_no_trouble() {
    let w = World::new();
    let hex = |n: usize, seed: u64| pycorpus_secrets::samples::Noise(seed).text("0123456789abcdef", n);
    let b64 = pycorpus_secrets::samples::Noise(77).text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 4000);
    let lookalikes = format!(
        "AWS_ACCESS_KEY_ID = 'AKIAIOSFODNN7EXAMPLE'\nAWS_SECRET_ACCESS_KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'\nGITHUB_TOKEN = 'ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'\nAPI_KEY = '<your-api-key>'\nSECRET = '${{SECRET}}'\nDB = 'postgres://user:password@localhost/db'\nsha1 = '{}'\nsha256 = '{}'\nrequest_id = '{}-{}-{}-{}-{}'\nLOGO = 'data:image/png;base64,{b64}'\n",
        hex(40, 1),
        hex(64, 2),
        hex(8, 3),
        hex(4, 4),
        hex(4, 5),
        hex(4, 6),
        hex(12, 7)
    );
    let mut invalid = b"\xff\xfe\x00 binary-looking \x80\x81\n".to_vec();
    invalid.extend_from_slice(b"x = 1\n");
    w.write(
        "lookalike-1.0.tar.gz",
        &tar_gz(&[
            f("lookalike-1.0/lookalike/settings.py", lookalikes.as_bytes()),
            f("lookalike-1.0/docs/conf.json", format!("{{\"key\": \"{}\"}}\n", "x".repeat(40)).as_bytes()),
            // a million AKIA prefixes (4 MB of Python, stored and scanned)
            f("lookalike-1.0/akia.py", format!("{}\n", "AKIA".repeat(25)).repeat(40_000).as_bytes()),
            f("lookalike-1.0/long.py", format!("x = '{}'\n", "a".repeat(3 << 20)).as_bytes()),
            f("lookalike-1.0/bad.py", &invalid),
        ]),
    );
    w.ok(&["init"]);
    w.ok(&["add", "in"]);
    w.ok(&["seal"]);
    let o = w.run(&["secrets", "--format", "jsonl", "--stats"]);
    assert_eq!(o.status.code(), Some(1), "no finding: exit 1\n{}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.stdout.is_empty());
    let stats: Value = serde_json::from_str(String::from_utf8_lossy(&o.stderr).lines().next().unwrap()).unwrap();
    assert!(stats["visit"]["blobs_read"].as_u64().unwrap() >= 3, "the lookalikes, the AKIA file and the invalid UTF-8 were read: {stats}");
    // a catastrophic regex (exponential for a backtracking engine) runs in linear time over the
    // 3 MiB line of a's; one too large to compile is refused, naming it
    let rules = w.root().join("rules.toml");
    std::fs::write(&rules, "[[rules]]\nid = \"catastrophic\"\nregex = '''^(a+)+$'''\n").unwrap();
    let o = w.run(&["secrets", "--rules", rules.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::write(&rules, "[[rules]]\nid = \"huge\"\nregex = '''(\\w{1000}){1000}'''\n").unwrap();
    let o = w.run(&["secrets", "--rules", rules.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.code() == Some(2) && err.contains("rule huge") && err.contains("size limit"), "{err}");
}
