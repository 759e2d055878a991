//! Templated migrations, rendered into the SQL production runs before anything else sees
//! them. supabase/auth writes every migration as a Go template
//! (`ALTER TABLE {{ index .Options "Namespace" }}.mfa_factors`) and renders it when it
//! migrates; the rehearsal must run, observe and judge that rendered SQL.
//!
//! The built-in renderer knows the part of Go's template syntax migrations use: a field
//! path (`{{ .Namespace }}`, `{{ .Options.Namespace }}`), `{{ index .Options "Namespace" }}`,
//! comments (`{{/* ... */}}`) and the trim markers `{{-` / `-}}`. The values come from
//! trusted configuration (`databases[].template.values`), never from the MR. Anything
//! else in braces is an error that names the file and the expression, so nothing half
//! rendered ever runs.

use super::Migration;

pub use crate::config::sections::{TemplateSection, TemplateSyntax};

/// Renders every migration (and its down) in place.
/// A migration that cannot be rendered: its path, and why.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    pub path: String,
    pub message: String,
}

pub fn render_all(migrations: &mut [Migration], t: &TemplateSection) -> Result<(), TemplateError> {
    for m in migrations {
        let (bytes, sql) = render_file(&m.path, &m.bytes, t)?;
        m.bytes = bytes;
        m.sql = sql;
        if let Some(down) = &mut m.down {
            let (bytes, sql) = render_file(&down.path, &down.bytes, t)?;
            down.bytes = bytes;
            down.sql = sql;
        }
    }
    Ok(())
}

fn render_file(
    path: &str,
    bytes: &[u8],
    t: &TemplateSection,
) -> Result<(Vec<u8>, String), TemplateError> {
    if !bytes.windows(2).any(|w| w == b"{{") {
        return Ok((bytes.to_vec(), String::from_utf8_lossy(bytes).into_owned()));
    }
    let failed = |message| TemplateError {
        path: path.to_string(),
        message,
    };
    let text = std::str::from_utf8(bytes).map_err(|_| {
        failed(format!(
            "{path} is a template but not UTF-8, so it cannot be rendered"
        ))
    })?;
    let sql = render(text, &t.values).map_err(|e| failed(format!("{path}: {e}")))?;
    Ok((sql.clone().into_bytes(), sql))
}

/// Why a template's text cannot be rendered.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum RenderError {
    #[error("a `{{{{` is never closed: {0:?}")]
    Unclosed(String),
    #[error(
        "the template expression {{{{ {0} }}}} is not one the built-in renderer knows (a field \
         such as .Options.Namespace, or index .Options \"Namespace\")"
    )]
    Unsupported(String),
    #[error("the template uses .{0} and databases[].template.values has no value for it")]
    Missing(String),
    #[error("databases[].template.values.{0} is not a single value")]
    NotAValue(String),
}

/// Renders one Go template with `values`.
pub fn render(text: &str, values: &serde_yaml::Mapping) -> Result<String, RenderError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let mut before = &rest[..open];
        let after_open = &rest[open + 2..];
        let close = after_open
            .find("}}")
            .ok_or_else(|| RenderError::Unclosed(snippet(after_open)))?;
        let mut inner = &after_open[..close];
        let mut tail = &after_open[close + 2..];
        if let Some(trimmed) = inner.strip_prefix('-') {
            inner = trimmed;
            before = before.trim_end();
        }
        if let Some(trimmed) = inner.strip_suffix('-') {
            inner = trimmed;
            tail = tail.trim_start();
        }
        out.push_str(before);
        out.push_str(&expression(inner.trim(), values)?);
        rest = tail;
    }
    out.push_str(rest);
    Ok(out)
}

fn snippet(s: &str) -> String {
    s.chars().take(40).collect()
}

