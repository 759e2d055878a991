//! The variables preflight reads from its environment are exactly those the README lists:
//! each `env = "..."` of the command line and each variable the code reads itself. A new
//! one (a proxy variable a library reads, a `PREFLIGHT_*` a trigger could set) must be
//! named in the README, where the protected job's `env -i` list is decided.

use std::collections::BTreeSet;
use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Every Rust file under `dir`.
fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The quoted name after each of `markers` in `text`.
fn names_after(text: &str, markers: &[&str], into: &mut BTreeSet<String>) {
    for marker in markers {
        for (at, _) in text.match_indices(marker) {
            let rest = &text[at + marker.len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            if !name.is_empty() {
                into.insert(name);
            }
        }
    }
}

#[test]
fn every_variable_the_binary_reads_is_in_the_readme_and_no_proxy_variable_is_read() {
    let mut files = Vec::new();
    sources(&Path::new(ROOT).join("src"), &mut files);
    let mut read = BTreeSet::new();
    for file in files
        .iter()
        .filter(|f| !f.to_string_lossy().contains("/bench/"))
    {
        let text = std::fs::read_to_string(file).unwrap();
        names_after(
            &text,
            &[
                "env = \"",
                "env::var(\"",
                "env::var_os(\"",
                "try_from_env(\"",
            ],
            &mut read,
        );
    }
    for expected in [
        "PREFLIGHT_GITLAB_TOKEN",
        "DOCKER_HOST",
        "NO_COLOR",
        "PREFLIGHT_LOG",
    ] {
        assert!(
            read.contains(expected),
            "the scan missed {expected}: {read:?}"
        );
    }
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let section = &readme[readme
        .find("| variable (flag) | meaning | required |")
        .expect("the README's variable table")..];
    let section = &section[..section
        .find("`--all-migrations` rehearses")
        .expect("the paragraph after the variables")];
    let missing: Vec<&String> = read
        .iter()
        .filter(|name| !section.contains(&format!("`{name}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "read by the binary, not listed in the README: {missing:?}"
    );
    for proxy in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"] {
        assert!(!read.contains(proxy), "{proxy} is read");
    }
}
