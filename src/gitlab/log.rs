//! The job log as people read it in GitLab: one collapsible section per phase (plan,
//! fetch, clone, each migration, report, publish) that closes with its duration, a
//! progress line at least every [`PROGRESS_EVERY`] while a migration runs, and colours
//! only where they render: in a GitLab job (`GITLAB_CI`) or on a terminal, never when
//! `NO_COLOR` is set. Everything goes to standard error; standard output is left to
//! the note that `--print-only` prints.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often a running migration says it is still running.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// Where the lines go: standard error, or a buffer a test reads.
#[derive(Clone)]
enum Sink {
    Stderr,
    Buffer(Arc<Mutex<Vec<String>>>),
}

/// `text` less any control character but newlines and tabs.
fn clean(text: &str) -> String {
    crate::text::visible_lines(text).into_owned()
}

fn in_gitlab_ci() -> bool {
    std::env::var("GITLAB_CI").is_ok_and(|v| v == "true")
}

/// Colours on standard error: in GitLab CI or on a terminal, unless `NO_COLOR` is set
/// (the binary's own tracing lines follow the same rule).
pub fn colours_wanted() -> bool {
    let no_colour = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_colour && (in_gitlab_ci() || std::io::stderr().is_terminal())
}

/// How the job log is written.
#[derive(Clone)]
pub struct JobLog {
    /// GitLab CI: collapsible sections.
    gitlab: bool,
    colour: bool,
    sink: Sink,
}

/// A colour for a word of the log.
#[derive(Clone, Copy)]
pub enum Tone {
    Good,
    Bad,
    Heading,
}

impl JobLog {
    /// From the job's environment: sections in GitLab CI, colours in GitLab CI or on a
    /// terminal, unless `NO_COLOR` is set.
    pub fn detect() -> JobLog {
        JobLog {
            gitlab: in_gitlab_ci(),
            colour: colours_wanted(),
            sink: Sink::Stderr,
        }
    }

    /// A log that keeps its lines for a test to read.
    pub fn captured(gitlab: bool, colour: bool) -> (JobLog, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let log = JobLog {
            gitlab,
            colour,
            sink: Sink::Buffer(lines.clone()),
        };
        (log, lines)
    }

    /// Writes `text`, every control character but newlines and tabs shown as its escape:
    /// what the MR named (a file, a statement) cannot fake a section or repaint the log.
    /// A name inside `text` goes through [`crate::text::visible`] first, so that it cannot
    /// start a line of its own either.
    pub fn line(&self, text: &str) {
        self.raw(&clean(text));
    }

    /// `   what: word rest`, the word in the tone's colour: how a step ended.
    pub fn outcome(&self, what: &str, word: &str, tone: Tone, rest: &str) {
        let word = self.paint(word, tone);
        self.raw(&format!(
            "   {}: {word}{}",
            crate::text::visible(what),
            clean(rest)
        ));
    }

    fn raw(&self, text: &str) {
        match &self.sink {
            Sink::Stderr => eprintln!("{text}"),
            Sink::Buffer(lines) => lines
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(text.to_string()),
        }
    }

    /// `word` in the tone's colour, when colours are on.
    fn paint(&self, word: &str, tone: Tone) -> String {
        if !self.colour {
            return word.to_string();
        }
        let code = match tone {
            Tone::Good => "32",
            Tone::Bad => "31",
            Tone::Heading => "1;36",
        };
        format!("\x1b[{code}m{word}\x1b[0m")
    }

    /// Opens a phase: `name` is the section's id (letters, digits, `_`), `title` what
    /// the reader sees. The section closes, with its duration, when the guard ends.
    pub fn section(&self, name: &str, title: &str) -> Section {
        let id: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .take(60)
            .collect();
        let title = crate::text::visible(title);
        let title = self.paint(&title, Tone::Heading);
        if self.gitlab {
            let now = chrono::Utc::now().timestamp();
            self.raw(&format!(
                "\x1b[0Ksection_start:{now}:{id}[collapsed=true]\r\x1b[0K{title}"
            ));
        } else {
            self.raw(&format!("== {title}"));
        }
        Section {
            log: self.clone(),
            id,
            started: Instant::now(),
        }
    }
}

