//! Charts for the HTML report, as inline SVG: each migration's timeline (its statements
//! as bars, and below them the locks held during each, one bar per lock from the
//! statement that took it to its transaction's end) and the run's runtimes side by side.
//! Every text drawn is escaped here; the template inserts the SVG as it is.

use super::rounding::duration_ms;
use crate::model::report::{MigrationOutcome, MigrationReport, RunReport};
use crate::pg::lock_mode::LockMode;
use std::fmt::Write;

/// At most this many statement rows and lock rows per timeline; the longest are drawn.
pub const MAX_ROWS: usize = 80;

const WIDTH: f64 = 960.0;
const GUTTER: f64 = 260.0;
const ROW: f64 = 18.0;
const AXIS: f64 = 24.0;
const PLOT: f64 = WIDTH - GUTTER - 16.0;

/// Text made safe for SVG (an XML dialect), cut to `max` characters.
pub fn escape(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The colour of a lock: red when it blocks reads, orange when it blocks writes.
pub fn lock_colour(mode: LockMode) -> &'static str {
    if mode.blocks_reads() {
        "#d62728"
    } else if mode.blocks_writes() {
        "#ff7f0e"
    } else {
        "#8c8c8c"
    }
}

/// The colour of a statement bar: blue, or red when it failed.
pub const STATEMENT: &str = "#1f77b4";
pub const FAILED: &str = "#b00020";
const SUCCEEDED: &str = "#2ca02c";

/// One bar of a chart.
struct Bar {
    label: String,
    from_ms: f64,
    to_ms: f64,
    colour: &'static str,
    /// Drawn lighter: a lock on a relation the migration made itself.
    faint: bool,
    /// Shown on hover.
    tooltip: String,
}

/// Up to [`MAX_ROWS`] of `bars`, the longest, kept in their order; and how many were left out.
fn longest(bars: Vec<Bar>) -> (Vec<Bar>, usize) {
    let durations: Vec<f64> = bars.iter().map(|b| b.to_ms - b.from_ms).collect();
    let keep = super::charts::longest_in_order(&durations, MAX_ROWS);
    let cut = bars.len() - keep.len();
    let mut bars: Vec<Option<Bar>> = bars.into_iter().map(Some).collect();
    let kept = keep.iter().filter_map(|&i| bars[i].take()).collect();
    (kept, cut)
}

/// Ticks at round steps across `0..=span_ms`.
fn ticks(span_ms: f64) -> Vec<f64> {
    let raw = span_ms / 5.0;
    let magnitude = 10f64.powf(raw.max(1e-3).log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(raw);
    (0..)
        .map(|i| i as f64 * step)
        .take_while(|t| *t <= span_ms + 1e-9)
        .collect()
}

/// Draws labelled horizontal bars on a shared time axis, with headings between groups.
fn chart(title: &str, groups: &[(&str, Vec<Bar>, usize)]) -> String {
    let span = groups
        .iter()
        .flat_map(|(_, bars, _)| bars.iter().map(|b| b.to_ms))
        .fold(0.0, f64::max)
        .max(1.0);
    let x = |ms: f64| GUTTER + PLOT * (ms / span).clamp(0.0, 1.0);
    let rows: usize = groups.iter().map(|(_, b, _)| b.len() + 1).sum();
    let height = AXIS * 2.0 + ROW * rows as f64;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}"><title>{}</title>"#,
        escape(title, 200)
    );
    for t in ticks(span) {
        let _ = write!(
            svg,
            r##"<line x1="{0:.1}" x2="{0:.1}" y1="{AXIS}" y2="{1:.1}" stroke="#e0e0e0"/><text x="{0:.1}" y="16" font-size="11" text-anchor="middle" fill="#555">{2}</text>"##,
            x(t),
            height - AXIS,
            if t == 0.0 {
                "0".into()
            } else {
                escape(&duration_ms(t), 20)
            }
        );
    }
    let mut y = AXIS;
    for (heading, bars, cut) in groups {
        let more = if *cut > 0 {
            format!(" ({cut} shorter not drawn)")
        } else {
            String::new()
        };
        let _ = write!(
            svg,
            r##"<text x="4" y="{:.1}" font-size="12" font-weight="bold" fill="#222">{}{}</text>"##,
            y + ROW - 5.0,
            escape(heading, 80),
            more
        );
        y += ROW;
        for bar in bars {
            let (x0, x1) = (x(bar.from_ms), x(bar.to_ms));
            let _ = write!(
                svg,
                r##"<g class="bar"><title>{}</title><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end" fill="#333">{}</text><rect x="{x0:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}" fill-opacity="{}"/></g>"##,
                escape(&bar.tooltip, 300),
                GUTTER - 6.0,
                y + ROW - 5.0,
                escape(&bar.label, 40),
                y + 3.0,
                (x1 - x0).max(1.5),
                ROW - 6.0,
                bar.colour,
                if bar.faint { "0.35" } else { "0.9" },
            );
            y += ROW;
        }
    }
    svg.push_str("</svg>");
    svg
}

