//! The HTML report of a real run (built-in engine, real box), opened in headless
//! Chromium as a maintainer would open it from the artifacts browser: the page renders,
//! the timeline charts are there (statement bars in blue, the ACCESS EXCLUSIVE lock in
//! red, in the screenshot's own pixels), text the MR wrote stays text (no element it
//! smuggled in, no request it asked for), and the page loads nothing from outside.
//!
//! Chromium runs in a network namespace of its own with a resolver that answers nothing,
//! so neither the page nor Chromium's own update checks can reach any address; its net
//! log still records every URL asked for, which is what the test reads.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

const SEED: &str = "CREATE TABLE orders (id bigint PRIMARY KEY, total int);
INSERT INTO orders SELECT g, g % 100 FROM generate_series(1, 3000) g;";

/// What a hostile MR could write to make the page load something or run a script.
const PLANTED: &str =
    r#"<img src="http://preflight-test.invalid/leak.png"><script>document.title="pwned"</script>"#;

/// Hosts Chromium itself asks for (component updates, network time); never the page's.
const CHROMIUM_OWN: &[&str] = &[
    "update.googleapis.com",
    "clients2.google.com",
    "accounts.google.com",
    "redirector.gvt1.com",
];

fn chromium(dir: &Path, args: &[&str]) -> std::process::Output {
    let profile = dir.join("profile");
    let profile = format!("--user-data-dir={}", profile.display());
    let out = Command::new("unshare")
        .args([
            "-n",
            "timeout",
            "120",
            "chromium",
            "--headless",
            "--no-sandbox",
        ])
        .args(["--disable-gpu", "--no-first-run", "--disable-extensions"])
        .args([
            "--disable-background-networking",
            "--disable-component-update",
        ])
        .args(["--disable-sync", "--no-pings", "--disable-breakpad"])
        .arg("--host-resolver-rules=MAP * ~NOTFOUND")
        .arg(&profile)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot start Chromium ({e}); ops/dev-setup.sh installs it (Debian: chromium)")
        });
    assert!(out.status.success(), "chromium: {}", text(&out));
    out
}

/// Every URL the net log says was requested, but Chromium's own.
fn requested_urls(net_log: &Path) -> Vec<String> {
    let log: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(net_log).unwrap()).unwrap();
    let mut urls: Vec<String> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["params"]["url"].as_str())
        .filter(|u| !CHROMIUM_OWN.iter().any(|h| u.contains(&format!("://{h}/"))))
        .map(str::to_string)
        .collect();
    urls.sort();
    urls.dedup();
    urls
}

/// Pixels of the screenshot that have exactly this colour (give or take antialiasing).
fn pixels_of(png_path: &Path, rgb: [u8; 3]) -> usize {
    let decoder = png::Decoder::new(std::fs::File::open(png_path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let step = info.color_type.samples();
    buf[..info.buffer_size()]
        .chunks(step)
        .filter(|p| (0..3).all(|i| p[i].abs_diff(rgb[i]) <= 24))
        .count()
}

/// Screenshot and net log of `page`, then its DOM after the page ran.
fn open(dir: &Path, page: &Path) -> (std::path::PathBuf, Vec<String>, String) {
    let shot = dir.join("shot.png");
    let net_log = dir.join("net.json");
    let url = format!("file://{}", page.display());
    chromium(
        dir,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1100,2400",
            &format!("--log-net-log={}", net_log.display()),
            &url,
        ],
    );
    let dom = chromium(dir, &["--dump-dom", &url]);
    (
        shot,
        requested_urls(&net_log),
        String::from_utf8_lossy(&dom.stdout).into_owned(),
    )
}

#[test]
fn the_html_report_renders_its_charts_and_loads_nothing() {
    let root = tempfile::tempdir().unwrap();
    let alter = format!(
        "SET lock_timeout = '2s';\nSELECT '{PLANTED}' AS note;\nBEGIN;\n\
         ALTER TABLE orders ADD COLUMN note text;\nSELECT pg_sleep(0.3);\nCOMMIT;"
    );
    let repo = repo_with_migrations(
        root.path(),
        &[],
        &[
            ("0001_add_note.sql", alter.as_str()),
            (
                "0002_index_total.sql",
                "CREATE INDEX orders_total_idx ON orders (total);",
            ),
        ],
    );
    let config = builtin_config(root.path(), SEED);
    let artifacts = root.path().join("artifacts");
    let out = print_only_run(&repo, &config, &artifacts);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out));
    let page = artifacts.join("report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        !html.contains("<img") && !html.contains("<script"),
        "{html}"
    );

    let (shot, urls, dom) = open(root.path(), &page);
    assert!(urls.is_empty(), "the page asked for {urls:?}");
    assert!(dom.contains("<title>preflight report"), "{dom}");
    assert!(
        !dom.contains("<title>pwned</title>"),
        "the planted script ran: {dom}"
    );
    assert!(!dom.contains("<img") && !dom.contains("<script"), "{dom}");
    let charts = dom.matches(r#"class="chart""#).count();
    assert_eq!(
        charts,
        3,
        "a runtime chart and two timelines: {}",
        text(&out)
    );
    assert!(
        dom.contains("ACCESS EXCLUSIVE orders"),
        "the lock row is labelled"
    );
    assert!(
        dom.contains("#4 ALTER TABLE"),
        "the statement row is labelled"
    );

    let blue = pixels_of(&shot, [0x1f, 0x77, 0xb4]);
    let red = pixels_of(&shot, [0xd6, 0x27, 0x28]);
    let orange = pixels_of(&shot, [0xff, 0x7f, 0x0e]);
    // Each bar that spans most of its chart is thousands of pixels; the legend's
    // swatch of each colour is about a hundred.
    assert!(blue > 3000, "the 0.3 s statement drawn: {blue} blue pixels");
    assert!(
        red > 3000,
        "ACCESS EXCLUSIVE held through it drawn: {red} red pixels"
    );
    assert!(
        orange > 3000,
        "CREATE INDEX's SHARE lock drawn: {orange} orange pixels"
    );
}

#[test]
fn the_net_log_would_show_a_page_that_loads_something() {
    let root = tempfile::tempdir().unwrap();
    let page = root.path().join("loads.html");
    std::fs::write(
        &page,
        format!("<!DOCTYPE html><html><body>{PLANTED}</body></html>"),
    )
    .unwrap();
    let (_, urls, dom) = open(root.path(), &page);
    assert_eq!(urls, ["http://preflight-test.invalid/leak.png"]);
    assert!(dom.contains("<title>pwned</title>"), "{dom}");
}
