//! Every file in `pipeline-templates/` is a GitLab CI file a team copies: a `spec:
//! inputs` header and the jobs, usable as a plain include and as a component. Each is
//! checked against the keywords GitLab documents (inputs, job keywords, `artifacts`,
//! `rules`, `trigger`), every `$[[ inputs.x ]]` must name a declared input and every
//! input must be used; then the jobs are interpolated with the defaults and read again,
//! as GitLab would, and the settings that make preflight safe are asserted.

use serde_yaml::{Mapping, Value};
use std::collections::BTreeSet;

/// GitLab's job keywords (CI/CD YAML syntax reference).
const JOB_KEYWORDS: &[&str] = &[
    "after_script",
    "allow_failure",
    "artifacts",
    "before_script",
    "cache",
    "coverage",
    "dast_configuration",
    "dependencies",
    "environment",
    "extends",
    "hooks",
    "identity",
    "id_tokens",
    "image",
    "inherit",
    "interruptible",
    "needs",
    "pages",
    "parallel",
    "release",
    "resource_group",
    "retry",
    "rules",
    "script",
    "secrets",
    "services",
    "stage",
    "tags",
    "timeout",
    "trigger",
    "variables",
    "when",
    "manual_confirmation",
];
const INPUT_KEYS: &[&str] = &["default", "description", "options", "regex", "type"];
const INPUT_TYPES: &[&str] = &["string", "number", "boolean", "array"];
const FUNCTIONS: &[&str] = &["expand_vars", "truncate", "posix_escape"];
const ARTIFACTS_KEYS: &[&str] = &[
    "paths",
    "exclude",
    "expire_in",
    "expose_as",
    "name",
    "public",
    "access",
    "reports",
    "untracked",
    "when",
];
const ARTIFACTS_ACCESS: &[&str] = &["all", "developer", "maintainer", "none"];
const REPORTS_KEYS: &[&str] = &[
    "junit",
    "codequality",
    "annotations",
    "dotenv",
    "terraform",
    "metrics",
    "coverage_report",
];
const RULE_KEYS: &[&str] = &[
    "if",
    "changes",
    "exists",
    "allow_failure",
    "needs",
    "variables",
    "when",
    "interruptible",
];
const CHANGES_KEYS: &[&str] = &["paths", "compare_to"];
const TRIGGER_KEYS: &[&str] = &["project", "branch", "strategy", "forward", "include"];
const FORWARD_KEYS: &[&str] = &["yaml_variables", "pipeline_variables"];

fn templates() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("pipeline-templates");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    out.sort();
    out
}

/// The spec header and the jobs' text.
fn split(name: &str, text: &str) -> (Mapping, String) {
    let (head, body) = text
        .split_once("\n---\n")
        .unwrap_or_else(|| panic!("{name}: no `---` after the spec header"));
    let head: Value = serde_yaml::from_str(head).unwrap();
    let inputs = head["spec"]["inputs"]
        .as_mapping()
        .unwrap_or_else(|| panic!("{name}: no spec:inputs"))
        .clone();
    (inputs, body.to_string())
}

/// Every `$[[ ... ]]` block: the input it reads and the functions applied.
fn blocks(body: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(at) = rest.find("$[[") {
        let end = rest[at..].find("]]").expect("an unclosed $[[") + at;
        let inner = rest[at + 3..end].trim();
        let mut parts = inner.split('|').map(str::trim);
        let access = parts.next().unwrap();
        let input = access
            .strip_prefix("inputs.")
            .unwrap_or_else(|| panic!("{access:?} is not an input"));
        let functions = parts
            .map(|f| f.split('(').next().unwrap().trim().to_string())
            .collect();
        out.push((input.to_string(), functions));
        rest = &rest[end + 2..];
    }
    out
}