/// One migration's timeline: statements, then the locks held during them, from the
/// start of its first statement (the tool's own start-up before it is left out).
pub fn timeline(m: &MigrationReport) -> Option<String> {
    let origin = m.trace.statements.first()?.started_ms;
    let statements = m
        .trace
        .statements
        .iter()
        .map(|s| Bar {
            label: format!("#{} {}", s.index, s.kind),
            from_ms: s.started_ms - origin,
            to_ms: s.ended_ms - origin,
            colour: if s.sqlstate.is_some() {
                FAILED
            } else {
                STATEMENT
            },
            faint: false,
            tooltip: format!(
                "#{} {}: {}{}",
                s.index,
                duration_ms(s.ended_ms - s.started_ms),
                s.text,
                s.sqlstate
                    .as_deref()
                    .map(|c| format!(" (SQLSTATE {c})"))
                    .unwrap_or_default()
            ),
        })
        .collect();
    let locks = m
        .trace
        .locks
        .iter()
        .map(|l| Bar {
            label: format!("{} {}", l.mode.sql_name(), l.relation),
            from_ms: l.acquired_ms - origin,
            to_ms: l.released_ms - origin,
            colour: lock_colour(l.mode),
            faint: !l.preexisting,
            tooltip: format!(
                "{} on {} from statement #{}, held {}{}",
                l.mode.sql_name(),
                l.relation,
                l.statement_index,
                duration_ms(l.held_ms),
                if l.preexisting {
                    ""
                } else {
                    " (made by the migration)"
                }
            ),
        })
        .collect();
    let (statements, statements_cut) = longest(statements);
    let (locks, locks_cut) = longest(locks);
    let mut groups = vec![("Statements", statements, statements_cut)];
    if !locks.is_empty() {
        groups.push(("Locks held", locks, locks_cut));
    }
    let title = format!("Timeline of {}, from its first statement", m.name);
    Some(chart(&title, &groups))
}

/// Every migration's runtime, one bar each, coloured by outcome.
pub fn runtimes(report: &RunReport) -> Option<String> {
    let bars: Vec<Bar> = report
        .databases
        .iter()
        .flat_map(|d| d.migrations.iter().map(move |m| (d, m)))
        .filter(|(_, m)| m.outcome != MigrationOutcome::Skipped)
        .map(|(d, m)| Bar {
            label: if report.databases.len() > 1 {
                format!("{}: {}", d.name, m.name)
            } else {
                m.name.clone()
            },
            from_ms: 0.0,
            to_ms: m.wall_s * 1000.0,
            colour: if m.outcome == MigrationOutcome::Succeeded {
                SUCCEEDED
            } else {
                FAILED
            },
            faint: false,
            tooltip: format!("{}: {}", m.name, duration_ms(m.wall_s * 1000.0)),
        })
        .collect();
    if bars.is_empty() {
        return None;
    }
    let (bars, cut) = longest(bars);
    Some(chart(
        "Runtime of each migration",
        &[("Runtime", bars, cut)],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_break_out_of_the_svg() {
        assert_eq!(
            escape("</svg><script>x</script>", 100),
            "&lt;/svg&gt;&lt;script&gt;x&lt;/script&gt;"
        );
        assert_eq!(escape("a\"b'c\nd", 100), "a&quot;b&#39;c d");
        assert_eq!(escape("abcdef", 3), "abc…");
    }

    #[test]
    fn ticks_are_round_and_cover_the_span() {
        assert_eq!(ticks(1000.0), vec![0.0, 200.0, 400.0, 600.0, 800.0, 1000.0]);
        assert_eq!(ticks(7.0), vec![0.0, 2.0, 4.0, 6.0]);
    }

    #[test]
    fn only_the_longest_rows_are_drawn_in_their_order() {
        let bars = (0..MAX_ROWS + 3)
            .map(|i| Bar {
                label: i.to_string(),
                from_ms: 0.0,
                to_ms: if i == 1 { 0.5 } else { 10.0 + i as f64 },
                colour: STATEMENT,
                faint: false,
                tooltip: String::new(),
            })
            .collect();
        let (kept, cut) = longest(bars);
        assert_eq!(cut, 3);
        assert_eq!(kept.len(), MAX_ROWS);
        assert!(kept.iter().all(|b| b.label != "1"));
        assert!(kept.windows(2).all(|w| w[0].to_ms < w[1].to_ms));
    }
}
