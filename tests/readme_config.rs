//! The README documents every configuration key with its default: its YAML block must
//! parse with the real schema (which rejects unknown keys) and give the real defaults.

use preflight::config::file::FileConfig;

#[test]
fn readme_configuration_block_is_complete_and_matches_the_defaults() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .find("\n## Configuration")
        .expect("a Configuration section");
    let start =
        section + readme[section..].find("```yaml\n").expect("a yaml block") + "```yaml\n".len();
    let block = &readme[start..start + readme[start..].find("```").unwrap()];
    let documented = FileConfig::from_yaml(block).expect("the README's configuration parses");
    let defaults = FileConfig::default();
    let comparable = |c: &FileConfig| {
        format!(
            "{:?}",
            (
                &c.gitlab,
                &c.findings,
                &c.policy,
                &c.engine,
                &c.sandbox,
                &c.observe,
                &c.report,
                &c.builtin.source,
                &c.builtin.pg_bin_dir,
                c.databases()
            )
        )
    };
    assert_eq!(comparable(&documented), comparable(&defaults));
}
