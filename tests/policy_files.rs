//! The policy files users copy, parsed the way their tools will read them and checked
//! against each other: the runner's config.toml, the Docker daemon settings, the
//! nftables rules (checked by `nft -c` where nft can run), the Kubernetes
//! NetworkPolicies, and the threat-model page (its sections, and every link resolving).

use std::path::{Path, PathBuf};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The value of `define NAME = ...` in the nftables file, braces and comments removed.
fn nft_define(name: &str) -> String {
    let text = read("network-policy/nftables.conf");
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("define {name} ")))
        .unwrap_or_else(|| panic!("no define {name}"));
    let value = line.split('=').nth(1).unwrap().split('#').next().unwrap();
    value
        .trim()
        .trim_matches(|c| c == '{' || c == '}')
        .trim()
        .to_string()
}

#[test]
fn the_runner_configuration_is_an_unprivileged_docker_executor_with_allowed_images() {
    let cfg: toml::Table = read("runner/config.toml").parse().unwrap();
    let runner = &cfg["runners"].as_array().unwrap()[0];
    assert_eq!(runner["executor"].as_str(), Some("docker"));
    let docker = runner["docker"].as_table().unwrap();
    assert_eq!(docker["privileged"].as_bool(), Some(false));
    let image = docker["image"].as_str().unwrap();
    let allowed: Vec<&str> = docker["allowed_images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(!allowed.is_empty());
    assert!(
        allowed
            .iter()
            .any(|a| image.starts_with(a.trim_end_matches('*'))),
        "the default image is allowed"
    );
    assert!(docker["allowed_services"].as_array().unwrap().is_empty());
    let flags = runner["feature_flags"].as_table().unwrap();
    assert_eq!(flags["FF_NETWORK_PER_BUILD"].as_bool(), Some(true));
    assert!(flags.keys().all(|k| k.starts_with("FF_")));
    let volumes: Vec<&str> = docker["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(volumes.contains(&"/var/run/docker.sock:/var/run/docker.sock"));
    // Paths the box mounts are host paths, so they are mounted at the same path.
    let builds = runner["builds_dir"].as_str().unwrap();
    for path in ["/tmp/preflight-runs", builds] {
        assert!(
            volumes.contains(&format!("{path}:{path}").as_str()),
            "{path} mounted 1:1"
        );
    }
}

#[test]
fn the_docker_daemon_settings_match_the_firewall() {
    let daemon: serde_json::Value =
        serde_json::from_str(&read("network-policy/docker-daemon.json")).unwrap();
    assert_eq!(daemon["icc"], false);
    assert_eq!(daemon["no-new-privileges"], true);
    assert_eq!(daemon["ipv6"], false);
    let pool = daemon["default-address-pools"][0]["base"].as_str().unwrap();
    assert_eq!(
        pool,
        nft_define("JOB_NETWORKS"),
        "the firewall covers the job networks"
    );
}

#[test]
fn the_nftables_rules_parse_and_block_what_they_must() {
    let text = read("network-policy/nftables.conf");
    assert!(
        text.contains("meta skuid \"postgres\" oifname != \"lo\""),
        "clone servers have no egress"
    );
    assert!(text.contains("ip daddr $METADATA"), "metadata blocked");
    let job = text.split("chain job_egress").nth(1).unwrap();
    let job = &job[..job.find("\n    }").unwrap()];
    assert!(
        job.trim_end()
            .ends_with("counter reject with icmpx type admin-prohibited"),
        "job egress ends in a reject: {job}"
    );
    let out = std::process::Command::new("nft")
        .args(["-c", "-f"])
        .arg(repo("network-policy/nftables.conf"))
        .output();
    match out {
        Ok(out) => assert!(
            out.status.success(),
            "nft -c: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => {
            eprintln!("NOTE: nft is unavailable here ({e}); the rules were not checked by nft")
        }
    }
}

#[test]
fn the_kubernetes_policies_deny_by_default_and_allow_two_destinations() {
    let text = read("network-policy/kubernetes/preflight-network-policies.yaml");
    let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .filter(|v: &serde_yaml::Value| !v.is_null())
        .collect();
    assert_eq!(docs.len(), 2);
    for d in &docs {
        assert_eq!(d["apiVersion"].as_str(), Some("networking.k8s.io/v1"));
        assert_eq!(d["kind"].as_str(), Some("NetworkPolicy"));
    }
    let deny = &docs[0];
    assert!(
        deny["spec"]["podSelector"].as_mapping().unwrap().is_empty(),
        "every pod"
    );
    assert!(deny["spec"]["egress"].is_null(), "no egress rule: deny all");
    let types: Vec<&str> = deny["spec"]["policyTypes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(types.contains(&"Egress"));

    let allow = docs[1]["spec"]["egress"].as_sequence().unwrap();
    assert_eq!(allow.len(), 3, "GitLab, the engine, DNS");
    let cidr = |i: usize| {
        allow[i]["to"][0]["ipBlock"]["cidr"]
            .as_str()
            .unwrap()
            .trim_end_matches("/32")
            .to_string()
    };
    assert_eq!(cidr(0), nft_define("GITLAB"));
    assert_eq!(cidr(1), nft_define("ENGINE"));
    assert_eq!(allow[0]["ports"][0]["port"].as_u64(), Some(443));
    assert_eq!(allow[1]["ports"][0]["port"].as_u64(), Some(2345));
    assert_eq!(allow[2]["ports"][0]["port"].as_u64(), Some(53));
}

#[test]
fn the_threat_model_names_its_mechanisms_residual_channels_and_real_files() {
    let text = read("docs/threat-model.md");
    for heading in [
        "## What is protected",
        "## Who we defend against",
        "## Threats and mechanisms",
        "## Residual side channels",
    ] {
        assert!(text.contains(heading), "missing {heading}");
    }
    let residual = text
        .split("## Residual side channels")
        .nth(1)
        .unwrap()
        .to_lowercase();
    for channel in ["success or failure", "timings", "sizes"] {
        assert!(
            residual.contains(channel),
            "residual channel {channel} not described"
        );
    }
    // Every relative link points at a file or directory of this repository.
    let mut links = 0;
    for part in text.split("](").skip(1) {
        let target = part.split(')').next().unwrap().split('#').next().unwrap();
        if target.starts_with("http") || target.is_empty() {
            continue;
        }
        let path = repo("docs").join(target);
        assert!(path.exists(), "broken link {target}");
        links += 1;
    }
    assert!(links >= 10, "the mechanisms point at their code and tests");
}