/// The value of one action: a comment, a field path, or `index` with string keys.
fn expression(expr: &str, values: &serde_yaml::Mapping) -> Result<String, RenderError> {
    if expr.starts_with("/*") && expr.ends_with("*/") {
        return Ok(String::new());
    }
    let unsupported = || RenderError::Unsupported(snippet(expr));
    let path: Vec<String> = if let Some(args) = expr.strip_prefix("index ") {
        let mut parts = args.split_whitespace();
        let base = parts.next().ok_or_else(unsupported)?;
        let mut path = field_path(base).ok_or_else(unsupported)?;
        for key in parts {
            let key = key
                .strip_prefix('"')
                .and_then(|k| k.strip_suffix('"'))
                .filter(|k| !k.contains('"'))
                .ok_or_else(unsupported)?;
            path.push(key.to_string());
        }
        path
    } else {
        field_path(expr).ok_or_else(unsupported)?
    };
    lookup(values, &path)
}

/// `.A.B` as [A, B]; `.` alone is not a value a migration can use.
fn field_path(expr: &str) -> Option<Vec<String>> {
    let rest = expr.strip_prefix('.')?;
    let parts: Vec<String> = rest.split('.').map(str::to_string).collect();
    let valid = parts
        .iter()
        .all(|p| !p.is_empty() && p.chars().all(|c| c.is_alphanumeric() || c == '_'));
    valid.then_some(parts)
}

fn lookup(values: &serde_yaml::Mapping, path: &[String]) -> Result<String, RenderError> {
    let missing = || RenderError::Missing(path.join("."));
    let mut here = values.get(path[0].as_str()).ok_or_else(missing)?;
    for key in &path[1..] {
        here = here.get(key.as_str()).ok_or_else(missing)?;
    }
    match here {
        serde_yaml::Value::String(s) => Ok(s.clone()),
        serde_yaml::Value::Number(n) => Ok(n.to_string()),
        serde_yaml::Value::Bool(b) => Ok(b.to_string()),
        _ => Err(RenderError::NotAValue(path.join("."))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> serde_yaml::Mapping {
        serde_yaml::from_str("{Options: {Namespace: auth}, Schema: app, Version: 3}").unwrap()
    }

    #[test]
    fn the_go_syntax_migrations_use_renders() {
        let sql = render(
            "{{/* for supabase */}}ALTER TABLE {{ index .Options \"Namespace\" }}.mfa_factors \
             ADD COLUMN x int; -- {{ .Schema }} v{{.Version}}\n  {{- .Options.Namespace -}}  \n;",
            &values(),
        )
        .unwrap();
        assert_eq!(
            sql,
            "ALTER TABLE auth.mfa_factors ADD COLUMN x int; -- app v3auth;"
        );
    }

    #[test]
    fn anything_else_is_refused_with_what_and_why() {
        for (text, says) in [
            ("{{ .Missing }}", "has no value for it"),
            (
                "{{ range .Options }}x{{ end }}",
                "not one the built-in renderer knows",
            ),
            (
                "{{ printf \"%s\" .Schema }}",
                "not one the built-in renderer knows",
            ),
            ("{{ .Options }}", "not a single value"),
            ("SELECT '{{' ", "never closed"),
            (
                "{{ index .Options Namespace }}",
                "not one the built-in renderer knows",
            ),
        ] {
            let err = render(text, &values()).unwrap_err().to_string();
            assert!(err.contains(says), "{text}: {err}");
        }
    }

    #[test]
    fn files_without_actions_are_left_as_they_are() {
        let t = TemplateSection {
            syntax: TemplateSyntax::Go,
            values: values(),
        };
        let raw = b"SELECT '\xff';".to_vec();
        assert_eq!(render_file("m/1.sql", &raw, &t).unwrap().0, raw);
        let err = render_file("m/2.sql", b"SELECT {{ .Schema }} '\xff'", &t).unwrap_err();
        assert_eq!(err.path, "m/2.sql");
        assert!(
            err.message.contains("m/2.sql is a template but not UTF-8"),
            "{err}"
        );
    }
}