/// An open phase of the log; it closes when dropped.
pub struct Section {
    log: JobLog,
    id: String,
    started: Instant,
}

impl Drop for Section {
    fn drop(&mut self) {
        let took = crate::report::rounding::duration_s(self.started.elapsed().as_secs_f64());
        self.log.line(&format!("   done in {took}"));
        if self.log.gitlab {
            let now = chrono::Utc::now().timestamp();
            self.log
                .raw(&format!("\x1b[0Ksection_end:{now}:{}\r\x1b[0K", self.id));
        }
    }
}

/// Says every [`PROGRESS_EVERY`] that `what` is still running, until dropped.
pub struct Progress(tokio::task::JoinHandle<()>);

impl Progress {
    pub fn start(log: &JobLog, what: &str) -> Progress {
        let (log, what) = (log.clone(), what.to_string());
        let started = tokio::time::Instant::now();
        Progress(tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(started + PROGRESS_EVERY, PROGRESS_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let elapsed = started.elapsed().as_secs();
                log.line(&format!(
                    "   {what}: still running, {}:{:02} elapsed",
                    elapsed / 60,
                    elapsed % 60
                ));
            }
        }))
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(buffer: &Arc<Mutex<Vec<String>>>) -> Vec<String> {
        buffer.lock().unwrap().clone()
    }

    #[test]
    fn gitlab_sections_open_and_close_with_the_duration() {
        let (log, buffer) = JobLog::captured(true, false);
        drop(log.section("migration 0001-add", "0001_add"));
        let lines = lines(&buffer);
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines[0].starts_with("\x1b[0Ksection_start:"), "{lines:?}");
        assert!(lines[0].ends_with(":migration_0001_add[collapsed=true]\r\x1b[0K0001_add"));
        assert!(lines[1].starts_with("   done in "), "{lines:?}");
        assert!(lines[2].starts_with("\x1b[0Ksection_end:"), "{lines:?}");
        assert!(
            lines[2].ends_with(":migration_0001_add\r\x1b[0K"),
            "{lines:?}"
        );
    }

    #[test]
    fn colours_only_when_asked_and_plain_headings_elsewhere() {
        let (plain, buffer) = JobLog::captured(false, false);
        drop(plain.section("plan", "Plan"));
        assert!(lines(&buffer).iter().all(|l| !l.contains('\x1b')));
        assert_eq!(lines(&buffer)[0], "== Plan");
        let (coloured, buffer) = JobLog::captured(false, true);
        coloured.outcome("0001\x1b[2J", "failed", Tone::Bad, " in 1 s");
        assert_eq!(
            lines(&buffer),
            ["   0001\\u{1b}[2J: \x1b[31mfailed\x1b[0m in 1 s"]
        );
    }

    #[test]
    fn names_from_the_mr_cannot_fake_a_section() {
        let (log, buffer) = JobLog::captured(true, false);
        let hostile = "0001\r\x1b[0Ksection_end:1:fetch\r\x1b[0K";
        drop(log.section("m", hostile));
        log.line(&format!("{hostile}\nnext line"));
        let lines = lines(&buffer);
        assert!(
            lines[0].ends_with("\x1b[0K0001\\r\\u{1b}[0Ksection_end:1:fetch\\r\\u{1b}[0K"),
            "{lines:?}"
        );
        assert_eq!(
            lines[3],
            "0001\\r\\u{1b}[0Ksection_end:1:fetch\\r\\u{1b}[0K\nnext line"
        );
        // A name cannot start a line of its own either.
        let (log, buffer) = JobLog::captured(false, false);
        log.outcome(
            "0002\nall migrations succeeded (exit 0)",
            "failed",
            Tone::Bad,
            "",
        );
        assert_eq!(
            self::lines(&buffer),
            ["   0002\\nall migrations succeeded (exit 0): failed"]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_running_migration_says_so_every_ten_seconds() {
        let (log, buffer) = JobLog::captured(false, false);
        let progress = Progress::start(&log, "0001_add");
        tokio::time::sleep(Duration::from_secs(35)).await;
        drop(progress);
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(
            lines(&buffer),
            [
                "   0001_add: still running, 0:10 elapsed",
                "   0001_add: still running, 0:20 elapsed",
                "   0001_add: still running, 0:30 elapsed",
            ]
        );
    }
}