/// The jobs with every input at its default, as GitLab interpolates them.
fn interpolated(inputs: &Mapping, body: &str) -> Mapping {
    let mut text = body.to_string();
    for (input, _) in blocks(body) {
        let default = &inputs[input.as_str()]["default"];
        let value = match default {
            Value::String(s) => s.clone(),
            Value::Null => format!("{input}-value"),
            other => serde_json::to_string(&serde_json::to_value(other).unwrap()).unwrap(),
        };
        let at = text.find("$[[").unwrap();
        let end = text[at..].find("]]").unwrap() + at + 2;
        text.replace_range(at..end, &value);
    }
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn keys(m: &Value) -> Vec<String> {
    m.as_mapping()
        .map(|m| m.keys().map(|k| k.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

fn assert_within(what: &str, found: Vec<String>, allowed: &[&str]) {
    for k in found {
        assert!(
            allowed.contains(&k.as_str()),
            "{what}: `{k}` is not a keyword GitLab documents"
        );
    }
}

#[test]
fn every_template_uses_only_documented_keywords_and_declared_inputs() {
    let all = templates();
    assert!(all.len() >= 2, "{all:?}");
    for (name, text) in &all {
        let (inputs, body) = split(name, text);
        for (input, spec) in &inputs {
            let input = input.as_str().unwrap();
            assert_within(&format!("{name}: input {input}"), keys(spec), INPUT_KEYS);
            let kind = spec["type"].as_str().unwrap_or("string");
            assert!(INPUT_TYPES.contains(&kind), "{name}: {input}: type {kind}");
            assert!(
                spec["description"].is_string(),
                "{name}: {input} is not described"
            );
        }
        let used: BTreeSet<String> = blocks(&body)
            .into_iter()
            .map(|(i, fs)| {
                for f in &fs {
                    assert!(
                        FUNCTIONS.contains(&f.as_str()),
                        "{name}: function {f} is not GitLab's"
                    );
                }
                assert!(
                    inputs.contains_key(i.as_str()),
                    "{name}: $[[ inputs.{i} ]] is not declared"
                );
                i
            })
            .collect();
        for input in inputs.keys() {
            assert!(
                used.contains(input.as_str().unwrap()),
                "{name}: input {input:?} is never used"
            );
        }

        let jobs = interpolated(&inputs, &body);
        for (job, def) in &jobs {
            let job = job.as_str().unwrap();
            let at = |k: &str| format!("{name}: {job}: {k}");
            assert_within(&at("keywords"), keys(def), JOB_KEYWORDS);
            if let Some(extends) = def["extends"].as_str() {
                assert!(jobs.contains_key(extends), "{}", at("extends"));
            }
            assert_within(&at("artifacts"), keys(&def["artifacts"]), ARTIFACTS_KEYS);
            assert_within(
                &at("artifacts:reports"),
                keys(&def["artifacts"]["reports"]),
                REPORTS_KEYS,
            );
            if let Some(access) = def["artifacts"]["access"].as_str() {
                assert!(
                    ARTIFACTS_ACCESS.contains(&access),
                    "{}",
                    at("artifacts:access")
                );
            }
            for rule in def["rules"].as_sequence().into_iter().flatten() {
                assert_within(&at("rules"), keys(rule), RULE_KEYS);
                assert_within(&at("rules:changes"), keys(&rule["changes"]), CHANGES_KEYS);
            }
            assert_within(&at("trigger"), keys(&def["trigger"]), TRIGGER_KEYS);
            assert_within(
                &at("trigger:forward"),
                keys(&def["trigger"]["forward"]),
                FORWARD_KEYS,
            );
            if let Some(tags) = def.get("tags") {
                assert!(
                    tags.as_sequence().unwrap().iter().all(Value::is_string),
                    "{}",
                    at("tags")
                );
            }
        }
    }
}

fn job(template: &str, job: &str) -> Value {
    let (_, text) = templates()
        .into_iter()
        .find(|(n, _)| n == template)
        .unwrap();
    let (inputs, body) = split(template, &text);
    interpolated(&inputs, &body)[job].clone()
}

#[test]
fn the_protected_job_is_isolated_interruptible_and_keeps_the_detail_for_maintainers() {
    let j = job("protected-job.yml", "preflight");
    assert_eq!(j["tags"][0], "preflight");
    assert_eq!(j["interruptible"], true);
    assert!(j["resource_group"].as_str().unwrap().contains("$PF_MR_IID"));
    assert_eq!(j["artifacts"]["access"], "maintainer");
    assert_eq!(j["artifacts"]["when"], "always");
    assert_eq!(
        j["artifacts"]["reports"]["junit"],
        "preflight-artifacts/junit.xml"
    );
    assert_eq!(
        j["artifacts"]["reports"]["codequality"],
        "preflight-artifacts/gl-code-quality-report.json"
    );
    assert_eq!(j["allow_failure"]["exit_codes"][0], 5);
    let script = j["script"][0].as_str().unwrap();
    // preflight starts with an environment of its own: nothing a trigger variable sets
    // (a proxy, TMPDIR, DOCKER_HOST, PREFLIGHT_* or CI_*) reaches it but the two tokens.
    assert!(script.starts_with("/usr/bin/env -i "), "{script}");
    let before_run = &script[..script.find(" preflight run").expect("runs preflight")];
    let passed: Vec<(&str, &str)> = before_run
        .split_whitespace()
        .filter_map(|w| w.split_once('='))
        .collect();
    let names: Vec<&str> = passed.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "PATH",
            "HOME",
            "TMPDIR",
            "GITLAB_CI",
            "PREFLIGHT_GITLAB_TOKEN",
            "PREFLIGHT_ENGINE_TOKEN"
        ],
        "{script}"
    );
    for (name, value) in &passed[..4] {
        assert!(
            !value.contains('$'),
            "{name} is fixed, not a variable: {script}"
        );
    }
    // The after_script finishes a run that was killed, with the same environment.
    let after = j["after_script"][0].as_str().unwrap();
    assert!(after.starts_with(before_run), "{after}");
    assert!(
        after.contains("preflight run --finish-abandoned"),
        "{after}"
    );
    for flag in [
        "--config \"preflight.yml\"",
        "--head-sha",
        "--fail-on-findings \"never\"",
        "--job-url",
    ] {
        assert!(script.contains(flag), "{flag}: {script}");
    }
    // The flags the script passes are flags preflight has.
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_preflight"))
        .args(["run", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in script.split_whitespace().filter(|w| w.starts_with("--")) {
        assert!(help.contains(flag), "preflight run has no {flag}");
    }
}

#[test]
fn the_app_trigger_runs_only_for_mrs_touching_migrations_and_passes_coordinates_only() {
    for name in ["preflight-trigger", "preflight-trigger-token"] {
        let j = job("app-trigger.yml", name);
        assert_eq!(j["extends"], ".preflight-mr-rules", "{name}");
    }
    let rules = job("app-trigger.yml", ".preflight-mr-rules")["rules"][0].clone();
    assert!(rules["if"]
        .as_str()
        .unwrap()
        .contains("merge_request_event"));
    assert_eq!(
        rules["changes"]["compare_to"],
        "refs/heads/$CI_MERGE_REQUEST_TARGET_BRANCH_NAME"
    );
    assert!(rules["changes"]["paths"].as_sequence().unwrap().len() >= 2);
    let trigger = job("app-trigger.yml", "preflight-trigger");
    assert_eq!(trigger["trigger"]["strategy"], "depend");
    assert_eq!(trigger["trigger"]["forward"]["pipeline_variables"], false);
    let passed: BTreeSet<String> = keys(&trigger["variables"]).into_iter().collect();
    let expected: BTreeSet<String> = [
        "PREFLIGHT_USE_TOKEN_SELECTOR",
        "PF_MR_PROJECT_ID",
        "PF_MR_IID",
        "PF_MR_HEAD_SHA",
        "PF_MR_COMMIT_SHA",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(passed, expected, "coordinates only: no token, no setting");
}
