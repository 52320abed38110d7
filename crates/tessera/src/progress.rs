//! Progress of long commands (`tessera legacy import`): a bar with count, rate and time
//! left when a person watches (stdout and stderr both terminals); plain lines on stderr
//! every 10 000 items or every 5 seconds otherwise (a log, a CI job), so stdout keeps only
//! the result; nothing with `--json`, whose stdout and stderr a script reads.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use std::sync::{Mutex, MutexGuard, PoisonError};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How a command shows progress, chosen once from `--json` and the terminals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Display {
    Bar,
    Lines,
    Silent,
}

impl Display {
    pub(crate) fn choose(json: bool) -> Self {
        if json {
            Self::Silent
        } else if std::io::stdout().is_terminal() && std::io::stderr().is_terminal() {
            Self::Bar
        } else {
            Self::Lines
        }
    }

    /// A phase counting to `total`: "checking" 100 000 "lines", say.
    pub(crate) fn phase(self, verb: &'static str, unit: &'static str, total: u64) -> Phase {
        let shown = match self {
            Self::Silent => Shown::Nothing,
            Self::Bar => Shown::Bar(bar(verb, unit, total)),
            Self::Lines => Shown::Lines(Mutex::new(LineState {
                last_count: 0,
                last_at: Instant::now(),
                printed: false,
            })),
        };
        Phase {
            verb,
            unit,
            total,
            started: Instant::now(),
            shown,
        }
    }
}

/// Plain lines at least this many items apart…
const LINE_EVERY_ITEMS: u64 = 10_000;
/// …or this long apart, whichever comes first.
const LINE_EVERY: Duration = Duration::from_secs(5);

fn bar(verb: &str, unit: &str, total: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let template = format!(
        "{verb:>9} [{{bar:30}}] {{human_pos}}/{{human_len}} {unit} ({{per_sec}}, {{eta}} left)"
    );
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

pub(crate) struct Phase {
    verb: &'static str,
    unit: &'static str,
    total: u64,
    started: Instant,
    shown: Shown,
}

enum Shown {
    Nothing,
    Bar(ProgressBar),
    Lines(Mutex<LineState>),
}

struct LineState {
    last_count: u64,
    last_at: Instant,
    printed: bool,
}

impl Phase {
    /// `done` of the total are done.
    pub(crate) fn set(&self, done: u64) {
        match &self.shown {
            Shown::Nothing => {}
            Shown::Bar(bar) => bar.set_position(done),
            Shown::Lines(state) => {
                let mut state = lock(state);
                let due = done / LINE_EVERY_ITEMS > state.last_count / LINE_EVERY_ITEMS
                    || (done > state.last_count && state.last_at.elapsed() >= LINE_EVERY);
                if due {
                    eprintln!("{}", self.line(done));
                    state.last_count = done;
                    state.last_at = Instant::now();
                    state.printed = true;
                }
            }
        }
    }

    /// The phase is over: the bar stays as drawn; a phase that printed lines says so.
    pub(crate) fn finish(&self, done: u64) {
        match &self.shown {
            Shown::Nothing => {}
            Shown::Bar(bar) => {
                bar.set_position(done);
                bar.finish();
            }
            Shown::Lines(state) => {
                if lock(state).printed {
                    eprintln!(
                        "{} {done} of {} {} in {:.1} s",
                        past(self.verb),
                        self.total,
                        self.unit,
                        self.started.elapsed().as_secs_f64()
                    );
                }
            }
        }
    }

    fn line(&self, done: u64) -> String {
        let seconds = self.started.elapsed().as_secs_f64();
        let rate = if seconds > 0.0 {
            done as f64 / seconds
        } else {
            0.0
        };
        let left = if rate > 0.0 {
            format!(
                ", about {:.0} s left",
                self.total.saturating_sub(done) as f64 / rate
            )
        } else {
            String::new()
        };
        format!(
            "{} {done} of {} {} ({rate:.0} a second{left})",
            self.verb, self.total, self.unit
        )
    }
}

/// A panic while printing a line leaves nothing half-updated worth refusing.
fn lock(state: &Mutex<LineState>) -> MutexGuard<'_, LineState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

fn past(verb: &str) -> String {
    match verb {
        "writing" => "wrote".to_owned(),
        other => other
            .strip_suffix("ing")
            .map_or_else(|| other.to_owned(), |stem| format!("{stem}ed")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_name_the_count_the_total_and_the_unit() {
        let phase = Display::Lines.phase("checking", "lines", 20_001);
        let line = phase.line(10_000);
        assert!(
            line.starts_with("checking 10000 of 20001 lines ("),
            "{line}"
        );
        assert_eq!(past("checking"), "checked");
        assert_eq!(past("writing"), "wrote");
    }
}
